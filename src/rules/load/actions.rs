//! Actions (`then`): each checked against what exists (queues, agents,
//! templates, SLA policies), and contradictions within one rule refused.

use super::*;
use crate::rules::Actions;

impl Loader<'_> {
    pub(super) fn actions(&mut self, t: &DeTable<'_>, span: std::ops::Range<usize>) -> Actions {
        let mut a = Actions::default();
        let mut spans: BTreeMap<&str, std::ops::Range<usize>> = BTreeMap::new();
        for (key, v) in t {
            let k = key.get_ref().as_ref();
            if let Some(known) = ACTION_KEYS.iter().find(|x| **x == k) {
                spans.insert(known, v.span());
            }
            match k {
                "queue" => {
                    if let Some(q) = self.string(v, "queue") {
                        if self.known.queues.contains(&q) {
                            a.queue = Some(q);
                        } else {
                            let hint = suggestion(
                                &q,
                                &self
                                    .known
                                    .queues
                                    .iter()
                                    .map(String::as_str)
                                    .collect::<Vec<_>>(),
                            )
                            .map(|s| format!("did you mean {s:?}? "))
                            .unwrap_or_default();
                            self.err(
                                v.span(),
                                format!(
                                    "unknown queue {q:?}; {hint}known queues: {} (declare new ones as [queues.<name>] in the config)",
                                    self.known.queues.iter().cloned().collect::<Vec<_>>().join(", ")
                                ),
                            );
                        }
                    }
                }
                "priority" => {
                    if let Some(p) = self.string(v, "priority") {
                        match p.parse::<Priority>() {
                            Ok(p) => a.priority = Some(p),
                            Err(e) => self.err(v.span(), e),
                        }
                    }
                }
                "raise_priority" => {
                    if let Some(n) = self.integer(v, "raise_priority") {
                        if (1..=3).contains(&n) {
                            a.raise_priority = n as u8;
                        } else {
                            self.err(
                                v.span(),
                                "raise_priority must be 1, 2 or 3 (steps from low to urgent)",
                            );
                        }
                    }
                }
                "add_tags" | "remove_tags" => {
                    if let Some(tags) = self.strings(v, k) {
                        let tags = tags
                            .into_iter()
                            .map(|(s, _)| s.trim().to_lowercase())
                            .filter(|s| !s.is_empty());
                        if k == "add_tags" {
                            a.add_tags.extend(tags);
                        } else {
                            a.remove_tags.extend(tags);
                        }
                    }
                }
                "assign" => {
                    if let Some(agent) = self.string(v, "assign") {
                        let agent = agent.trim().to_lowercase();
                        if self.known.agents.contains(&agent) {
                            a.assign = Some(agent);
                        } else {
                            self.err(v.span(), format!("unknown agent {agent:?}: add it to `agents` in the config first"));
                        }
                    }
                }
                "sla" => {
                    if let Some(p) = self.string(v, "sla") {
                        if self.known.sla_policies.contains(&p) {
                            a.sla = Some(p);
                        } else {
                            self.err(
                                v.span(),
                                format!(
                                    "unknown SLA policy {p:?}; known: {}",
                                    self.known
                                        .sla_policies
                                        .iter()
                                        .cloned()
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                    }
                }
                "template" => {
                    if let Some(name) = self.string(v, "template") {
                        if self.known.templates.contains(&name) {
                            a.template = Some(name);
                        } else {
                            self.err(
                                v.span(),
                                format!(
                                    "unknown template {name:?}; known: {}",
                                    self.known
                                        .templates
                                        .iter()
                                        .cloned()
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                    }
                }
                "ack" => a.ack = self.boolean(v, "ack"),
                "correlate" => a.correlate = self.correlate(v),
                "spam" => a.spam = self.boolean(v, "spam").unwrap_or(false),
                "drop" => a.drop = self.boolean(v, "drop").unwrap_or(false),
                "notify" => {
                    for (addr, at) in self.strings(v, "notify").unwrap_or_default() {
                        let addr = addr.trim().to_lowercase();
                        if addr.parse::<lettre::Address>().is_ok() {
                            a.notify.push(addr);
                        } else {
                            self.err(at, format!("notify: {addr:?} is not an email address"));
                        }
                    }
                }
                "fields" => match v.get_ref() {
                    DeValue::Table(f) => {
                        for (name, value) in f {
                            if let Some(s) =
                                self.string(value, &format!("fields.{}", name.get_ref()))
                            {
                                a.fields.insert(name.get_ref().to_string(), s);
                            }
                        }
                    }
                    other => self.err(
                        v.span(),
                        format!(
                            "`fields` must be a table of names to strings, found {}",
                            type_name(other)
                        ),
                    ),
                },
                _ => self.unknown_key(key, "`then`", ACTION_KEYS),
            }
        }
        // Actions that contradict each other in one rule.
        let at = |k: &str| spans.get(k).cloned().unwrap_or(span.clone());
        if a.priority.is_some() && a.raise_priority > 0 {
            self.err(
                at("raise_priority"),
                "a rule cannot both set `priority` and `raise_priority`; pick one",
            );
        }
        if let Some(t) = a.add_tags.iter().find(|t| a.remove_tags.contains(t)) {
            self.err(
                at("remove_tags"),
                format!("tag {t:?} is both added and removed"),
            );
        }
        if a.template.is_some() && a.ack == Some(false) {
            self.err(
                at("template"),
                "`template` picks the acknowledgement template but `ack = false` sends none",
            );
        }
        if a.spam && (a.ack == Some(true) || a.drop || a.queue.is_some() || a.assign.is_some()) {
            self.err(at("spam"), "`spam = true` quarantines the message; it cannot be combined with ack, drop, queue or assign");
        }
        a
    }

    /// `correlate = "pattern"` or `correlate = { key = "pattern",
    /// window_minutes = 60 }`: the pattern needs a group, whose capture
    /// is the key.
    fn correlate(&mut self, v: &Spanned<DeValue<'_>>) -> Option<crate::rules::Correlate> {
        let (pattern, window, at) = match v.get_ref() {
            DeValue::String(p) => (p.to_string(), 60, v.span()),
            DeValue::Table(t) => {
                let (mut pattern, mut window, mut at) = (None, 60, v.span());
                for (key, w) in t {
                    match key.get_ref().as_ref() {
                        "key" => {
                            pattern = self.string(w, "correlate.key");
                            at = w.span();
                        }
                        "window_minutes" => match self.integer(w, "correlate.window_minutes") {
                            Some(n) if (1..=43_200).contains(&n) => window = n as u32,
                            Some(_) => self.err(
                                w.span(),
                                "correlate.window_minutes must be 1 to 43200 (30 days)",
                            ),
                            None => {}
                        },
                        _ => self.unknown_key(key, "`correlate`", &["key", "window_minutes"]),
                    }
                }
                let Some(p) = pattern else {
                    self.err(v.span(), "correlate needs `key`: a pattern whose group is the key, e.g. \"PROBLEM: (\\S+) (\\S+)\"");
                    return None;
                };
                (p, window, at)
            }
            other => {
                self.err(
                    v.span(),
                    format!(
                        "`correlate` must be a pattern or a table, found {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        match regex::Regex::new(&pattern) {
            Ok(re) if re.captures_len() > 1 => Some(crate::rules::Correlate {
                pattern: re,
                window_minutes: window,
            }),
            Ok(_) => {
                self.err(
                    at,
                    format!(
                        "correlate pattern {pattern:?} has no group: put what makes the key in ( )"
                    ),
                );
                None
            }
            Err(e) => {
                self.err(at, format!("correlate pattern {pattern:?}: {e}"));
                None
            }
        }
    }
}
