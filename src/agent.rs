//! What an agent's email means. Agents answer tickets from their own mail
//! client by replying to a notification; the top of the reply may carry
//! short commands, one or more per line:
//!
//! ```text
//! #pending #priority high
//! #assign me
//! Thanks, Dana — we have sent a new charger today.
//! ```
//!
//! [`read`] splits such a reply into commands and the answer meant for the
//! customer, without the quoted notification (which holds internal details).
//! Pure: which queues and agents exist is checked by the pipeline.

use crate::i18n::fill;
use crate::model::{Priority, Status};

/// The line our notifications put above the quoted text (see
/// [`crate::mail::written::REPLY_ABOVE`]).
pub use crate::mail::written::REPLY_ABOVE;

/// One command from the top of an agent's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status(Status),
    Priority(Priority),
    /// `#assign me` is [`Assignee::Me`]; `#unassign` is `None`.
    Assign(Option<Assignee>),
    Queue(String),
    Tag(String),
    Untag(String),
    /// The message is an internal note: nothing goes to the customer.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Me,
    Address(String),
}

/// Commands agents can write, by their English names; each language's
/// words for them are in its table in [`crate::i18n`].
pub use crate::i18n::COMMANDS;

/// What is wrong with an agent's mail: where, and what, so it can be told
/// in the team's language ([`Problem::say`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line of the agent's text, counted from the top of their own words.
    pub line: Option<usize>,
    pub what: Wrong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrong {
    /// A word on a command line that is not a `#command`.
    NotACommand {
        word: String,
    },
    Unknown {
        name: String,
        like: Option<String>,
    },
    NeedsArgument {
        name: String,
    },
    NoArgument {
        name: String,
        got: String,
    },
    OneArgument {
        name: String,
        got: String,
    },
    Priority {
        name: String,
        got: String,
    },
    NotAnAddress {
        name: String,
        got: String,
    },
    NotAnAgent {
        name: String,
        address: String,
    },
    NoQueue {
        name: String,
        queue: String,
        known: Vec<String>,
    },
    /// Nothing of the agent's own outside the quoted mail.
    NothingFound,
}

impl Problem {
    fn at(line: usize, what: Wrong) -> Problem {
        Problem {
            line: Some(line),
            what,
        }
    }

    /// The problem in `lang`, from its table in [`crate::i18n`] (English
    /// for a language without one).
    pub fn say(&self, lang: &str) -> String {
        let words = crate::i18n::get(lang);
        let w = &words.agent;
        let what = match &self.what {
            Wrong::NotACommand { word } => fill(w.not_a_command, &[("word", word)]),
            Wrong::Unknown {
                name,
                like: Some(like),
            } => fill(w.unknown_like, &[("name", name), ("like", like)]),
            Wrong::Unknown { name, like: None } => {
                let names: Vec<String> = words.commands.iter().map(|c| format!("#{c}")).collect();
                fill(w.unknown, &[("name", name), ("names", &names.join(", "))])
            }
            Wrong::NeedsArgument { name } => fill(w.needs_argument, &[("name", name)]),
            Wrong::NoArgument { name, got } => fill(w.no_argument, &[("name", name), ("got", got)]),
            Wrong::OneArgument { name, got } => {
                fill(w.one_argument, &[("name", name), ("got", got)])
            }
            Wrong::Priority { name, got } => fill(w.priority, &[("name", name), ("got", got)]),
            Wrong::NotAnAddress { name, got } => {
                fill(w.not_an_address, &[("name", name), ("got", got)])
            }
            Wrong::NotAnAgent { name, address } => {
                fill(w.not_an_agent, &[("name", name), ("address", address)])
            }
            Wrong::NoQueue { name, queue, known } => fill(
                w.no_queue,
                &[
                    ("name", name),
                    ("queue", queue),
                    ("known", &known.join(", ")),
                ],
            ),
            Wrong::NothingFound => w.nothing_found.to_owned(),
        };
        match self.line {
            Some(n) => format!("{}: {what}", fill(w.line, &[("n", &n.to_string())])),
            None => what,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.say("en"))
    }
}

/// An agent's reply, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub commands: Vec<Command>,
    /// Where each command stands, and the name the agent wrote it by
    /// (same order as `commands`), for telling them about it.
    pub written: Vec<(usize, String)>,
    /// What is wrong with the commands.
    pub problems: Vec<Problem>,
    /// The answer for the customer: the agent's own text wherever it
    /// stands (with the quoted lines it answers, when written between
    /// them), without command lines, our notification, the client's quote
    /// and the phone's footer; the agent's signature kept. Empty when
    /// there is none.
    pub answer: String,
    /// The agent forwarded mail (a client's forward block): kept inside
    /// the ticket, never relayed as an answer.
    pub forwarded: bool,
}

impl Reading {
    pub fn is_note(&self) -> bool {
        self.commands.contains(&Command::Note)
    }
}

/// Reads an agent's reply text. Commands are lines of the agent's own
/// text that start with `#` and a command's name, wherever they stand:
/// on top (where any `#word` is read as a command, so a typo is reported,
/// not mailed), or on a later line (where only a command's name, or a
/// near miss of one, is: "#general" in a sentence-initial position stays
/// text). Lines in quotes are never commands.
pub fn read(text: &str) -> Reading {
    read_written(&crate::mail::written::read(text), false)
}

/// Reads an agent's mail: its text, and its subject for a forward that
/// has no forward marker (Outlook's "FW:" over a header block).
pub fn read_mail(text: &str, subject: &str) -> Reading {
    let written = crate::mail::written::read(text);
    let forward = crate::subject::is_forward(subject) && !written.embedded.is_empty();
    read_written(&written, forward)
}

fn read_written(written: &crate::mail::written::Written, forward: bool) -> Reading {
    let mut reading = Reading {
        forwarded: forward || !written.forwarded.is_empty(),
        ..Reading::default()
    };
    let mut answer: Vec<&str> = Vec::new();
    let mut on_top = true;
    for (n, line) in written.own.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            if !answer.is_empty() {
                answer.push(line);
            }
            continue;
        }
        let command = is_command_line(t) && (on_top || names_a_command(t));
        if command {
            parse_line(n + 1, t, &mut reading);
        } else {
            on_top = false;
            if !is_image_placeholder(t) {
                answer.push(line);
            }
        }
    }
    let mut answer = answer.join("\n").trim_end().to_owned();
    if !answer.is_empty() && !written.signature.is_empty() {
        answer = format!("{answer}\n\n-- \n{}", written.signature);
    }
    reading.answer = answer;
    reading
}

/// Whether a later line's first word is a command, or close to one.
fn names_a_command(t: &str) -> bool {
    let first = t
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_lowercase();
    let english = english(&first);
    COMMANDS.contains(&english) || crate::text::closest(&first, COMMANDS.iter().copied()).is_some()
}

/// Gmail's text part writes a pasted image as "[image: name.png]"; the
/// image itself travels as an attachment.
fn is_image_placeholder(t: &str) -> bool {
    let lower = t.to_lowercase();
    (lower.starts_with("[image:") || lower.starts_with("[obraz:") || lower.starts_with("[תמונה:"))
        && lower.ends_with(']')
}

fn is_command_line(t: &str) -> bool {
    let mut chars = t.chars();
    // Letters of any script: Polish and Hebrew teams write their own words.
    chars.next() == Some('#') && chars.next().is_some_and(char::is_alphabetic)
}

/// Polish and Hebrew words for the commands, as the English name.
fn english(name: &str) -> &str {
    crate::i18n::ALL
        .iter()
        .find_map(|l| {
            l.commands
                .iter()
                .position(|c| *c == name)
                .map(|i| crate::i18n::COMMANDS[i])
                .or_else(|| {
                    l.command_aliases
                        .iter()
                        .find(|(w, _)| *w == name)
                        .map(|(_, e)| *e)
                })
        })
        .unwrap_or(name)
}

/// A priority in English, Polish or Hebrew.
fn priority(word: &str) -> Result<Priority, String> {
    let word = word.to_lowercase();
    crate::i18n::ALL
        .iter()
        .find_map(|l| {
            l.priority_words
                .iter()
                .position(|ws| ws.contains(&word.as_str()))
        })
        .map(|i| Priority::ALL[i])
        .map_or_else(|| word.parse(), Ok)
}

fn parse_line(line: usize, text: &str, reading: &mut Reading) {
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let Some(name) = word.strip_prefix('#') else {
            reading.problems.push(Problem::at(
                line,
                Wrong::NotACommand {
                    word: word.to_owned(),
                },
            ));
            continue;
        };
        let name = name.to_lowercase();
        // Arguments run up to the next `#word`.
        let mut args = Vec::new();
        while let Some(a) = words.next_if(|w| !w.starts_with('#')) {
            args.push(a);
        }
        match command(&name, &args) {
            Ok(c) => {
                reading.commands.push(c);
                reading.written.push((line, name.clone()));
            }
            Err(what) => reading.problems.push(Problem::at(line, what)),
        }
    }
}

fn command(name: &str, args: &[&str]) -> Result<Command, Wrong> {
    let got = || args.join(" ");
    let none = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(Wrong::NoArgument {
                name: name.to_owned(),
                got: got(),
            })
        }
    };
    let one = || match args {
        [a] => Ok((*a).to_owned()),
        [] => Err(Wrong::NeedsArgument {
            name: name.to_owned(),
        }),
        _ => Err(Wrong::OneArgument {
            name: name.to_owned(),
            got: got(),
        }),
    };
    match english(name) {
        "close" => none(Command::Status(Status::Closed)),
        "pending" => none(Command::Status(Status::Pending)),
        "open" => none(Command::Status(Status::Open)),
        "note" => none(Command::Note),
        "unassign" => none(Command::Assign(None)),
        "priority" => {
            let p = one()?;
            priority(&p)
                .map(Command::Priority)
                .map_err(|_| Wrong::Priority {
                    name: name.to_owned(),
                    got: p,
                })
        }
        "assign" => {
            let who = one()?;
            let me = ["me", "mnie", "ja", "אני", "לי"];
            Ok(Command::Assign(Some(
                if me.iter().any(|m| who.to_lowercase() == *m) {
                    Assignee::Me
                } else if who.contains('@') {
                    Assignee::Address(who.to_lowercase())
                } else {
                    return Err(Wrong::NotAnAddress {
                        name: name.to_owned(),
                        got: who,
                    });
                },
            )))
        }
        "queue" => one().map(|q| Command::Queue(q.to_lowercase())),
        "tag" => one().map(|t| Command::Tag(t.to_lowercase())),
        "untag" => one().map(|t| Command::Untag(t.to_lowercase())),
        _ => {
            // Suggested in the language the agent wrote in.
            let all: Vec<&str> = crate::i18n::ALL.iter().flat_map(|l| l.commands).collect();
            Err(Wrong::Unknown {
                name: name.to_owned(),
                like: crate::text::closest(name, all.iter().copied()).map(str::to_owned),
            })
        }
    }
}

/// Whether our own mail server vouched for the sender of a message that
/// claims to be from `address`: the first `Authentication-Results` header
/// (RFC 8601) from `authserv_id` must show DKIM, SPF or DMARC passing for
/// the address's domain. Mail servers add theirs on top and remove forged
/// ones carrying their id, so only the first one with our id counts.
/// `headers` are (lower-case name, value) in message order.
pub fn authenticated(
    headers: &[(String, String)],
    authserv_id: &str,
    address: &str,
) -> Result<(), String> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    let ours = headers
        .iter()
        .filter(|(n, _)| n == "authentication-results")
        .find(|(_, v)| {
            let id = v.split(';').next().unwrap_or_default();
            // `authserv-id [version]`
            id.split_whitespace()
                .next()
                .is_some_and(|i| i.eq_ignore_ascii_case(authserv_id))
        });
    let Some((_, value)) = ours else {
        return Err(format!("no Authentication-Results from {authserv_id}"));
    };
    for result in value.split(';').skip(1) {
        let words: Vec<String> = result
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let Some((method, outcome)) = words.first().and_then(|w| w.split_once('=')) else {
            continue;
        };
        if outcome != "pass" {
            continue;
        }
        let property = |keys: &[&str]| {
            words.iter().skip(1).find_map(|w| {
                let (k, v) = w.split_once('=')?;
                keys.contains(&k).then(|| v.trim_matches('"').to_owned())
            })
        };
        let checked = match method {
            "dkim" => property(&["header.d", "header.i"]),
            "spf" => property(&["smtp.mailfrom", "smtp.helo"]),
            "dmarc" => property(&["header.from"]),
            _ => None,
        };
        if let Some(v) = checked {
            let d = v.rsplit_once('@').map_or(v.as_str(), |(_, d)| d);
            if d == domain {
                return Ok(());
            }
        }
    }
    Err(format!(
        "{authserv_id} did not see DKIM, SPF or DMARC pass for {domain}: {}",
        value.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| ("authentication-results".to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_our_servers_word_counts() {
        let agent = "ola@example.com";
        let ok = ar(&["mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=none"]);
        assert_eq!(authenticated(&ok, "mx.example.com", agent), Ok(()));
        let spf = ar(&["MX.example.com 1; spf=pass smtp.mailfrom=ola@example.com"]);
        assert_eq!(authenticated(&spf, "mx.example.com", agent), Ok(()));
        // A pass for another domain proves nothing about ours.
        let other = ar(&["mx.example.com; dkim=pass header.d=evil.example"]);
        assert!(authenticated(&other, "mx.example.com", agent).is_err());
        let failed = ar(&[
            "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com",
        ]);
        let e = authenticated(&failed, "mx.example.com", agent).unwrap_err();
        assert!(e.contains("did not see") && e.contains("dkim=fail"), "{e}");
        // A forger's header lies below the one our server put on top.
        let forged = ar(&[
            "mx.example.com; dkim=none",
            "mx.example.com; dkim=pass header.d=example.com",
        ]);
        assert!(authenticated(&forged, "mx.example.com", agent).is_err());
        // Another server's results, or none at all.
        let theirs = ar(&["relay.evil.example; dkim=pass header.d=example.com"]);
        assert_eq!(
            authenticated(&theirs, "mx.example.com", agent),
            Err("no Authentication-Results from mx.example.com".into())
        );
        assert!(authenticated(&[], "mx.example.com", agent).is_err());
    }

    #[test]
    fn commands_on_top_and_the_answer_below() {
        let r = read(
            "#pending #priority HIGH\n#assign me\n\nThanks Dana,\nwe sent a new charger.\n\n-- \nOla, Support\n",
        );
        assert_eq!(
            r.commands,
            vec![
                Command::Status(Status::Pending),
                Command::Priority(Priority::High),
                Command::Assign(Some(Assignee::Me)),
            ]
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        // The agent's signature is part of the answer; only quotes go.
        assert_eq!(
            r.answer,
            "Thanks Dana,\nwe sent a new charger.\n\n-- \nOla, Support"
        );
    }

    #[test]
    fn quoted_notification_never_reaches_the_answer() {
        let text = format!(
            "Your refund is on its way.\n\n> {REPLY_ABOVE}\n> Ticket [#TB-1] priority urgent\n> internal: VIP, angry\n"
        );
        assert_eq!(read(&text).answer, "Your refund is on its way.");
        // A client that quotes without `>` and without a header line.
        let bare = format!("Done.\n\n{REPLY_ABOVE}\nTicket [#TB-1] internal stuff\n");
        assert_eq!(read(&bare).answer, "Done.");
        let gmail = "Done.\n\nOn Tue, 24 Nov 2026 at 10:00, Support <s@x> wrote:\n> internal\n";
        assert_eq!(read(gmail).answer, "Done.");
    }

    #[test]
    fn hashes_inside_the_answer_are_text() {
        let r = read("Order #123 shipped.\n#general is our chat channel.\n");
        assert!(r.commands.is_empty() && r.problems.is_empty());
        assert_eq!(
            r.answer,
            "Order #123 shipped.\n#general is our chat channel."
        );
        // A command below the answer is still a command, never text.
        let r = read("Order #123 shipped.\n#close\n");
        assert_eq!(r.commands, vec![Command::Status(Status::Closed)]);
        assert_eq!(r.answer, "Order #123 shipped.");
        let r = read("# Heading\ntext");
        assert!(r.commands.is_empty() && r.problems.is_empty());
    }

    #[test]
    fn mistakes_are_reported_with_line_and_suggestion() {
        let r = read("#clsoe\n#priority soon #assign bob\n#tag\nHello");
        let said = |lang: &str| -> Vec<String> { r.problems.iter().map(|p| p.say(lang)).collect() };
        assert_eq!(
            said("en"),
            vec![
                "line 1: #clsoe: unknown command; did you mean #close?",
                "line 2: #priority: \"soon\" is not a priority (low, normal, high, urgent)",
                "line 2: #assign: \"bob\" is not an address (or `me`)",
                "line 3: #tag: needs an argument",
            ]
        );
        // A Polish team reads every problem in Polish, each with its line.
        assert_eq!(
            said("pl"),
            vec![
                "wiersz 1: #clsoe: nieznane polecenie; czy chodziło o #close?",
                "wiersz 2: #priority: \"soon\" to nie priorytet (niski, normalny, wysoki, pilny)",
                "wiersz 2: #assign: \"bob\" to nie adres (ani „mnie”)",
                "wiersz 3: #tag: brakuje argumentu",
            ]
        );
        assert!(
            said("he")[3].starts_with("שורה 3: #tag: חסר ארגומנט"),
            "{:?}",
            said("he")
        );
        assert_eq!(r.answer, "Hello");
        assert!(
            read("#close now").problems[0]
                .to_string()
                .contains("takes no argument")
        );
        let unknown = &read("#frobnicate").problems[0];
        assert!(unknown.to_string().contains("commands are #close"));
        assert!(
            unknown
                .say("pl")
                .contains("polecenia to #zamknij, #oczekuje"),
            "{}",
            unknown.say("pl")
        );
        // A Polish typo gets a Polish suggestion.
        assert!(
            read("#zamnkij").problems[0]
                .say("pl")
                .contains("czy chodziło o #zamknij?"),
            "{:?}",
            read("#zamnkij").problems
        );
    }

    #[test]
    fn polish_and_hebrew_teams_use_their_own_words() {
        let r = read("#oczekuje #priorytet pilny\n#przypisz mnie\nDzień dobry");
        assert_eq!(
            r.commands,
            vec![
                Command::Status(Status::Pending),
                Command::Priority(Priority::Urgent),
                Command::Assign(Some(Assignee::Me)),
            ]
        );
        assert_eq!(r.answer, "Dzień dobry");
        let r = read("#סגור #עדיפות נמוך\n#הערה\nהלקוחה עודכנה בטלפון");
        assert_eq!(
            r.commands,
            vec![
                Command::Status(Status::Closed),
                Command::Priority(Priority::Low),
                Command::Note,
            ]
        );
        assert!(r.is_note());
        assert!(
            read("#זמני").problems[0]
                .to_string()
                .contains("unknown command")
        );
    }

    #[test]
    fn a_note_and_commands_only() {
        let r = read("#note\nCustomer called, will send photos.");
        assert!(r.is_note());
        assert_eq!(r.answer, "Customer called, will send photos.");
        let r = read("#close\n\n> quoted\n");
        assert_eq!(r.commands, vec![Command::Status(Status::Closed)]);
        assert!(r.answer.is_empty());
        let r = read("#queue Billing #tag Refund #untag new #unassign #assign Bob@X.example");
        assert_eq!(
            r.commands,
            vec![
                Command::Queue("billing".into()),
                Command::Tag("refund".into()),
                Command::Untag("new".into()),
                Command::Assign(None),
                Command::Assign(Some(Assignee::Address("bob@x.example".into()))),
            ]
        );
    }
}
