//! The binary on a Maildir, end to end: tickets created and threaded,
//! exactly one acknowledgement per new customer ticket, none for automatic
//! mail, and running again changes nothing.

mod common;

use common::{Sandbox, fixture, header};
use serde_json::Value;
use std::collections::HashMap;

/// Bob's first Outlook mail, which `outlook-reply.eml` answers.
const BOB_FIRST: &str = "From: Bob Nowak <bob@corp.example>\r\n\
To: support@example.com\r\n\
Subject: VPN drops every hour\r\n\
Thread-Index: AdlP4XK9Zl2m7mJ4TQe9Bfq3Sg1A6w==\r\n\
Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n\
Message-ID: <AM0PR01MB0000FIRST@AM0PR01MB1234.eurprd01.prod.outlook.com>\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
The VPN disconnects every hour on the hour.\r\n";

/// The mail in arrival order, and what each must become.
fn deliveries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("english-new", fixture("english-new.eml")),
        ("hebrew-1255", fixture("hebrew-windows-1255.eml")),
        ("hebrew-8859-8", fixture("hebrew-iso-8859-8.eml")),
        ("polish-8859-2", fixture("polish-iso-8859-2.eml")),
        ("polish-1250", fixture("polish-windows-1250.eml")),
        ("bob-first", BOB_FIRST.as_bytes().to_vec()),
        ("gmail-reply", fixture("gmail-reply.eml")),
        ("outlook-reply", fixture("outlook-reply.eml")),
        ("auto-reply", fixture("auto-reply.eml")),
        ("dsn-bounce", fixture("dsn-bounce.eml")),
        ("list-mail", fixture("list-mail.eml")),
        ("forward", fixture("forward.eml")),
        ("html-only", fixture("html-only-no-message-id.eml")),
        ("stranger", fixture("stranger-with-tag.eml")),
        ("not-mail", fixture("not-mail.eml")),
        ("tag-no-refs", fixture("tag-without-references.eml")),
    ]
}

fn by_id(tickets: &Value) -> HashMap<u64, Value> {
    tickets
        .as_array()
        .expect("array")
        .iter()
        .map(|t| (t["id"].as_u64().expect("id"), t.clone()))
        .collect()
}

#[test]
fn maildir_run_threads_acknowledges_once_and_is_idempotent() {
    maildir_run(&Sandbox::new(""));
}

/// The same run with the store on a PostgreSQL server: same tickets, same
/// acknowledgements, same idempotence.
#[test]
fn maildir_run_on_the_server_store() {
    let Some((sb, _db)) = Sandbox::on_server_store("") else {
        return;
    };
    maildir_run(&sb);
    // The tickets are in the database, and nothing went to the embedded
    // store's directory.
    use ticketbox::store::View;
    let at = ticketbox::store::Location::Server {
        url: _db.url.clone(),
        password: None,
        ca_file: None,
    };
    let store = ticketbox::store::open(&at, 1000).unwrap();
    assert_eq!(store.tickets().unwrap().len(), 10);
    assert!(!sb.path("data").join("db").exists());
}

fn maildir_run(sb: &Sandbox) {
    for (n, (_, bytes)) in deliveries().iter().enumerate() {
        sb.deliver(n, bytes);
    }
    sb.run(&["run", "--once"]);

    let tickets = by_id(&sb.json(&["tickets", "--json"]));
    // english, 2 Hebrew, 2 Polish, Bob, list, forward, html-only, stranger.
    assert_eq!(tickets.len(), 10, "{tickets:#?}");
    let customer_of = |id: u64| tickets[&id]["customer"].as_str().unwrap().to_owned();
    assert_eq!(customer_of(1000), "alice@customer.example");

    // Alice's ticket holds her mail, our ack, her Gmail reply, the bounce of
    // the ack (it points at it), and her reply that kept only the tag. The
    // vacation reply to our ack is dropped by the shipped rules.
    let alice = sb.json(&["show", "1000", "--json"]);
    let kinds: Vec<&str> = alice["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["customer", "outgoing", "customer", "bounce", "customer"],
        "{alice:#}"
    );

    // Bob's Outlook reply joined his ticket.
    let bob = tickets
        .values()
        .find(|t| t["customer"] == "bob@corp.example")
        .unwrap();
    assert_eq!(bob["messages"], 3, "first, ack, reply: {bob:#}");

    // The stranger quoting Alice's tag got a ticket of their own, linked.
    let stranger = tickets
        .values()
        .find(|t| t["customer"] == "mallory@attacker.example")
        .unwrap();
    assert_eq!(stranger["links"], serde_json::json!([1000]));
    assert_eq!(stranger["subject"], "Re: Printer on 3rd floor is jammed");

    // Rules routed by language-specific keywords.
    let polish = tickets
        .values()
        .find(|t| t["customer"] == "lukasz@example.pl")
        .unwrap();
    assert_eq!(polish["queue"], "billing");
    assert_eq!(polish["priority"], "high");
    let hebrew = tickets
        .values()
        .find(|t| t["customer"] == "yossi@example.co.il")
        .unwrap();
    assert_eq!(hebrew["queue"], "billing");

    // One acknowledgement per new customer ticket; none for the list mail.
    let outbox = sb.json(&["outbox", "--json"]);
    let entries = outbox.as_array().unwrap();
    assert_eq!(entries.len(), 9, "{outbox:#}");
    assert!(entries.iter().all(|e| e["state"] == "sent"), "{outbox:#}");
    let list = tickets
        .values()
        .find(|t| t["customer"] == "news@vendor.example")
        .unwrap();
    assert!(entries.iter().all(|e| e["ticket"] != list["id"]));

    let files = sb.outbox_files();
    assert_eq!(files.len(), 9);
    let mut acked = Vec::new();
    for f in &files {
        assert_eq!(header(f, "Auto-Submitted").as_deref(), Some("auto-replied"));
        let ticket: u64 = header(f, "X-Ticketbox-Ticket").unwrap().parse().unwrap();
        let subject = header(f, "Subject").unwrap();
        assert!(subject.starts_with(&format!("[#TB-{ticket}]")), "{subject}");
        let irt = header(f, "In-Reply-To").unwrap();
        let refs = header(f, "References").unwrap();
        assert!(
            refs.contains(&irt),
            "References {refs} should include In-Reply-To {irt}"
        );
        // In the customer's language, with the due time.
        let parsed = ticketbox::mail::parse::parse(f.as_bytes(), "x").unwrap();
        let to = &parsed.to[0].address;
        let (lang, phrase) = if to.ends_with(".co.il") {
            ("he", "נשיב עד")
        } else if to.ends_with(".pl") {
            ("pl", "Odpowiemy do")
        } else {
            ("en", "We expect to reply by")
        };
        assert_eq!(header(f, "Content-Language").as_deref(), Some(lang), "{to}");
        assert!(parsed.text.contains(phrase), "{to}: {}", parsed.text);
        acked.push(ticket);
    }
    acked.sort();
    acked.dedup();
    assert_eq!(acked.len(), 9, "one ack per ticket");

    // The non-mail file is quarantined with its reason, not dropped.
    let q = sb.json(&["quarantine", "--json"]);
    assert_eq!(q.as_array().unwrap().len(), 1);
    assert!(
        q[0]["reason"].as_str().unwrap().contains("no header block"),
        "{q:#}"
    );

    // Running again, and ingesting the same Maildir, changes nothing.
    let before = sb.json(&["tickets", "--json"]);
    sb.run(&["run", "--once"]);
    let lines = sb.json_lines(&["ingest", "--json", sb.maildir().to_str().unwrap()]);
    assert_eq!(lines.len(), deliveries().len());
    for l in &lines {
        assert_eq!(l["outcome"], "duplicate", "{l}");
        assert!(!l["reason"].as_str().unwrap().is_empty());
    }
    assert_eq!(sb.json(&["tickets", "--json"]), before);
    assert_eq!(sb.json(&["outbox", "--json"]).as_array().unwrap().len(), 9);
    assert_eq!(sb.outbox_files().len(), 9);
}

#[test]
fn ingest_reports_each_outcome_with_a_reason() {
    let sb = Sandbox::new("");
    let dir = sb.path("in");
    std::fs::create_dir(&dir).unwrap();
    for (i, (name, bytes)) in deliveries().iter().enumerate() {
        std::fs::write(dir.join(format!("{i:02}-{name}.eml")), bytes).unwrap();
    }
    let lines = sb.json_lines(&["ingest", "--json", dir.to_str().unwrap()]);
    let outcome: HashMap<String, (String, String)> = lines
        .iter()
        .map(|l| {
            let origin = l["origin"].as_str().unwrap();
            let name = origin.rsplit('/').next().unwrap()[3..]
                .trim_end_matches(".eml")
                .to_owned();
            (
                name,
                (
                    l["outcome"].as_str().unwrap().to_owned(),
                    l["reason"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let expect = [
        ("english-new", "created"),
        ("gmail-reply", "appended"),
        ("auto-reply", "ignored"),
        ("dsn-bounce", "appended"),
        ("list-mail", "created"),
        ("not-mail", "quarantined"),
        ("stranger", "created"),
        ("tag-no-refs", "appended"),
    ];
    for (name, want) in expect {
        assert_eq!(outcome[name].0, want, "{name}: {:?}", outcome[name]);
    }
    assert!(
        outcome["list-mail"].1.contains("no acknowledgement"),
        "{:?}",
        outcome["list-mail"]
    );
    assert!(
        outcome["stranger"].1.contains("not in that ticket"),
        "{:?}",
        outcome["stranger"]
    );

    // A message piped on stdin.
    let out = sb.with_stdin(
        &["ingest", "--json", "-"],
        b"From: New Person <new@person.example>\r\nTo: support@example.com\r\nSubject: Hello from stdin\r\nMessage-ID: <stdin-1@person.example>\r\n\r\nHi!\r\n",
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "created");
    assert_eq!(v["message_id"], "stdin-1@person.example");
}

/// Waits up to `secs` for `cond`.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

#[test]
fn run_watches_the_maildir_and_stops_cleanly_on_sigterm() {
    let sb = Sandbox::new("");
    let mut child = sb
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Give it time to open the store and start watching, then deliver.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "worker exited early");

    let t0 = std::time::Instant::now();
    sb.deliver(0, &fixture("english-new.eml"));
    assert!(
        wait_for(10, || sb.outbox_files().len() == 1),
        "no acknowledgement for new mail"
    );
    eprintln!(
        "Maildir delivery to acknowledgement file: {:?}",
        t0.elapsed()
    );

    sb.deliver(1, &fixture("gmail-reply.eml"));
    sb.deliver(2, &fixture("polish-iso-8859-2.eml"));
    assert!(
        wait_for(10, || sb.outbox_files().len() == 2),
        "no acknowledgement for the second new mail"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        wait_for(10, || child.try_wait().unwrap().is_some()),
        "worker ignored SIGTERM"
    );
    assert!(
        child.wait().unwrap().success(),
        "worker did not exit cleanly"
    );

    let tickets = sb.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 2);
    assert_eq!(tickets[0]["messages"], 3, "mail, ack, reply: {tickets:#}");
}

#[test]
fn raw_gives_back_the_exact_bytes_with_or_without_a_worker() {
    let sb = Sandbox::new("");
    // windows-1255 bytes: not UTF-8, must come back untouched.
    let original = fixture("hebrew-windows-1255.eml");
    assert!(std::str::from_utf8(&original).is_err());
    let path = sb.path("he.eml");
    std::fs::write(&path, &original).unwrap();
    sb.run(&["ingest", path.to_str().unwrap()]);

    let direct = sb.run(&["raw", "<he-1255-001@mail.example.co.il>"]).stdout;
    assert_eq!(direct, original, "from the store");
    // What we sent is there too, as sent.
    let t = sb.json(&["show", "1000", "--json"]);
    let ack_id = t["messages"][1]["message_id"].as_str().unwrap().to_owned();
    let ack = sb.run(&["raw", &ack_id]).stdout;
    assert!(String::from_utf8_lossy(&ack).contains("Auto-Submitted: auto-replied"));

    let mut worker = sb
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(10, || sb.path("data/control.sock").exists()),
        "worker did not start"
    );
    let via_worker = sb.run(&["raw", "he-1255-001@mail.example.co.il"]).stdout;
    assert_eq!(via_worker, original, "through the running worker");
    let missing = sb.command(&["raw", "nope@x"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no stored message"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = worker.wait();
}
