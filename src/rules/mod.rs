//! Routing and priority rules that admins edit in `rules/*.toml`.
//!
//! Files are read in file-name order, rules top to bottom. Every matching
//! rule applies its actions (queue, priority, template, SLA, assignee: the
//! last one wins; tags and notify addresses accumulate) until a matching
//! rule has `stop = true`. The language is documented in `rules/README.md`.
//!
//! Safety by construction: rules are data, not code (no I/O, no network);
//! matching is linear time (Aho–Corasick for `contains`, the `regex` crate's
//! `RegexSet` for regexes, each field scanned once per message, bodies cut
//! at [`BODY_LIMIT`]), so a thousand rules cost microseconds and no rule can
//! hang the worker. Loading checks everything and reports every mistake with
//! file:line:column (the `load` module); a failed load never replaces a working set.

mod facts;
pub mod fold;
mod index;
mod load;

pub use facts::{Facts, History};

use crate::model::Priority;
use index::Index;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Bodies are matched on their first 64 KiB: bounded work per message.
pub const BODY_LIMIT: usize = 64 * 1024;

/// One problem in one rule file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem found while loading a rule directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RuleErrors(pub Vec<RuleError>);

/// Names rules may refer to, from the config and the templates.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub queues: BTreeSet<String>,
    pub agents: BTreeSet<String>,
    pub templates: BTreeSet<String>,
    pub sla_policies: BTreeSet<String>,
    /// Lists from `<rules dir>/lists/<name>.txt`, folded.
    pub lists: BTreeMap<String, HashSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextField {
    From,
    FromAddress,
    FromDomain,
    FromName,
    To,
    Subject,
    Body,
    Language,
    AttachmentName,
    AttachmentType,
    Weekday,
    Header(String),
}

impl TextField {
    pub fn name(&self) -> String {
        match self {
            TextField::From => "from".into(),
            TextField::FromAddress => "from_address".into(),
            TextField::FromDomain => "from_domain".into(),
            TextField::FromName => "from_name".into(),
            TextField::To => "to".into(),
            TextField::Subject => "subject".into(),
            TextField::Body => "body".into(),
            TextField::Language => "language".into(),
            TextField::AttachmentName => "attachment_name".into(),
            TextField::AttachmentType => "attachment_type".into(),
            TextField::Weekday => "weekday".into(),
            TextField::Header(h) => format!("header.{h}"),
        }
    }
}

/// How a text field is matched. Case and diacritics never matter except for
/// `regex`, which sees the text as written (use `(?i)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOp {
    Equals(Vec<String>),
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Regex(String),
    InList(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumField {
    AttachmentSize,
    AttachmentCount,
    BodyLength,
    OpenTickets,
    TicketsInDays(u32),
    Hour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolField {
    HasAttachments,
    AutoReply,
    BusinessHours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Cmp {
    pub fn holds(self, value: i64, to: i64) -> bool {
        match self {
            Cmp::Gt => value > to,
            Cmp::Gte => value >= to,
            Cmp::Lt => value < to,
            Cmp::Lte => value <= to,
            Cmp::Eq => value == to,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Eq => "=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    New,
    Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Customer,
    Agent,
}

/// A condition as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Text(TextField, TextOp),
    Num(NumField, Vec<(Cmp, i64)>),
    Bool(BoolField, bool),
    Kind(Kind),
    Author(Author),
}

/// What a matching rule does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    pub queue: Option<String>,
    pub priority: Option<Priority>,
    /// Steps up from the current priority (1–3).
    pub raise_priority: u8,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub assign: Option<String>,
    pub sla: Option<String>,
    pub template: Option<String>,
    /// `Some(false)`: no acknowledgement.
    pub ack: Option<bool>,
    pub notify: Vec<String>,
    /// Quarantine as spam: kept and listable, no ticket, no acknowledgement.
    pub spam: bool,
    /// Drop automatic mail (auto-replies, bulk, lists) silently.
    pub drop: bool,
    pub fields: BTreeMap<String, String>,
    /// Repeated mail about one thing (a monitoring alert for one host and
    /// check) joins the open ticket with the same key.
    pub correlate: Option<Correlate>,
}

/// How a rule groups repeated mail: the key is what the pattern's groups
/// capture in the subject (else the body); mail with the key of a ticket
/// still open and updated within the window joins it instead of opening
/// another.
#[derive(Debug, Clone)]
pub struct Correlate {
    pub pattern: regex::Regex,
    pub window_minutes: u32,
}

impl PartialEq for Correlate {
    fn eq(&self, other: &Self) -> bool {
        self.pattern.as_str() == other.pattern.as_str()
            && self.window_minutes == other.window_minutes
    }
}

impl Eq for Correlate {}

impl Correlate {
    /// The key `subject` (else `body`) gives: its groups, joined.
    pub fn key(&self, subject: &str, body: &str) -> Option<String> {
        [subject, body].iter().find_map(|text| {
            let c = self.pattern.captures(text)?;
            let parts: Vec<&str> = c
                .iter()
                .skip(1)
                .flatten()
                .map(|m| m.as_str().trim())
                .collect();
            let key = parts.join(" ");
            (!key.is_empty()).then_some(key)
        })
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub file: String,
    pub line: usize,
    pub when: Cond,
    pub then: Actions,
    pub stop: bool,
    pub enabled: bool,
}

/// The combined effect of the rules that fired on one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub queue: Option<String>,
    pub priority: Option<Priority>,
    /// Steps to raise the priority the ticket would otherwise have.
    pub raise_priority: u8,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub assign: Option<String>,
    pub sla: Option<String>,
    pub template: Option<String>,
    pub ack: Option<bool>,
    pub notify: Vec<String>,
    /// The rule that marked the message as spam.
    pub spam: Option<String>,
    /// The rule that dropped the (automatic) message.
    pub drop: Option<String>,
    pub fields: BTreeMap<String, String>,
    /// Names of the rules that fired, in order.
    pub fired: Vec<String>,
    /// Rules that fired again on a ticket they already shaped: only their
    /// tags, fields and notifications applied this time.
    pub repeated: Vec<String>,
    /// The first fired rule that correlates, with how.
    pub correlate: Option<(String, Correlate)>,
}

impl Decision {
    /// Adds a matching rule's actions. `shaped_before`: the rule already
    /// fired on this ticket, so its changes to the ticket's handling
    /// (queue, priority, SLA, assignee, template) are not made again.
    fn apply(&mut self, rule: &Rule, shaped_before: bool) {
        let a = &rule.then;
        self.fired.push(rule.name.clone());
        if self.correlate.is_none()
            && let Some(c) = &a.correlate
        {
            self.correlate = Some((rule.name.clone(), c.clone()));
        }
        if shaped_before {
            self.repeated.push(rule.name.clone());
        } else {
            self.shape(a);
        }
        for t in &a.add_tags {
            self.remove_tags.retain(|r| r != t);
            if !self.add_tags.contains(t) {
                self.add_tags.push(t.clone());
            }
        }
        for t in &a.remove_tags {
            self.add_tags.retain(|x| x != t);
            if !self.remove_tags.contains(t) {
                self.remove_tags.push(t.clone());
            }
        }
        if a.ack.is_some() {
            self.ack = a.ack;
        }
        for n in &a.notify {
            if !self.notify.contains(n) {
                self.notify.push(n.clone());
            }
        }
        if a.spam && self.spam.is_none() {
            self.spam = Some(rule.name.clone());
        }
        if a.drop && self.drop.is_none() {
            self.drop = Some(rule.name.clone());
        }
        for (k, v) in &a.fields {
            self.fields.insert(k.clone(), v.clone());
        }
    }

    /// The actions that change how the ticket is handled: made once per
    /// ticket and rule.
    fn shape(&mut self, a: &Actions) {
        if a.queue.is_some() {
            self.queue.clone_from(&a.queue);
        }
        if let Some(p) = a.priority {
            self.priority = Some(p);
            self.raise_priority = 0;
        }
        if a.raise_priority > 0 {
            match self.priority {
                Some(p) => self.priority = Some(raise(p, a.raise_priority)),
                None => self.raise_priority = self.raise_priority.saturating_add(a.raise_priority),
            }
        }
        if a.assign.is_some() {
            self.assign.clone_from(&a.assign);
        }
        if a.sla.is_some() {
            self.sla.clone_from(&a.sla);
        }
        if a.template.is_some() {
            self.template.clone_from(&a.template);
        }
    }

    /// The ticket's priority after the rules: a set priority, else `base`
    /// raised by the steps asked for.
    pub fn final_priority(&self, base: Priority) -> Priority {
        self.priority
            .unwrap_or_else(|| raise(base, self.raise_priority))
    }
}

/// `p` raised by `steps`, capped at urgent.
pub fn raise(p: Priority, steps: u8) -> Priority {
    let i = Priority::ALL.iter().position(|x| *x == p).unwrap_or(1);
    Priority::ALL[(i + steps as usize).min(Priority::ALL.len() - 1)]
}

/// How one rule went, for `ticketbox rules test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub matched: bool,
    /// For a rule that did not match: the condition that failed; for one
    /// that fired again on a ticket it shaped before: what it did not redo.
    pub why: String,
    /// Whether evaluation stopped after this rule.
    pub stopped: bool,
}

/// A loaded, validated, compiled rule set.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    index: Index,
    lists: BTreeMap<String, HashSet<String>>,
}

impl RuleSet {
    /// Loads every `*.toml` in `dir` (file-name order) and the lists in
    /// `dir/lists/*.txt`. A missing directory is an empty rule set.
    pub fn load_dir(dir: &Path, known: &Known) -> Result<RuleSet, RuleErrors> {
        let io_err = |path: &Path, e: std::io::Error| RuleError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        };
        let mut files: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RuleSet::default()),
            Err(e) => return Err(RuleErrors(vec![io_err(dir, e)])),
        };
        files.sort();
        let mut known = known.clone();
        known.lists = load_lists(&dir.join("lists"))
            .map_err(|e| RuleErrors(vec![io_err(&dir.join("lists"), e)]))?;
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for path in files {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(io_err(&path, e)),
            }
        }
        match RuleSet::from_sources(&sources, &known) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(RuleErrors(errors)),
            Err(RuleErrors(mut more)) => {
                errors.append(&mut more);
                Err(RuleErrors(errors))
            }
        }
    }

    /// Builds a rule set from (file name, text) pairs; `known.lists` are
    /// the lists in force.
    pub fn from_sources(
        sources: &[(String, String)],
        known: &Known,
    ) -> Result<RuleSet, RuleErrors> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (file, text) in sources {
            let mut loader = load::Loader::new(text, file, known);
            let found = loader.file();
            errors.append(&mut loader.errors);
            rules.extend(found);
        }
        let mut seen: BTreeMap<&str, &Rule> = BTreeMap::new();
        for r in &rules {
            if let Some(first) = seen.insert(&r.name, r) {
                errors.push(RuleError {
                    file: r.file.clone(),
                    line: r.line,
                    column: 1,
                    message: format!(
                        "a rule named {:?} already exists at {}:{}",
                        r.name, first.file, first.line
                    ),
                });
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            return Err(RuleErrors(errors));
        }
        let index = Index::build(&rules).map_err(|m| {
            RuleErrors(vec![RuleError {
                file: "(rules)".into(),
                line: 0,
                column: 0,
                message: m,
            }])
        })?;
        Ok(RuleSet {
            rules,
            index,
            lists: known.lists.clone(),
        })
    }

    /// Whether any rule looks at the customer's ticket history (so the
    /// caller only gathers it when needed).
    pub fn needs_history(&self) -> bool {
        self.index.needs_history
    }

    /// Evaluates the rules on one message.
    pub fn evaluate(&self, facts: &Facts<'_>) -> Decision {
        self.run(facts, None)
    }

    /// Evaluates and explains every rule (for `ticketbox rules test`).
    pub fn explain(&self, facts: &Facts<'_>) -> (Decision, Vec<RuleTrace>) {
        let mut trace = Vec::new();
        let d = self.run(facts, Some(&mut trace));
        (d, trace)
    }

    fn run(&self, facts: &Facts<'_>, mut trace: Option<&mut Vec<RuleTrace>>) -> Decision {
        let matches = self.index.scan(facts, &self.lists);
        let mut d = Decision::default();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.enabled {
                if let Some(t) = trace.as_deref_mut() {
                    t.push(RuleTrace {
                        name: rule.name.clone(),
                        file: rule.file.clone(),
                        line: rule.line,
                        matched: false,
                        why: "disabled".into(),
                        stopped: false,
                    });
                }
                continue;
            }
            let mut why = trace.is_some().then(String::new);
            let matched = self.index.eval(i, facts, &matches, why.as_mut());
            if matched {
                let before = facts.ticket_rules.contains(&rule.name);
                d.apply(rule, before);
                if let Some(w) = why.as_mut().filter(|_| before) {
                    *w = "fired on this ticket before: its queue, priority, SLA and \
                          assignee changes are made once per ticket; tags, fields and \
                          notifications apply again"
                        .into();
                }
            }
            let stopped = matched && rule.stop;
            if let Some(t) = trace.as_deref_mut() {
                t.push(RuleTrace {
                    name: rule.name.clone(),
                    file: rule.file.clone(),
                    line: rule.line,
                    matched,
                    why: why.unwrap_or_default(),
                    stopped,
                });
            }
            if stopped {
                break;
            }
        }
        d
    }
}

/// Reads `dir/*.txt`: one entry per line, `#` starts a comment.
fn load_lists(dir: &Path) -> std::io::Result<BTreeMap<String, HashSet<String>>> {
    let mut lists = BTreeMap::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(lists),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "txt")
            && let Some(name) = path.file_stem().and_then(|s| s.to_str())
        {
            let text = std::fs::read_to_string(&path)?;
            let items = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .map(fold::fold)
                .collect();
            lists.insert(name.to_owned(), items);
        }
    }
    Ok(lists)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_load;
