//! What each mail source reports about itself: connecting, connected,
//! idle, mail taken, a failure and its cause. [`Health`] keeps the latest
//! [`SourceState`] of each source of this process; `ticketbox status`
//! shows them and the alarm timer (`runtime::health`) reviews them.

use crate::clock::Clock;
use crate::health::{Problem, SourceState};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Every source's latest state, by name.
#[derive(Clone)]
pub struct Health {
    sources: Arc<Mutex<BTreeMap<String, SourceState>>>,
    clock: Arc<dyn Clock>,
}

impl Health {
    pub fn new(clock: Arc<dyn Clock>) -> Health {
        Health {
            sources: Arc::default(),
            clock,
        }
    }

    /// Registers source `name` (its silence window in seconds of business
    /// time, 0 for none) and returns its reporter.
    pub fn source(&self, name: &str, silence_after_seconds: u64) -> Reporter {
        let now = self.clock.now();
        self.lock()
            .entry(name.to_owned())
            .or_insert_with(|| SourceState::new(name, silence_after_seconds, now));
        Reporter {
            health: self.clone(),
            name: name.to_owned(),
        }
    }

    /// The states now, by name.
    pub fn snapshot(&self) -> Vec<SourceState> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SourceState>> {
        // A reporter that panicked mid-update leaves a state that is still
        // a state: keep going with it.
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One source's line to [`Health`].
#[derive(Clone)]
pub struct Reporter {
    health: Health,
    name: String,
}

impl Reporter {
    fn update(&self, f: impl FnOnce(&mut SourceState, DateTime<Utc>)) {
        let now = self.health.clock.now();
        if let Some(s) = self.health.lock().get_mut(&self.name) {
            f(s, now);
        }
    }

    pub fn connecting(&self) {
        self.update(|s, now| s.connecting(now));
    }
    pub fn connected(&self) {
        self.update(|s, now| s.connected(now));
    }
    pub fn idle(&self) {
        self.update(|s, now| s.idle(now));
    }
    /// Mail taken in and stored (any number, 0 included: a round that
    /// worked).
    pub fn took(&self, messages: usize) {
        self.update(|s, now| s.took(messages, now));
    }
    pub fn failed(&self, problem: Problem, error: &str) {
        let error = crate::text::one_line(error, 500);
        self.update(|s, now| s.failed(problem, &error, now));
    }
    pub fn standby(&self) {
        self.update(|s, now| s.standby(now));
    }
    pub fn stopped(&self) {
        self.update(|s, now| s.stopped(now));
    }
}
