//! The timer that turns the sources' health into alarms.
//!
//! Each source reports what happens to it ([`crate::intake::health`]);
//! `ticketbox status` reads those states through the control socket. Every
//! few seconds
//! [`alarm_timer`] hands a snapshot to [`crate::health::review`]; what it
//! decides (an incident raised, one cleared) is written by the committer
//! with its alarm mail in one commit, so an alarm is neither lost nor
//! sent twice across a restart.

use crate::clock::Clock;
use crate::committer::Committer;
use crate::health::{Change, Incident, SourceState, Thresholds};
use crate::intake::health::Health;
use crate::pipeline::Engine;
use crate::store::{Commit, State, StateKey, Store, View};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Each source's state with the incident recorded on it (open or the last
/// one cleared).
pub fn with_incidents<V: View + ?Sized>(
    view: &V,
    states: Vec<SourceState>,
) -> crate::store::Result<Vec<(SourceState, Option<Incident>)>> {
    states
        .into_iter()
        .map(|s| {
            let incident = match view.state(&StateKey::Incident(s.name.clone()))? {
                Some(State::Incident { incident, .. }) => Some(incident),
                _ => None,
            };
            Ok((s, incident))
        })
        .collect()
}

fn thresholds(engine: &Engine) -> Thresholds {
    Thresholds {
        failing_after_seconds: engine.cfg.health.failing_after_seconds,
    }
}

/// Decides over `states` and writes what changed: each change's incident
/// and its mail (when `health.alarm_to` is set) in one commit. Runs on
/// the committer thread. Returns what it did, for the log.
pub fn raise_and_clear<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    states: Vec<SourceState>,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<String>> {
    let sources = with_incidents(store, states)?;
    let changes = crate::health::review(&sources, thresholds(engine), &engine.calendar, now);
    let templates = engine.templates();
    let cfg = &engine.cfg;
    let from = crate::outgoing::alarm::From {
        identity: &engine.identity,
        name: &cfg.support.name,
        address: &cfg.support.address,
        language: &cfg.support.team_language,
    };
    let tz = crate::outgoing::locale::Zone::own(engine.tz);
    let mut done = Vec::new();
    for change in changes {
        let state = sources
            .iter()
            .map(|(s, _)| s)
            .find(|s| Some(s.name.as_str()) == source_of(&change))
            .cloned();
        let Some(state) = state else { continue };
        let mut commit = Commit::default();
        let (incident, what) = match &change {
            Change::Raise(i) => (i.clone(), "raised"),
            Change::Clear { incident, at } => (
                Incident {
                    cleared: Some(*at),
                    ..incident.clone()
                },
                "cleared",
            ),
        };
        if !cfg.health.alarm_to.is_empty() {
            match crate::outgoing::alarm::build(
                &templates,
                &from,
                tz,
                &cfg.health.alarm_to,
                &change,
                &state,
                now,
            ) {
                Ok(entry) => commit.outbox.push(entry),
                // The incident is still recorded and logged: an alarm that
                // cannot be written must not hide the trouble.
                Err(e) => {
                    tracing::error!(source = %incident.source, error = %e, "the alarm mail could not be written")
                }
            }
        }
        commit.state.push(State::Incident {
            source: incident.source.clone(),
            incident: incident.clone(),
        });
        store.commit(&commit)?;
        let line = format!(
            "{} incident {what} on {}{}",
            incident.kind.as_str(),
            incident.source,
            incident
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        if what == "raised" {
            tracing::error!(source = %incident.source, kind = incident.kind.as_str(), alarm_to = ?cfg.health.alarm_to, "{line}");
        } else {
            tracing::info!(source = %incident.source, kind = incident.kind.as_str(), "{line}");
        }
        done.push(line);
    }
    Ok(done)
}

fn source_of(change: &Change) -> Option<&str> {
    match change {
        Change::Raise(i) | Change::Clear { incident: i, .. } => Some(&i.source),
    }
}

/// How often the timer looks: often enough that an alarm is late by a
/// quarter of its threshold at most, and not more than every 15 s.
fn tick(engine: &Engine, states: &[SourceState]) -> Duration {
    let shortest = states
        .iter()
        .map(|s| s.silence_after_seconds)
        .filter(|&s| s > 0)
        .chain([engine.cfg.health.failing_after_seconds])
        .min()
        .unwrap_or(60);
    Duration::from_millis((shortest * 1000 / 4).clamp(500, 15_000))
}

/// Reviews the sources' health until `shutdown`: reads the incidents off
/// the committer thread and hands it work only when something changes.
pub async fn alarm_timer<S: Store + 'static>(
    committer: Committer,
    engine: Arc<Engine>,
    store: Arc<S>,
    health: Health,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let every = tick(&engine, &health.snapshot());
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let (states, now) = (health.snapshot(), clock.now());
        let (e, s, look) = (engine.clone(), store.clone(), states.clone());
        let found = tokio::task::spawn_blocking(move || {
            with_incidents(&*s, look).map(|sources| {
                !crate::health::review(&sources, thresholds(&e), &e.calendar, now).is_empty()
            })
        })
        .await;
        match found {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading intake incidents failed");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the health review failed");
                continue;
            }
        }
        let task: crate::committer::Task = Box::new(move |engine, store, now| {
            raise_and_clear(engine, store, states, now)
                .map(|done| done.join("; "))
                .map_err(|e| e.to_string())
        });
        if let Err(e) = committer.run(task).await {
            tracing::error!(error = %e, "writing an intake incident failed");
        }
    }
}
