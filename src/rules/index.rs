//! Rules compiled for speed. Every `contains` needle of a field goes into
//! one Aho–Corasick automaton and every regex into one `RegexSet`, so a
//! message's field is scanned once whatever the number of rules; a rule's
//! condition then only looks up which needles and patterns were found.

use super::fold::fold;
use super::{Author, BoolField, Cmp, Cond, Facts, Kind, NumField, Rule, TextField, TextOp};
use aho_corasick::{AhoCorasick, MatchKind};
use regex::{RegexSet, RegexSetBuilder};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Default)]
pub(super) struct Index {
    fields: Vec<FieldIndex>,
    rules: Vec<CCond>,
    pub needs_history: bool,
}

#[derive(Debug)]
struct FieldIndex {
    field: TextField,
    needles: Vec<String>,
    ac: Option<AhoCorasick>,
    regexes: Vec<String>,
    set: Option<RegexSet>,
}

#[derive(Debug)]
enum CCond {
    All(Vec<CCond>),
    Any(Vec<CCond>),
    Not(Box<CCond>),
    Contains {
        field: usize,
        ids: Vec<usize>,
        label: String,
    },
    Regex {
        field: usize,
        id: usize,
        label: String,
    },
    Equals {
        field: usize,
        values: Vec<String>,
        label: String,
    },
    StartsWith {
        field: usize,
        values: Vec<String>,
        label: String,
    },
    EndsWith {
        field: usize,
        values: Vec<String>,
        label: String,
    },
    InList {
        field: usize,
        list: String,
        label: String,
    },
    Num {
        field: NumField,
        cmps: Vec<(Cmp, i64)>,
        label: String,
    },
    Bool {
        field: BoolField,
        value: bool,
    },
    Kind(Kind),
    Author(Author),
}

/// What one scan of a message found, per field.
pub(super) struct Matches {
    needles: Vec<Vec<bool>>,
    regexes: Vec<Vec<bool>>,
    folded: Vec<Vec<String>>,
}

impl Index {
    pub fn build(rules: &[Rule]) -> Result<Index, String> {
        let mut ix = Index::default();
        let mut by_field: BTreeMap<TextField, usize> = BTreeMap::new();
        for r in rules {
            let c = ix.compile(&r.when, &mut by_field);
            ix.rules.push(c);
        }
        for f in &mut ix.fields {
            if !f.needles.is_empty() {
                f.ac = Some(
                    AhoCorasick::builder()
                        .match_kind(MatchKind::Standard)
                        .build(&f.needles)
                        .map_err(|e| format!("building the matcher for {}: {e}", f.field.name()))?,
                );
            }
            if !f.regexes.is_empty() {
                f.set = Some(
                    RegexSetBuilder::new(&f.regexes)
                        .size_limit(64 << 20)
                        .dfa_size_limit(16 << 20)
                        .build()
                        .map_err(|e| format!("building the regexes for {}: {e}", f.field.name()))?,
                );
            }
        }
        Ok(ix)
    }

    fn field(&mut self, f: &TextField, by_field: &mut BTreeMap<TextField, usize>) -> usize {
        *by_field.entry(f.clone()).or_insert_with(|| {
            self.fields.push(FieldIndex {
                field: f.clone(),
                needles: Vec::new(),
                ac: None,
                regexes: Vec::new(),
                set: None,
            });
            self.fields.len() - 1
        })
    }

    fn compile(&mut self, c: &Cond, by_field: &mut BTreeMap<TextField, usize>) -> CCond {
        match c {
            Cond::All(cs) => CCond::All(cs.iter().map(|c| self.compile(c, by_field)).collect()),
            Cond::Any(cs) => CCond::Any(cs.iter().map(|c| self.compile(c, by_field)).collect()),
            Cond::Not(c) => CCond::Not(Box::new(self.compile(c, by_field))),
            Cond::Text(f, op) => {
                let fi = self.field(f, by_field);
                let name = f.name();
                let folded = |v: &[String]| v.iter().map(|s| fold(s)).collect::<Vec<_>>();
                match op {
                    TextOp::Contains(v) => {
                        let fx = &mut self.fields[fi];
                        let ids = folded(v)
                            .into_iter()
                            .map(|n| match fx.needles.iter().position(|x| *x == n) {
                                Some(i) => i,
                                None => {
                                    fx.needles.push(n);
                                    fx.needles.len() - 1
                                }
                            })
                            .collect();
                        CCond::Contains {
                            field: fi,
                            ids,
                            label: format!("{name} contains {v:?}"),
                        }
                    }
                    TextOp::Regex(re) => {
                        let fx = &mut self.fields[fi];
                        let id = match fx.regexes.iter().position(|x| x == re) {
                            Some(i) => i,
                            None => {
                                fx.regexes.push(re.clone());
                                fx.regexes.len() - 1
                            }
                        };
                        CCond::Regex {
                            field: fi,
                            id,
                            label: format!("{name} matches regex {re:?}"),
                        }
                    }
                    TextOp::Equals(v) => CCond::Equals {
                        field: fi,
                        values: folded(v),
                        label: format!("{name} equals {v:?}"),
                    },
                    TextOp::StartsWith(v) => CCond::StartsWith {
                        field: fi,
                        values: folded(v),
                        label: format!("{name} starts with {v:?}"),
                    },
                    TextOp::EndsWith(v) => CCond::EndsWith {
                        field: fi,
                        values: folded(v),
                        label: format!("{name} ends with {v:?}"),
                    },
                    TextOp::InList(l) => CCond::InList {
                        field: fi,
                        list: l.clone(),
                        label: format!("{name} in list {l:?}"),
                    },
                }
            }
            Cond::Num(f, cmps) => {
                if matches!(f, NumField::OpenTickets | NumField::TicketsInDays(_)) {
                    self.needs_history = true;
                }
                let name = match f {
                    NumField::AttachmentSize => "attachment_size".to_owned(),
                    NumField::AttachmentCount => "attachment_count".to_owned(),
                    NumField::BodyLength => "body_length".to_owned(),
                    NumField::OpenTickets => "open_tickets".to_owned(),
                    NumField::TicketsInDays(d) => format!("tickets_in_days({d})"),
                    NumField::Hour => "hour".to_owned(),
                };
                let cond = cmps
                    .iter()
                    .map(|(c, n)| format!("{} {n}", c.as_str()))
                    .collect::<Vec<_>>()
                    .join(" and ");
                CCond::Num {
                    field: *f,
                    cmps: cmps.clone(),
                    label: format!("{name} {cond}"),
                }
            }
            Cond::Bool(f, v) => CCond::Bool {
                field: *f,
                value: *v,
            },
            Cond::Kind(k) => CCond::Kind(*k),
            Cond::Author(a) => CCond::Author(*a),
        }
    }

    /// Scans each field that any rule looks at, once.
    pub fn scan(&self, facts: &Facts<'_>) -> Matches {
        let mut m = Matches {
            needles: Vec::with_capacity(self.fields.len()),
            regexes: Vec::with_capacity(self.fields.len()),
            folded: Vec::with_capacity(self.fields.len()),
        };
        for f in &self.fields {
            let values = facts.values(&f.field);
            let folded: Vec<String> = values.iter().map(|v| fold(v)).collect();
            let mut found = vec![false; f.needles.len()];
            if let Some(ac) = &f.ac {
                for v in &folded {
                    for hit in ac.find_overlapping_iter(v) {
                        found[hit.pattern().as_usize()] = true;
                    }
                }
            }
            let mut re_found = vec![false; f.regexes.len()];
            if let Some(set) = &f.set {
                for v in &values {
                    for i in set.matches(v).iter() {
                        re_found[i] = true;
                    }
                }
            }
            m.needles.push(found);
            m.regexes.push(re_found);
            m.folded.push(folded);
        }
        m
    }

    /// Whether rule `i` matches; when it does not and `why` is given, says
    /// which condition failed.
    pub fn eval(
        &self,
        i: usize,
        facts: &Facts<'_>,
        m: &Matches,
        lists: &BTreeMap<String, HashSet<String>>,
        why: Option<&mut String>,
    ) -> bool {
        match self.rules.get(i) {
            Some(c) => eval(c, facts, m, lists, why),
            None => false,
        }
    }
}

fn eval(
    c: &CCond,
    facts: &Facts<'_>,
    m: &Matches,
    lists: &BTreeMap<String, HashSet<String>>,
    why: Option<&mut String>,
) -> bool {
    let (ok, label): (bool, String) = match c {
        CCond::All(cs) => {
            let mut why = why;
            for c in cs {
                if !eval(c, facts, m, lists, why.as_deref_mut()) {
                    return false;
                }
            }
            return true;
        }
        CCond::Any(cs) => {
            let mut reasons = Vec::new();
            for c in cs {
                let mut r = String::new();
                if eval(c, facts, m, lists, Some(&mut r)) {
                    return true;
                }
                reasons.push(r);
            }
            (false, format!("none of: {}", reasons.join("; ")))
        }
        CCond::Not(inner) => {
            let ok = !eval(inner, facts, m, lists, None);
            (ok, "a `not` condition matched".to_owned())
        }
        CCond::Contains { field, ids, label } => {
            (ids.iter().any(|i| m.needles[*field][*i]), label.clone())
        }
        CCond::Regex { field, id, label } => (m.regexes[*field][*id], label.clone()),
        CCond::Equals {
            field,
            values,
            label,
        } => (
            m.folded[*field].iter().any(|v| values.contains(v)),
            label.clone(),
        ),
        CCond::StartsWith {
            field,
            values,
            label,
        } => (
            m.folded[*field]
                .iter()
                .any(|v| values.iter().any(|p| v.starts_with(p.as_str()))),
            label.clone(),
        ),
        CCond::EndsWith {
            field,
            values,
            label,
        } => (
            m.folded[*field]
                .iter()
                .any(|v| values.iter().any(|p| v.ends_with(p.as_str()))),
            label.clone(),
        ),
        CCond::InList { field, list, label } => {
            let set = lists.get(list);
            let hit = set.is_some_and(|set| m.folded[*field].iter().any(|v| in_list(set, v)));
            (hit, label.clone())
        }
        CCond::Num { field, cmps, label } => {
            let holds = |x: i64| cmps.iter().all(|(c, n)| c.holds(x, *n));
            let ok = match field {
                NumField::AttachmentSize => {
                    facts.env.attachments.iter().any(|a| holds(a.size as i64))
                }
                NumField::AttachmentCount => holds(facts.env.attachments.len() as i64),
                NumField::BodyLength => holds(facts.env.text.chars().count() as i64),
                NumField::OpenTickets => holds(facts.open_tickets()),
                NumField::TicketsInDays(d) => holds(facts.tickets_in_days(*d)),
                NumField::Hour => holds(i64::from(facts.hour)),
            };
            (ok, label.clone())
        }
        CCond::Bool { field, value } => {
            let (actual, name) = match field {
                BoolField::HasAttachments => (!facts.env.attachments.is_empty(), "has_attachments"),
                BoolField::AutoReply => (facts.auto_reply, "auto_reply"),
                BoolField::BusinessHours => (facts.business_hours, "business_hours"),
            };
            (actual == *value, format!("{name} = {value}"))
        }
        CCond::Kind(k) => (
            facts.kind == *k,
            format!("kind = {}", if *k == Kind::New { "new" } else { "reply" }),
        ),
        CCond::Author(a) => (
            facts.author == *a,
            format!(
                "author = {}",
                if *a == Author::Agent {
                    "agent"
                } else {
                    "customer"
                }
            ),
        ),
    };
    if !ok && let Some(w) = why {
        w.clone_from(&label);
    }
    ok
}

/// A value in a list; for domains and addresses also any parent domain
/// (`mail.bigcorp.com` and `ann@bigcorp.com` are in a list holding
/// `bigcorp.com`).
fn in_list(set: &HashSet<String>, v: &str) -> bool {
    if set.contains(v) {
        return true;
    }
    let domain = v.rsplit_once('@').map_or(v, |(_, d)| d);
    if domain != v && set.contains(domain) {
        return true;
    }
    domain
        .match_indices('.')
        .any(|(i, _)| set.contains(&domain[i + 1..]))
}
