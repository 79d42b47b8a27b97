//! `ticketbox migrate --to postgres://…`: an embedded store of 2,000
//! tickets moved into PostgreSQL, then compared record by record (by the
//! library, independently of the command's own check) and through the
//! CLI: every ticket, message and raw byte the same.
//!
//! Needs the test PostgreSQL (`tests/pg/pg.sh up`); skipped without it.

mod common;

use common::Sandbox;
use ticketbox::store::{BlobKind, Location, View};
use ticketbox::thread::ThreadView;

const CUSTOMERS: usize = 2_000;
const REPLIES: usize = 300;

fn first(i: usize) -> String {
    let lang = [
        (
            "Order {i} has not arrived",
            "Hello, my order {i} has not arrived yet.",
        ),
        (
            "Zamówienie {i} nie dotarło",
            "Dzień dobry, zamówienie {i} jeszcze nie dotarło.",
        ),
        ("ההזמנה {i} לא הגיעה", "שלום, ההזמנה {i} עדיין לא הגיעה."),
    ][i % 3];
    let subject = lang.0.replace("{i}", &i.to_string());
    let body = lang.1.replace("{i}", &i.to_string());
    format!(
        "From: Customer {i} <c{i}@site{i}.example>\r\n\
         To: support@example.com\r\n\
         Subject: =?UTF-8?B?{}?=\r\n\
         Date: Sat, 05 Dec 2026 10:{:02}:00 +0000\r\n\
         Message-ID: <m{i}@site{i}.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n",
        b64(subject.as_bytes()),
        i % 60
    )
}

fn reply(i: usize) -> String {
    format!(
        "From: Customer {i} <c{i}@site{i}.example>\r\n\
         To: support@example.com\r\n\
         Subject: Re: order {i}\r\n\
         Date: Sat, 05 Dec 2026 12:{:02}:00 +0000\r\n\
         Message-ID: <r{i}@site{i}.example>\r\n\
         In-Reply-To: <m{i}@site{i}.example>\r\n\
         References: <m{i}@site{i}.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Any news? The tracking number is {i}{i}.\r\n",
        i % 60
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn an_embedded_store_of_2000_tickets_moves_whole() {
    let Some(db) = ticketbox::store::TestDatabase::new() else {
        return;
    };
    let sb = Sandbox::new("");
    let dir = sb.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..CUSTOMERS {
        std::fs::write(dir.join(format!("a{i:05}.eml")), first(i)).unwrap();
    }
    for i in 0..REPLIES {
        std::fs::write(dir.join(format!("b{i:05}.eml")), reply(i)).unwrap();
    }
    // A big one (kept as a file by the embedded store) and one that is not
    // mail (quarantined).
    let big = format!(
        "From: Big <big@files.example>\r\nTo: support@example.com\r\nSubject: logs\r\n\
         Message-ID: <big@files.example>\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
        "log line of a big attachment\r\n".repeat(20_000)
    );
    std::fs::write(dir.join("c-big.eml"), &big).unwrap();
    std::fs::write(dir.join("c-junk.eml"), b"\x00\x01 not mail at all").unwrap();
    sb.command(&["ingest", dir.to_str().unwrap()])
        .output()
        .unwrap();

    let (url, password) = db.url_and_password();
    std::fs::write(sb.path("db-password"), format!("{password}\n")).unwrap();
    let out = sb
        .command(&[
            "migrate",
            "--to",
            &url,
            "--password-file",
            sb.path("db-password").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("2001 tickets"), "{said}");
    eprintln!("{said}");

    // Compared here, not only by the command.
    let sled = ticketbox::store::open(
        &Location::Embedded {
            dir: sb.path("data"),
            cache_bytes: 8 << 20,
        },
        1000,
    )
    .unwrap();
    let pg = ticketbox::store::open(
        &Location::Server {
            url: db.url.clone(),
            password: None,
            ca_file: None,
        },
        1000,
    )
    .unwrap();
    let tickets = sled.tickets().unwrap();
    assert_eq!(tickets.len(), CUSTOMERS + 1);
    assert_eq!(pg.tickets().unwrap(), tickets, "every ticket the same");
    let (mut messages, mut raw_bytes) = (0, 0);
    for t in &tickets {
        // The customer index at a glance (the embedded store keeps its
        // times to the second).
        let glance = |v: Vec<ticketbox::store::CustomerTicket>| {
            v.iter()
                .map(|c| {
                    (
                        c.id,
                        c.open,
                        c.created.timestamp(),
                        c.closed.map(|d| d.timestamp()),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            glance(pg.customer_tickets(&t.customer.address).unwrap()),
            glance(sled.customer_tickets(&t.customer.address).unwrap())
        );
        for id in &t.messages {
            let m = sled.message(id).unwrap().expect("message");
            assert_eq!(pg.message(id).unwrap().as_ref(), Some(&m), "{id}");
            assert_eq!(pg.ticket_for_message_id(id).unwrap(), Some(t.id));
            messages += 1;
            if let Some(raw) = sled.raw(&m.raw_hash).unwrap() {
                assert_eq!(pg.raw(&m.raw_hash).unwrap(), Some(raw.clone()), "{id}");
                raw_bytes += raw.len();
            } else {
                // Ours: the outgoing message is the outbox's blob.
                let out = sled.blob(BlobKind::Outgoing, id).unwrap().expect(id);
                assert_eq!(pg.blob(BlobKind::Outgoing, id).unwrap(), Some(out));
            }
        }
    }
    assert!(messages >= CUSTOMERS * 2 + REPLIES, "{messages}");
    assert!(raw_bytes > big.len(), "the big message moved too");
    assert_eq!(pg.outbox().unwrap(), sled.outbox().unwrap());
    assert_eq!(pg.quarantined().unwrap(), sled.quarantined().unwrap());
    assert_eq!(pg.quarantined().unwrap().len(), 1);
    assert_eq!(pg.next_ticket_id().unwrap(), sled.next_ticket_id().unwrap());
    assert_eq!(
        pg.queue_stats("general").unwrap(),
        sled.queue_stats("general").unwrap()
    );
    assert_eq!(pg.instance_id().unwrap(), sled.instance_id().unwrap());
    drop((sled, pg));

    // The CLI on the moved store says what it said before.
    let before = sb.json(&["tickets", "--json"]);
    let show_before = sb.json(&["show", "1000", "--json"]);
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    std::fs::write(
        sb.path("ticketbox.toml"),
        format!(
            "{cfg}\n[store]\nurl = {url:?}\npassword_file = {:?}\n",
            sb.path("db-password")
        ),
    )
    .unwrap();
    assert_eq!(sb.json(&["tickets", "--json"]), before);
    assert_eq!(sb.json(&["show", "1000", "--json"]), show_before);
    // A second move into the now full database is refused.
    let again = sb.command(&["migrate", "--to", &url]).output().unwrap();
    assert!(!again.status.success());
}
