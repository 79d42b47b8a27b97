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
//! Pure: which queues and agents exist is checked when the commands are
//! applied ([`command::changes`]).
//!
//! - [`command`]: each command, how it reads and what it does.
//! - [`problem`]: what is wrong with an agent's mail, in their language.
//! - [`auth`]: whether the mail comes from the agent at all.

mod auth;
pub mod command;
mod problem;

pub use auth::authenticated;
use command::english;
pub use command::{COMMANDS, Changes, Command, Team};
pub use problem::{Problem, Wrong};

/// The line our notifications put above the quoted text (see
/// [`crate::mail::written::REPLY_ABOVE`]).
pub use crate::mail::written::REPLY_ABOVE;

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
        match Command::parse(&name, &args) {
            Ok(c) => {
                reading.commands.push(c);
                reading.written.push((line, name.clone()));
            }
            Err(what) => reading.problems.push(Problem::at(line, what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::command::Assignee;
    use crate::model::{Priority, Status};

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
