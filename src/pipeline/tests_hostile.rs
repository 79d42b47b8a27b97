//! Hostile input through the whole pipeline: names and subjects that would
//! inject headers or break the mail builder, headers far over any real
//! size, answers to thousands of copies. Each was once a crash or a
//! quadratic stall; each must give mail that is well formed.

use super::tests::{Setup, mail, setup, t0};
use super::tests_agent::{sent, team};
use super::*;
use crate::outbox::OutboxEntry;
use crate::store::View;
use crate::thread::ThreadView;

/// Every outgoing mail so far, with its message.
fn outgoing(s: &Setup) -> Vec<OutboxEntry> {
    s.store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|e| s.store.outbox_entry(&e.id).unwrap().unwrap())
        .collect()
}

/// The header block of a raw mail, split into fields (folded lines joined).
fn fields(raw: &str) -> Vec<String> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut out: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            out.last_mut().unwrap().push_str(line);
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

/// What every mail we send must be: lines within RFC 5322's 998, no bare
/// CR or LF, no NUL, and only the header fields we write.
fn assert_well_formed(e: &OutboxEntry) {
    let raw = &e.raw;
    for line in raw.split("\r\n") {
        assert!(line.len() <= 998, "line of {} in {}", line.len(), e.id);
        assert!(
            !line.contains(['\r', '\n', '\0']),
            "bare CR/LF/NUL: {line:?}"
        );
    }
    let allowed = [
        "from",
        "to",
        "cc",
        "subject",
        "message-id",
        "date",
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-auto-response-suppress",
        "x-ticketbox-loop",
        "x-ticketbox-ticket",
        "content-language",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    ];
    for f in fields(raw) {
        let name = f.split(':').next().unwrap().to_ascii_lowercase();
        assert!(allowed.contains(&name.as_str()), "unexpected header {f:?}");
    }
    assert!(crate::mail::parse::parse(raw.as_bytes(), "x").is_ok());
}

#[test]
fn names_with_line_breaks_and_nul_are_cleaned_not_fatal() {
    let s = setup(|_| {});
    let cases = [
        (
            "=?utf-8?Q?Eve=0D=0ABcc:_x@evil.example?= <eve@c.example>",
            "e1@c",
        ),
        ("=?utf-8?Q?Nul=00Name?= <nul@c.example>", "e2@c"),
        (
            "=?utf-8?B?RXZlDQpYLUluamVjdGVkOiB5ZXM=?= <b64@c.example>",
            "e3@c",
        ),
        (
            "=?utf-8?Q?Esc=1B[31m_=E2=80=A8Sep?= <esc@c.example>",
            "e4@c",
        ),
    ];
    for (from, id) in cases {
        let o = s.process(&mail(from, id, "Help", "", "Hello"), t0());
        assert_eq!(o.outcome, OutcomeKind::Created, "{from}: {o:?}");
        assert!(o.acknowledged, "{from}: the customer still gets an answer");
    }
    // Reply-To with a CR LF, and a bare CR inside a real header line.
    let o = s.process(
        &mail(
            "Dan <dan@c.example>",
            "e5@c",
            "Help\rX-Evil: 1",
            "Reply-To: =?utf-8?Q?Dan=0D=0AX-Evil:_1?= <dan.reply@c.example>\r\n",
            "Hello",
        ),
        t0(),
    );
    assert!(o.acknowledged, "{o:?}");
    let all = outgoing(&s);
    assert_eq!(all.len(), 5);
    for e in &all {
        assert_well_formed(e);
        // The words survive as text; no line of the mail starts a header
        // of theirs.
        let lines: Vec<&str> = e.raw.split("\r\n").collect();
        assert!(!lines.iter().any(|l| l.starts_with("X-Evil")), "{}", e.raw);
        assert!(
            !lines
                .iter()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:"))
        );
    }
    let eve = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        eve.customer.name.as_deref(),
        Some("Eve Bcc: x@evil.example")
    );
    let nul = s.store.ticket(1001).unwrap().unwrap();
    assert_eq!(nul.customer.name.as_deref(), Some("Nul Name"));
}

#[test]
fn huge_names_and_subjects_give_header_lines_within_998() {
    let s = setup(team);
    let name = "N".repeat(100_000);
    let subject = "S".repeat(200_000);
    let o = s.process(
        &mail(
            &format!("{name} <big@c.example>"),
            "b1@c",
            &subject,
            "",
            "Hi",
        ),
        t0(),
    );
    assert_eq!(o.outcome, OutcomeKind::Created);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert!(t.subject.chars().count() <= 500, "{}", t.subject.len());
    assert!(t.customer.name.unwrap().chars().count() <= 200);
    let all = outgoing(&s);
    assert!(all.len() >= 2, "acknowledgement and notifications");
    for e in &all {
        assert_well_formed(e);
        assert!(e.raw.contains("[#TB-1000]"), "the tag survives the cut");
    }
}

#[test]
fn an_answer_to_thousands_of_copies_is_capped_and_linear() {
    // Ticket whose first mail copied N people; an agent answers.
    let run = |n: usize| {
        let s = setup(team);
        let cc: Vec<String> = (0..n).map(|i| format!("p{i}@cc.example")).collect();
        let extra = format!("Cc: {}\r\n", cc.join(", "));
        s.process(
            &mail("Ann <ann@c.example>", "a1@c", "Order", &extra, "Help"),
            t0(),
        );
        let t = s.store.ticket(1000).unwrap().unwrap();
        assert!(t.participants.len() <= s.engine.cfg.limits.max_participants);
        let started = std::time::Instant::now();
        s.process(
            &mail(
                "Ola <ola@example.com>",
                "r1@example.com",
                "Re: [#TB-1000] Order",
                "In-Reply-To: <a1@c>\r\n",
                "We are on it.",
            ),
            t0(),
        );
        let took = started.elapsed();
        let replies = sent(&s, "reply");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].recipients[0], "ann@c.example");
        assert!(replies[0].recipients.len() <= s.engine.cfg.limits.max_answer_recipients);
        assert_well_formed(&replies[0]);
        // The agent hears who was left out, in a well-formed mail.
        let notices = sent(&s, "notice");
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].recipients, ["ola@example.com"]);
        assert_well_formed(&notices[0]);
        let text = crate::mail::parse::parse(notices[0].raw.as_bytes(), "n")
            .unwrap()
            .text;
        assert!(text.contains("were left out"), "{text}");
        assert!(text.contains("ann@c.example"), "{text}");
        took
    };
    // Under the cap nothing is cut; over it the agent hears why.
    let small = setup(team);
    small.process(
        &mail(
            "Ann <ann@c.example>",
            "a1@c",
            "Order",
            "Cc: x@cc.example, y@cc.example\r\n",
            "Help",
        ),
        t0(),
    );
    small.process(
        &mail(
            "Ola <ola@example.com>",
            "r1@example.com",
            "Re: [#TB-1000] Order",
            "In-Reply-To: <a1@c>\r\n",
            "On it.",
        ),
        t0(),
    );
    let r = &sent(&small, "reply")[0];
    assert_eq!(
        r.recipients,
        ["ann@c.example", "x@cc.example", "y@cc.example"]
    );
    assert!(sent(&small, "notice").is_empty());
    let t1 = run(1_000);
    let t4 = run(4_000);
    // Linear, not quadratic: four times the copies, far less than sixteen
    // times the time (the answer itself is capped; parsing is linear).
    assert!(
        t4 < t1 * 10 + std::time::Duration::from_millis(200),
        "1,000 copies {t1:?}, 4,000 copies {t4:?}"
    );
}

#[test]
fn references_of_a_huge_chain_keep_their_ends() {
    let s = setup(|_| {});
    s.process(
        &mail("Ann <ann@c.example>", "root@c", "Order", "", "Help"),
        t0(),
    );
    // A reply whose References name the root first, then 50,000 others.
    let mut refs = String::from("References: <root@c>");
    for i in 0..50_000 {
        refs.push_str(&format!("\r\n <chain{i}@c>"));
    }
    refs.push_str("\r\n");
    let o = s.process(
        &mail("Ann <ann@c.example>", "reply@c", "Re: Order", &refs, "More"),
        t0(),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended, "{o:?}");
    assert_eq!(o.ticket, Some(1000));
    // Only the ends of the chain are indexed.
    assert_eq!(
        s.store.ticket_for_message_id("chain49999@c").unwrap(),
        Some(1000)
    );
    assert_eq!(s.store.ticket_for_message_id("chain100@c").unwrap(), None);
}

#[test]
fn structure_over_the_limits_is_quarantined_with_the_reason() {
    let s = setup(|_| {});
    let mut many = String::new();
    for i in 0..3_000 {
        many.push_str(&format!("X-Filler-{i}: v\r\n"));
    }
    let o = s.process(&mail("Ann <ann@c.example>", "h@c", "Hi", &many, "x"), t0());
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(o.reason.contains("limits.max_headers"), "{}", o.reason);

    // message/rfc822 nested 5,000 deep.
    let mut nested = String::new();
    for _ in 0..5_000 {
        nested.push_str("Content-Type: message/rfc822\r\n\r\n");
    }
    nested.push_str("Subject: inner\r\n\r\nbody\r\n");
    let raw = RawMail::new(
        format!("From: a@c.example\r\nMessage-ID: <deep@c>\r\n{nested}").into_bytes(),
        "test:deep".into(),
        None,
    );
    let o = s.process(&raw, t0());
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(o.reason.contains("limits.max_mime_parts"), "{}", o.reason);

    let blank = RawMail::new(vec![b'\n'; 100_000], "test:blank".into(), None);
    let o = s.process(&blank, t0());
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert_eq!(o.reason, "no content: 100000 bytes of white space only");
    assert_eq!(s.store.quarantined().unwrap().len(), 3);
}

#[test]
fn the_agent_hears_of_left_out_copies_in_the_team_language() {
    for (lang, words) in [("pl", "Pominięto"), ("he", "הושמטו")] {
        let s = setup(|c| {
            team(c);
            c.support.team_language = lang.into();
        });
        let cc: Vec<String> = (0..120).map(|i| format!("p{i}@cc.example")).collect();
        s.process(
            &mail(
                "Ann <ann@c.example>",
                "a1@c",
                "Order",
                &format!("Cc: {}\r\n", cc.join(", ")),
                "Help",
            ),
            t0(),
        );
        s.process(
            &mail(
                "Ola <ola@example.com>",
                "r1@example.com",
                "Re: [#TB-1000] Order",
                "In-Reply-To: <a1@c>\r\n",
                "On it.",
            ),
            t0(),
        );
        let notices = sent(&s, "notice");
        assert_eq!(notices.len(), 1, "{lang}");
        let text = crate::mail::parse::parse(notices[0].raw.as_bytes(), "n")
            .unwrap()
            .text;
        assert!(text.contains(words), "{lang}: {text}");
        assert!(text.contains("ann@c.example"), "{lang}: {text}");
    }
}
