//! Everything configured that processing needs, loaded once: identity,
//! threading settings, calendar, templates, and the rule set, which can be
//! swapped while the worker runs (a reload that fails keeps the old one).

use crate::calendar::Calendar;
use crate::classify::Identity;
use crate::config::Config;
use crate::outgoing::render::{TemplateError, Templates};
use crate::rules::{Known, RuleErrors, RuleSet};
use crate::sla::Policy;
use crate::subject::TagFormat;
use crate::thread::ThreadConfig;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub struct Engine {
    pub cfg: Config,
    pub identity: Identity,
    pub threading: ThreadConfig,
    /// The default calendar: business hours for rules.
    pub calendar: Calendar,
    /// The team's time zone (the default calendar's).
    pub tz: Tz,
    /// SLA policies by name.
    pub policies: BTreeMap<String, Policy>,
    /// Signs rating links: the installation's key once
    /// [`Engine::with_rating_secret`] gives it, else one of this process.
    pub(crate) rating_key: crate::rating::Key,
    templates: RwLock<Arc<Templates>>,
    rules: RwLock<Arc<RuleSet>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("rules:\n{0}")]
    Rules(RuleErrors),
    #[error("templates:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Templates(Vec<TemplateError>),
    #[error("config: {0}")]
    Config(String),
}

impl Engine {
    /// Builds the engine from a validated config: loads templates and rules.
    pub fn new(cfg: Config, instance_id: String) -> Result<Engine, EngineError> {
        let tags =
            TagFormat::new(&cfg.tickets.tag).map_err(|e| EngineError::Config(e.to_string()))?;
        let calendar = cfg.default_calendar();
        let tz = calendar.tz;
        let templates = crate::outgoing::ack::load_templates(&cfg.templates_dir, &cfg.display)
            .map_err(EngineError::Templates)?;
        let mut policies = BTreeMap::new();
        for (name, p) in &cfg.sla.policies {
            let policy = Policy::from_cfg(name, p, &cfg.calendars)
                .map_err(|e| EngineError::Config(format!("sla.policies.{name}: {e}")))?;
            policies.insert(name.clone(), policy);
        }
        let domain = cfg
            .support
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "ticketbox.invalid".into());
        let generic = cfg
            .threading
            .generic_subjects
            .iter()
            .map(|s| crate::subject::normalize(s, &tags))
            .collect();
        let mut engine = Engine {
            identity: Identity {
                instance_id,
                addresses: cfg.own_addresses(),
                message_id_domain: domain,
            },
            threading: ThreadConfig {
                tags,
                subject_fallback_days: cfg.threading.subject_fallback_days,
                generic_subjects: generic,
                agents: cfg.agents.clone(),
            },
            templates: RwLock::new(Arc::new(templates)),
            calendar,
            tz,
            policies,
            rules: RwLock::new(Arc::new(RuleSet::default())),
            rating_key: crate::rating::Key::new(random_secret().as_bytes()),
            cfg,
        };
        let rules = engine.load_rules().map_err(EngineError::Rules)?;
        engine.rules = RwLock::new(Arc::new(rules));
        Ok(engine)
    }

    /// Signs rating links with the installation's `secret` (kept in the
    /// store, the same for every worker), so links in mail sent before a
    /// restart still verify.
    pub fn with_rating_secret(mut self, secret: &[u8]) -> Engine {
        self.rating_key = crate::rating::Key::new(secret);
        self
    }

    /// The names rules may use: queues, agents, templates, SLA policies.
    pub fn known(&self) -> Known {
        Known {
            queues: self.cfg.known_queues(),
            agents: self.cfg.agents.iter().cloned().collect(),
            templates: self.templates().names(),
            sla_policies: self.cfg.sla_policies(),
            lists: Default::default(),
        }
    }

    /// Loads the rules directory as it is now, without installing it.
    pub fn load_rules(&self) -> Result<RuleSet, RuleErrors> {
        RuleSet::load_dir(&self.cfg.rules_dir, &self.known())
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reloads the rules; on error the rules in force stay.
    pub fn reload_rules(&self) -> Result<usize, RuleErrors> {
        let fresh = self.load_rules()?;
        let n = fresh.rules.len();
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(n)
    }

    /// The templates in force.
    pub fn templates(&self) -> Arc<Templates> {
        self.templates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads the templates; a set that does not load or does not render
    /// its samples is refused, and the templates in force stay.
    pub fn reload_templates(&self) -> Result<usize, Vec<TemplateError>> {
        let fresh =
            crate::outgoing::ack::load_templates(&self.cfg.templates_dir, &self.cfg.display)?;
        let n = fresh.names().len();
        *self.templates.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(n)
    }

    /// The SLA policy called `name`, else the default one.
    pub fn policy(&self, name: Option<&str>) -> &Policy {
        name.and_then(|n| self.policies.get(n))
            .or_else(|| self.policies.get(&self.cfg.sla.default_policy))
            .or_else(|| self.policies.values().next())
            .unwrap_or_else(|| unreachable!("config validation keeps at least the default policy"))
    }

    /// The policy a ticket in `queue` gets unless a rule picks one.
    pub fn queue_policy(&self, queue: &str) -> &str {
        self.cfg
            .queues
            .get(queue)
            .and_then(|q| q.sla.as_deref())
            .unwrap_or(&self.cfg.sla.default_policy)
    }

    /// Replaces the templates (tests, fuzzing).
    pub fn set_templates(&self, templates: Templates) {
        *self.templates.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(templates);
    }

    /// Replaces the rule set (tests, benchmarks).
    pub fn set_rules(&self, rules: RuleSet) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }
}

/// 32 random bytes, hex: a secret for this process, or the installation's
/// when the store has none yet.
pub fn random_secret() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    // The system's random source failing is no state to run in: links
    // signed with a guessable key could be forged.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random number source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
