//! Reading rule files: TOML parsed with spans, then walked by hand so every
//! mistake is reported where it is (file:line:column), in words an admin
//! can act on, and all mistakes at once.

use super::{Actions, Cmp, Cond, Known, Rule, RuleError, TextField};
use crate::config::Lines;
use crate::model::Priority;
use regex::RegexBuilder;
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(super) type Value<'a> = Spanned<DeValue<'a>>;
pub(super) type Comparisons = Vec<(Cmp, i64)>;

/// Regexes larger than this (compiled) are refused: evaluation stays cheap.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(in crate::rules) struct Loader<'a> {
    text: &'a str,
    lines: Lines<'a>,
    file: &'a str,
    pub(super) known: &'a Known,
    pub errors: Vec<RuleError>,
}

pub(super) const RULE_KEYS: &[&str] = &["name", "description", "when", "then", "stop", "enabled"];
pub(super) const TEXT_OPS: &[&str] = &[
    "equals",
    "contains",
    "starts_with",
    "ends_with",
    "regex",
    "in_list",
];
pub(super) const CMP_KEYS: &[&str] = &["gt", "gte", "lt", "lte", "eq"];
pub(super) const ACTION_KEYS: &[&str] = &[
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
    "correlate",
];
pub(super) const COND_KEYS: &[&str] = &[
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
pub(crate) fn suggestion(word: &str, options: &[&str]) -> Option<String> {
    crate::text::closest(word, options.iter().copied()).map(str::to_owned)
}

pub(super) fn type_name(v: &DeValue<'_>) -> &'static str {
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

mod actions;
mod conditions;

impl<'a> Loader<'a> {
    pub fn new(text: &'a str, file: &'a str, known: &'a Known) -> Loader<'a> {
        Loader {
            text,
            lines: Lines::new(text),
            file,
            known,
            errors: Vec::new(),
        }
    }

    pub(super) fn err(&mut self, at: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = self.lines.line_col(at.start);
        self.errors.push(RuleError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }

    pub(super) fn unknown_key(
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

    pub(super) fn string(&mut self, v: &Value<'_>, what: &str) -> Option<String> {
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

    pub(super) fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<bool> {
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

    pub(super) fn integer(&mut self, v: &Value<'_>, what: &str) -> Option<i64> {
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
    pub(super) fn strings(
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
        let (line, _) = self.lines.line_col(span.start);
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
}

pub(super) fn text_field(k: &str) -> Option<TextField> {
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
