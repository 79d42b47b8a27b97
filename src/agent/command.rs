//! The commands an agent writes at the top of a reply, each in one place:
//! how its words read ([`Command::parse`]) and what it does to the ticket
//! ([`Command::apply`]). Adding a command is a variant here, an arm in
//! each of the two, and its words in every language's table in
//! [`crate::i18n`] (a test fails while a table lacks them).

use super::Reading;
use super::problem::{Problem, Wrong};
use crate::model::{Priority, Status};
use crate::rules::Decision;
use std::collections::BTreeSet;

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

/// Polish and Hebrew words for the commands, as the English name.
pub(super) fn english(name: &str) -> &str {
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

impl Command {
    /// Reads `#name args` (`name` lower-case, in any language's words),
    /// or says what is wrong with it.
    pub fn parse(name: &str, args: &[&str]) -> Result<Command, Wrong> {
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

    /// What the command does to the ticket, checked against the team:
    /// `agent` wrote it; `team` says who the agents are and which queues
    /// exist. A command naming someone or something unknown is a problem,
    /// and nothing is done.
    pub fn apply(&self, agent: &str, team: &Team, out: &mut Changes) -> Result<(), Wrong> {
        match self {
            Command::Status(s) => out.status = Some(*s),
            Command::Priority(p) => out.ticket.priority = Some(*p),
            Command::Assign(None) => out.assign = Some(None),
            Command::Assign(Some(Assignee::Me)) => out.assign = Some(Some(agent.to_owned())),
            Command::Assign(Some(Assignee::Address(a))) => {
                if !team.agents.contains(a) {
                    return Err(Wrong::NotAnAgent {
                        name: String::new(),
                        address: a.clone(),
                    });
                }
                out.assign = Some(Some(a.clone()));
            }
            Command::Queue(q) => {
                if !team.queues.contains(q) {
                    return Err(Wrong::NoQueue {
                        name: String::new(),
                        queue: q.clone(),
                        known: team.queues.iter().cloned().collect(),
                    });
                }
                out.ticket.queue = Some(q.clone());
            }
            Command::Tag(tag) => out.ticket.add_tags.push(tag.clone()),
            Command::Untag(tag) => out.ticket.remove_tags.push(tag.clone()),
            Command::Note => {}
        }
        Ok(())
    }
}

/// Who can be named in a command: the team's agents and queues.
pub struct Team<'a> {
    pub agents: &'a [String],
    pub queues: &'a BTreeSet<String>,
}

/// What an agent's commands ask for, checked against the team.
#[derive(Debug, Default)]
pub struct Changes {
    /// Queue, priority and tags, as a rule would set them.
    pub ticket: Decision,
    pub status: Option<Status>,
    /// `Some(None)` unassigns.
    pub assign: Option<Option<String>>,
    /// What is wrong, one line each; non-empty means nothing is done.
    pub problems: Vec<Problem>,
}

/// Every command of `reading` applied in order, each problem kept with
/// the line and the name the agent wrote.
pub fn changes(reading: &Reading, agent: &str, team: &Team) -> Changes {
    let mut out = Changes {
        problems: reading.problems.clone(),
        ..Changes::default()
    };
    for (c, (line, name)) in reading.commands.iter().zip(&reading.written) {
        if let Err(what) = c.apply(agent, team, &mut out) {
            out.problems.push(Problem {
                line: Some(*line),
                what: what.named(name),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team_changes(text: &str) -> Changes {
        let agents = vec!["ola@example.com".to_owned(), "bob@example.com".to_owned()];
        let queues: BTreeSet<String> = ["general".to_owned(), "billing".to_owned()].into();
        let team = Team {
            agents: &agents,
            queues: &queues,
        };
        changes(&super::super::read(text), "ola@example.com", &team)
    }

    #[test]
    fn each_command_reads_and_acts() {
        let c = team_changes(
            "#pending #priority urgent #assign bob@example.com\n#queue billing #tag vip #untag new\n\nOn it.\n",
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.status, Some(Status::Pending));
        assert_eq!(c.ticket.priority, Some(Priority::Urgent));
        assert_eq!(c.assign, Some(Some("bob@example.com".to_owned())));
        assert_eq!(c.ticket.queue.as_deref(), Some("billing"));
        assert_eq!(
            (c.ticket.add_tags, c.ticket.remove_tags),
            (vec!["vip".to_owned()], vec!["new".to_owned()])
        );
        let me = team_changes("#assign me\n");
        assert_eq!(me.assign, Some(Some("ola@example.com".to_owned())));
        assert_eq!(team_changes("#unassign\n").assign, Some(None));
    }

    #[test]
    fn what_the_team_lacks_is_told_by_the_word_the_agent_wrote() {
        let c = team_changes("#zamknij\n#kolejka sprzedaż\n#przypisz nikt@example.com\n");
        assert_eq!(c.status, Some(Status::Closed));
        let told: Vec<String> = c.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(c.problems.len(), 2, "{told:?}");
        assert_eq!(c.problems[0].line, Some(2));
        assert!(
            matches!(&c.problems[0].what, Wrong::NoQueue { name, queue, known }
                if name == "kolejka" && queue == "sprzedaż" && known.len() == 2),
            "{told:?}"
        );
        assert!(
            matches!(&c.problems[1].what, Wrong::NotAnAgent { name, address }
                if name == "przypisz" && address == "nikt@example.com"),
            "{told:?}"
        );
        assert_eq!(c.ticket.queue, None, "nothing unknown is set");
    }
}
