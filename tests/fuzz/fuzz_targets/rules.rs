//! Any text as a rule file: loading reports errors or builds a rule set,
//! never panics; a rule set that loads is evaluated on a few messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use ticketbox::config::Config;
use ticketbox::mail::parse::{self, Envelope};
use ticketbox::pipeline::{self, Engine};
use ticketbox::rules::{History, RuleSet};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let cfg = Config {
        rules_dir: format!("{REPO}/no-rules-here").into(),
        templates_dir: format!("{REPO}/templates").into(),
        agents: vec!["agent@example.com".into()],
        ..Config::default()
    };
    Engine::new(cfg, "fuzz".into()).expect("engine")
});

static MESSAGES: LazyLock<Vec<Envelope>> = LazyLock::new(|| {
    let dir = format!("{REPO}/tests/fixtures");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("fixtures").flatten() {
        if let Ok(bytes) = std::fs::read(e.path())
            && let Ok(env) = parse::parse(&bytes, "f")
        {
            out.push(env);
        }
    }
    out
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let known = ENGINE.known();
    let Ok(rules) = RuleSet::from_sources(&[("fuzz.toml".to_owned(), text.to_owned())], &known)
    else {
        return;
    };
    let now = chrono::Utc::now();
    for env in MESSAGES.iter() {
        for (reply, agent, auto) in [(false, false, false), (true, true, true)] {
            let facts = pipeline::rule_facts(
                &ENGINE,
                env,
                Some("pl".into()),
                reply,
                agent,
                auto,
                History::default(),
                now,
            );
            let _ = rules.explain(&facts);
        }
    }
});
