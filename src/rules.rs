//! Routing and priority rules from TOML files in `rules/`.
//!
//! Files are read in file-name order, rules in order within a file. A rule
//! has a `when` condition and a `set` of actions; every rule that matches
//! applies its actions in turn (later ones override earlier queue/priority,
//! tags accumulate) until a matching rule says `stop = true`.
//!
//! ```toml
//! [[rule]]
//! name = "refunds to billing"
//! when = { subject = { contains = "refund" }, any = [{ from = "@bigcorp\\.com$" }, { body = "invoice" }] }
//! set = { queue = "billing", priority = "high", tags = ["refund"] }
//! ```
//!
//! A matcher is a regex string, or a table with one of `regex`, `contains`
//! (case-insensitive) or `equals` (case-insensitive). Condition keys are
//! `from`, `to`, `subject`, `body`, and the combinators `any`, `all`, `not`;
//! all keys of one table must hold. Loading reports every mistake with
//! file:line:column; evaluation is linear time (the `regex` crate).

use crate::config::line_col;
use crate::model::Priority;
use crate::parse::Envelope;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    #[serde(default)]
    when: CondSpec,
    #[serde(default)]
    set: Actions,
    #[serde(default)]
    stop: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CondSpec {
    from: Option<Spanned<MatcherSpec>>,
    to: Option<Spanned<MatcherSpec>>,
    subject: Option<Spanned<MatcherSpec>>,
    body: Option<Spanned<MatcherSpec>>,
    any: Option<Vec<CondSpec>>,
    all: Option<Vec<CondSpec>>,
    not: Option<Box<CondSpec>>,
}

/// A matcher as written: a bare regex string or a table. Wrapped in
/// `Spanned` where used so errors can point at it.
#[derive(Debug)]
enum MatcherSpec {
    Regex(String),
    Table(MatcherTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherTable {
    regex: Option<String>,
    contains: Option<String>,
    equals: Option<String>,
}

impl<'de> Deserialize<'de> for MatcherSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MatcherSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a regex string or a table with one of regex, contains, equals")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MatcherSpec, E> {
                Ok(MatcherSpec::Regex(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<MatcherSpec, A::Error> {
                MatcherTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(MatcherSpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    pub queue: Option<String>,
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Send no acknowledgement for this ticket.
    pub no_ack: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    To,
    Subject,
    Body,
}

#[derive(Debug, Clone)]
enum Matcher {
    Regex(Regex),
    Contains(String),
    Equals(String),
}

#[derive(Debug, Clone)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Field(Field, Matcher),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub file: String,
    when: Cond,
    pub set: Actions,
    pub stop: bool,
}

/// A loaded, validated rule set.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

/// The result of evaluating rules on one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub queue: Option<String>,
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub no_ack: bool,
    /// Names of the rules that matched, in order.
    pub fired: Vec<String>,
}

/// The text rules look at, prepared once per message.
pub struct Input<'a> {
    from: String,
    to: String,
    subject: &'a str,
    body: &'a str,
}

impl<'a> Input<'a> {
    pub fn new(env: &'a Envelope) -> Input<'a> {
        let party = |p: &crate::model::Party| p.to_string();
        Input {
            from: env.author().map(party).unwrap_or_default(),
            to: env
                .to
                .iter()
                .chain(&env.cc)
                .map(party)
                .collect::<Vec<_>>()
                .join(", "),
            subject: &env.subject,
            body: &env.text,
        }
    }

    fn field(&self, f: Field) -> &str {
        match f {
            Field::From => &self.from,
            Field::To => &self.to,
            Field::Subject => self.subject,
            Field::Body => self.body,
        }
    }
}

impl RuleSet {
    /// Loads every `*.toml` file in `dir` in file-name order. A missing
    /// directory is an empty rule set.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
        let mut files: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RuleSet::default()),
            Err(e) => {
                return Err(RuleErrors(vec![RuleError {
                    file: dir.display().to_string(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read rules directory: {e}"),
                }]));
            }
        };
        files.sort();
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        for path in files {
            let shown = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse_file(&text, &shown) {
                    Ok(rules) => set.rules.extend(rules),
                    Err(mut e) => errors.append(&mut e),
                },
                Err(e) => errors.push(RuleError {
                    file: shown,
                    line: 0,
                    column: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Evaluates the rules against one message.
    pub fn evaluate(&self, input: &Input<'_>) -> Decision {
        let mut d = Decision::default();
        for rule in &self.rules {
            if !eval(&rule.when, input) {
                continue;
            }
            d.fired.push(rule.name.clone());
            let a = &rule.set;
            if let Some(q) = &a.queue {
                d.queue = Some(q.clone());
            }
            if let Some(p) = a.priority {
                d.priority = Some(p);
            }
            for t in &a.tags {
                if !d.tags.contains(t) {
                    d.tags.push(t.clone());
                }
            }
            if let Some(n) = a.no_ack {
                d.no_ack = n;
            }
            if rule.stop {
                break;
            }
        }
        d
    }
}

fn eval(c: &Cond, input: &Input<'_>) -> bool {
    match c {
        Cond::All(cs) => cs.iter().all(|c| eval(c, input)),
        Cond::Any(cs) => cs.iter().any(|c| eval(c, input)),
        Cond::Not(c) => !eval(c, input),
        Cond::Field(f, m) => {
            let text = input.field(*f);
            match m {
                Matcher::Regex(r) => r.is_match(text),
                Matcher::Contains(s) => text.to_lowercase().contains(s.as_str()),
                Matcher::Equals(s) => text.trim().to_lowercase() == *s,
            }
        }
    }
}

/// Parses one rule file's text; `file` names it in errors.
pub fn parse_file(text: &str, file: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        RuleError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let spec: FileSpec = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        vec![at(offset, e.message().trim().to_owned())]
    })?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for r in spec.rule {
        let mut conds = Vec::new();
        build(&r.when, &mut conds, &mut errors, &at);
        rules.push(Rule {
            name: r.name,
            file: file.to_owned(),
            when: Cond::All(conds),
            set: r.set,
            stop: r.stop,
        });
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn build(
    spec: &CondSpec,
    out: &mut Vec<Cond>,
    errors: &mut Vec<RuleError>,
    at: &dyn Fn(usize, String) -> RuleError,
) {
    let fields = [
        (Field::From, &spec.from),
        (Field::To, &spec.to),
        (Field::Subject, &spec.subject),
        (Field::Body, &spec.body),
    ];
    for (field, m) in fields {
        if let Some(m) = m {
            match matcher(m, at) {
                Ok(m) => out.push(Cond::Field(field, m)),
                Err(e) => errors.push(e),
            }
        }
    }
    let list = |specs: &Vec<CondSpec>, errors: &mut Vec<RuleError>| {
        specs
            .iter()
            .map(|s| {
                let mut inner = Vec::new();
                build(s, &mut inner, errors, at);
                Cond::All(inner)
            })
            .collect::<Vec<_>>()
    };
    if let Some(any) = &spec.any {
        out.push(Cond::Any(list(any, errors)));
    }
    if let Some(all) = &spec.all {
        out.push(Cond::All(list(all, errors)));
    }
    if let Some(not) = &spec.not {
        let mut inner = Vec::new();
        build(not, &mut inner, errors, at);
        out.push(Cond::Not(Box::new(Cond::All(inner))));
    }
}

fn matcher(
    m: &Spanned<MatcherSpec>,
    at: &dyn Fn(usize, String) -> RuleError,
) -> Result<Matcher, RuleError> {
    let start = m.span().start;
    let regex = |s: &str| {
        RegexBuilder::new(s)
            .size_limit(1 << 20)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or_default().trim().to_owned();
                at(start, format!("invalid regex {s:?}: {last}"))
            })
    };
    match m.get_ref() {
        MatcherSpec::Regex(s) => regex(s),
        MatcherSpec::Table(t) => match (&t.regex, &t.contains, &t.equals) {
            (Some(r), None, None) => regex(r),
            (None, Some(c), None) => Ok(Matcher::Contains(c.to_lowercase())),
            (None, None, Some(e)) => Ok(Matcher::Equals(e.trim().to_lowercase())),
            _ => Err(at(
                start,
                "a matcher needs exactly one of regex, contains or equals".into(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Party;

    fn env(from: &str, subject: &str, body: &str) -> Envelope {
        Envelope {
            from: Some(Party::new(None, from)),
            subject: subject.into(),
            text: body.into(),
            ..Envelope::default()
        }
    }

    const RULES: &str = r#"
[[rule]]
name = "billing"
when = { any = [{ subject = "(?i)invoice|faktura|חשבונית" }, { body = { contains = "refund" } }] }
set = { queue = "billing", tags = ["money"] }

[[rule]]
name = "vip"
when = { from = { regex = "@bigcorp\\.example$" } }
set = { priority = "high", tags = ["vip"] }
stop = true

[[rule]]
name = "never reached for vip"
when = { not = { subject = "zzz" } }
set = { priority = "low" }
"#;

    #[test]
    fn rules_apply_in_order_and_stop() {
        let rules = RuleSet {
            rules: parse_file(RULES, "r.toml").unwrap(),
        };
        let d = rules.evaluate(&Input::new(&env(
            "a@bigcorp.example",
            "Faktura 11/2026",
            "",
        )));
        assert_eq!(d.queue.as_deref(), Some("billing"));
        assert_eq!(d.priority, Some(Priority::High));
        assert_eq!(d.tags, vec!["money", "vip"]);
        assert_eq!(d.fired, vec!["billing", "vip"]);

        let d = rules.evaluate(&Input::new(&env(
            "x@small.example",
            "Hello",
            "I want a REFUND",
        )));
        assert_eq!(d.queue.as_deref(), Some("billing"));
        assert_eq!(d.priority, Some(Priority::Low));
        assert_eq!(d.fired, vec!["billing", "never reached for vip"]);
    }

    #[test]
    fn errors_name_file_line_column() {
        let bad_regex = "[[rule]]\nname = \"x\"\nwhen = { subject = \"(unclosed\" }\n";
        let e = parse_file(bad_regex, "rules/10.toml").unwrap_err();
        assert_eq!((e[0].line, e[0].column), (3, 20), "{e:?}");
        assert!(e[0].message.contains("invalid regex"), "{e:?}");

        let typo = "[[rule]]\nname = \"x\"\nset = { queue = \"a\", priorty = \"high\" }\n";
        let e = parse_file(typo, "r.toml").unwrap_err();
        assert!(e[0].to_string().starts_with("r.toml:3:"), "{e:?}");
        assert!(e[0].message.contains("priorty"), "{e:?}");

        let bad_prio = "[[rule]]\nname = \"x\"\nset = { priority = \"soon\" }\n";
        let e = parse_file(bad_prio, "r.toml").unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
    }
}
