//! Polish. Dates take the case of the phrase they stand in: the genitive
//! after "do" (`by_day`), the accusative after "w"/"we" (`on_day`), the
//! genitive for months after a day number.

use super::{AgentWords, Language, QuoteWords};
use crate::rating::Words;

pub static PL: Language = Language {
    code: "pl",
    rtl: false,
    weekdays: [
        "poniedziałek",
        "wtorek",
        "środa",
        "czwartek",
        "piątek",
        "sobota",
        "niedziela",
    ],
    by_day: [
        "do poniedziałku",
        "do wtorku",
        "do środy",
        "do czwartku",
        "do piątku",
        "do soboty",
        "do niedzieli",
    ],
    on_day: [
        "w poniedziałek",
        "we wtorek",
        "w środę",
        "w czwartek",
        "w piątek",
        "w sobotę",
        "w niedzielę",
    ],
    months: [
        "stycznia",
        "lutego",
        "marca",
        "kwietnia",
        "maja",
        "czerwca",
        "lipca",
        "sierpnia",
        "września",
        "października",
        "listopada",
        "grudnia",
    ],
    queues: &[
        ("general", "Obsługa klienta"),
        ("billing", "Rozliczenia"),
        ("technical", "Pomoc techniczna"),
    ],
    priorities: ["niski", "normalny", "wysoki", "pilny"],
    statuses: [
        "nowe",
        "otwarte",
        "czeka na klienta",
        "zamknięte",
        "odłożone",
    ],
    commands: [
        "zamknij",
        "oczekuje",
        "otwórz",
        "priorytet",
        "przypisz",
        "unassign",
        "kolejka",
        "etykieta",
        "untag",
        "notatka",
    ],
    command_aliases: &[("czeka", "pending"), ("otworz", "open")],
    priority_words: [&["niski"], &["normalny"], &["wysoki"], &["pilny", "pilne"]],
    reply_prefixes: &["odp"],
    forward_prefixes: &["pd", "przekaż"],
    out_of_office: &[
        r"auto(matic)?[- ]?odpowied",
        "autoodpowied",
        r"odpowied[zź] automatyczna",
        "poza biurem",
    ],
    status_words: &[
        "status",
        "stan",
        "status zgłoszeń",
        "stan zgłoszeń",
        "moje zgłoszenia",
    ],
    rating_word: "Ocena",
    rating: Words {
        before: &["moja ocena", "ocena", "oceniam na", "oceniam", "daję"],
        after: &[
            "/5", "/ 5", "na 5", "z 5", "gwiazdek", "gwiazdki", "gwiazdka", "pkt",
        ],
    },
    generic_subjects: &["pomoc", "pytanie", "problem z", "zapytanie"],
    quotes: QuoteWords {
        // Gmail's "napisał(a):", Outlook mobile's "pisze".
        wrote: &["napisał(a)", "napisał", "napisała", "pisze", "napisali"],
        from_fields: &["od"],
        other_fields: &["wysłano", "wysłane", "data", "do", "temat", "dw", "kopia"],
        subject_fields: &["temat"],
        original: &[
            "wiadomość oryginalna",
            "oryginalna wiadomość",
            "oryginalna wiadomosc",
        ],
        forwarded: &[
            "wiadomość przekazana dalej",
            "przekazana wiadomość",
            "przesłana wiadomość",
        ],
        forward_lines: &[
            "początek przekazywanej wiadomości:",
            "początek wiadomości przekazanej dalej:",
        ],
        device: &[
            r"(wysłane|wysłano)\ (z|ze)\ (mojego|mojej|aplikacji|telefonu|iphone|ipada|ipad|samsung|urządzenia|poczty|outlook|androida|smartfona|tabletu).{0,80}",
            r"pobierz\ (aplikację\ )?outlook\ (dla|na)\ .{0,60}",
        ],
        openers: &[
            "w dniu", "dnia", "pon", "wt", "śr", "czw", "pt", "sob", "niedz",
        ],
    },
    agent: AgentWords {
        line: "wiersz {n}",
        not_a_command: "\"{word}\" to nie polecenie (polecenia zaczynają się od #)",
        unknown_like: "#{name}: nieznane polecenie; czy chodziło o #{like}?",
        unknown: "#{name}: nieznane polecenie; polecenia to {names}",
        needs_argument: "#{name}: brakuje argumentu",
        no_argument: "#{name}: nie przyjmuje argumentu, a podano \"{got}\"",
        one_argument: "#{name}: przyjmuje jeden argument, a podano \"{got}\"",
        priority: "#{name}: \"{got}\" to nie priorytet (niski, normalny, wysoki, pilny)",
        not_an_address: "#{name}: \"{got}\" to nie adres (ani „mnie”)",
        not_an_agent: "#{name}: {address} nie jest agentem",
        no_queue: "#{name}: nie ma kolejki \"{queue}\" (kolejki: {known})",
        nothing_found: "nie znaleziono odpowiedzi: poza cytowaną wiadomością nie ma Twojego tekstu (pisz nad, pod lub między cytowanymi wierszami; zacznij od #notatka, by zostawić notatkę wewnętrzną)",
    },
};
