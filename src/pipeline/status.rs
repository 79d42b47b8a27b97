//! Status by mail: a customer who writes just "status" (or "stan",
//! "סטטוס": each language's words, `i18n`) as the subject or as the whole
//! first line of their mail gets the list of their open tickets,
//! each with its status and when an answer is expected, in their
//! language; no ticket is opened. The answer goes to the From address
//! only (never Reply-To: a stranger must not have someone's tickets sent
//! to them), with `agents_authserv_id` only when our server's
//! Authentication-Results pass for that address, and within the same
//! per-sender bounds as acknowledgements (a robot asking for status in a
//! loop gets a few answers, not one per mail).

use super::Engine;
use crate::mail::parse::Envelope;
use crate::model::{Party, Status};
use crate::outgoing::locale::{Named, Zone};
use crate::outgoing::status::Line;
use crate::store::{Commit, StoreError, View};
use chrono::{DateTime, Utc};

/// The languages whose status word `env` is (subject or first line),
/// first the most likely; empty when it asks for nothing.
pub(super) fn asked(env: &Envelope) -> Vec<&'static str> {
    // Asked of every new mail: the first line of the text as it stands
    // (a new mail's author writes first), not the whole reading of what
    // the author wrote, which would cost every ticket its time.
    let first = env
        .text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let mut langs = Vec::new();
    for candidate in [env.subject.as_str(), first] {
        let said = normal(candidate);
        if said.is_empty() {
            continue;
        }
        for l in crate::i18n::ALL {
            if l.status_words.contains(&said.as_str()) && !langs.contains(&l.code) {
                langs.push(l.code);
            }
        }
    }
    langs
}

/// Lower case, spaces collapsed, the punctuation around a word dropped.
fn normal(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c.is_ascii_punctuation() || c == '؟' || c == '׃')
        .trim()
        .to_lowercase()
}

/// Answers a status request from `env`'s author (asked in `langs`, the
/// author's words read as `detected`); the answer goes into `commit`.
/// Returns what happened, for the record.
pub(super) fn answer<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    commit: &mut Commit,
    env: &Envelope,
    langs: &[&'static str],
    detected: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let Some(to) = env.from.clone() else {
        return Ok("status request without a From address: not answered".into());
    };
    let authserv = &engine.cfg.agents_authserv_id;
    if !authserv.is_empty()
        && let Err(why) = crate::agent::authenticated(&env.headers, authserv, &to.address)
    {
        return Ok(format!("status request not answered: {why}"));
    }
    let own = env.written().own.clone();
    let keys = crate::pacing::keys(&engine.cfg.ack, &to, &own);
    let history = crate::pacing::History::read(&keys, |k| view.acks_to(k))?;
    if let Some(why) = crate::pacing::refusal(&engine.cfg.ack, &keys, &history, now) {
        return Ok(format!("status request not answered: {why}"));
    }
    // Their language: what they told us, else the word's (when the word
    // is several languages' own, the one their mail reads as).
    let prefs = view.customer_prefs(&to.address)?;
    let lang = prefs
        .language
        .clone()
        .filter(|l| crate::i18n::ALL.iter().any(|x| x.code == l))
        .or_else(|| detected.filter(|d| langs.contains(d)).map(str::to_owned))
        .or_else(|| langs.first().map(|l| (*l).to_owned()))
        .unwrap_or_else(|| "en".into());
    let tz = prefs
        .timezone
        .as_deref()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
        .map_or(Zone::assumed(engine.tz), Zone::own);
    let mut lines = Vec::new();
    for c in view.customer_tickets(&to.address)? {
        if !c.open {
            continue;
        }
        let Some(t) = view.ticket(c.id)? else {
            continue;
        };
        let waiting = t.status == Status::Pending;
        let due = if waiting {
            None
        } else if t.first_response_at.is_none() {
            t.response_due
        } else {
            t.resolution_due
        };
        lines.push(Line {
            tag: engine.threading.tags.format(t.id),
            subject: t.subject.clone(),
            status: crate::outgoing::locale::shown_name(
                &engine.cfg.display,
                &lang,
                Named::Status,
                t.status.as_str(),
            ),
            due: due.map_or_else(
                || minijinja::Value::from(""),
                |d| crate::outgoing::render::date(crate::outgoing::locale::when(&lang, d, tz, now)),
            ),
            waiting_on_you: waiting,
        });
    }
    let from = crate::outgoing::status::From {
        identity: &engine.identity,
        name: &engine.cfg.support.name,
        address: &engine.cfg.support.address,
        language: &lang,
    };
    let to = Party::new(to.name.as_deref(), &to.address);
    match crate::outgoing::status::build(
        &engine.templates(),
        &from,
        &to,
        &env.message_id,
        &lines,
        now,
    ) {
        Ok(entry) => {
            commit.outbox.push(entry);
            commit.acked.extend(keys.record(&engine.cfg.ack, now));
            Ok(format!(
                "status request: answered with {} open ticket(s) ({lang}); no ticket opened",
                lines.len()
            ))
        }
        Err(e) => {
            commit
                .problems
                .push(format!("status answer not built: {e}"));
            Ok(format!("status request not answered: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(subject: &str, text: &str) -> Envelope {
        Envelope {
            subject: subject.into(),
            text: text.into(),
            ..Envelope::default()
        }
    }

    #[test]
    fn only_a_whole_subject_or_first_line_asks() {
        assert_eq!(asked(&env("Status", "")), ["en", "pl"]);
        assert_eq!(asked(&env("  status?  ", "")), ["en", "pl"]);
        assert_eq!(asked(&env("", "Stan zgłoszeń\n\nAnna")), ["pl"]);
        assert_eq!(asked(&env("סטטוס", "")), ["he"]);
        assert_eq!(asked(&env("(no subject)", "מצב הפניות\nתודה")), ["he"]);
        assert!(asked(&env("Status of my order 17", "Where is it?")).is_empty());
        assert!(asked(&env("Printer", "The status light blinks.")).is_empty());
        assert!(
            asked(&env("Re: status", "")).is_empty(),
            "a reply is about a ticket"
        );
    }
}
