//! The mail an admin gets when a mail source has failed or fallen silent
//! ([`crate::health`]), and the one when it works again: template `alarm`
//! in the team's language, from the support address to `health.alarm_to`.

use crate::classify::Identity;
use crate::health::{Change, Incident, SourceState};
use crate::model::Party;
use crate::outbox::OutboxEntry;
use crate::outgoing::compose::{AckError, Draft, Purpose, compose};
use crate::outgoing::locale::Zone;
use crate::outgoing::render::{Rendered, TemplateError, Templates};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the `alarm` template sees as `alarm`.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmView {
    /// The source's name (`mailbox:support`).
    pub source: String,
    /// `failing` or `silent`.
    pub kind: &'static str,
    /// False for the alarm, true for the all-clear.
    pub recovered: bool,
    pub began: minijinja::Value,
    /// When it ended (the all-clear only; empty otherwise).
    pub ended: minijinja::Value,
    /// `auth`, `tls`, `connection`, `token`, `store`, `other`; empty for
    /// silence.
    pub problem: &'static str,
    /// The last error as the server or the system gave it; empty for
    /// silence.
    pub error: String,
    /// Failures in a row (0 once it works again).
    pub failures: u32,
    /// When it last took in mail; empty when it has not in this run.
    pub last_mail: minijinja::Value,
    /// Messages it took in since the worker started.
    pub messages: u64,
}

/// The template's variables besides `support`, `language`, `dir`.
#[derive(Serialize)]
struct Facts<'a> {
    alarm: &'a AlarmView,
}

/// Who sends, in which language.
pub type From<'a> = crate::outgoing::compose::Writer<'a>;

/// The facts of `change` on `state` for the template.
pub fn view(
    change: &Change,
    state: &SourceState,
    lang: &str,
    tz: Zone,
    now: DateTime<Utc>,
) -> AlarmView {
    let when = |t: DateTime<Utc>| {
        crate::outgoing::render::date(crate::outgoing::locale::when(lang, t, tz, now))
    };
    let empty = || minijinja::Value::from("");
    let (incident, ended): (&Incident, Option<DateTime<Utc>>) = match change {
        Change::Raise(i) => (i, None),
        Change::Clear { incident, at } => (incident, Some(*at)),
    };
    AlarmView {
        source: incident.source.clone(),
        kind: incident.kind.as_str(),
        recovered: ended.is_some(),
        began: when(incident.began),
        ended: ended.map_or_else(empty, when),
        problem: incident.problem.map_or("", |p| p.as_str()),
        error: incident.error.clone().unwrap_or_default(),
        failures: state.consecutive_failures,
        last_mail: state.last_mail.map_or_else(empty, when),
        messages: state.messages,
    }
}

pub fn render(
    templates: &Templates,
    from: &From<'_>,
    alarm: &AlarmView,
) -> Result<Rendered, TemplateError> {
    templates.render_framed(
        "alarm",
        from.language,
        (from.name, from.address),
        &Facts { alarm },
    )
}

/// The alarm or all-clear for `change` to `to` (the first is To, the rest
/// Cc), as an outbox entry.
pub fn build(
    templates: &Templates,
    from: &From<'_>,
    tz: Zone,
    to: &[String],
    change: &Change,
    state: &SourceState,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, AckError> {
    let alarm = view(change, state, from.language, tz, now);
    let rendered = render(templates, from, &alarm)?;
    let (first, rest) = to
        .split_first()
        .ok_or_else(|| AckError::Address("no alarm_to address".into()))?;
    let incident = match change {
        Change::Raise(i) | Change::Clear { incident: i, .. } => i,
    };
    // One mail per incident and turn: a second try of the same change
    // makes the same Message-ID, which the outbox keeps once.
    let cause = format!(
        "{}\n{}\n{}\n{}",
        incident.source,
        incident.kind.as_str(),
        incident.began.to_rfc3339(),
        alarm.recovered
    );
    let id = crate::outgoing::ack::message_id(
        Purpose::Alarm,
        0,
        &cause,
        first,
        &from.identity.message_id_domain,
    );
    let draft = Draft {
        purpose: Purpose::Alarm,
        id,
        from: Party::new(Some(from.name), from.address),
        to: Party::new(None, first),
        cc: rest.iter().map(|a| Party::new(None, a)).collect(),
        rendered,
        in_reply_to: None,
        references: Vec::new(),
        ticket: 0,
        attachments: Vec::new(),
    };
    compose(draft, from.identity, now).map(|(entry, _record)| entry)
}

/// Renders the `alarm` templates of `langs` against an alarm and an
/// all-clear sample of each kind; [`crate::outgoing::ack::check_templates`]
/// calls it beside its ticket mails, with its sample time and identity.
pub fn check(
    templates: &Templates,
    langs: &[String],
    identity: &Identity,
    now: DateTime<Utc>,
) -> Vec<TemplateError> {
    use crate::health::{IncidentKind, Problem};
    let mut state = SourceState::new("mailbox:support", 3600, now);
    state.failed(
        Problem::Auth,
        "login as support refused: [AUTHENTICATIONFAILED]",
        now,
    );
    let failing = Incident {
        source: "mailbox:support".into(),
        kind: IncidentKind::Failing,
        began: now - chrono::Duration::minutes(12),
        raised: now,
        problem: Some(Problem::Auth),
        error: Some("login as support refused: [AUTHENTICATIONFAILED]".into()),
        cleared: None,
    };
    let silent = Incident {
        kind: IncidentKind::Silent,
        problem: None,
        error: None,
        ..failing.clone()
    };
    let samples = [
        Change::Raise(failing.clone()),
        Change::Clear {
            incident: failing,
            at: now,
        },
        Change::Raise(silent.clone()),
        Change::Clear {
            incident: silent,
            at: now,
        },
    ];
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for lang in langs {
        let from = From::sample(identity, lang);
        for change in &samples {
            let alarm = view(change, &state, lang, Zone::own(chrono_tz::UTC), now);
            if let Err(e) = render(templates, &from, &alarm)
                && seen.insert(e.to_string())
            {
                errors.push(e);
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{IncidentKind, Problem};
    use chrono::TimeZone;

    #[test]
    fn alarm_and_all_clear_read_in_the_teams_language() {
        let templates = Templates::from_sources(Vec::new()).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 9, 30, 0).unwrap();
        let identity = Identity {
            instance_id: "i".into(),
            addresses: vec!["support@example.com".into()],
            message_id_domain: "example.com".into(),
        };
        let mut state = SourceState::new("mailbox:support", 0, now);
        state.failed(Problem::Auth, "login as support refused: bad password", now);
        let incident = Incident {
            source: "mailbox:support".into(),
            kind: IncidentKind::Failing,
            began: now - chrono::Duration::minutes(10),
            raised: now,
            problem: Some(Problem::Auth),
            error: Some("login as support refused: bad password".into()),
            cleared: None,
        };
        let to = vec!["admin@example.com".to_string(), "oncall@example.com".into()];
        for (lang, raised, cleared) in [
            ("en", "has been failing since", "works again"),
            ("pl", "nie działa od", "znów działa"),
            ("he", "נכשל מאז", "פועל שוב"),
        ] {
            let from = From {
                identity: &identity,
                name: "Support",
                address: "support@example.com",
                language: lang,
            };
            let utc = Zone::own(chrono_tz::UTC);
            let alarm = build(
                &templates,
                &from,
                utc,
                &to,
                &Change::Raise(incident.clone()),
                &state,
                now,
            )
            .unwrap();
            assert!(alarm.subject.contains(raised), "{lang}: {}", alarm.subject);
            assert_eq!(alarm.recipients, to);
            assert_eq!(alarm.purpose, "alarm");
            assert!(alarm.raw.contains("Auto-Submitted: auto-generated"));
            let clear = Change::Clear {
                incident: incident.clone(),
                at: now,
            };
            let all_clear = build(&templates, &from, utc, &to, &clear, &state, now).unwrap();
            assert!(
                all_clear.subject.contains(cleared),
                "{lang}: {}",
                all_clear.subject
            );
            assert_ne!(alarm.id, all_clear.id, "two mails, two ids");
            // The same change again makes the same mail (kept once).
            let again = build(&templates, &from, utc, &to, &clear, &state, now).unwrap();
            assert_eq!(again.id, all_clear.id);
        }
    }
}
