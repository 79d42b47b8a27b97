//! The report's figures on a store built ticket by ticket, each number
//! worked out by hand (business hours: Monday to Friday, 09:00–17:00 UTC).

use super::*;
use crate::config::Config;
use crate::model::{MessageRecord, Party, Priority, RatedVia, Rating};
use crate::store::{Commit, MemoryStore, Store};
use chrono::TimeZone;

fn at(d: u32, h: u32) -> DateTime<Utc> {
    // 23 November 2026 is a Monday.
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

fn engine() -> Engine {
    let cfg = Config {
        rules_dir: "/nonexistent/ticketbox-rules".into(),
        templates_dir: "/nonexistent/ticketbox-templates".into(),
        ..Config::default()
    };
    Engine::new(cfg, "stats-test".into()).unwrap()
}

struct T {
    id: u64,
    queue: &'static str,
    created: DateTime<Utc>,
    answered: Option<DateTime<Utc>>,
    due: Option<DateTime<Utc>>,
    status: Status,
    score: Option<u8>,
    reopened: u32,
}

fn put(store: &MemoryStore, t: &T) {
    let mut ticket = Ticket::new(
        t.id,
        format!("ticket {}", t.id),
        t.queue.into(),
        Priority::Normal,
        Party::new(None, "c@example.com"),
        t.created,
    );
    ticket.status = t.status;
    ticket.response_due = t.due;
    ticket.first_response_at = t.answered;
    ticket.first_response_met = t.answered.zip(t.due).map(|(a, d)| a <= d);
    ticket.reopened = t.reopened;
    if t.status == Status::Closed {
        ticket.rating_asked = Some(t.created + Duration::days(1));
    }
    ticket.rating = t.score.map(|score| Rating {
        score,
        words: String::new(),
        at: t.created + Duration::days(1),
        by: "c@example.com".into(),
        message_id: format!("r{}", t.id),
        via: RatedVia::Reply,
    });
    let id = format!("m{}@c", t.id);
    ticket.messages.push(id.clone());
    let record = MessageRecord {
        message_id: id,
        raw_hash: format!("h{}", t.id),
        fingerprint: String::new(),
        ticket: Some(t.id),
        kind: MessageKind::Customer,
        from: Some(Party::new(None, "c@example.com")),
        to: Vec::new(),
        cc: Vec::new(),
        subject: ticket.subject.clone(),
        date: Some(t.created),
        received: t.created,
        attachments: Vec::new(),
        reason: String::new(),
        refused: false,
    };
    store
        .commit(&Commit {
            ticket: Some(ticket),
            messages: vec![record],
            ..Commit::default()
        })
        .unwrap();
}

fn sample() -> MemoryStore {
    let store = MemoryStore::new(1000);
    let tickets = [
        // Answered in 2 business hours, in time, rated 5.
        T {
            id: 1000,
            queue: "general",
            created: at(23, 9),
            answered: Some(at(23, 11)),
            due: Some(at(23, 13)),
            status: Status::Closed,
            score: Some(5),
            reopened: 0,
        },
        // Monday 9:00 to Tuesday 10:00: 8 + 1 = 9 business hours, late;
        // closed, reopened once, closed again, rated 2.
        T {
            id: 1001,
            queue: "general",
            created: at(23, 9),
            answered: Some(at(24, 10)),
            due: Some(at(23, 13)),
            status: Status::Closed,
            score: Some(2),
            reopened: 1,
        },
        // Friday 16:00 to Monday 10:00: 1 + 1 = 2 business hours.
        T {
            id: 1002,
            queue: "billing",
            created: at(27, 16),
            answered: Some(at(30, 10)),
            due: Some(at(30, 12)),
            status: Status::Open,
            score: None,
            reopened: 0,
        },
        // Unanswered and past due: a miss, in the backlog 3.5 days.
        T {
            id: 1003,
            queue: "billing",
            created: at(27, 0),
            answered: None,
            due: Some(at(27, 12)),
            status: Status::New,
            score: None,
            reopened: 0,
        },
    ];
    for t in &tickets {
        put(&store, t);
    }
    store
}

#[test]
fn the_figures_are_the_ones_worked_out_by_hand() {
    let store = sample();
    let now = at(30, 12);
    let r = build(&engine(), &store, &Ask::default(), now).unwrap();
    let names: Vec<&str> = r.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(names, ["billing", "general"]);
    let general = &r.queues[1];
    assert_eq!((general.tickets, general.mail_in), (2, 2));
    assert_eq!(general.first_response.median_hours, Some(2.0));
    assert_eq!(general.first_response.p90_hours, Some(9.0));
    assert_eq!((general.sla.met, general.sla.measured), (1, 2));
    assert_eq!(general.sla.compliance, Some(50.0));
    assert_eq!(general.csat.distribution, [0, 1, 0, 0, 1]);
    assert_eq!(
        (general.csat.average, general.csat.rated, general.csat.asked),
        (Some(3.5), 2, 2)
    );
    assert_eq!(general.csat.satisfied, Some(50.0));
    assert_eq!(
        (
            general.reopen.reopened,
            general.reopen.closed,
            general.reopen.rate
        ),
        (1, 2, Some(50.0))
    );
    assert_eq!(general.backlog.open, 0);

    let billing = &r.queues[0];
    assert_eq!(billing.first_response.median_hours, Some(2.0));
    assert_eq!((billing.sla.met, billing.sla.measured), (1, 2));
    assert_eq!(billing.sla.overdue_now, 1);
    assert_eq!(billing.backlog.open, 2);
    // Ages: 1002 opened 2 days 20 hours ago, 1003 3.5 days ago.
    assert_eq!(billing.backlog.by_age, [0, 1, 1, 0, 0]);
    assert_eq!(billing.backlog.oldest_days, Some(3.5));
    assert_eq!(billing.csat.average, None);

    let total = &r.total;
    assert_eq!(total.tickets, 4);
    // 2, 2, 9: the median is 2, the 90th percentile 9.
    assert_eq!(
        (
            total.first_response.median_hours,
            total.first_response.p90_hours
        ),
        (Some(2.0), Some(9.0))
    );
    assert_eq!(total.sla.compliance, Some(50.0));
    // Mail: Monday 9:00 twice, Friday 16:00 and Friday 0:00.
    assert_eq!(r.mail_by_weekday, [2, 0, 0, 0, 2, 0, 0]);
    assert_eq!(
        (r.mail_by_hour[9], r.mail_by_hour[16], r.mail_by_hour[0]),
        (2, 1, 1)
    );
    assert_eq!(r.mail_by_hour.iter().sum::<u64>(), 4);
}

#[test]
fn since_and_queue_narrow_the_period_but_not_the_backlog() {
    let store = sample();
    let now = at(30, 12);
    let ask = Ask {
        since: Some(at(25, 0)),
        queue: Some("billing".into()),
    };
    let r = build(&engine(), &store, &ask, now).unwrap();
    assert_eq!(r.queues.len(), 1);
    assert_eq!((r.total.tickets, r.total.backlog.open), (2, 2));
    let ask = Ask {
        since: Some(at(28, 0)),
        queue: None,
    };
    let r = build(&engine(), &store, &ask, now).unwrap();
    assert_eq!(r.total.tickets, 0, "nothing opened since Saturday");
    assert_eq!(r.total.backlog.open, 2, "the backlog is as it stands");
    assert_eq!(r.mail_by_hour.iter().sum::<u64>(), 0);
}

#[test]
fn the_page_shows_the_json_numbers_and_draws_every_chart() {
    let store = sample();
    let r = build(&engine(), &store, &Ask::default(), at(30, 12)).unwrap();
    let page = html::page(&r).unwrap();
    assert_eq!(page.matches("<svg").count(), 6, "six charts");
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains("https://"), "nothing fetched");
    assert!(
        page.contains(r#"<td data-key="general.first_response.p90_hours">9.0</td>"#),
        "{page}"
    );
    assert!(page.contains(r#"<td data-key="billing.csat.average">-</td>"#));
    assert!(page.contains(r#"<td data-key="total.sla.compliance">50.0</td>"#));
    // Bars drawn: the two ratings (2 and 5), 24 hours with mail in 3.
    assert!(page.contains(r#"id="chart-csat" data-bars="2""#), "{page}");
    assert!(page.contains(r#"id="chart-hour" data-bars="3""#));
    if let Ok(dir) = std::env::var("TICKETBOX_REPORT_SAMPLE") {
        std::fs::write(format!("{dir}/report-sample.html"), &page).unwrap();
    }
    let text = text(&r);
    assert!(
        text.contains("SLA: 1 met of 2 (50%), 0 overdue now"),
        "{text}"
    );
}
