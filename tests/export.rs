//! Export and import: a store with 2,000 customers' tickets (replies,
//! agents' answers passed on, quarantined mail, big messages kept as
//! files) exported, imported into an empty store and exported again gives
//! the same records, raw bytes included; the imported store numbers new
//! tickets after the old ones; an incremental export holds only what
//! changed.

mod common;

use common::Sandbox;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const CUSTOMERS: usize = 2_000;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn first(i: usize) -> String {
    format!(
        "From: Customer {i} <c{i}@customer.example>\r\nTo: support@example.com\r\n\
         Subject: Order {i} did not arrive\r\nMessage-ID: <m{i}@customer.example>\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\n\
         Hello, my order number {i} did not arrive. Can you check?\r\n"
    )
}

fn config() -> String {
    "agents = [\"ola@example.com\"]\n[limits]\nmax_mime_parts = 20\n".to_owned()
}

/// The export's records (header left out), sorted.
fn records(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn a_round_trip_keeps_every_record_and_byte() {
    let a = Sandbox::new(&config());
    let mail = a.path("mail");
    for i in 0..CUSTOMERS {
        write(&mail.join("1-first"), &format!("{i:05}.eml"), &first(i));
    }
    // Replies, agents' answers, big messages and unreadable ones.
    for i in 0..300 {
        write(
            &mail.join("2-replies"),
            &format!("{i:05}.eml"),
            &format!(
                "From: Customer {i} <c{i}@customer.example>\r\nTo: support@example.com\r\n\
                 Subject: Re: Order {i} did not arrive\r\nMessage-ID: <r{i}@customer.example>\r\n\
                 In-Reply-To: <m{i}@customer.example>\r\n\r\nAny news?\r\n"
            ),
        );
    }
    for i in 0..150 {
        write(
            &mail.join("3-answers"),
            &format!("{i:05}.eml"),
            &format!(
                "From: Ola <ola@example.com>\r\nTo: support@example.com\r\n\
                 Subject: Re: [#TB-{}] Order {i} did not arrive\r\nMessage-ID: <a{i}@example.com>\r\n\r\n\
                 #pending\r\nHello, the parcel left again today.\r\n",
                1000 + i
            ),
        );
    }
    let big_part =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
            .repeat(5_000);
    for i in 0..3 {
        write(
            &mail.join("4-odd"),
            &format!("big-{i}.eml"),
            &format!(
                "From: Photographer {i} <p{i}@photo.example>\r\nTo: support@example.com\r\n\
                 Subject: Photos of the damage {i}\r\nMessage-ID: <big{i}@photo.example>\r\n\
                 MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: text/plain\r\n\r\nPhotos attached.\r\n\
                 --b\r\nContent-Type: image/jpeg; name=\"damage.jpg\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{big_part}--b--\r\n"
            ),
        );
    }
    for i in 0..3 {
        let parts: String = (0..30)
            .map(|p| format!("--b\r\nContent-Type: text/plain\r\n\r\npart {p}\r\n"))
            .collect();
        write(
            &mail.join("4-odd"),
            &format!("parts-{i}.eml"),
            &format!(
                "From: <robot{i}@noise.example>\r\nTo: support@example.com\r\nSubject: many parts\r\n\
                 Message-ID: <parts{i}@noise.example>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n{parts}--b--\r\n"
            ),
        );
    }
    for dir in ["1-first", "2-replies", "3-answers", "4-odd"] {
        a.run(&["ingest", mail.join(dir).to_str().unwrap()]);
    }
    let quarantined = a.json(&["quarantine", "--json"]);
    assert_eq!(
        quarantined.as_array().map(Vec::len),
        Some(3),
        "{quarantined}"
    );

    let exported = a.path("a.jsonl");
    a.run(&["export", "-o", exported.to_str().unwrap()]);
    let header: Value = serde_json::from_str(
        std::fs::read_to_string(&exported)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&header["format"], &header["version"]),
        (&Value::from("ticketbox-export"), &Value::from(1))
    );
    let a_records = records(&exported);
    let count = |kind: &str| {
        a_records
            .iter()
            .filter(|l| l.starts_with(&format!("{{\"type\":\"{kind}\"")))
            .count()
    };
    assert_eq!(count("ticket"), CUSTOMERS + 3, "tickets");
    assert!(count("message") >= CUSTOMERS + 300 + 150 + 3, "messages");
    assert_eq!(count("quarantine"), 3);
    // The agents' answers, and the few acknowledgements the pacing allows
    // (2,000 near-identical texts from one domain read as a robot's).
    assert!(count("outbox") > 150, "{}", count("outbox"));

    // Into an empty store, checked record by record by import itself.
    let b = Sandbox::new(&config());
    let out = b.run(&["import", exported.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("imported and checked:"), "{said}");
    // Big messages are files there too.
    let files = walk(&b.path("data"));
    assert!(
        files
            .iter()
            .filter(|(p, size)| p.contains("/raw/") && *size > 256 * 1024)
            .count()
            >= 3,
        "{files:?}"
    );
    // Its export: the same records, line for line (raw mail and outgoing
    // messages in base64 among them).
    let again = b.path("b.jsonl");
    b.run(&["export", "-o", again.to_str().unwrap()]);
    let b_records = records(&again);
    assert_eq!(a_records.len(), b_records.len());
    for (x, y) in a_records.iter().zip(&b_records) {
        assert_eq!(x, y);
    }
    // An import into a store that has tickets is refused.
    let o = b
        .command(&["import", exported.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty"));

    // New tickets continue after the old numbers.
    let old: BTreeSet<u64> = b
        .json(&["tickets", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    // (A moment after everything imported: the incremental export below
    // starts here.)
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mark = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let new_mail = b.path("new.eml");
    std::fs::write(&new_mail, first(99_999)).unwrap();
    let o = b.json_lines(&["ingest", "--json", new_mail.to_str().unwrap()]);
    let id = o[0]["ticket"].as_u64().unwrap();
    assert!(
        !old.contains(&id) && id > *old.iter().max().unwrap(),
        "{id}"
    );

    // Incremental: only what changed after a moment.
    let since = b.path("since.jsonl");
    b.run(&[
        "export",
        "--since",
        &mark.to_rfc3339(),
        "-o",
        since.to_str().unwrap(),
    ]);
    let recent = records(&since);
    let tickets: Vec<&String> = recent
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"ticket\""))
        .collect();
    assert_eq!(tickets.len(), 1, "{} tickets since {mark}", tickets.len());
    assert!(tickets[0].contains(&format!("\"id\":{id}")));
}

fn walk(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if let Ok(m) = e.metadata() {
                out.push((p.display().to_string(), m.len()));
            }
        }
    }
    out
}
