//! What is wrong with an agent's mail, said in the team's language.

use crate::i18n::fill;

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
    pub(super) fn at(line: usize, what: Wrong) -> Problem {
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

impl Wrong {
    /// The problem with the command named as the agent wrote it (a check
    /// made after reading knows the command, not the word used).
    pub(super) fn named(self, written: &str) -> Wrong {
        let name = written.to_owned();
        match self {
            Wrong::NotAnAgent { address, .. } => Wrong::NotAnAgent { name, address },
            Wrong::NoQueue { queue, known, .. } => Wrong::NoQueue { name, queue, known },
            other => other,
        }
    }
}
