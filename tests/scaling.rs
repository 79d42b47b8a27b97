//! Work per message grows linearly with its input: doubling the References
//! chain, the Cc list or a rule file's size costs at most ~2.5 times the
//! time (ratios, not wall times: this machine is shared and noisy), and a
//! 10 MB References header keeps peak memory bounded. Each figure is the
//! best of three runs, which is what the code costs rather than what the
//! neighbours did meanwhile.

mod common;

use chrono::{TimeZone, Utc};
use std::time::{Duration, Instant};
use ticketbox::config::Config;
use ticketbox::intake::RawMail;
use ticketbox::pipeline::{self, Engine, OutcomeKind};
use ticketbox::rules::RuleSet;
use ticketbox::store::DiskStore;

const MOST: f64 = 2.5;

struct Setup {
    _dir: tempfile::TempDir,
    store: DiskStore,
    engine: Engine,
}

fn setup(tweak: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        rules_dir: dir.path().join("no-rules"),
        templates_dir: format!("{}/templates", common::REPO).into(),
        agents: vec!["ola@example.com".into()],
        ..Config::default()
    };
    tweak(&mut cfg);
    Setup {
        store: DiskStore::open(&dir.path().join("data"), 1000).unwrap(),
        engine: Engine::new(cfg, "scaling".into()).unwrap(),
        _dir: dir,
    }
}

fn mail(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> RawMail {
    let text = format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\r\n{body}\r\n"
    );
    RawMail::new(text.into_bytes(), format!("scaling:{id}"), None)
}

fn best_of_three(mut f: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| f()).min().unwrap()
}

fn check_ratio(what: &str, small: Duration, big: Duration) {
    let ratio = big.as_secs_f64() / small.as_secs_f64().max(1e-6);
    eprintln!("{what}: {small:?} -> {big:?} when doubled (x{ratio:.2})");
    assert!(
        ratio <= MOST,
        "{what}: x{ratio:.2} for twice the input ({small:?} -> {big:?})"
    );
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// A reply whose References name `n` messages.
fn references_run(n: usize) -> Duration {
    best_of_three(|| {
        let s = setup(|_| {});
        pipeline::process(
            &s.engine,
            &s.store,
            &mail("ann@c.example", "root@c", "Order", "", "Help"),
            now(),
        )
        .unwrap();
        let mut refs = String::from("References: <root@c>");
        for i in 0..n {
            refs.push_str(&format!("\r\n <chain{i}.abcdef@lists.example.org>"));
        }
        refs.push_str("\r\n");
        let reply = mail("ann@c.example", "reply@c", "Re: Order", &refs, "More");
        let started = Instant::now();
        let o = pipeline::process(&s.engine, &s.store, &reply, now()).unwrap();
        let took = started.elapsed();
        assert_eq!(o.outcome, OutcomeKind::Appended, "{o:?}");
        took
    })
}

#[test]
fn doubling_references_at_most_doubles_the_work() {
    check_ratio(
        "References 10,000 ids",
        references_run(10_000),
        references_run(20_000),
    );
}

/// A ticket whose first mail copied `n` people, then an agent's answer.
fn cc_run(n: usize) -> Duration {
    best_of_three(|| {
        let s = setup(|_| {});
        let cc: Vec<String> = (0..n)
            .map(|i| format!("person{i}@cc{}.example", i % 50))
            .collect();
        let first = mail(
            "ann@c.example",
            "a1@c",
            "Order",
            &format!("Cc: {}\r\n", cc.join(", ")),
            "Help",
        );
        let answer = mail(
            "Ola <ola@example.com>",
            "r1@example.com",
            "Re: [#TB-1000] Order",
            "In-Reply-To: <a1@c>\r\n",
            "We are on it.",
        );
        let started = Instant::now();
        pipeline::process(&s.engine, &s.store, &first, now()).unwrap();
        let o = pipeline::process(&s.engine, &s.store, &answer, now()).unwrap();
        let took = started.elapsed();
        assert_eq!(o.outcome, OutcomeKind::Appended, "{o:?}");
        took
    })
}

#[test]
fn doubling_the_cc_list_at_most_doubles_the_work() {
    check_ratio("Cc 2,000 addresses", cc_run(2_000), cc_run(4_000));
}

/// Loading a rule file of `n` rules, in the forms rules take (a regex in
/// every tenth: compiling one is the dearest part of a rule).
fn rules_run(n: usize) -> Duration {
    let mut text = String::new();
    for i in 0..n {
        let when = match i % 10 {
            9 => format!("{{ body = {{ regex = \"order\\\\s+{i}\\\\b\" }} }}"),
            n if n % 2 == 0 => format!("{{ subject = [\"word{i}\", \"other{i}\"] }}"),
            _ => format!("{{ from = {{ ends_with = \"@d{i}.example\" }} }}"),
        };
        text.push_str(&format!(
            "[[rule]]\nname = \"rule {i}\"\nwhen = {when}\nthen = {{ add_tags = [\"t{i}\"] }}\n\n"
        ));
    }
    let s = setup(|_| {});
    let known = s.engine.known();
    best_of_three(|| {
        let started = Instant::now();
        let rules = RuleSet::from_sources(&[("big.toml".into(), text.clone())], &known);
        let took = started.elapsed();
        assert!(rules.is_ok(), "{:?}", rules.err());
        took
    })
}

#[test]
fn doubling_a_rule_file_at_most_doubles_its_loading() {
    check_ratio("3,000 rules", rules_run(3_000), rules_run(6_000));
}

/// One list of `n` keywords.
fn keywords_run(n: usize) -> Duration {
    let words: Vec<String> = (0..n).map(|i| format!("\"kw{i}x\"")).collect();
    let text = format!(
        "[[rule]]\nname = \"many\"\nwhen = {{ body = [{}] }}\nthen = {{ add_tags = [\"k\"] }}\n",
        words.join(", ")
    );
    let s = setup(|_| {});
    let known = s.engine.known();
    best_of_three(|| {
        let started = Instant::now();
        assert!(RuleSet::from_sources(&[("kw.toml".into(), text.clone())], &known).is_ok());
        started.elapsed()
    })
}

#[test]
fn doubling_a_keyword_list_at_most_doubles_its_loading() {
    check_ratio(
        "50,000 keywords",
        keywords_run(50_000),
        keywords_run(100_000),
    );
}

/// Reading a reply of `n` alternating quoted and own lines, and of `n`
/// blank lines inside a quote: the reader of what a person wrote.
fn reading_run(n: usize) -> Duration {
    let mut inline = String::from("On Wed, Dec 2, 2026 at 1:05 AM Ann <a@x.example> wrote:\n");
    for i in 0..n {
        inline.push_str(&format!("> question {i}\nanswer {i}\n"));
    }
    let mut blanks = String::from("top\n> q\n");
    blanks.push_str(&"\n".repeat(n * 4));
    blanks.push_str("> end\n");
    best_of_three(|| {
        let start = Instant::now();
        let a = ticketbox::mail::written::read(&inline);
        let b = ticketbox::mail::written::read(&blanks);
        assert!(a.inline && !b.own.is_empty());
        start.elapsed()
    })
}

#[test]
fn doubling_a_reply_at_most_doubles_its_reading() {
    check_ratio(
        "reply of 20,000 inline answers",
        reading_run(20_000),
        reading_run(40_000),
    );
}

/// Peak memory of `ticketbox ingest` on one message, from the kernel's
/// accounting of that child alone.
// The child is waited for, with wait4 (which also gives its usage).
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(sb: &common::Sandbox, file: &std::path::Path) -> (i64, String) {
    let child = sb
        .command(&["ingest", "--no-deliver", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 on our own child, with valid out-pointers; the child is
    // not waited for elsewhere.
    let got = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(got, pid);
    let mut out = String::new();
    use std::io::Read;
    child.stdout.unwrap().read_to_string(&mut out).unwrap();
    // SAFETY: wait4 succeeded and filled `usage`.
    let usage = unsafe { usage.assume_init() };
    (usage.ru_maxrss, out)
}

#[test]
fn a_ten_megabyte_references_header_keeps_memory_bounded() {
    let sb = common::Sandbox::new("");
    let mut refs = String::new();
    for i in 0..280_000 {
        refs.push_str(&format!(" <chain{i}.abcdefgh@lists.example.org>"));
    }
    let raw = format!(
        "From: a@c.example\r\nTo: support@example.com\r\nSubject: big\r\n\
         Message-ID: <bigref@c.example>\r\nReferences:{refs}\r\n\r\nhello\r\n"
    );
    assert!(raw.len() > 10_000_000);
    let file = sb.path("bigref.eml");
    std::fs::write(&file, &raw).unwrap();
    // Default limits: over max_header_bytes, quarantined before parsing.
    let (quarantined, out) = peak_rss_kib(&sb, &file);
    assert!(out.contains("quarantined"), "{out}");
    // Limits raised: parsed, the ends of the chain kept.
    let sb2 = common::Sandbox::new("[limits]\nmax_header_bytes = 16777216\n");
    let file2 = sb2.path("bigref.eml");
    std::fs::write(&file2, &raw).unwrap();
    let (parsed, out) = peak_rss_kib(&sb2, &file2);
    assert!(out.contains("created"), "{out}");
    eprintln!(
        "10.8 MB References: peak RSS {} MiB quarantined, {} MiB parsed",
        quarantined / 1024,
        parsed / 1024
    );
    // Once 3 GB; now a small multiple of the message.
    assert!(quarantined < 150 * 1024, "{quarantined} KiB");
    assert!(parsed < 250 * 1024, "{parsed} KiB");
}
