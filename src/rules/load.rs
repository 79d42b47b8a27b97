//! Reading rule files: TOML parsed with spans, then walked by hand so every
//! mistake is reported where it is (file:line:column), in words an admin
//! can act on, and all mistakes at once.

use super::{
    Actions, Author, BoolField, Cmp, Cond, Kind, Known, NumField, Rule, RuleError, TextField,
    TextOp,
};
use crate::config::line_col;
use crate::model::Priority;
use regex::RegexBuilder;
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Value<'a> = Spanned<DeValue<'a>>;
type Comparisons = Vec<(Cmp, i64)>;

/// Regexes larger than this (compiled) are refused: evaluation stays cheap.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) struct Loader<'a> {
    text: &'a str,
    file: &'a str,
    known: &'a Known,
    pub errors: Vec<RuleError>,
}

const RULE_KEYS: &[&str] = &["name", "description", "when", "then", "stop", "enabled"];
const TEXT_OPS: &[&str] = &[
    "equals",
    "contains",
    "starts_with",
    "ends_with",
    "regex",
    "in_list",
];
const CMP_KEYS: &[&str] = &["gt", "gte", "lt", "lte", "eq"];
const ACTION_KEYS: &[&str] = &[
    "queue",
    "priority",
    "raise_priority",
    "add_tags",
    "remove_tags",
    "assign",
    "sla",
    "template",
    "ack",
    "notify",
    "spam",
    "drop",
    "fields",
];
const COND_KEYS: &[&str] = &[
    "any",
    "all",
    "not",
    "from",
    "from_address",
    "from_domain",
    "from_name",
    "to",
    "subject",
    "body",
    "language",
    "header",
    "attachment_name",
    "attachment_type",
    "attachment_size",
    "attachment_count",
    "has_attachments",
    "body_length",
    "kind",
    "author",
    "auto_reply",
    "open_tickets",
    "tickets_in_days",
    "business_hours",
    "weekday",
    "hour",
];

/// The closest of `options` to `word`, when it is a likely typo.
fn suggestion(word: &str, options: &[&str]) -> Option<String> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    options
        .iter()
        .map(|o| (distance(word, o), *o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 4))
        .min()
        .map(|(_, o)| o.to_owned())
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl<'a> Loader<'a> {
    pub fn new(text: &'a str, file: &'a str, known: &'a Known) -> Loader<'a> {
        Loader {
            text,
            file,
            known,
            errors: Vec::new(),
        }
    }

    fn err(&mut self, at: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, at.start);
        self.errors.push(RuleError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }

    fn unknown_key(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        place: &str,
        options: &[&str],
    ) {
        let hint = match suggestion(key.get_ref(), options) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", options.join(", ")),
        };
        self.err(
            key.span(),
            format!("unknown key `{}` in {place}; {hint}", key.get_ref()),
        );
    }

    fn string(&mut self, v: &Value<'_>, what: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.err(
                    v.span(),
                    format!("{what} must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.err(
                    v.span(),
                    format!("{what} must be true or false, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, what: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.err(v.span(), format!("{what}: {} is out of range", i.as_str()));
                        None
                    }
                }
            }
            other => {
                self.err(
                    v.span(),
                    format!("{what} must be a whole number, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A string or a list of strings.
    fn strings(
        &mut self,
        v: &Value<'_>,
        what: &str,
    ) -> Option<Vec<(String, std::ops::Range<usize>)>> {
        match v.get_ref() {
            DeValue::String(s) => Some(vec![(s.to_string(), v.span())]),
            DeValue::Array(a) => {
                let mut out = Vec::new();
                for item in a {
                    if let Some(s) = self.string(item, what) {
                        out.push((s, item.span()));
                    }
                }
                if out.is_empty() && a.iter().next().is_none() {
                    self.err(v.span(), format!("{what} is an empty list"));
                }
                Some(out)
            }
            other => {
                self.err(
                    v.span(),
                    format!(
                        "{what} must be a string or a list of strings, found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// Every rule of a file.
    pub fn file(&mut self) -> Vec<Rule> {
        let (doc, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            for e in syntax {
                let at = e.span().unwrap_or(0..0);
                self.err(at, e.message().trim().to_owned());
            }
            return Vec::new();
        }
        let mut rules = Vec::new();
        for (key, value) in doc.get_ref() {
            if key.get_ref() != "rule" {
                self.unknown_key(key, "a rule file", &["rule"]);
                continue;
            }
            let DeValue::Array(items) = value.get_ref() else {
                self.err(value.span(), "`rule` must be written as [[rule]] tables");
                continue;
            };
            for item in items {
                match item.get_ref() {
                    DeValue::Table(t) => {
                        if let Some(r) = self.rule(t, item.span()) {
                            rules.push(r);
                        }
                    }
                    other => self.err(
                        item.span(),
                        format!("a rule must be a table, found {}", type_name(other)),
                    ),
                }
            }
        }
        rules
    }

    fn rule(&mut self, t: &DeTable<'_>, span: std::ops::Range<usize>) -> Option<Rule> {
        let (line, _) = line_col(self.text, span.start);
        let mut name = None;
        let mut description = String::new();
        let mut when = Cond::All(Vec::new());
        let mut then = Actions::default();
        let mut stop = false;
        let mut enabled = true;
        let before = self.errors.len();
        for (key, v) in t {
            match key.get_ref().as_ref() {
                "name" => name = self.string(v, "name"),
                "description" => description = self.string(v, "description").unwrap_or_default(),
                "when" => match v.get_ref() {
                    DeValue::Table(ct) => when = self.cond_table(ct),
                    other => self.err(
                        v.span(),
                        format!(
                            "`when` must be a table of conditions, found {}",
                            type_name(other)
                        ),
                    ),
                },
                "then" => match v.get_ref() {
                    DeValue::Table(at) => then = self.actions(at, v.span()),
                    other => self.err(
                        v.span(),
                        format!(
                            "`then` must be a table of actions, found {}",
                            type_name(other)
                        ),
                    ),
                },
                "stop" => stop = self.boolean(v, "stop").unwrap_or(false),
                "enabled" => enabled = self.boolean(v, "enabled").unwrap_or(true),
                _ => self.unknown_key(key, "a rule", RULE_KEYS),
            }
        }
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            self.err(span, "this rule has no `name` (every rule needs one, so logs and tests can say which fired)");
            return None;
        };
        if then == Actions::default() && !stop && self.errors.len() == before {
            self.err(
                span,
                format!("rule {name:?} has no `then` actions and no `stop`: it would do nothing"),
            );
        }
        (self.errors.len() == before).then(|| Rule {
            name,
            description,
            file: self.file.to_owned(),
            line,
            when,
            then,
            stop,
            enabled,
        })
    }

    /// All keys of a condition table must hold.
    fn cond_table(&mut self, t: &DeTable<'_>) -> Cond {
        let mut all = Vec::new();
        for (key, v) in t {
            let k = key.get_ref().as_ref();
            let cond = match k {
                "any" | "all" => self.cond_list(k, v),
                "not" => match v.get_ref() {
                    DeValue::Table(inner) => Some(Cond::Not(Box::new(self.cond_table(inner)))),
                    other => {
                        self.err(v.span(), format!("`not` must be a table of conditions, found {}", type_name(other)));
                        None
                    }
                },
                "header" => match v.get_ref() {
                    DeValue::Table(h) => {
                        let mut parts = Vec::new();
                        for (name, m) in h {
                            let field = TextField::Header(name.get_ref().to_ascii_lowercase());
                            if let Some(op) = self.text_op(m, &format!("header.{}", name.get_ref())) {
                                parts.push(Cond::Text(field, op));
                            }
                        }
                        Some(Cond::All(parts))
                    }
                    other => {
                        self.err(v.span(), format!("`header` must be a table like {{ X-Priority = \"1\" }}, found {}", type_name(other)));
                        None
                    }
                },
                "kind" => self.enum_value(v, "kind", &["new", "reply"]).map(|s| {
                    Cond::Kind(if s == "new" { Kind::New } else { Kind::Reply })
                }),
                "author" => self.enum_value(v, "author", &["customer", "agent"]).map(|s| {
                    Cond::Author(if s == "agent" { Author::Agent } else { Author::Customer })
                }),
                "has_attachments" | "auto_reply" | "business_hours" => self.boolean(v, k).map(|b| {
                    let field = match k {
                        "has_attachments" => BoolField::HasAttachments,
                        "auto_reply" => BoolField::AutoReply,
                        _ => BoolField::BusinessHours,
                    };
                    Cond::Bool(field, b)
                }),
                "attachment_size" | "attachment_count" | "body_length" | "open_tickets" | "hour" => {
                    let field = match k {
                        "attachment_size" => NumField::AttachmentSize,
                        "attachment_count" => NumField::AttachmentCount,
                        "body_length" => NumField::BodyLength,
                        "open_tickets" => NumField::OpenTickets,
                        _ => NumField::Hour,
                    };
                    self.num(v, k, &[]).map(|(cmps, _)| Cond::Num(field, cmps))
                }
                "tickets_in_days" => self.num(v, k, &["days"]).and_then(|(cmps, days)| match days {
                    Some(d) if d > 0 && d <= 3660 => Some(Cond::Num(NumField::TicketsInDays(d as u32), cmps)),
                    _ => {
                        self.err(v.span(), "tickets_in_days needs `days` (1 to 3660), e.g. { days = 30, gte = 3 }");
                        None
                    }
                }),
                _ => match text_field(k) {
                    Some(field) => self.text_op(v, k).map(|op| Cond::Text(field, op)),
                    None => {
                        self.unknown_key(key, "`when`", COND_KEYS);
                        None
                    }
                },
            };
            all.extend(cond);
        }
        Cond::All(all)
    }

    fn cond_list(&mut self, k: &str, v: &Value<'_>) -> Option<Cond> {
        let DeValue::Array(items) = v.get_ref() else {
            self.err(v.span(), format!("`{k}` must be a list of condition tables, e.g. {k} = [{{ subject = \"a\" }}, {{ body = \"b\" }}]"));
            return None;
        };
        let mut parts = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::Table(t) => parts.push(self.cond_table(t)),
                other => self.err(
                    item.span(),
                    format!(
                        "each entry of `{k}` must be a table of conditions, found {}",
                        type_name(other)
                    ),
                ),
            }
        }
        if parts.is_empty() {
            self.err(v.span(), format!("`{k}` is empty"));
        }
        Some(if k == "any" {
            Cond::Any(parts)
        } else {
            Cond::All(parts)
        })
    }

    fn enum_value(&mut self, v: &Value<'_>, what: &str, options: &[&str]) -> Option<String> {
        let s = self.string(v, what)?;
        if options.contains(&s.as_str()) {
            Some(s)
        } else {
            self.err(
                v.span(),
                format!(
                    "{what} must be one of {}, found {s:?}",
                    options.join(" or ")
                ),
            );
            None
        }
    }

    /// A text matcher: "x" (contains), ["x", "y"] (contains any), or a table
    /// with one of equals / contains / starts_with / ends_with / regex / in_list.
    fn text_op(&mut self, v: &Value<'_>, field: &str) -> Option<TextOp> {
        match v.get_ref() {
            DeValue::String(_) | DeValue::Array(_) => {
                let items = self.strings(v, field)?;
                Some(TextOp::Contains(
                    items.into_iter().map(|(s, _)| s).collect(),
                ))
            }
            DeValue::Table(t) => {
                let mut ops: Vec<TextOp> = Vec::new();
                for (key, m) in t {
                    let op = key.get_ref().as_ref();
                    let what = format!("{field}.{op}");
                    let parsed = match op {
                        "equals" => self.strings(m, &what).map(|s| TextOp::Equals(s.into_iter().map(|x| x.0).collect())),
                        "contains" => self.strings(m, &what).map(|s| TextOp::Contains(s.into_iter().map(|x| x.0).collect())),
                        "starts_with" => self.strings(m, &what).map(|s| TextOp::StartsWith(s.into_iter().map(|x| x.0).collect())),
                        "ends_with" => self.strings(m, &what).map(|s| TextOp::EndsWith(s.into_iter().map(|x| x.0).collect())),
                        "regex" => self.string(m, &what).and_then(|re| {
                            match RegexBuilder::new(&re).size_limit(REGEX_SIZE_LIMIT).build() {
                                Ok(_) => Some(TextOp::Regex(re)),
                                Err(e) => {
                                    let detail = e.to_string();
                                    let last = detail.lines().last().unwrap_or_default().trim().to_owned();
                                    self.err(m.span(), format!("invalid regex {re:?}: {last}"));
                                    None
                                }
                            }
                        }),
                        "in_list" => self.string(m, &what).and_then(|name| {
                            if self.known.lists.contains_key(&name) {
                                Some(TextOp::InList(name))
                            } else {
                                let known: Vec<&str> = self.known.lists.keys().map(String::as_str).collect();
                                self.err(
                                    m.span(),
                                    format!(
                                        "unknown list {name:?}: lists are files in the rules directory's lists/ folder (known: {})",
                                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                                    ),
                                );
                                None
                            }
                        }),
                        _ => {
                            self.unknown_key(key, &format!("the matcher for `{field}`"), TEXT_OPS);
                            None
                        }
                    };
                    ops.extend(parsed);
                }
                match ops.len() {
                    1 => ops.pop(),
                    0 if t.is_empty() => {
                        self.err(
                            v.span(),
                            format!(
                                "the matcher for `{field}` is empty; use one of {}",
                                TEXT_OPS.join(", ")
                            ),
                        );
                        None
                    }
                    0 => None,
                    _ => {
                        self.err(v.span(), format!("the matcher for `{field}` has several operators; use one (combine with `any`/`all`)"));
                        None
                    }
                }
            }
            other => {
                self.err(
                    v.span(),
                    format!("`{field}` needs a string, a list of strings, or a table like {{ regex = \"...\" }}; found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A numeric matcher: 3 (equals), or { gte = 1, lt = 10 } (all hold).
    /// `extra` names allowed non-comparison keys (`days`).
    fn num(
        &mut self,
        v: &Value<'_>,
        field: &str,
        extra: &[&str],
    ) -> Option<(Comparisons, Option<i64>)> {
        match v.get_ref() {
            DeValue::Integer(_) => self.integer(v, field).map(|n| (vec![(Cmp::Eq, n)], None)),
            DeValue::Table(t) => {
                let mut cmps = Vec::new();
                let mut extra_value = None;
                let allowed: Vec<&str> = CMP_KEYS.iter().chain(extra).copied().collect();
                for (key, n) in t {
                    let k = key.get_ref().as_ref();
                    let cmp = match k {
                        "gt" => Cmp::Gt,
                        "gte" => Cmp::Gte,
                        "lt" => Cmp::Lt,
                        "lte" => Cmp::Lte,
                        "eq" => Cmp::Eq,
                        _ if extra.contains(&k) => {
                            extra_value = self.integer(n, &format!("{field}.{k}"));
                            continue;
                        }
                        _ => {
                            self.unknown_key(key, &format!("`{field}`"), &allowed);
                            continue;
                        }
                    };
                    if let Some(x) = self.integer(n, &format!("{field}.{k}")) {
                        cmps.push((cmp, x));
                    }
                }
                if cmps.is_empty() {
                    self.err(
                        v.span(),
                        format!(
                            "`{field}` needs a comparison: one of {}",
                            CMP_KEYS.join(", ")
                        ),
                    );
                    return None;
                }
                Some((cmps, extra_value))
            }
            other => {
                self.err(
                    v.span(),
                    format!(
                        "`{field}` needs a number or a table like {{ gte = 1 }}, found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    fn actions(&mut self, t: &DeTable<'_>, span: std::ops::Range<usize>) -> Actions {
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
}

fn text_field(k: &str) -> Option<TextField> {
    Some(match k {
        "from" => TextField::From,
        "from_address" => TextField::FromAddress,
        "from_domain" => TextField::FromDomain,
        "from_name" => TextField::FromName,
        "to" => TextField::To,
        "subject" => TextField::Subject,
        "body" => TextField::Body,
        "language" => TextField::Language,
        "attachment_name" => TextField::AttachmentName,
        "attachment_type" => TextField::AttachmentType,
        "weekday" => TextField::Weekday,
        _ => return None,
    })
}
