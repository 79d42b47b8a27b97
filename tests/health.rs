//! Intake health on the real Dovecot and Postfix: a mailbox whose
//! password is wrong and a mailbox that receives nothing each give the
//! admin exactly one alarm mail and, once mended, exactly one all-clear;
//! `ticketbox status --json` shows each source's state meanwhile.

mod common;

use common::Sandbox;
use common::mailstack::{self, fresh_address, smtp_send, wait_for};
use serde_json::Value;
use std::time::Duration;

#[test]
fn status_without_a_worker_says_so() {
    let sb = Sandbox::new("");
    let out = sb.command(&["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], false);
    let out = sb.command(&["status"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("no worker is running"));
}

fn source<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["sources"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

#[test]
fn a_failing_and_a_silent_mailbox_each_raise_one_alarm_and_one_all_clear() {
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("health-support");
    let quiet = fresh_address("health-quiet");
    let admin = fresh_address("health-admin");
    let sb = Sandbox::new(&format!(
        r#"{sending}
[[mailbox]]
name = "broken"
host = "127.0.0.1"
port = {imap}
tls = "plain"
allow_plaintext = true
user = "{support}"
password_file = "PASSWORD_FILE"

[[mailbox]]
name = "quiet"
host = "127.0.0.1"
port = {imap}
tls = "plain"
allow_plaintext = true
user = "{quiet}"
password_env = "TB_TEST_PASSWORD"
silence_after_seconds = 6

[health]
alarm_to = ["{admin}"]
failing_after_seconds = 2

[calendars.default]
days = "mon-sun"
open = "00:00-24:00"
"#,
        sending = stack.sending_config(&support),
        imap = mailstack::IMAP_PORT,
    ));
    // The password is read at each login: mending it needs no restart.
    let password = sb.path("imap-password");
    std::fs::write(&password, "not the password\n").unwrap();
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    std::fs::write(
        sb.path("ticketbox.toml"),
        cfg.replace("PASSWORD_FILE", &password.display().to_string()),
    )
    .unwrap();
    let worker = sb.start_worker(&[]);
    let mails = || stack.inbox(&admin);
    let with = |needle: &str| mails().iter().filter(|m| m.contains(needle)).count();

    assert!(
        wait_for(30, || with(
            "Subject: ticketbox alarm: mailbox:broken has been failing"
        ) == 1
            && with("Subject: ticketbox alarm: no mail from mailbox:quiet")
                == 1),
        "alarms: {:?}\n{}",
        mails(),
        sb.worker_log()
    );
    let alarm = mails()
        .into_iter()
        .find(|m| m.contains("mailbox:broken has been failing"))
        .unwrap();
    assert!(alarm.contains("Auto-Submitted: auto-generated"), "{alarm}");
    assert!(alarm.contains("What went wrong (auth)"), "{alarm}");
    assert!(alarm.contains("password_env / password_file"), "{alarm}");

    let status = sb.json(&["status", "--json"]);
    let broken = source(&status, "mailbox:broken");
    assert_eq!(broken["phase"], "failing", "{status}");
    assert_eq!(broken["problem"], "auth", "{status}");
    assert!(
        broken["consecutive_failures"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(broken["incident"]["kind"], "failing", "{status}");
    let q = source(&status, "mailbox:quiet");
    assert!(
        matches!(q["phase"].as_str(), Some("idle" | "connected")),
        "{status}"
    );
    assert_eq!(q["incident"]["kind"], "silent", "{status}");
    let text = String::from_utf8_lossy(&sb.run(&["status"]).stdout).into_owned();
    assert!(text.contains("mailbox:broken\tfailing since"), "{text}");
    assert!(text.contains("INCIDENT: failing"), "{text}");

    // Failing on: still one alarm, however many retries.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(with("mailbox:broken has been failing"), 1);

    // Mended: the next login works and the all-clear goes out.
    std::fs::write(&password, format!("{}\n", mailstack::PASSWORD)).unwrap();
    assert!(
        wait_for(40, || with(
            "Subject: ticketbox: mailbox:broken works again"
        ) == 1),
        "no all-clear for the broken mailbox: {:?}\n{}",
        mails(),
        sb.worker_log()
    );
    // Mail to the quiet mailbox ends its silence.
    smtp_send(
        "someone@example.test",
        &[&quiet],
        b"From: someone@example.test\r\nSubject: hello\r\nMessage-ID: <health-quiet-1@example.test>\r\n\r\nanyone there?\r\n",
    );
    assert!(
        wait_for(20, || with("Subject: ticketbox: mailbox:quiet works again")
            == 1),
        "no all-clear for the quiet mailbox: {:?}\n{}",
        mails(),
        sb.worker_log()
    );
    let status = sb.json(&["status", "--json"]);
    assert_eq!(
        source(&status, "mailbox:broken")["incident"],
        Value::Null,
        "{status}"
    );
    assert_eq!(source(&status, "mailbox:broken")["consecutive_failures"], 0);
    assert_eq!(source(&status, "mailbox:quiet")["messages"], 1, "{status}");
    assert_eq!(
        mails().len(),
        4,
        "one alarm and one all-clear each: {:?}",
        mails()
    );
    assert!(worker.stop().success());
}
