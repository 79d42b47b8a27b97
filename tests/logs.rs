//! Logs for a log collector: `run --log-format json` against the real
//! Dovecot and Postfix writes one JSON object per line, with the event's
//! fields (message id, ticket) as keys, and never a password: neither the
//! one that works nor a wrong one a mailbox is refused with, in any form.

mod common;

use base64::Engine as _;
use common::Sandbox;
use common::mailstack::{self, fresh_address, smtp_send, wait_for};
use serde_json::Value;

const WRONG: &str = "Wr0ng-Pa55-for-logs";

#[test]
fn json_lines_with_fields_and_no_password() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("logs-support");
    let other = fresh_address("logs-wrong");
    let cfg = format!(
        "{}\n[[mailbox]]\nname = \"wrong\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"plain\"\n\
         allow_plaintext = true\nuser = \"{other}\"\npassword_env = \"TB_WRONG\"\n",
        ms.worker_config(&support, ""),
        mailstack::IMAP_PORT
    );
    let sb = Sandbox::new(&cfg);
    let log_path = sb.path("json.log");
    let mut child = sb
        .command(&["run", "--log-format", "json"])
        .env("TB_WRONG", WRONG)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        wait_for(20, || log().contains("\"connected\"")),
        "not connected: {}",
        log()
    );
    let customer = fresh_address("logs-customer");
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Dana <{customer}>\r\nTo: {support}\r\nSubject: Printer jams\r\n\
             Message-ID: <logs-1.{support}>\r\n\r\nIt jams on every page.\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(30, || log().contains("\"processed\"")
            && log().contains("refused")),
        "{}",
        log()
    );
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    let text = log();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 4, "{text}");
    for l in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l.get(key).is_some(), "no {key}: {l}");
        }
    }
    let processed = lines
        .iter()
        .find(|l| l["message"] == "processed")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(processed["ticket"], 1000, "{processed}");
    assert_eq!(
        processed["message_id"],
        format!("logs-1.{support}"),
        "{processed}"
    );
    // The wrong password's mailbox is named in its own field.
    let refused = lines
        .iter()
        .find(|l| l["mailbox"] == "wrong" && l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no refused login: {text}"));
    assert!(refused.to_string().contains("refused"), "{refused}");

    // No password in any form: as set, base64 (SASL PLAIN/LOGIN), or the
    // test stack's real one.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in [
        WRONG.to_owned(),
        b64(WRONG),
        b64(&format!("\0{other}\0{WRONG}")),
        mailstack::PASSWORD.to_owned(),
        b64(mailstack::PASSWORD),
    ] {
        assert!(!text.contains(&secret), "{secret:?} in the log:\n{text}");
    }
}
