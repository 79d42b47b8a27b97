//! Headless Chromium (Debian's package) for tests that look at pages as a
//! person's browser shows them; `tests/deps.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium's path, or `None` with a message (a failure when
/// `TICKETBOX_REQUIRE_CHROMIUM=1`, as in `tests/run-all.sh`).
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Some(path);
    }
    let msg = "Chromium is not installed (apt-get install chromium; tests/run-all.sh does it)";
    if std::env::var("TICKETBOX_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// Chromium, headless, with a fresh profile at `profile` and no network
/// chatter (this machine's network is closed), at `width`×`height`.
pub fn headless(chromium: &Path, profile: &Path, (width, height): (u32, u32)) -> Command {
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--window-size={width},{height}"))
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Where screenshots are kept after the test (`target/test-artifacts/`).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes a screenshot of `page` into `png` (replacing an older one) and
/// insists Chromium succeeded.
pub fn screenshot(chromium: &Path, profile: &Path, size: (u32, u32), page: &Path, png: &Path) {
    let _ = std::fs::remove_file(png);
    let shot = headless(chromium, profile, size)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
}
