//! Mail templates (minijinja) from `templates/<language>/<name>.txt`.
//!
//! A text template looks like a mail: a `Subject:` line, a blank line, then
//! the body. The templates shipped in the repository are compiled in as the
//! fallback, so a missing or partial `templates/` still renders. Templates
//! run with a fuel limit and no access to files or network; a template that
//! fails to load is reported with file and line.
//!
//! Undefined variables are errors, not empty strings: a typo such as
//! `{{ ticket.queu }}` must never reach a customer as a blank. Since a
//! template's mistakes only show when it runs, a set is accepted only after
//! every template has rendered against a full sample (see
//! [`crate::outgoing::ack::check_templates`]).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::Path;

/// Templates built into the binary (the repository's `templates/`), by
/// `<language>/<file>`: the fallback, and what `ticketbox init` writes out.
pub const BUILTIN: &[(&str, &str)] = &[
    ("en/ack.txt", include_str!("../../templates/en/ack.txt")),
    ("en/ack.html", include_str!("../../templates/en/ack.html")),
    ("pl/ack.txt", include_str!("../../templates/pl/ack.txt")),
    ("pl/ack.html", include_str!("../../templates/pl/ack.html")),
    ("he/ack.txt", include_str!("../../templates/he/ack.txt")),
    ("he/ack.html", include_str!("../../templates/he/ack.html")),
    (
        "en/notify.txt",
        include_str!("../../templates/en/notify.txt"),
    ),
    (
        "en/agent-error.txt",
        include_str!("../../templates/en/agent-error.txt"),
    ),
    (
        "pl/notify.txt",
        include_str!("../../templates/pl/notify.txt"),
    ),
    (
        "he/notify.txt",
        include_str!("../../templates/he/notify.txt"),
    ),
    (
        "pl/escalation.txt",
        include_str!("../../templates/pl/escalation.txt"),
    ),
    (
        "he/escalation.txt",
        include_str!("../../templates/he/escalation.txt"),
    ),
    (
        "pl/agent-error.txt",
        include_str!("../../templates/pl/agent-error.txt"),
    ),
    (
        "he/agent-error.txt",
        include_str!("../../templates/he/agent-error.txt"),
    ),
    (
        "en/closed.txt",
        include_str!("../../templates/en/closed.txt"),
    ),
    (
        "en/closed.html",
        include_str!("../../templates/en/closed.html"),
    ),
    (
        "pl/closed.txt",
        include_str!("../../templates/pl/closed.txt"),
    ),
    (
        "pl/closed.html",
        include_str!("../../templates/pl/closed.html"),
    ),
    (
        "he/closed.txt",
        include_str!("../../templates/he/closed.txt"),
    ),
    (
        "he/closed.html",
        include_str!("../../templates/he/closed.html"),
    ),
    ("en/reply.txt", include_str!("../../templates/en/reply.txt")),
    (
        "en/reply.html",
        include_str!("../../templates/en/reply.html"),
    ),
    ("pl/reply.txt", include_str!("../../templates/pl/reply.txt")),
    (
        "pl/reply.html",
        include_str!("../../templates/pl/reply.html"),
    ),
    ("he/reply.txt", include_str!("../../templates/he/reply.txt")),
    (
        "he/reply.html",
        include_str!("../../templates/he/reply.html"),
    ),
    (
        "en/escalation.txt",
        include_str!("../../templates/en/escalation.txt"),
    ),
    (
        "en/agent-notice.txt",
        include_str!("../../templates/en/agent-notice.txt"),
    ),
    (
        "pl/agent-notice.txt",
        include_str!("../../templates/pl/agent-notice.txt"),
    ),
    (
        "he/agent-notice.txt",
        include_str!("../../templates/he/agent-notice.txt"),
    ),
    ("en/alarm.txt", include_str!("../../templates/en/alarm.txt")),
    ("pl/alarm.txt", include_str!("../../templates/pl/alarm.txt")),
    ("he/alarm.txt", include_str!("../../templates/he/alarm.txt")),
    (
        "en/status.txt",
        include_str!("../../templates/en/status.txt"),
    ),
    (
        "pl/status.txt",
        include_str!("../../templates/pl/status.txt"),
    ),
    (
        "he/status.txt",
        include_str!("../../templates/he/status.txt"),
    ),
    (
        "en/notify.html",
        include_str!("../../templates/en/notify.html"),
    ),
    (
        "pl/notify.html",
        include_str!("../../templates/pl/notify.html"),
    ),
    (
        "he/notify.html",
        include_str!("../../templates/he/notify.html"),
    ),
    (
        "en/rating.txt",
        include_str!("../../templates/en/rating.txt"),
    ),
    (
        "pl/rating.txt",
        include_str!("../../templates/pl/rating.txt"),
    ),
    (
        "he/rating.txt",
        include_str!("../../templates/he/rating.txt"),
    ),
];

/// What every mail that is about no single ticket (an alarm, a status
/// answer) shows besides its own facts: who writes, in which language and
/// direction.
#[derive(Serialize)]
struct Framed<'a, T: Serialize> {
    #[serde(flatten)]
    facts: &'a T,
    support: SupportView<'a>,
    language: &'a str,
    dir: &'static str,
}

#[derive(Serialize)]
struct SupportView<'a> {
    name: &'a str,
    address: &'a str,
}

impl Templates {
    /// Renders `name` in `lang` with `facts` (a struct whose fields are
    /// the template's variables) and `support`, `language`, `dir`.
    pub fn render_framed<T: Serialize>(
        &self,
        name: &str,
        lang: &str,
        support: (&str, &str),
        facts: &T,
    ) -> Result<Rendered, TemplateError> {
        self.render(
            name,
            lang,
            &Framed {
                facts,
                support: SupportView {
                    name: support.0,
                    address: support.1,
                },
                language: lang,
                dir: crate::outgoing::locale::direction(lang),
            },
        )
    }
}

/// Bounds the work one render may do (instructions, roughly).
const FUEL: u64 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("template {0:?} not found (looked in the language's folder and in en/)")]
    Missing(String),
    #[error("{file}:{line}: {message}")]
    Render {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{name}: the first line must be `Subject: …` followed by a blank line")]
    NoSubject { name: String },
    #[error("{dir}: {message}")]
    Io { dir: String, message: String },
}

/// A rendered mail: subject, plain-text body, and an HTML body when the
/// template has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The language actually used (English when `lang` has no template).
    pub language: String,
}

pub struct Templates {
    env: Environment<'static>,
    /// How each template is named in errors: its file, or `(built-in) …`.
    shown: std::collections::BTreeMap<String, String>,
}

impl Templates {
    /// The built-in templates, overlaid with `*.txt` / `*.html` files from
    /// `dir/<lang>/` when `dir` exists.
    pub fn load(dir: &Path) -> Result<Templates, Vec<TemplateError>> {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for (name, path) in template_files(dir).map_err(|e| vec![e])? {
            match std::fs::read_to_string(&path) {
                Ok(src) => sources.push((name, path.display().to_string(), src)),
                Err(e) => errors.push(TemplateError::Io {
                    dir: path.display().to_string(),
                    message: e.to_string(),
                }),
            }
        }
        match Templates::from_sources(sources) {
            Ok(t) if errors.is_empty() => Ok(t),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }

    /// The built-in templates, overlaid with `(name, shown as, text)`
    /// sources (`name` like `he/ack.txt`; `shown as` names the file in
    /// errors).
    pub fn from_sources(
        sources: Vec<(String, String, String)>,
    ) -> Result<Templates, Vec<TemplateError>> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut errors = Vec::new();
        let mut names = std::collections::BTreeMap::new();
        for (name, src) in BUILTIN {
            let shown = format!("(built-in) {name}");
            if let Err(e) = env.add_template(name, src) {
                errors.push(syntax(&shown, &e));
            }
            names.insert((*name).to_owned(), shown);
        }
        for (name, shown, src) in sources {
            if let Err(e) = env.add_template_owned(name.clone(), src) {
                errors.push(syntax(&shown, &e));
            }
            names.insert(name, shown);
        }
        if errors.is_empty() {
            Ok(Templates { env, shown: names })
        } else {
            Err(errors)
        }
    }

    /// Template names (without language and extension), e.g. `ack`.
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.env
            .templates()
            .filter_map(|(n, _)| {
                let file = n.rsplit('/').next()?;
                Some(file.split('.').next()?.to_owned())
            })
            .collect()
    }

    /// Every `(language, name)` with a text template, e.g. `("he", "ack")`,
    /// and every HTML template without its text one (which would never be
    /// used) as an error.
    pub fn files(&self) -> (Vec<(String, String)>, Vec<TemplateError>) {
        let mut found = Vec::new();
        let mut orphans = Vec::new();
        for (n, _) in self.env.templates() {
            let Some((lang, file)) = n.split_once('/') else {
                continue;
            };
            if let Some(name) = file.strip_suffix(".txt") {
                found.push((lang.to_owned(), name.to_owned()));
            } else if let Some(name) = file.strip_suffix(".html")
                && !self.has(name, lang)
            {
                orphans.push(TemplateError::Render {
                    file: self.shown(n),
                    line: 1,
                    message: format!(
                        "{lang}/{name}.html has no {lang}/{name}.txt beside it, so it is never used; a mail needs its text part"
                    ),
                });
            }
        }
        found.sort();
        (found, orphans)
    }

    /// The file a template came from, for messages.
    fn shown(&self, name: &str) -> String {
        self.shown
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// Whether templates exist for `name` in `lang`.
    pub fn has(&self, name: &str, lang: &str) -> bool {
        self.env.get_template(&format!("{lang}/{name}.txt")).is_ok()
    }

    /// Renders `<lang>/<name>.txt` (and `.html` when there is one), falling
    /// back to English.
    pub fn render<C: Serialize>(
        &self,
        name: &str,
        lang: &str,
        ctx: &C,
    ) -> Result<Rendered, TemplateError> {
        let language = if self.has(name, lang) { lang } else { "en" };
        let text_name = format!("{language}/{name}.txt");
        let tmpl = self
            .env
            .get_template(&text_name)
            .map_err(|_| TemplateError::Missing(name.to_owned()))?;
        let value = minijinja::value::Serde(ctx);
        let run = |t: minijinja::Template<'_, '_>| {
            t.render(value).map_err(|e| {
                // The error names the template it happened in (an
                // included one, perhaps), and the line there.
                let at = e.name().unwrap_or(t.name());
                let source = self.env.get_template(at).ok();
                TemplateError::Render {
                    file: self.shown(at),
                    line: e.line().unwrap_or(0),
                    message: render_message(&e, source.as_ref().map(|t| t.source())),
                }
            })
        };
        let out = run(tmpl)?;
        let mut rendered = split_subject(&out).ok_or_else(|| TemplateError::NoSubject {
            name: self.shown(&text_name),
        })?;
        if let Ok(html) = self.env.get_template(&format!("{language}/{name}.html")) {
            rendered.html = Some(run(html)?);
        }
        rendered.language = language.to_owned();
        Ok(rendered)
    }
}

/// A moment for a template: `{{ due }}` writes it alone, `{{ due.by }}` as a
/// deadline and `{{ due.on }}` as a day, each in the grammar its language
/// wants there (see [`crate::outgoing::locale::When`]); `{{ due.iso }}` for machines.
pub fn date(when: crate::outgoing::locale::When) -> minijinja::Value {
    minijinja::Value::from_object(DateValue(when))
}

#[derive(Debug)]
struct DateValue(crate::outgoing::locale::When);

impl minijinja::value::Object for DateValue {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let w = &self.0;
        let s = match key.as_str()? {
            "plain" => &w.plain,
            "by" => &w.by,
            "on" => &w.on,
            "iso" => &w.iso,
            _ => return None,
        };
        Some(minijinja::Value::from(s.as_str()))
    }

    fn render(self: &std::sync::Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.plain)
    }
}

/// What went wrong in a render, in words: the kind and its detail, and the
/// expression at fault when minijinja knows it.
fn render_message(e: &minijinja::Error, source: Option<&str>) -> String {
    use minijinja::ErrorKind;
    let code = e
        .range()
        .and_then(|r| source?.get(r))
        .map(|c| format!(" in `{}`", c.trim()))
        .unwrap_or_default();
    let what = match e.kind() {
        ErrorKind::UndefinedError => "undefined variable or attribute (a typo?)".to_owned(),
        ErrorKind::OutOfFuel => {
            "the template does too much work (a loop that does not end?)".to_owned()
        }
        _ => e.kind().to_string(),
    };
    match e.detail() {
        Some(d) => format!("{what}: {d}"),
        None => format!("{what}{code}"),
    }
}

fn syntax(file: &str, e: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax {
        file: file.to_owned(),
        line: e.line().unwrap_or(0),
        message: e.detail().unwrap_or("syntax error").to_owned(),
    }
}

/// `dir/<lang>/<file>` for every template file, named `<lang>/<file>`.
fn template_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, TemplateError> {
    let io = |e: std::io::Error| TemplateError::Io {
        dir: dir.display().to_string(),
        message: e.to_string(),
    };
    let langs = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut out = Vec::new();
    for lang in langs {
        let lang = lang.map_err(io)?;
        if !lang.file_type().map_err(io)?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(lang.path()).map_err(io)? {
            let path = f.map_err(io)?.path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("txt" | "html"))
                && let (Some(l), Some(n)) = (
                    lang.file_name().to_str(),
                    path.file_name().and_then(|n| n.to_str()),
                )
            {
                out.push((format!("{l}/{n}"), path.clone()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn split_subject(out: &str) -> Option<Rendered> {
    let out = out.trim_start_matches(['\n', '\r']);
    let (first, rest) = out.split_once('\n')?;
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Subject:")?
        .trim();
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    Some(Rendered {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: rest.trim_end().to_owned() + "\n",
        html: None,
        language: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Templates {
        Templates::from_sources(vec![(
            "en/hello.txt".into(),
            "templates/en/hello.txt".into(),
            "Subject: Hi {{ name }}\n\nHello {{ name }},\n{{ due.by }}.\n".into(),
        )])
        .unwrap()
    }

    #[test]
    fn renders_dates_in_their_phrase_and_falls_back_to_english() {
        use chrono::TimeZone;
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
            .unwrap();
        let due = crate::outgoing::locale::when(
            "en",
            at,
            crate::outgoing::locale::Zone::own(chrono_tz::UTC),
            at,
        );
        let ctx = minijinja::context! { name => "Alice", due => date(due) };
        let r = hello().render("hello", "de", &ctx).unwrap();
        assert_eq!(r.subject, "Hi Alice");
        assert_eq!(r.language, "en");
        assert_eq!(r.text, "Hello Alice,\nby Tuesday, 24 November, 10:00.\n");
    }

    #[test]
    fn an_undefined_variable_is_an_error_naming_file_line_and_expression() {
        let ctx = minijinja::context! { nmae => "Alice" };
        let e = hello().render("hello", "en", &ctx).unwrap_err().to_string();
        assert!(e.starts_with("templates/en/hello.txt:1: undefined"), "{e}");
        assert!(e.contains("`name`"), "{e}");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/ack.txt"),
            "Subject: x\n\nline\n{% if %}\n",
        )
        .unwrap();
        let errs = Templates::load(dir.path()).err().unwrap();
        let msg = errs[0].to_string();
        assert!(msg.contains("en/ack.txt:4:"), "{msg}");
    }
}
