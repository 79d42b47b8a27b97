//! Mail robots that answer every acknowledgement with a fresh mail (no
//! `Auto-Submitted`, no threading headers), at any pace, from one address
//! or a new one each time; and two helpdesks acknowledging each other. The
//! clock is fixed and stepped; every round opens a ticket, and the number
//! of acknowledgements must stay bounded as `pacing` promises.

use super::tests::{Setup, mail, setup, t0};
use super::*;
use crate::outbox::OutboxEntry;
use crate::store::View;

fn acks(s: &Setup) -> Vec<OutboxEntry> {
    let mut v: Vec<OutboxEntry> = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == "acknowledgement")
        .map(|e| s.store.outbox_entry(&e.id).unwrap().unwrap())
        .collect();
    v.sort_by_key(|e| e.created);
    v
}

/// What a robot writes back: its own words with a fresh reference number,
/// then the acknowledgement it got, quoted or pasted in plain.
fn robot_answer(round: usize, last_ack: Option<&str>, quote: bool) -> String {
    let mut body = format!(
        "This is an automated message. Your mail was received as reference {} on \
         2026-11-{:02} and is waiting in our queue. Please do not reply.\r\n",
        48_000 + round * 7,
        1 + round % 28
    );
    if let Some(ack) = last_ack {
        let text = crate::mail::parse::parse(ack.as_bytes(), "a").unwrap().text;
        for line in text.lines().take(8) {
            body.push_str(if quote { "> " } else { "" });
            body.push_str(line);
            body.push_str("\r\n");
        }
    }
    body
}

/// Runs `rounds` rounds of a robot answering the latest acknowledgement
/// `step` after it; returns (tickets opened, acknowledgements sent).
fn robot(rounds: usize, step: Duration, verp: bool, quote: bool) -> (usize, usize) {
    let s = setup(|_| {});
    let mut now = t0();
    // Someone wrote to the robot's address once: our first acknowledgement.
    let first = mail(
        "robot@bot.example",
        "start@bot",
        "Order status",
        "",
        "Where is my order 17?",
    );
    s.process(&first, now);
    for round in 0..rounds {
        now += step;
        let from = if verp {
            format!("r{round}-4711@bot.example")
        } else {
            "robot@bot.example".to_owned()
        };
        let last = acks(&s).last().map(|e| e.raw.clone());
        let body = robot_answer(round, last.as_deref(), quote);
        let o = s.process(
            &mail(&from, &format!("r{round}@bot"), "Your message", "", &body),
            now,
        );
        assert_eq!(o.outcome, OutcomeKind::Created, "round {round}: {o:?}");
    }
    (s.store.tickets().unwrap().len(), acks(&s).len())
}

#[test]
fn a_robot_repeating_itself_is_acknowledged_once_at_any_pace() {
    for step in [Duration::minutes(15), Duration::hours(1), Duration::days(1)] {
        for verp in [false, true] {
            for quote in [false, true] {
                let (tickets, acks) = robot(20, step, verp, quote);
                assert_eq!(tickets, 21, "every mail is still a ticket");
                // The first mail (a person's question) and the robot's
                // first answer; then its text is known. A robot pasting
                // our acknowledgement unquoted may get one more, while the
                // pasted text still changes (it lists the other open
                // tickets); once we stop answering, it repeats itself.
                eprintln!(
                    "robot every {step}, verp {verp}, quote {quote}: {tickets} tickets, {acks} acknowledgements"
                );
                let most = if quote { 2 } else { 3 };
                assert!(
                    (2..=most).contains(&acks),
                    "every {step}, verp {verp}, quote {quote}: {acks} acknowledgements"
                );
            }
        }
    }
}

#[test]
fn a_robot_with_new_words_each_time_is_bounded_per_sender_and_domain() {
    // Fifteen made-up words per round, none shared between rounds.
    let novel = |round: usize| -> String {
        (0..15)
            .map(|i| {
                let mut x = ((round * 31 + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) + 1;
                (0..7)
                    .map(|_| {
                        x ^= x >> 13;
                        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
                        char::from(b'a' + (x % 26) as u8)
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (verp, bound) in [(false, 10), (true, 100)] {
        let s = setup(|_| {});
        let mut now = t0();
        for round in 0..120 {
            now += Duration::minutes(10);
            let from = if verp {
                format!("r{round}-4711@bot.example")
            } else {
                "robot@bot.example".to_owned()
            };
            s.process(
                &mail(
                    &from,
                    &format!("n{round}@bot"),
                    "Your message",
                    "",
                    &novel(round),
                ),
                now,
            );
        }
        let sent = acks(&s).len();
        assert_eq!(s.store.tickets().unwrap().len(), 120);
        assert_eq!(sent, bound, "verp {verp}: one day's bound");
        // A day later the bound opens again, once.
        now += Duration::days(1);
        s.process(
            &mail(
                "robot@bot.example",
                "late@bot",
                "Your message",
                "",
                &novel(1000),
            ),
            now,
        );
        assert_eq!(acks(&s).len(), bound + 1);
    }
}

#[test]
fn people_at_a_shared_provider_are_not_bounded_as_one_domain() {
    let s = setup(|_| {});
    for i in 0..30 {
        let o = s.process(
            &mail(
                &format!("person{i}@gmail.com"),
                &format!("g{i}@mail.gmail.com"),
                &format!("Question {i}"),
                "",
                &format!("My order {i} arrived broken, what should I do now? Regards, person {i}"),
            ),
            t0() + Duration::minutes(i),
        );
        assert!(o.acknowledged, "{o:?}");
    }
}

/// Mail as a header-stripping relay passes it on: no Auto-Submitted, no
/// loop header, no threading headers.
fn stripped(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut kept = Vec::new();
    let mut skip = false;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if !skip {
                kept.push(line);
            }
            continue;
        }
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        skip = matches!(
            name.as_str(),
            "auto-submitted"
                | "x-auto-response-suppress"
                | "x-ticketbox-loop"
                | "in-reply-to"
                | "references"
        );
        if !skip {
            kept.push(line);
        }
    }
    format!("{}\r\n\r\n{body}", kept.join("\r\n"))
}

#[test]
fn two_helpdesks_acknowledging_each_other_stop() {
    for strip in [false, true] {
        let a = setup(|c| c.support.address = "support@a.example".into());
        let b = setup(|c| c.support.address = "support@b.example".into());
        // One mail from B's address to A starts it.
        let start = mail(
            "support@b.example",
            "start@b.example",
            "Hello",
            "",
            "Hello, could you tell us the status of our order 5511?",
        );
        a.process(&start, t0());
        let (mut to_b, mut to_a) = (acks(&a), Vec::new());
        let (mut seen_a, mut seen_b) = (to_b.len(), 0);
        let mut now = t0();
        for _ in 0..20 {
            now += Duration::minutes(5);
            for e in to_b.drain(..) {
                let raw = if strip {
                    stripped(&e.raw)
                } else {
                    e.raw.clone()
                };
                b.process(&RawMail::new(raw.into_bytes(), "from-a".into(), None), now);
            }
            let bs = acks(&b);
            to_a.extend(bs[seen_b..].iter().cloned());
            seen_b = bs.len();
            for e in to_a.drain(..) {
                let raw = if strip {
                    stripped(&e.raw)
                } else {
                    e.raw.clone()
                };
                a.process(&RawMail::new(raw.into_bytes(), "from-b".into(), None), now);
            }
            let as_ = acks(&a);
            to_b.extend(as_[seen_a..].iter().cloned());
            seen_a = as_.len();
            if to_b.is_empty() {
                break;
            }
        }
        let (na, nb) = (acks(&a).len(), acks(&b).len());
        if strip {
            assert!(na <= 3 && nb <= 3, "stripped: A sent {na}, B sent {nb}");
        } else {
            assert_eq!((na, nb), (1, 0), "B never acknowledges an acknowledgement");
        }
        assert!(
            to_b.is_empty(),
            "strip {strip}: still going after 20 rounds"
        );
    }
}
