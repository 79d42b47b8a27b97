//! `[sla]`: named policies of first-response and resolution targets in
//! business time, and how the expected response time is estimated.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sla {
    /// The policy for tickets no queue or rule assigns one.
    pub default_policy: String,
    /// The built-in policies (`standard`, `vip`) with the config's tables
    /// laid over them: a table for a built-in changes only the keys it
    /// names (`[sla.policies.vip] first_response = { urgent = "15m" }`), a
    /// table for a new name starts from `standard`'s defaults, and
    /// `remove = true` takes a built-in away. Declaring one policy never
    /// silently drops the others the shipped rules use.
    #[serde(deserialize_with = "merged_policies")]
    pub policies: BTreeMap<String, SlaPolicyCfg>,
    pub estimate: EstimateCfg,
}

/// A policy: targets per priority, on a calendar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaPolicyCfg {
    pub calendar: String,
    /// e.g. { urgent = "1h", high = "4h", normal = "1d", low = "3d" }; a day
    /// is one working day of the calendar.
    pub first_response: Targets,
    pub resolution: Targets,
    /// Waiting on the customer (status pending) stops the clock.
    pub pause_when_pending: bool,
    /// Warn the queue's escalation address when this share of the target
    /// has passed (0.8 = at 80 %).
    pub warn_at: f64,
    /// Raise the priority one step when a target is breached.
    pub raise_on_breach: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub urgent: String,
    pub high: String,
    pub normal: String,
    pub low: String,
}

/// The expected response time told to customers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstimateCfg {
    /// Off: the SLA due time is what customers are told.
    pub enabled: bool,
    /// Promise what this share of recent first responses achieved.
    pub percentile: f64,
    /// Fewer recent first responses than this: trust the SLA.
    pub min_samples: usize,
    /// Recent first responses kept per queue and priority.
    pub window: usize,
}

/// A policy as written in the config: only the keys given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PolicyPatch {
    calendar: Option<String>,
    first_response: TargetsPatch,
    resolution: TargetsPatch,
    pause_when_pending: Option<bool>,
    warn_at: Option<f64>,
    raise_on_breach: Option<bool>,
    /// Takes a built-in policy away.
    remove: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TargetsPatch {
    urgent: Option<String>,
    high: Option<String>,
    normal: Option<String>,
    low: Option<String>,
}

impl TargetsPatch {
    fn over(self, t: &mut Targets) {
        for (to, from) in [
            (&mut t.urgent, self.urgent),
            (&mut t.high, self.high),
            (&mut t.normal, self.normal),
            (&mut t.low, self.low),
        ] {
            if let Some(v) = from {
                *to = v;
            }
        }
    }
}

fn merged_policies<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SlaPolicyCfg>, D::Error> {
    let patches = BTreeMap::<String, PolicyPatch>::deserialize(d)?;
    let mut policies = Sla::default().policies;
    for (name, p) in patches {
        if p.remove {
            policies.remove(&name);
            continue;
        }
        let policy = policies.entry(name).or_default();
        if let Some(c) = p.calendar {
            policy.calendar = c;
        }
        p.first_response.over(&mut policy.first_response);
        p.resolution.over(&mut policy.resolution);
        if let Some(v) = p.pause_when_pending {
            policy.pause_when_pending = v;
        }
        if let Some(v) = p.warn_at {
            policy.warn_at = v;
        }
        if let Some(v) = p.raise_on_breach {
            policy.raise_on_breach = v;
        }
    }
    Ok(policies)
}

fn targets(urgent: &str, high: &str, normal: &str, low: &str) -> Targets {
    Targets {
        urgent: urgent.into(),
        high: high.into(),
        normal: normal.into(),
        low: low.into(),
    }
}

impl Default for SlaPolicyCfg {
    fn default() -> Self {
        SlaPolicyCfg {
            calendar: "default".into(),
            first_response: targets("1h", "4h", "1d", "3d"),
            resolution: targets("4h", "1d", "3d", "10d"),
            pause_when_pending: true,
            warn_at: 0.8,
            raise_on_breach: false,
        }
    }
}

impl Default for EstimateCfg {
    fn default() -> Self {
        EstimateCfg {
            enabled: true,
            percentile: 0.8,
            min_samples: 5,
            window: 50,
        }
    }
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            default_policy: "standard".into(),
            policies: [
                ("standard".to_owned(), SlaPolicyCfg::default()),
                (
                    "vip".to_owned(),
                    SlaPolicyCfg {
                        first_response: targets("30m", "1h", "4h", "1d"),
                        resolution: targets("2h", "4h", "1d", "3d"),
                        ..SlaPolicyCfg::default()
                    },
                ),
            ]
            .into(),
            estimate: EstimateCfg::default(),
        }
    }
}
