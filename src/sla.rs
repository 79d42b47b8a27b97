//! When a ticket is due for a first response.
//!
//! For now a plain per-priority target in hours from the config; business
//! hours, holidays and calendars come later and will replace this function's
//! body, not its callers.

use crate::config::Config;
use crate::model::Priority;
use chrono::{DateTime, Duration, Utc};

/// The first-response due time under SLA `policy` of a ticket created at
/// `created`.
pub fn first_response_due(
    cfg: &Config,
    policy: &str,
    priority: Priority,
    created: DateTime<Utc>,
) -> DateTime<Utc> {
    let hours = cfg.policy_hours(policy, priority);
    // Config validation keeps hours in (0, one year], so this cannot overflow.
    created + Duration::seconds((hours * 3600.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn due_is_created_plus_target() {
        let cfg = Config::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        assert_eq!(
            first_response_due(&cfg, "default", Priority::Urgent, t),
            t + Duration::hours(1)
        );
        assert_eq!(
            first_response_due(&cfg, "default", Priority::Normal, t),
            t + Duration::hours(24)
        );
    }
}
