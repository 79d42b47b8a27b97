//! Machine alerts through the shipped rules (`rules/40-alerts.toml`):
//! repeated mail for one host and check joins the ticket still open for
//! it; another check, a closed ticket or a quiet day opens a new one; the
//! monitoring system gets no acknowledgement.

use super::tests::{Setup, mail, setup, t0};
use crate::store::View;
use crate::thread::ThreadView;

fn shipped() -> Setup {
    setup(|cfg| {
        cfg.rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    })
}

fn alert(s: &Setup, n: u32, what: &str, minutes: i64) -> crate::pipeline::Outcome {
    s.process(
        &mail(
            "Nagios <nagios@monitor.example>",
            &format!("alert-{n}@monitor"),
            &format!("** {what} **"),
            "",
            &format!(
                "***** Nagios *****\r\n\r\nNotification Type: {what}\r\nDate/Time: run {n}\r\n"
            ),
        ),
        t0() + chrono::Duration::minutes(minutes),
    )
}

#[test]
fn repeated_alerts_for_one_check_join_one_ticket() {
    let s = shipped();
    let first = alert(&s, 1, "PROBLEM Service Alert: web01/HTTP is CRITICAL", 0);
    let again = alert(&s, 2, "PROBLEM Service Alert: web01/HTTP is CRITICAL", 10);
    let ok = alert(&s, 3, "RECOVERY Service Alert: web01/HTTP is OK", 30);
    assert!(first.ticket.is_some());
    assert_eq!(again.ticket, first.ticket, "{}", again.reason);
    assert_eq!(ok.ticket, first.ticket, "{}", ok.reason);
    assert!(
        again.reason.contains("correlates \"web01 HTTP\""),
        "{}",
        again.reason
    );
    let t = s.store.ticket(first.ticket.unwrap()).unwrap().unwrap();
    assert_eq!(t.messages.len(), 3);
    assert!(t.tags.contains("alert"));
    assert!(
        s.store
            .outbox()
            .unwrap()
            .iter()
            .all(|e| e.purpose != "acknowledgement"),
        "the monitoring system got an acknowledgement"
    );
    // Another check is another ticket.
    let db = alert(&s, 4, "PROBLEM Service Alert: db01/MySQL is WARNING", 31);
    assert_ne!(db.ticket, first.ticket);
}

#[test]
fn a_closed_ticket_or_a_quiet_day_opens_a_new_one() {
    let s = shipped();
    let first = alert(&s, 1, "PROBLEM Host Alert: web02 is DOWN", 0);
    let id = first.ticket.unwrap();
    crate::ops::set_status(&s.engine, &s.store, id, crate::model::Status::Closed, t0()).unwrap();
    let after_close = alert(&s, 2, "PROBLEM Host Alert: web02 is DOWN", 5);
    assert_ne!(after_close.ticket, Some(id), "{}", after_close.reason);
    // The key now names the new ticket; two days later, another.
    let later = alert(&s, 3, "PROBLEM Host Alert: web02 is DOWN", 2 * 24 * 60);
    assert_ne!(later.ticket, after_close.ticket, "{}", later.reason);
    let next = alert(&s, 4, "PROBLEM Host Alert: web02 is DOWN", 2 * 24 * 60 + 5);
    assert_eq!(next.ticket, later.ticket, "{}", next.reason);
}
