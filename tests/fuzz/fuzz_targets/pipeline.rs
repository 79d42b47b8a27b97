//! Any bytes as a message, through the whole pipeline: parse, classify,
//! thread, rules, SLA, acknowledgement and the commit, into a real store
//! (on /dev/shm when there is one; renewed now and then so it stays small).
//! The only acceptable outcomes are an `Outcome` or a store error; a panic
//! is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{LazyLock, Mutex};
use ticketbox::config::Config;
use ticketbox::intake::RawMail;
use ticketbox::pipeline::{self, Engine};
use ticketbox::store::{DiskStore, Store};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let cfg = Config {
        rules_dir: format!("{REPO}/rules").into(),
        templates_dir: format!("{REPO}/templates").into(),
        agents: vec!["agent@example.com".into()],
        ..Config::default()
    };
    Engine::new(cfg, "fuzz".into()).expect("engine")
});

struct Scratch {
    _dir: tempfile::TempDir,
    store: DiskStore,
    used: usize,
}

fn scratch() -> Scratch {
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let store = DiskStore::open(&dir.path().join("data"), 1000).expect("store");
    Scratch { _dir: dir, store, used: 0 }
}

static STORE: LazyLock<Mutex<Scratch>> = LazyLock::new(|| Mutex::new(scratch()));

fuzz_target!(|data: &[u8]| {
    let mut s = STORE.lock().unwrap_or_else(|p| p.into_inner());
    if s.used >= 2_000 {
        *s = scratch();
    }
    s.used += 1;
    let now = chrono::Utc::now();
    let raw = RawMail::new(data.to_vec(), "fuzz".into(), None);
    let _ = pipeline::process(&ENGINE, &s.store, &raw, now);
    // The same bytes again must be recognised, not ticketed twice.
    if let Ok(again) = pipeline::process(&ENGINE, &s.store, &raw, now) {
        assert!(
            matches!(
                again.outcome,
                pipeline::OutcomeKind::Duplicate | pipeline::OutcomeKind::Quarantined
            ) || again.outcome == pipeline::OutcomeKind::Ignored,
            "processed twice: {again:?}"
        );
    }
    let _ = s.store.flush();
});
