use super::*;
use crate::calendar::CalendarCfg;
use chrono::TimeZone;

fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    // December 2026: the 7th is a Monday.
    Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap()
}

fn office() -> Calendar {
    Calendar::from_cfg(&CalendarCfg::default()).unwrap()
}

const T: Thresholds = Thresholds {
    failing_after_seconds: 600,
};

fn raised(changes: &[Change]) -> Vec<(String, IncidentKind)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Raise(i) => Some((i.source.clone(), i.kind)),
            Change::Clear { .. } => None,
        })
        .collect()
}

#[test]
fn a_source_failing_past_the_threshold_raises_one_alarm_and_one_recovery() {
    let mut s = SourceState::new("mailbox:support", 0, at(7, 9, 0));
    s.connected(at(7, 9, 0));
    s.failed(
        Problem::Auth,
        "login as support refused: bad password",
        at(7, 9, 1),
    );
    // Retrying: still one failure streak, from its first failure.
    s.connecting(at(7, 9, 2));
    s.failed(
        Problem::Auth,
        "login as support refused: bad password",
        at(7, 9, 3),
    );
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.failing_since, Some(at(7, 9, 1)));
    assert!(review(&[(s.clone(), None)], T, &office(), at(7, 9, 10)).is_empty());
    let changes = review(&[(s.clone(), None)], T, &office(), at(7, 9, 11));
    let Some(Change::Raise(incident)) = changes.first() else {
        panic!("{changes:?}")
    };
    assert_eq!(incident.kind, IncidentKind::Failing);
    assert_eq!(incident.began, at(7, 9, 1));
    assert_eq!(incident.problem, Some(Problem::Auth));
    assert_eq!(
        incident.error.as_deref(),
        Some("login as support refused: bad password")
    );
    // Open: no second alarm however long it lasts.
    let open = Some(incident.clone());
    assert!(review(&[(s.clone(), open.clone())], T, &office(), at(8, 9, 0)).is_empty());
    // Reconnecting is not yet recovering.
    s.connecting(at(8, 10, 0));
    assert!(review(&[(s.clone(), open.clone())], T, &office(), at(8, 10, 0)).is_empty());
    s.connected(at(8, 10, 1));
    assert_eq!(s.consecutive_failures, 0);
    let changes = review(&[(s, open)], T, &office(), at(8, 10, 2));
    assert_eq!(
        changes,
        [Change::Clear {
            incident: incident.clone(),
            at: at(8, 10, 1)
        }]
    );
}

#[test]
fn a_short_failure_raises_nothing() {
    let mut s = SourceState::new("mailbox:support", 0, at(7, 9, 0));
    s.failed(Problem::Connection, "cannot connect", at(7, 9, 0));
    s.idle(at(7, 9, 5));
    assert!(review(&[(s, None)], T, &office(), at(7, 12, 0)).is_empty());
}

#[test]
fn silence_counts_in_business_time_and_mail_ends_it() {
    // Watching from Friday 16:00 with a two-hour window: one hour on
    // Friday, the second on Monday from 09:00.
    let mut s = SourceState::new("mailbox:support", 7200, at(4, 16, 0));
    s.idle(at(4, 16, 0));
    assert!(review(&[(s.clone(), None)], T, &office(), at(6, 23, 0)).is_empty());
    assert!(review(&[(s.clone(), None)], T, &office(), at(7, 9, 59)).is_empty());
    let changes = review(&[(s.clone(), None)], T, &office(), at(7, 10, 0));
    assert_eq!(
        raised(&changes),
        [("mailbox:support".into(), IncidentKind::Silent)]
    );
    let Some(Change::Raise(incident)) = changes.first().cloned() else {
        unreachable!()
    };
    assert_eq!(incident.began, at(4, 16, 0));
    assert_eq!(incident.error, None);
    s.took(1, at(7, 10, 30));
    let changes = review(&[(s, Some(incident.clone()))], T, &office(), at(7, 10, 31));
    assert_eq!(
        changes,
        [Change::Clear {
            incident,
            at: at(7, 10, 30)
        }]
    );
}

#[test]
fn no_silence_watch_without_a_window_and_none_for_a_source_another_worker_reads() {
    let mut quiet = SourceState::new("mailbox:billing", 0, at(7, 9, 0));
    quiet.idle(at(7, 9, 0));
    let mut elsewhere = SourceState::new("mailbox:support", 60, at(7, 9, 0));
    elsewhere.failed(Problem::Tls, "certificate", at(7, 9, 0));
    elsewhere.standby(at(7, 9, 1));
    let changes = review(
        &[(quiet, None), (elsewhere, None)],
        T,
        &office(),
        at(9, 12, 0),
    );
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn a_silent_source_that_starts_failing_stays_one_incident() {
    let mut s = SourceState::new("mailbox:support", 3600, at(7, 9, 0));
    s.idle(at(7, 9, 0));
    let changes = review(&[(s.clone(), None)], T, &office(), at(7, 10, 0));
    let Some(Change::Raise(silent)) = changes.first().cloned() else {
        panic!("{changes:?}")
    };
    s.failed(Problem::Connection, "reset", at(7, 10, 1));
    let open = Some(silent.clone());
    assert!(review(&[(s.clone(), open.clone())], T, &office(), at(7, 11, 0)).is_empty());
    // Working again but still no mail: the silence goes on.
    s.idle(at(7, 11, 1));
    assert!(review(&[(s.clone(), open.clone())], T, &office(), at(7, 11, 2)).is_empty());
    s.took(2, at(7, 11, 3));
    assert_eq!(s.messages, 2);
    assert!(matches!(
        review(&[(s, open)], T, &office(), at(7, 11, 4)).as_slice(),
        [Change::Clear { .. }]
    ));
}

#[test]
fn a_worker_standing_by_neither_raises_nor_clears_another_workers_incident() {
    let mut s = SourceState::new("mailbox:support", 0, at(7, 9, 0));
    s.standby(at(7, 9, 0));
    let open = Incident {
        source: "mailbox:support".into(),
        kind: IncidentKind::Failing,
        began: at(7, 8, 0),
        raised: at(7, 8, 10),
        problem: Some(Problem::Auth),
        error: Some("refused".into()),
        cleared: None,
    };
    assert!(review(&[(s, Some(open))], T, &office(), at(7, 10, 0)).is_empty());
}
