//! Rules compiled for speed. Every `contains` needle of a field goes into
//! one Aho–Corasick automaton and every regex into one `RegexSet`, so a
//! message's field is scanned once whatever the number of rules; a rule's
//! condition then only looks up which needles and patterns were found.

use super::fold::fold;
use super::{Author, BoolField, Cmp, Cond, Facts, Kind, NumField, Rule, TextField, TextOp};
use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder};
use std::cell::Cell;
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
    /// Automata over consecutive slices of `needles`, each with the index
    /// of its first needle (see [`AC_CHUNK`]).
    ac: Vec<(usize, AhoCorasick)>,
    regexes: Vec<String>,
    compiled: Vec<Regex>,
    /// `equals` values (folded) → their id; one hash lookup per value.
    equals: std::collections::HashMap<String, usize>,
    /// Lists this field is checked against, by name.
    lists: Vec<String>,
    /// Position of each needle, regex and list above, so that building
    /// stays linear in the number of values (16,000 rules, a list of
    /// 200,000 keywords).
    ids: std::collections::HashMap<(u8, String), usize>,
}

/// The position of `value` in `list`, adding it when new (`kind` tells the
/// lists of one field apart in `ids`).
fn intern(
    list: &mut Vec<String>,
    ids: &mut std::collections::HashMap<(u8, String), usize>,
    kind: u8,
    value: String,
) -> usize {
    *ids.entry((kind, value)).or_insert_with_key(|(_, v)| {
        list.push(v.clone());
        list.len() - 1
    })
}

/// Needles per automaton. aho-corasick 1.1's builder reorders states in a
/// way that costs time quadratic in the number of patterns (16,000 rules
/// took 18 s to load); automata of a few thousand patterns each build in
/// linear total time, and an ordinary rule set needs only one.
const AC_CHUNK: usize = 2_048;

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
        ids: Vec<usize>,
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
        list: usize,
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

/// What one scan of a message found, per field. Regexes are run only when
/// a rule gets to them (each at most once per message): a regex's literal
/// prefilter rejects most messages in a quick scan, and rules whose other
/// conditions already failed never pay for theirs.
pub(super) struct Matches<'a> {
    needles: Vec<Vec<bool>>,
    /// Per field and regex: not yet run, or the result.
    regexes: Vec<Vec<Cell<Option<bool>>>>,
    /// Per field: which `equals` values matched, which lists hold a value.
    equals: Vec<Vec<bool>>,
    lists: Vec<Vec<bool>>,
    values: Vec<Vec<std::borrow::Cow<'a, str>>>,
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
            for (n, chunk) in f.needles.chunks(AC_CHUNK).enumerate() {
                let ac = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(chunk)
                    .map_err(|e| format!("building the matcher for {}: {e}", f.field.name()))?;
                f.ac.push((n * AC_CHUNK, ac));
            }
            for re in &f.regexes {
                f.compiled.push(
                    RegexBuilder::new(re)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("building the regex {re:?}: {e}"))?,
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
                ac: Vec::new(),
                regexes: Vec::new(),
                compiled: Vec::new(),
                equals: Default::default(),
                lists: Vec::new(),
                ids: Default::default(),
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
                            .map(|n| intern(&mut fx.needles, &mut fx.ids, 0, n))
                            .collect();
                        CCond::Contains {
                            field: fi,
                            ids,
                            label: format!("{name} contains {v:?}"),
                        }
                    }
                    TextOp::Regex(re) => {
                        let fx = &mut self.fields[fi];
                        let id = intern(&mut fx.regexes, &mut fx.ids, 1, re.clone());
                        CCond::Regex {
                            field: fi,
                            id,
                            label: format!("{name} matches regex {re:?}"),
                        }
                    }
                    TextOp::Equals(v) => {
                        let fx = &mut self.fields[fi];
                        let ids = folded(v)
                            .into_iter()
                            .map(|x| {
                                let next = fx.equals.len();
                                *fx.equals.entry(x).or_insert(next)
                            })
                            .collect();
                        CCond::Equals {
                            field: fi,
                            ids,
                            label: format!("{name} equals {v:?}"),
                        }
                    }
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
                    TextOp::InList(l) => {
                        let fx = &mut self.fields[fi];
                        let list = intern(&mut fx.lists, &mut fx.ids, 2, l.clone());
                        CCond::InList {
                            field: fi,
                            list,
                            label: format!("{name} in list {l:?}"),
                        }
                    }
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
    pub fn scan<'a>(
        &self,
        facts: &Facts<'a>,
        lists: &BTreeMap<String, HashSet<String>>,
    ) -> Matches<'a> {
        let mut m = Matches {
            needles: Vec::with_capacity(self.fields.len()),
            regexes: Vec::with_capacity(self.fields.len()),
            equals: Vec::with_capacity(self.fields.len()),
            lists: Vec::with_capacity(self.fields.len()),
            values: Vec::with_capacity(self.fields.len()),
            folded: Vec::with_capacity(self.fields.len()),
        };
        for f in &self.fields {
            let values = facts.values(&f.field);
            let folded: Vec<String> = values.iter().map(|v| fold(v)).collect();
            let mut found = vec![false; f.needles.len()];
            for (first, ac) in &f.ac {
                for v in &folded {
                    for hit in ac.find_overlapping_iter(v) {
                        found[first + hit.pattern().as_usize()] = true;
                    }
                }
            }
            let mut eq = vec![false; f.equals.len()];
            for v in &folded {
                if let Some(i) = f.equals.get(v) {
                    eq[*i] = true;
                }
            }
            let in_lists = f
                .lists
                .iter()
                .map(|l| {
                    lists
                        .get(l)
                        .is_some_and(|set| folded.iter().any(|v| in_list(set, v)))
                })
                .collect();
            m.needles.push(found);
            m.equals.push(eq);
            m.lists.push(in_lists);
            m.regexes
                .push((0..f.compiled.len()).map(|_| Cell::new(None)).collect());
            m.values.push(values);
            m.folded.push(folded);
        }
        m
    }

    fn regex_hit(&self, m: &Matches<'_>, field: usize, id: usize) -> bool {
        let cell = &m.regexes[field][id];
        if let Some(hit) = cell.get() {
            return hit;
        }
        let re = &self.fields[field].compiled[id];
        let hit = m.values[field].iter().any(|v| re.is_match(v));
        cell.set(Some(hit));
        hit
    }

    /// Whether rule `i` matches; when it does not and `why` is given, says
    /// which condition failed.
    pub fn eval(&self, i: usize, facts: &Facts<'_>, m: &Matches, why: Option<&mut String>) -> bool {
        match self.rules.get(i) {
            Some(c) => self.eval_cond(c, facts, m, why),
            None => false,
        }
    }
}

impl Index {
    fn eval_cond(
        &self,
        c: &CCond,
        facts: &Facts<'_>,
        m: &Matches<'_>,
        mut why: Option<&mut String>,
    ) -> bool {
        let ok = match c {
            CCond::All(cs) => {
                return cs
                    .iter()
                    .all(|c| self.eval_cond(c, facts, m, why.as_deref_mut()));
            }
            CCond::Any(cs) => {
                if why.is_none() {
                    return cs.iter().any(|c| self.eval_cond(c, facts, m, None));
                }
                let mut reasons = Vec::new();
                for c in cs {
                    let mut r = String::new();
                    if self.eval_cond(c, facts, m, Some(&mut r)) {
                        return true;
                    }
                    reasons.push(r);
                }
                if let Some(w) = why {
                    *w = format!("none of: {}", reasons.join("; "));
                }
                return false;
            }
            CCond::Not(inner) => !self.eval_cond(inner, facts, m, None),
            CCond::Contains { field, ids, .. } => ids.iter().any(|i| m.needles[*field][*i]),
            CCond::Regex { field, id, .. } => self.regex_hit(m, *field, *id),
            CCond::Equals { field, ids, .. } => ids.iter().any(|i| m.equals[*field][*i]),
            CCond::StartsWith { field, values, .. } => m.folded[*field]
                .iter()
                .any(|v| values.iter().any(|p| v.starts_with(p.as_str()))),
            CCond::EndsWith { field, values, .. } => m.folded[*field]
                .iter()
                .any(|v| values.iter().any(|p| v.ends_with(p.as_str()))),
            CCond::InList { field, list, .. } => m.lists[*field][*list],
            CCond::Num { field, cmps, .. } => {
                let holds = |x: i64| cmps.iter().all(|(c, n)| c.holds(x, *n));
                match field {
                    NumField::AttachmentSize => {
                        facts.env.attachments.iter().any(|a| holds(a.size as i64))
                    }
                    NumField::AttachmentCount => holds(facts.env.attachments.len() as i64),
                    NumField::BodyLength => holds(facts.env.text.chars().count() as i64),
                    NumField::OpenTickets => holds(facts.open_tickets()),
                    NumField::TicketsInDays(d) => holds(facts.tickets_in_days(*d)),
                    NumField::Hour => holds(i64::from(facts.hour)),
                }
            }
            CCond::Bool { field, value } => {
                let actual = match field {
                    BoolField::HasAttachments => !facts.env.attachments.is_empty(),
                    BoolField::AutoReply => facts.auto_reply,
                    BoolField::BusinessHours => facts.business_hours,
                };
                actual == *value
            }
            CCond::Kind(k) => facts.kind == *k,
            CCond::Author(a) => facts.author == *a,
        };
        if !ok && let Some(w) = why {
            *w = label(c);
        }
        ok
    }
}

/// How a failed condition is described to an admin.
fn label(c: &CCond) -> String {
    match c {
        CCond::Contains { label, .. }
        | CCond::Regex { label, .. }
        | CCond::Equals { label, .. }
        | CCond::StartsWith { label, .. }
        | CCond::EndsWith { label, .. }
        | CCond::InList { label, .. }
        | CCond::Num { label, .. } => label.clone(),
        CCond::Not(_) => "a `not` condition matched".to_owned(),
        CCond::Bool { field, value } => {
            let name = match field {
                BoolField::HasAttachments => "has_attachments",
                BoolField::AutoReply => "auto_reply",
                BoolField::BusinessHours => "business_hours",
            };
            format!("{name} = {value}")
        }
        CCond::Kind(k) => format!("kind = {}", if *k == Kind::New { "new" } else { "reply" }),
        CCond::Author(a) => format!(
            "author = {}",
            if *a == Author::Agent {
                "agent"
            } else {
                "customer"
            }
        ),
        CCond::All(_) | CCond::Any(_) => String::new(),
    }
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
