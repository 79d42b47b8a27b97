//! Conditions (`when`): fields, matchers, comparisons and combinators.

use super::*;
use crate::rules::{Author, BoolField, Cond, Kind, NumField, TextField, TextOp};

impl Loader<'_> {
    /// All keys of a condition table must hold.
    pub(super) fn cond_table(&mut self, t: &DeTable<'_>) -> Cond {
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

    pub(super) fn cond_list(&mut self, k: &str, v: &Value<'_>) -> Option<Cond> {
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

    pub(super) fn enum_value(
        &mut self,
        v: &Value<'_>,
        what: &str,
        options: &[&str],
    ) -> Option<String> {
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
    pub(super) fn text_op(&mut self, v: &Value<'_>, field: &str) -> Option<TextOp> {
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
    pub(super) fn num(
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
}
