//! Satisfaction ratings through a real Postfix and Dovecot: an agent
//! closes a Polish customer's ticket with an answer; the answer reaches the
//! customer asking for a rating; the customer replies "4"; the rating is
//! on the ticket, which stays closed, and nobody gets an acknowledgement.
//! Then the customer uses the answer's link for 5 (a new mail, as a
//! client's mailto opens it), which replaces the 4; the same link edited
//! for another ticket is refused.

mod common;

use common::mailstack::{self, fresh_address, smtp_send, wait_for};
use common::{Sandbox, header};
use mail_parser::MessageParser;

fn text_of(raw: &str) -> String {
    MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.body_text(0).map(|t| t.replace("\r\n", "\n")))
        .unwrap_or_default()
}

/// The subject the `score` link of `raw`'s HTML part opens a mail with.
fn link_subject(raw: &str, score: usize) -> String {
    let html = MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.body_html(0).map(|h| h.into_owned()))
        .unwrap_or_default();
    let href = html
        .split("href=\"mailto:")
        .nth(score)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no link for {score}: {html}"));
    let q = href.split_once("?subject=").expect("a subject").1;
    let mut bytes = Vec::new();
    let mut i = 0;
    let b = q.as_bytes();
    while i < b.len() {
        if b[i] == b'%' {
            bytes.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn close_ask_reply_four_recorded_without_ack_ticket_stays_closed() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let (support, agent) = (fresh_address("csat-support"), fresh_address("csat-agent"));
    let customer = fresh_address("csat-customer");
    let other = fresh_address("csat-other");
    // The shipped rules route to billing and technical too.
    let queues: String = ["general", "billing", "technical"]
        .iter()
        .map(|q| format!("[queues.{q}]\nnotify = [\"{agent}\"]\n"))
        .collect();
    let cfg = format!(
        "agents = [\"{agent}\"]\n{}\n{queues}",
        ms.worker_config(&support, "")
    );
    let sb = Sandbox::new(&cfg);
    let _worker = sb.start_worker(&[]);

    let first = format!("first.{customer}");
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Anna Nowak <{customer}>\r\nTo: <{support}>\r\nSubject: Zamówienie nie dotarło\r\n\
             Message-ID: <{first}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n\
             Dzień dobry, moje zamówienie nie dotarło mimo upływu tygodnia. Proszę o sprawdzenie.\r\n"
        )
        .as_bytes(),
    );
    // Anna's is ticket 1000.
    assert!(
        wait_for(30, || ms.inbox(&customer).len() == 1),
        "no acknowledgement; log:\n{}",
        sb.worker_log()
    );
    // Someone else's ticket, closed too: the target of the forged link.
    smtp_send(
        &other,
        &[&support],
        format!(
            "From: <{other}>\r\nTo: <{support}>\r\nSubject: Invoice twice\r\n\
             Message-ID: <first.{other}>\r\n\r\nI was billed twice this month.\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(30, || ms.inbox(&customer).len() == 1
            && ms.inbox(&agent).len() == 2),
        "expected the acknowledgement and two notifications; log:\n{}",
        sb.worker_log()
    );
    let notes = ms.inbox(&agent);
    let reply_to_note = |note: &str, id: &str, top: &str| {
        let quoted: String = text_of(note)
            .lines()
            .map(|l| format!("> {l}\r\n"))
            .collect();
        smtp_send(
            &agent,
            &[&support],
            format!(
                "From: Ola Agent <{agent}>\r\nTo: <{support}>\r\nSubject: Re: {}\r\n\
                 Message-ID: <{id}.{agent}>\r\nIn-Reply-To: {}\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 {top}\r\n\r\nOn Mon, 7 Dec 2026, Test Support wrote:\r\n{quoted}",
                header(note, "Subject").unwrap(),
                header(note, "Message-ID").unwrap(),
            )
            .as_bytes(),
        );
    };
    let theirs = |s: &str| {
        notes
            .iter()
            .find(|n| text_of(n).contains(s))
            .unwrap()
            .clone()
    };
    reply_to_note(
        &theirs("zamówienie nie dotarło"),
        "close1",
        "#close\r\nDzień dobry, paczka wyszła dziś ponownie, numer przesyłki w załączniku.",
    );
    reply_to_note(&theirs("billed twice"), "close2", "#close");
    assert!(
        wait_for(30, || ms.inbox(&customer).len() == 2),
        "the closing answer did not reach the customer; log:\n{}",
        sb.worker_log()
    );
    let answer = ms
        .inbox(&customer)
        .into_iter()
        .find(|m| text_of(m).contains("paczka wyszła"))
        .unwrap();
    let body = text_of(&answer);
    assert!(
        body.contains("paczka wyszła dziś ponownie") && body.contains("Jak nam poszło?"),
        "{body}"
    );
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["status"], "closed", "{t:#}");

    // The customer replies "4" from their client, quoting the answer.
    let quoted: String = body.lines().map(|l| format!("> {l}\r\n")).collect();
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Anna Nowak <{customer}>\r\nTo: <{support}>\r\nSubject: Re: {}\r\n\
             Message-ID: <rating.{customer}>\r\nIn-Reply-To: {}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             4\r\n\r\nW dniu 7.12.2026 o 10:00 Test Support pisze:\r\n{quoted}",
            header(&answer, "Subject").unwrap(),
            header(&answer, "Message-ID").unwrap(),
        )
        .as_bytes(),
    );
    let rated = |score: u64| {
        let t = sb.json(&["show", "1000", "--json"]);
        t["rating"]["score"].as_u64() == Some(score)
    };
    assert!(
        wait_for(30, || rated(4)),
        "the rating was not recorded; log:\n{}",
        sb.worker_log()
    );
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["status"], "closed", "a rating never reopens: {t:#}");
    assert_eq!(t["rating"]["via"], "reply", "{t:#}");

    // The link for 5: a new mail with the link's subject and a remark.
    let subject = link_subject(&answer, 5);
    assert!(
        subject.starts_with("Ocena 5 [#TB-1000] csat-1000-5-"),
        "{subject}"
    );
    let encoded = format!("=?utf-8?B?{}?=", base64_encode(subject.as_bytes()));
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Anna Nowak <{customer}>\r\nTo: <{support}>\r\nSubject: {encoded}\r\n\
             Message-ID: <link.{customer}>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Jednak na 5, dziękuję!\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(30, || rated(5)),
        "the link's rating was not recorded; log:\n{}",
        sb.worker_log()
    );
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(
        (&t["rating"]["via"], &t["rating"]["words"], &t["status"]),
        (
            &serde_json::json!("link"),
            &serde_json::json!("Jednak na 5, dziękuję!"),
            &serde_json::json!("closed")
        ),
        "{t:#}"
    );

    // The same link edited to rate the other customer's ticket.
    let forged = subject.replace("csat-1000-", "csat-1001-");
    smtp_send(
        &other,
        &[&support],
        format!(
            "From: <mallory@example.net>\r\nTo: <{support}>\r\nSubject: {}\r\n\
             Message-ID: <forged.{customer}>\r\n\r\n1\r\n",
            format_args!("=?utf-8?B?{}?=", base64_encode(forged.as_bytes()))
        )
        .as_bytes(),
    );
    assert!(
        wait_for(30, || sb.worker_log().contains("rating refused")),
        "the forged rating was not refused; log:\n{}",
        sb.worker_log()
    );
    let o = sb.json(&["show", "1001", "--json"]);
    assert!(o["rating"].is_null(), "{o:#}");
    assert_eq!(o["status"], "closed", "{o:#}");

    // Nobody was acknowledged for any of it: the customer has the
    // acknowledgement and the answer only (the outbox is empty by now).
    assert!(
        wait_for(15, || sb
            .json(&["outbox", "--json"])
            .as_array()
            .is_some_and(|a| a.iter().all(|e| e["state"] == "sent"))),
        "{}",
        sb.json(&["outbox", "--json"])
    );
    assert_eq!(
        ms.inbox(&customer).len(),
        2,
        "no acknowledgement of a rating"
    );
    let acks = sb
        .json(&["outbox", "--json"])
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["purpose"] == "acknowledgement")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(acks, 2, "the two first mails only");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
