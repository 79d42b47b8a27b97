//! Everything ticketbox says, per language: one table per language, in one
//! file each ([`en`], [`pl`], [`he`]). Adding a language is one more table
//! here plus its folder of templates; `tests` below fail when the two do
//! not match or a table has a blank.
//!
//! The tables hold words and phrases only; grammar that differs between
//! languages is written out whole rather than computed: Polish takes the
//! genitive after "do" ("do środy") and the accusative after "w" ("w
//! środę"), Hebrew joins ב to the word ("ביום רביעי").

pub mod en;
pub mod he;
pub mod pl;

/// One language's words.
pub struct Language {
    /// ISO 639-1.
    pub code: &'static str,
    /// Written right to left.
    pub rtl: bool,
    /// Monday first, standing alone ("środa").
    pub weekdays: [&'static str; 7],
    /// As a deadline, Monday first ("do środy", "by Wednesday").
    pub by_day: [&'static str; 7],
    /// As the day something happens, Monday first ("w środę").
    pub on_day: [&'static str; 7],
    /// January first, as they follow a day number ("2 grudnia").
    pub months: [&'static str; 12],
    /// Names of the shipped queues: (id, name).
    pub queues: &'static [(&'static str, &'static str)],
    /// low, normal, high, urgent.
    pub priorities: [&'static str; 4],
    /// new, open, pending, closed, filed.
    pub statuses: [&'static str; 5],
    /// Agent command words, in the order of [`COMMANDS`].
    pub commands: [&'static str; 10],
    /// Other spellings agents use for commands: (word, English name).
    pub command_aliases: &'static [(&'static str, &'static str)],
    /// Words an agent may write for low, normal, high, urgent.
    pub priority_words: [&'static [&'static str]; 4],
    /// What is said about mistakes in an agent's mail.
    pub agent: AgentWords,
    /// How mail clients in this language mark a reply or a forward in the
    /// subject (`re`, `odp`, `השב`), and a forward alone (`fwd`, `pd`).
    pub reply_prefixes: &'static [&'static str],
    pub forward_prefixes: &'static [&'static str],
    /// How automatic replies begin their subjects, as regular expressions
    /// (case is ignored): `out of (the )?office`, `poza biurem`.
    pub out_of_office: &'static [&'static str],
    /// Subjects too vague to thread by (the default of
    /// `threading.generic_subjects` is every language's list).
    pub generic_subjects: &'static [&'static str],
    /// A whole subject or first line that asks how one's tickets stand
    /// (lower case): answered with the list, no ticket opened.
    pub status_words: &'static [&'static str],
    /// The word a rating link's subject starts with ("Rating 4 …").
    pub rating_word: &'static str,
    /// Words a rating may come with (lower case): before the number
    /// ("rating: 4") and after it ("4 stars", "5/5").
    pub rating: crate::rating::Words,
    /// What this language's mail clients write around quoted and
    /// forwarded mail.
    pub quotes: QuoteWords,
}

/// The words mail clients write around a person's text: quote headers
/// ("On … wrote:"), Outlook's header blocks, forward markers, device
/// footers. Read by [`crate::mail::written`], for every language at once (a
/// Polish customer's Outlook may be in English).
pub struct QuoteWords {
    /// Verbs that end a quote header ("… wrote:"), lower case.
    pub wrote: &'static [&'static str],
    /// Header-block field names, lower case: the first of a block
    /// ("From:") and the others ("Sent:", "To:", "Subject:").
    pub from_fields: &'static [&'static str],
    pub other_fields: &'static [&'static str],
    /// The subject fields among them.
    pub subject_fields: &'static [&'static str],
    /// What a separator line before an embedded original says ("original
    /// message"), as regular expressions (case is ignored).
    pub original: &'static [&'static str],
    /// What a dashed line opening forwarded mail says ("forwarded
    /// message"), and whole lines that open it ("begin forwarded
    /// message:"), as regular expressions.
    pub forwarded: &'static [&'static str],
    pub forward_lines: &'static [&'static str],
    /// Footers phones and apps add ("sent from my iphone"), as regular
    /// expressions in verbose mode (a space is written `\ `).
    pub device: &'static [&'static str],
    /// How quote headers begin ("on", "w dniu", "בתאריך"), weekday
    /// abbreviations included, as regular expressions.
    pub openers: &'static [&'static str],
}

/// What mail from clients in languages we do not answer in still says:
/// German, Nordic, Dutch, French, Spanish, Italian prefixes and
/// out-of-office subjects, so their replies thread and their robots are
/// recognised.
pub struct Elsewhere {
    pub reply_prefixes: &'static [&'static str],
    pub forward_prefixes: &'static [&'static str],
    pub out_of_office: &'static [&'static str],
    pub quotes: QuoteWords,
}

pub const ELSEWHERE: Elsewhere = Elsewhere {
    reply_prefixes: &["aw", "antw", "sv", "vs", "vb"],
    forward_prefixes: &["wg", "tr", "enc", "rv"],
    out_of_office: &[
        r"auto(matische)?[- ]?antwort",
        "abwesenheit",
        r"r[ée]ponse automatique",
        "absence",
    ],
    quotes: QuoteWords {
        // de, fr, es, it, pt, nl, sv, no/da, fi, ru, uk, cs, zh
        wrote: &[
            "schrieb",
            "a écrit",
            "escribió",
            "ha scritto",
            "scrisse",
            "escreveu",
            "schreef",
            "het volgende geschreven",
            "geschreven",
            "пише",
            "пишет",
            "skrev",
            "kirjoitti",
            "написал(а)",
            "написал",
            "написала",
            "написав(ла)",
            "написав",
            "napsal(a)",
            "napsal",
            "写道",
        ],
        from_fields: &[
            "von",
            "de",
            "van",
            "da",
            "från",
            "fra",
            "от",
            "від",
            "发件人",
            "lähettäjä",
            "odesílatel",
        ],
        other_fields: &[
            // de
            "gesendet",
            "datum",
            "an",
            "betreff",
            "kopie",
            // fr
            "envoyé",
            "à",
            "objet",
            // es, pt, it
            "enviado",
            "enviada",
            "fecha",
            "para",
            "asunto",
            "assunto",
            "inviato",
            "a",
            "oggetto",
            // nl, sv, no/da, fi, ru, uk, zh, cs
            "verzonden",
            "aan",
            "onderwerp",
            "skickat",
            "till",
            "ämne",
            "sendt",
            "til",
            "emne",
            "lähetetty",
            "vastaanottaja",
            "aihe",
            "отправлено",
            "дата",
            "кому",
            "тема",
            "надіслано",
            "发送时间",
            "收件人",
            "主题",
            "odesláno",
            "komu",
            "předmět",
        ],
        subject_fields: &[
            "betreff",
            "objet",
            "asunto",
            "assunto",
            "oggetto",
            "onderwerp",
            "ämne",
            "emne",
            "aihe",
            "тема",
            "主题",
            "předmět",
        ],
        original: &[
            "ursprüngliche nachricht",
            "message d'origine",
            "mensaje original",
            "mensagem original",
            "messaggio originale",
            "oorspronkelijk bericht",
            "ursprungligt meddelande",
            "opprinnelig melding",
            "oprindelig meddelelse",
            "alkuperäinen viesti",
            "исходное сообщение",
        ],
        forwarded: &[
            "weitergeleitete nachricht",
            "message transféré",
            "mensaje reenviado",
            "messaggio inoltrato",
            "doorgestuurd bericht",
            "vidarebefordrat meddelande",
            "videresendt melding",
            "пересылаемое сообщение",
            "переслане повідомлення",
        ],
        forward_lines: &[
            "anfang der weitergeleiteten nachricht:",
            "début du message réexpédié :?",
            "inicio del mensaje reenviado:",
        ],
        device: &[
            r"(envoyé|envoye)\ (de|depuis)\ (mon|ma|l).{0,60}",
            r"von\ meinem\ .{0,60}\ gesendet\.?",
            r"gesendet\ von\ (meinem|mein)\ .{0,60}",
            r"enviado\ (desde|de)\ (mi|meu)\ .{0,60}",
            r"inviato\ da\ .{0,60}",
            r"verzonden\ (met|vanaf|van)\ (mijn|de)\ .{0,60}",
            r"skickat\ från\ (min|mitt)\ .{0,60}",
            r"sendt\ fra\ (min|mitt)\ .{0,60}",
            r"отправлено\ (с|из)\ .{0,60}",
            r"diese\ nachricht\ wurde\ von\ .{0,120}",
        ],
        openers: &[
            "am", "le", "el", "il", "op", "den", "em", "в", "у", "el día",
        ],
    },
};

/// Every reply and forward prefix we recognise, in any language.
pub fn reply_prefixes() -> Vec<&'static str> {
    let mut all: Vec<&str> = ALL
        .iter()
        .flat_map(|l| l.reply_prefixes.iter().chain(l.forward_prefixes))
        .chain(ELSEWHERE.reply_prefixes)
        .chain(ELSEWHERE.forward_prefixes)
        .copied()
        .collect();
    all.dedup();
    all
}

/// Every forward prefix we recognise.
pub fn forward_prefixes() -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|l| l.forward_prefixes)
        .chain(ELSEWHERE.forward_prefixes)
        .copied()
        .collect()
}

/// Every out-of-office subject start we recognise.
pub fn out_of_office() -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|l| l.out_of_office)
        .chain(ELSEWHERE.out_of_office)
        .copied()
        .collect()
}

/// Every language's quote words of one kind (`pick`), then those of the
/// languages we read but do not answer in.
pub fn quote_words(pick: impl Fn(&QuoteWords) -> &'static [&'static str]) -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|l| pick(&l.quotes))
        .chain(pick(&ELSEWHERE.quotes))
        .copied()
        .collect()
}

/// Every language's vague subjects, in table order.
pub fn generic_subjects() -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|l| l.generic_subjects)
        .copied()
        .collect()
}

/// Phrases about an agent's mail; `{name}`, `{word}`, `{got}`, `{like}`,
/// `{names}`, `{address}`, `{queue}`, `{known}` and `{n}` are filled in.
pub struct AgentWords {
    pub line: &'static str,
    pub not_a_command: &'static str,
    pub unknown_like: &'static str,
    pub unknown: &'static str,
    pub needs_argument: &'static str,
    pub no_argument: &'static str,
    pub one_argument: &'static str,
    pub priority: &'static str,
    pub not_an_address: &'static str,
    pub not_an_agent: &'static str,
    pub no_queue: &'static str,
    pub nothing_found: &'static str,
}

/// The agent commands, by their English names.
pub const COMMANDS: [&str; 10] = [
    "close", "pending", "open", "priority", "assign", "unassign", "queue", "tag", "untag", "note",
];

/// Every language with a table.
pub const ALL: [&Language; 3] = [&en::EN, &pl::PL, &he::HE];

/// The table for `code`; English for a language without one.
pub fn get(code: &str) -> &'static Language {
    ALL.iter()
        .copied()
        .find(|l| l.code == code)
        .unwrap_or(&en::EN)
}

/// Whether `code` has a table.
pub fn known(code: &str) -> bool {
    ALL.iter().any(|l| l.code == code)
}

/// The codes of every language with a table.
pub fn codes() -> Vec<&'static str> {
    ALL.iter().map(|l| l.code).collect()
}

/// `phrase` with each `{key}` replaced by its value.
pub fn fill(phrase: &str, values: &[(&str, &str)]) -> String {
    let mut out = phrase.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with a blank, or a language without templates (or templates
    /// without a table), is caught here.
    #[test]
    fn every_table_is_whole_and_has_its_templates() {
        let templates: std::collections::BTreeSet<&str> = crate::outgoing::render::BUILTIN
            .iter()
            .filter_map(|(p, _)| p.split('/').next())
            .collect();
        let names: std::collections::BTreeSet<&str> = crate::outgoing::render::BUILTIN
            .iter()
            .filter_map(|(p, _)| p.split_once('/').map(|(_, f)| f))
            .collect();
        for l in ALL {
            assert!(templates.contains(l.code), "{}: no templates", l.code);
            for f in &names {
                assert!(
                    crate::outgoing::render::BUILTIN
                        .iter()
                        .any(|(p, _)| *p == format!("{}/{f}", l.code)),
                    "{}: no template {f}",
                    l.code
                );
            }
            let q = &l.quotes;
            for (what, words) in [
                ("wrote", q.wrote),
                ("from_fields", q.from_fields),
                ("other_fields", q.other_fields),
                ("subject_fields", q.subject_fields),
                ("original", q.original),
                ("forwarded", q.forwarded),
                ("forward_lines", q.forward_lines),
                ("device", q.device),
                ("openers", q.openers),
            ] {
                assert!(!words.is_empty(), "{}: no quote words {what}", l.code);
                assert!(
                    words.iter().all(|w| !w.trim().is_empty()),
                    "{}: a blank in {what}",
                    l.code
                );
            }
            for f in q.subject_fields {
                assert!(
                    q.from_fields.contains(f) || q.other_fields.contains(f),
                    "{}: subject field {f:?} is not a header field",
                    l.code
                );
            }
            let a = &l.agent;
            let phrases = [
                a.line,
                a.not_a_command,
                a.unknown_like,
                a.unknown,
                a.needs_argument,
                a.no_argument,
                a.one_argument,
                a.priority,
                a.not_an_address,
                a.not_an_agent,
                a.no_queue,
                a.nothing_found,
            ];
            let words = l
                .weekdays
                .iter()
                .chain(&l.by_day)
                .chain(&l.on_day)
                .chain(&l.months)
                .chain(&l.priorities)
                .chain(&l.statuses)
                .chain(&l.commands)
                .chain(l.queues.iter().map(|(_, n)| n))
                .chain(&phrases);
            for w in words {
                assert!(!w.trim().is_empty(), "{}: a blank in its table", l.code);
            }
            assert!(
                !l.rating_word.trim().is_empty(),
                "{}: no rating_word",
                l.code
            );
            assert!(
                !l.rating.before.is_empty() && !l.rating.after.is_empty(),
                "{}: no rating words",
                l.code
            );
            assert!(a.line.contains("{n}"), "{}", l.code);
            assert!(a.unknown_like.contains("{like}"), "{}", l.code);
        }
        for code in templates {
            assert!(known(code), "templates/{code}/ has no language table");
        }
    }

    #[test]
    fn the_shipped_queues_have_a_name_in_every_language() {
        for l in ALL {
            for q in ["general", "billing", "technical"] {
                assert!(l.queues.iter().any(|(id, _)| *id == q), "{}: {q}", l.code);
            }
        }
    }
}
