//! The README's "first hour" runs as written: its shell block, line by line,
//! in an empty directory, with this build's `ticketbox` on the PATH.

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_first_hour_works_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let block = readme
        .split("<!-- first-hour -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /first-hour -->").next())
        .expect("the first-hour block in README.md");
    let script = block
        .trim()
        .strip_prefix("```sh")
        .and_then(|b| b.strip_suffix("```"))
        .expect("a ```sh block");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_ticketbox"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-euxc")
        .arg(script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for expected in [
        "wrote mydesk/ticketbox.toml",
        "ticketbox.toml: good: queues billing, general, technical",
        "The printer on floor 3 does not print",
        "Message-ID <first-hour@customer.example>",
        "has not printed anything since this morning",
        ".eml",
        "templates: 30 templates",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing:\n{stdout}\n{stderr}"
        );
    }
    // The acknowledgement is there, to Dana, with her ticket number.
    let outbox = dir.path().join("mydesk/outbox");
    let acks: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(acks.len(), 1);
    assert!(
        acks[0].contains("To: \"Dana Cohen\" <dana@customer.example>"),
        "{}",
        acks[0]
    );
    assert!(acks[0].contains("[#TB-1000]"));
}
