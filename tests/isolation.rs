//! One bad message never stops the helpdesk: the real binary, a Maildir of
//! mail with one poison message among it. A panic quarantines only that
//! message; a message that aborts the whole process is tried alone after
//! the restart, and once it has brought the worker down alone twice it is
//! set aside at the next start, while everything else is ticketed.
//!
//! The faults are injected with `TICKETBOX_TEST_FAULT`, which only debug
//! builds (the ones `cargo test` runs) read.

mod common;

use common::Sandbox;
use std::process::Output;

const MARKER: &str = "POISON-7f3a";

fn message(i: usize, poison: bool) -> String {
    format!(
        "From: Customer {i} <c{i}@load.example>\r\nTo: support@example.com\r\n\
         Subject: Order {i}\r\nMessage-ID: <iso-{i}@load.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello, order {i} is late.{}\r\n",
        if poison { MARKER } else { "" }
    )
}

fn run_with_fault(sb: &Sandbox, fault: &str) -> Output {
    sb.command(&["run", "--once"])
        .env("TICKETBOX_TEST_FAULT", fault)
        .output()
        .expect("spawn ticketbox")
}

fn tickets(sb: &Sandbox) -> usize {
    sb.json(&["tickets", "--json"])
        .as_array()
        .expect("ticket list")
        .len()
}

fn quarantine(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.json(&["quarantine", "--json"])
        .as_array()
        .expect("quarantine list")
        .clone()
}

#[test]
fn a_message_that_aborts_the_worker_is_set_aside_and_the_rest_flows() {
    let sb = Sandbox::new("");
    for i in 0..20 {
        sb.deliver(i, message(i, i == 7).as_bytes());
    }
    let fault = format!("abort:{MARKER}");
    let mut aborts = 0;
    let finished = loop {
        let out = run_with_fault(&sb, &fault);
        if out.status.success() {
            break true;
        }
        // Killed by SIGABRT: no exit code.
        assert_eq!(
            out.status.code(),
            None,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        aborts += 1;
        if aborts > 5 {
            break false;
        }
    };
    assert!(finished, "the worker never got past the poison message");
    // Once in its batch, then three times alone; the next start sets it
    // aside.
    assert_eq!(aborts, 4, "aborts before the message was set aside");
    assert_eq!(tickets(&sb), 19, "every other message is ticketed");
    let q = quarantine(&sb);
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("stopped the worker 3 times"), "{reason}");
    assert!(q[0]["origin"].as_str().unwrap().contains("Maildir"));
    // Each of the 19 got its one acknowledgement.
    let outbox = sb.json(&["outbox", "--json"]);
    assert_eq!(outbox.as_array().unwrap().len(), 19);

    // Running again changes nothing; the fault gone (a fixed release),
    // `release` makes the message a ticket.
    sb.run(&["run", "--once"]);
    assert_eq!(tickets(&sb), 19);
    let hash = q[0]["raw_hash"].as_str().unwrap();
    sb.run(&["release", &hash[..12]]);
    assert_eq!(tickets(&sb), 20);
    assert!(quarantine(&sb).is_empty());
}

#[test]
fn a_panic_quarantines_its_message_and_the_run_goes_on() {
    let sb = Sandbox::new("");
    for i in 0..10 {
        sb.deliver(i, message(i, i == 3).as_bytes());
    }
    // Mail whose names once crashed the acknowledgement builder.
    sb.deliver(
        10,
        b"From: =?utf-8?Q?Eve=0D=0AX?= <eve@load.example>\r\nReply-To: =?utf-8?Q?Eve=0D=0ABcc:_x?= <eve2@load.example>\r\n\
          To: support@example.com\r\nSubject: Hi\r\nMessage-ID: <eve@load.example>\r\n\r\nHello\r\n",
    );
    sb.deliver(
        11,
        b"From: =?utf-8?Q?Nul=00?= <nul@load.example>\r\nTo: support@example.com\r\n\
          Subject: Hi\r\nMessage-ID: <nul@load.example>\r\n\r\nHello\r\n",
    );
    let out = run_with_fault(&sb, &format!("panic:{MARKER}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tickets(&sb), 11);
    let q = quarantine(&sb);
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("internal error while processing"),
        "{reason}"
    );
    assert!(reason.contains("TICKETBOX_TEST_FAULT: panic"), "{reason}");
    // Both odd names were acknowledged, in well-formed mail.
    let files: Vec<_> = std::fs::read_dir(sb.path("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files.len(), 11);
    for f in &files {
        assert!(f.split("\r\n").all(|l| l.len() <= 998 && !l.contains('\0')));
        assert!(!f.split("\r\n").any(|l| l.starts_with("Bcc:")));
    }
    assert!(files.iter().any(|f| f.contains("eve2@load.example")));
    assert!(files.iter().any(|f| f.contains("nul@load.example")));
}

/// `ingest` takes in, prepares and decides on three threads a batch apart:
/// a panic there is still its message's alone, whichever batch it is in.
#[test]
fn ingest_quarantines_a_panicking_message_and_takes_in_the_rest() {
    // Many customers of one domain writing alike: no robot bounds here.
    let sb = Sandbox::new(
        "[ack]\nmax_per_sender_per_hour = 100000\nmax_per_sender_per_day = 100000\n\
         shared_domains = [\"load.example\"]\nsame_text_days = 0\n",
    );
    // Three batches of the default 256; the poison in the second.
    for i in 0..600 {
        sb.deliver(i, message(i, i == 300).as_bytes());
    }
    let md = sb.maildir();
    let out = sb
        .command(&["ingest", md.to_str().unwrap()])
        .env("TICKETBOX_TEST_FAULT", format!("panic:{MARKER}"))
        .output()
        .expect("spawn ticketbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("ingest: 600 messages"), "{said}");
    assert_eq!(tickets(&sb), 599);
    let q = quarantine(&sb);
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("TICKETBOX_TEST_FAULT: panic"),
        "{}",
        q[0]
    );
    // Each of the 599 got its one acknowledgement.
    let outbox = sb.json(&["outbox", "--json"]);
    assert_eq!(outbox.as_array().unwrap().len(), 599);
}
