//! Any text as the acknowledgement template (text and HTML part): loading
//! reports a syntax error with file and line, or the template renders (or
//! fails to render with an error); never a panic, never a runaway (fuel).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use ticketbox::config::Config;
use ticketbox::dryrun::{self, PreviewSource};
use ticketbox::pipeline::Engine;
use ticketbox::outgoing::render::Templates;
use ticketbox::store::DiskStore;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let cfg = Config {
        rules_dir: format!("{REPO}/no-rules-here").into(),
        templates_dir: format!("{REPO}/templates").into(),
        ..Config::default()
    };
    Engine::new(cfg, "fuzz".into()).expect("engine")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first half is the text part, the rest the HTML part.
    let cut = (0..=text.len() / 2).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let sources = vec![
        ("he/ack.txt".to_owned(), "fuzz.txt".to_owned(), text[..cut].to_owned()),
        ("he/ack.html".to_owned(), "fuzz.html".to_owned(), text[cut..].to_owned()),
    ];
    let Ok(templates) = Templates::from_sources(sources) else {
        return;
    };
    ENGINE.set_templates(templates);
    let now = chrono::Utc::now();
    let _ = dryrun::preview(&*ENGINE, None::<&DiskStore>, "ack", "he", PreviewSource::Example, now);
});
