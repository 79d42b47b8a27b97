//! Mail servers as they are: the real binary delivering through a fake SMTP
//! server of our own on 127.0.0.1 (tests/common/fake_smtp.rs) that refuses
//! a recipient, greylists, closes with 421, answers the final dot slowly or
//! echoes the AUTH blob in its refusal.

mod common;

use common::Sandbox;
use common::fake_smtp::{Behaviour, FakeSmtp};
use serde_json::Value;

const TEAM: &str = "agents = [\"ola@example.com\"]\n\
                    [queues.general]\nnotify = [\"ola@example.com\"]\n\
                    [queues.billing]\n[queues.technical]\n";

fn sandbox(fake: &FakeSmtp, extra: &str) -> Sandbox {
    Sandbox::new(&format!("{TEAM}{}", fake.config(extra)))
}

fn customer_mail(n: usize, cc: &str) -> String {
    format!(
        "From: Ann Customer <ann{n}@c.example>\r\nTo: support@example.com\r\n{cc}\
         Subject: Broken lamp {n}\r\nMessage-ID: <lamp-{n}@c.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nThe lamp I bought arrived broken.\r\n"
    )
}

fn ingest(sb: &Sandbox, name: &str, text: &str) -> std::process::Output {
    let path = sb.path(name);
    std::fs::write(&path, text).unwrap();
    sb.command(&["ingest", path.to_str().unwrap()])
        .output()
        .expect("spawn ticketbox")
}

fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many messages the server took for exactly `to`.
fn taken_for(fake: &FakeSmtp, to: &str) -> usize {
    fake.received().iter().filter(|r| r.to == [to]).count()
}

fn text_of(raw: &str) -> String {
    ticketbox::mail::parse::parse(raw.as_bytes(), "x")
        .unwrap()
        .text
}

#[test]
fn a_refused_cc_leaves_the_customer_served_and_the_agent_told() {
    let fake = FakeSmtp::start(Behaviour {
        refuse: vec![(
            "gone@c.example".into(),
            "550 5.1.1 <gone@c.example>: Recipient address rejected: User unknown".into(),
        )],
        ..Behaviour::default()
    });
    let sb = sandbox(&fake, "");
    let out = ingest(
        &sb,
        "customer.eml",
        &customer_mail(1, "Cc: ok@c.example, gone@c.example\r\n"),
    );
    succeeded(&out);
    let before = fake.received().len();
    assert_eq!(before, 2, "acknowledgement and notification");

    let answer = "From: Ola <ola@example.com>\r\nTo: support@example.com\r\n\
                  Subject: Re: [#TB-1000] Broken lamp 1\r\nMessage-ID: <answer-1@example.com>\r\n\
                  In-Reply-To: <lamp-1@c.example>\r\n\r\nWe are sending a new lamp today.\r\n";
    let out = ingest(&sb, "answer.eml", answer);
    succeeded(&out);

    let got = fake.received();
    let reply = got
        .iter()
        .find(|r| r.data.contains("We are sending a new lamp"))
        .expect("the answer went out");
    assert_eq!(reply.to, ["ann1@c.example", "ok@c.example"]);
    // The agent heard who did not get it, and why.
    let notice = got
        .iter()
        .find(|r| r.to == ["ola@example.com"] && r.data.contains("did not reach everyone"))
        .expect("a notice to the agent");
    let text = text_of(&notice.data);
    assert!(text.contains("gone@c.example: 550 5.1.1"), "{text}");
    assert!(text.contains("ann1@c.example"), "{text}");

    // The ticket shows who got the answer and who refused it.
    let show = sb.json(&["show", "1000", "--json"]);
    let msgs = show["messages"].as_array().unwrap();
    let sent = msgs
        .iter()
        .find(|m| m["label"] == "reply")
        .expect("the reply is in the ticket");
    let d = &sent["delivery"];
    assert_eq!(d["state"], "sent");
    assert_eq!(
        d["delivered"],
        serde_json::json!(["ann1@c.example", "ok@c.example"])
    );
    assert_eq!(d["refused"][0]["address"], "gone@c.example");
    assert!(msgs.iter().any(|m| m["label"] == "notice"));
    let text = String::from_utf8(sb.run(&["show", "1000"]).stdout).unwrap();
    assert!(text.contains("refused gone@c.example: 550 5.1.1"), "{text}");
}

#[test]
fn greylisting_is_retried_just_after_the_servers_wait() {
    let fake = FakeSmtp::start(Behaviour {
        greylist_seconds: Some(1),
        ..Behaviour::default()
    });
    let sb = sandbox(&fake, "");
    let out = ingest(&sb, "c.eml", &customer_mail(1, ""));
    assert_eq!(
        out.status.code(),
        Some(75),
        "undelivered mail is an exit status"
    );
    let outbox = sb.json(&["outbox", "--json"]);
    let ack = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["purpose"] == "acknowledgement")
        .unwrap()
        .clone();
    assert_eq!(ack["state"], "pending");
    assert!(ack["last_error"].as_str().unwrap().contains("Greylisted"));
    let due: chrono::DateTime<chrono::Utc> = ack["next_attempt"].as_str().unwrap().parse().unwrap();
    let created: chrono::DateTime<chrono::Utc> = ack["created"].as_str().unwrap().parse().unwrap();
    // The backoff would say 30 s; the server said 1 s: just after that.
    let wait = (due - created).num_seconds();
    assert!((1..=10).contains(&wait), "retry {wait} s after");
    std::thread::sleep(std::time::Duration::from_secs(wait.max(0) as u64 + 1));
    let out = sb.command(&["run", "--once"]).output().unwrap();
    succeeded(&out);
    assert_eq!(taken_for(&fake, "ann1@c.example"), 1);
}

#[test]
fn a_connection_closed_with_421_is_not_reused() {
    let fake = FakeSmtp::start(Behaviour {
        close_after: Some(2),
        ..Behaviour::default()
    });
    let sb = sandbox(&fake, "concurrency = 1\n");
    for n in 0..5 {
        sb.deliver(n, customer_mail(n, "").as_bytes());
    }
    let out = sb.command(&["run", "--once"]).output().unwrap();
    succeeded(&out);
    let got = fake.received();
    let acks: Vec<String> = got
        .iter()
        .filter(|r| r.to[0].starts_with("ann"))
        .map(|r| r.message_id())
        .collect();
    assert_eq!(acks.len(), 5, "every acknowledgement once, none waiting");
    let mut unique = acks.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    // Two messages a connection: the closed ones were replaced at once.
    assert!(fake.connections() >= 3);
    assert!(
        got.iter()
            .all(|r| got.iter().filter(|o| o.connection == r.connection).count() <= 2)
    );
}

#[test]
fn a_slow_answer_to_the_final_dot_is_waited_for_not_sent_twice() {
    let fake = FakeSmtp::start(Behaviour {
        dot_delay: std::time::Duration::from_secs(2),
        ..Behaviour::default()
    });
    // Commands must answer within a second, the final dot within five.
    let sb = sandbox(
        &fake,
        "command_timeout_seconds = 1\ndata_timeout_seconds = 5\n",
    );
    let out = ingest(&sb, "c.eml", &customer_mail(1, ""));
    succeeded(&out);
    assert_eq!(taken_for(&fake, "ann1@c.example"), 1);
}

#[test]
fn credentials_echoed_by_the_server_are_neither_kept_nor_logged() {
    let fake = FakeSmtp::start(Behaviour {
        echo_auth: true,
        ..Behaviour::default()
    });
    let password = "s3cret-Passw0rd-xyz";
    let sb = sandbox(
        &fake,
        "user = \"support@example.com\"\npassword_env = \"TB_SMTP_SECRET\"\n",
    );
    let path = sb.path("c.eml");
    std::fs::write(&path, customer_mail(1, "")).unwrap();
    let out = sb
        .command(&["ingest", path.to_str().unwrap()])
        .env("TB_SMTP_SECRET", password)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    let blob = fake
        .auth_seen()
        .first()
        .cloned()
        .expect("the client tried AUTH");
    assert!(blob.len() > 8);
    let outbox = sb.json(&["outbox", "--json"]);
    let errors: Vec<&str> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["last_error"].as_str())
        .collect();
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(e.contains("535") && e.contains("[redacted]"), "{e}");
        assert!(!e.contains(&blob) && !e.contains(password), "{e}");
    }
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("535"), "the failure is logged");
    assert!(!log.contains(&blob), "the AUTH blob leaked into the log");
    assert!(!log.contains(password), "the password leaked into the log");
    let _: Value = outbox;
}

#[test]
fn the_worker_tells_the_agent_of_a_refused_copy_too() {
    let fake = FakeSmtp::start(Behaviour {
        refuse: vec![(
            "gone@c.example".into(),
            "550 5.1.1 <gone@c.example>: Recipient address rejected: User unknown".into(),
        )],
        ..Behaviour::default()
    });
    let sb = sandbox(&fake, "");
    sb.deliver(0, customer_mail(1, "Cc: gone@c.example\r\n").as_bytes());
    sb.deliver(
        1,
        b"From: Ola <ola@example.com>\r\nTo: support@example.com\r\n\
          Subject: Re: [#TB-1000] Broken lamp 1\r\nMessage-ID: <answer-w@example.com>\r\n\
          In-Reply-To: <lamp-1@c.example>\r\n\r\nA new lamp is on its way.\r\n",
    );
    let out = sb.command(&["run", "--once"]).output().unwrap();
    succeeded(&out);
    let got = fake.received();
    assert!(
        got.iter()
            .any(|r| r.data.contains("A new lamp is on its way"))
    );
    let notice = got
        .iter()
        .find(|r| r.to == ["ola@example.com"] && r.data.contains("did not reach everyone"))
        .expect("the agent is told, by the running worker too");
    assert!(text_of(&notice.data).contains("gone@c.example: 550 5.1.1"));
}
