//! Bounds on the work one message can cause (`[limits]` in the config).
//!
//! One message must never stop the helpdesk: a References header of
//! 640,000 ids, a hundred thousand headers, MIME nested a thousand deep or
//! an answer to twenty thousand Cc addresses would otherwise cost memory and
//! time out of all proportion, on the one thread that commits everybody's
//! mail. Every default is far above what real mail reaches (the biggest
//! header blocks of real mail are tens of KiB; long threads carry a few
//! dozen References), so a limit only ever meets abuse or breakage.
//!
//! What happens at a limit is chosen so that nothing is lost: a message
//! whose headers or MIME structure are over a limit is quarantined with the
//! reason (kept, listable, releasable); ids and participants over a limit are
//! cut (the ends of a References chain are what threading needs); an answer
//! to too many people goes to the customer and the first of the others, and
//! the agent is told.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Size of a message's top header block, in bytes.
    pub max_header_bytes: usize,
    /// Number of header fields in the top header block.
    pub max_headers: usize,
    /// Message-IDs kept from References (the first, which names the
    /// thread's root, and the most recent ones); In-Reply-To is capped the
    /// same way.
    pub max_references: usize,
    /// MIME parts in one message, nested messages included.
    pub max_mime_parts: usize,
    /// How deep MIME parts may nest.
    pub max_mime_depth: usize,
    /// Characters of a subject kept (longer ones are cut with `…`).
    pub max_subject_chars: usize,
    /// To/Cc addresses remembered as a ticket's participants.
    pub max_participants: usize,
    /// People an agent's answer goes to (the customer and copies).
    pub max_answer_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 1 << 20,
            max_headers: 2_000,
            max_references: 100,
            max_mime_parts: 2_000,
            max_mime_depth: 40,
            max_subject_chars: 500,
            max_participants: 100,
            max_answer_recipients: 50,
        }
    }
}

impl Limits {
    /// Problems with the values, for the config check.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value, min) in [
            ("max_header_bytes", self.max_header_bytes, 1024),
            ("max_headers", self.max_headers, 10),
            ("max_references", self.max_references, 2),
            ("max_mime_parts", self.max_mime_parts, 1),
            ("max_mime_depth", self.max_mime_depth, 1),
            ("max_subject_chars", self.max_subject_chars, 20),
            ("max_participants", self.max_participants, 0),
            ("max_answer_recipients", self.max_answer_recipients, 1),
        ] {
            if value < min {
                problems.push(format!("limits.{name} = {value} is below {min}"));
            }
        }
        problems
    }
}

/// Keeps the first id and the last `max - 1` of a chain of ids: the root of
/// a thread and its most recent messages, which is all threading looks at.
pub fn ends_of_chain<T>(ids: Vec<T>, max: usize) -> Vec<T> {
    if ids.len() <= max {
        return ids;
    }
    let max = max.max(1);
    let mut ids = ids;
    let tail = ids.split_off(ids.len() - (max - 1));
    ids.truncate(1);
    ids.extend(tail);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_keeps_its_root_and_its_most_recent_ids() {
        let ids: Vec<u32> = (0..10).collect();
        assert_eq!(ends_of_chain(ids.clone(), 4), vec![0, 7, 8, 9]);
        assert_eq!(ends_of_chain(ids.clone(), 10), ids);
        assert_eq!(ends_of_chain(ids.clone(), 1), vec![0]);
        assert_eq!(ends_of_chain(Vec::<u32>::new(), 3), Vec::<u32>::new());
    }

    #[test]
    fn defaults_pass_and_nonsense_is_named() {
        assert!(Limits::default().check().is_empty());
        let l = Limits {
            max_references: 0,
            ..Limits::default()
        };
        assert_eq!(l.check(), vec!["limits.max_references = 0 is below 2"]);
    }
}
