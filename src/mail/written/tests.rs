use super::*;

fn own(text: &str) -> String {
    read(text).own
}

#[test]
fn top_posted_reply_in_three_languages() {
    let t = "Still broken.\n\nOn Mon, 23 Nov 2026 at 07:46, Support <s@x.example> wrote:\n> Hello Alice\n";
    assert_eq!(own(t), "Still broken.");
    let t = "עדיין לא עובד.\n\nבתאריך יום ב׳, 23 בנוב׳ 2026 ב-7:46 מאת Support <s@x.example>:\n> שלום\n";
    assert_eq!(own(t), "עדיין לא עובד.");
    let t = "Nadal nie działa.\n\nśr., 2 gru 2026 o 01:05 Support <s@x.example> napisał(a):\n> Dzień dobry";
    assert_eq!(own(t), "Nadal nie działa.");
}

#[test]
fn gmail_hebrew_direction_marks_are_not_text() {
    let t = "\u{202B}#הערה\u{202C}\n\u{202B}הלקוח כעס מאוד\u{202C}\n\n\u{202B}בתאריך יום ד׳, 2 בדצמ׳ 2026 ב-1:05 מאת \u{202A}Support\u{202C}\u{200F} <\u{202A}s@x.example\u{202C}\u{200F}>:\u{202C}\n> שלום\n";
    assert_eq!(own(t), "#הערה\nהלקוח כעס מאוד");
}

#[test]
fn a_wrapped_quote_header_is_one_header() {
    let t = "Thanks, that helped.\n\nOn Tue, Dec 1, 2026 at 10:00 AM Ruth Cohen <\nruth@example.com> wrote:\n\n> Try again\n";
    assert_eq!(own(t), "Thanks, that helped.");
    let t = "Thanks.\n\nOn Tue, Dec 1, 2026 at 10:00 AM Ruth Cohen\n<ruth@example.com>\nwrote:\n> Try again\n";
    assert_eq!(own(t), "Thanks.");
}

#[test]
fn text_that_only_looks_like_a_quote_header_is_kept() {
    for t in [
        "Hello Ruth,\n\nהטכנאי שלנו כתב: הבעיה במטען.\nנשלח חדש מחר.",
        "Dzień dobry,\n\nW dniu 30 listopada technik napisał: wymieniamy zasilacz.\nPozdrawiam",
        "Hi,\n\nOn Monday, Tom from our lab wrote:\nthe charger is faulty, a new one is on its way.\n\nBest, Dana",
    ] {
        assert_eq!(own(t), t, "cut: {t}");
    }
}

#[test]
fn bottom_posted_answer_keeps_the_answer_not_the_quote() {
    let t = "On 12/2/26 1:05 AM, Support wrote:\n> ##- Reply above this line -##\n> Ruth wrote in [#TB 7] (billing, priority normal, new).\n> First response due Wed.\n>\n> My invoice is wrong.\n> -- \n> Commands: #note\n\nWe have corrected the invoice.\n#close\n";
    let w = read(t);
    assert_eq!(w.own, "We have corrected the invoice.\n#close");
    assert!(!w.inline);
}

#[test]
fn inline_answers_keep_the_lines_they_answer_and_none_of_ours() {
    let t = "On 12/2/26 1:05 AM, Support wrote:\n> ##- Reply above this line -##\n> Ruth wrote in [#TB 7] (billing, priority normal, new).\n> First response due Wed.\n>\n> Why was I charged twice?\n\nThe second charge was a hold; it is gone now.\n\n> And can I get a receipt?\n\nAttached.\n\n> -- \n> Your reply to this mail goes to Ruth <ruth@x.example>. Commands: #note\n";
    let w = read(t);
    assert!(w.inline);
    assert_eq!(
        w.own,
        "> Why was I charged twice?\n\nThe second charge was a hold; it is gone now.\n\n> And can I get a receipt?\n\nAttached."
    );
}

#[test]
fn see_my_answers_below() {
    let t = "See my answers below.\n\nOn Wed, Dec 2, 2026 at 9:00 AM Ruth <ruth@x.example> wrote:\n> 1. Does it ship to Poland?\nYes, in 3 days.\n> 2. In red?\nNo, only black.\n";
    let w = read(t);
    assert_eq!(
        w.own,
        "See my answers below.\n\n> 1. Does it ship to Poland?\nYes, in 3 days.\n> 2. In red?\nNo, only black."
    );
}

#[test]
fn outlook_header_blocks_in_three_languages() {
    for (head, t) in [
        (
            "en",
            "From: Support <s@x.example>\nSent: Wednesday, December 2, 2026 1:05 AM\nTo: Ruth <ruth@x.example>\nSubject: [#TB 7] Invoice\n",
        ),
        (
            "pl",
            "Od: Support <s@x.example>\nWysłano: środa, 2 grudnia 2026 01:05\nDo: Ruth <ruth@x.example>\nTemat: [#TB 7] Faktura\n",
        ),
        (
            "he",
            "מאת: Support <s@x.example>\nנשלח: יום רביעי 02 דצמבר 2026 01:05\nאל: Ruth <ruth@x.example>\nנושא: [#TB 7] חשבונית\n",
        ),
    ] {
        let text = format!(
            "Done.\n\n________________________________\n{t}\n##- Reply above this line -##\nsecret\n"
        );
        assert_eq!(own(&text), "Done.", "{head}");
    }
}

#[test]
fn signatures_and_device_footers() {
    let w = read("Thanks!\n\n-- \nRuth Cohen\nAcme Ltd\n\nSent from my iPhone");
    assert_eq!(w.own, "Thanks!");
    assert_eq!(w.signature, "Ruth Cohen\nAcme Ltd");
    assert_eq!(own("לא עובד\n\nנשלח מה-iPhone שלי"), "לא עובד");
    assert_eq!(own("Nie działa\n\nWysłane z iPhone'a"), "Nie działa");
    assert_eq!(own("Works now\n\nGet Outlook for iOS"), "Works now");
    // A sentence that starts like a footer is text.
    assert_eq!(
        own("Sent the invoice yesterday.\nSent from our warehouse on Monday."),
        "Sent the invoice yesterday.\nSent from our warehouse on Monday."
    );
}

#[test]
fn forwarded_mail_is_kept_apart_and_whole() {
    let t = "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Ben <ben@y.example>\nDate: Wed, Dec 2, 2026\nSubject: Broken\n\nThe screen is cracked.\n";
    let w = read(t);
    assert_eq!(w.own, "FYI, see below.");
    assert!(w.forwarded.contains("The screen is cracked."));
    assert!(w.forwarded.starts_with("---------- Forwarded message"));
}

#[test]
fn phones_in_polish_and_hebrew() {
    // Outlook for Android, Polish.
    let t = "Dziękuję, działa.\n\nPobierz aplikację Outlook dla systemu Android\n________________________________\nOd: Support <s@x.example>\nWysłane: środa, 2 grudnia 2026 01:05\nDo: Anna <a@x.example>\nTemat: [#TB-7] Ładowarka\n\nDzień dobry";
    assert_eq!(own(t), "Dziękuję, działa.");
    // Samsung Email, Polish.
    let t = "Dziękuję.\n\n\nWysłane z mojego Galaxy\n\n\n-------- Oryginalna wiadomość --------\nOd: Support <s@x.example>\nData: 02.12.2026 01:05 (GMT+01:00)\nDo: a@x.example\nTemat: [#TB-7] Ładowarka\n\nDzień dobry";
    assert_eq!(own(t), "Dziękuję.");
    // Outlook for iOS, Hebrew.
    let t = "תודה רבה\n\nהשג את Outlook עבור iOS\n________________________________\nמאת: Support <s@x.example>\nנשלח: יום רביעי, 2 בדצמבר 2026 01:05\nאל: Ruth <r@x.example>\nנושא: [#TB-7] מטען\n\nשלום";
    assert_eq!(own(t), "תודה רבה");
}

#[test]
fn who_wrote_a_forward() {
    let gmail = "FYI\n\n---------- Forwarded message ---------\nOd: Ruth Cohen <Ruth@x.example>\nDate: śr., 2 gru 2026 o 01:05\nSubject: Drukarka\nTo: <agent@example.com>\n\nDrukarka nie działa.\n";
    let w = read(gmail);
    let o = origin(&w.forwarded).expect("origin");
    assert_eq!(o.address, "ruth@x.example");
    assert_eq!(o.name.as_deref(), Some("Ruth Cohen"));
    assert_eq!(o.subject.as_deref(), Some("Drukarka"));
    assert_eq!(o.body, "Drukarka nie działa.");
    // Outlook: no marker, a header block (an embedded mail).
    let outlook = "For the record.\n\n________________________________\nFrom: Ruth Cohen [mailto:ruth@x.example]\nSent: Wednesday, December 2, 2026 1:05 AM\nTo: Agent <agent@example.com>\nSubject: Printer\n\nIt is broken.\n";
    let w = read(outlook);
    assert_eq!(w.own, "For the record.");
    let o = origin(&w.embedded).expect("origin");
    assert_eq!(o.address, "ruth@x.example");
    assert_eq!(o.body, "It is broken.");
    assert!(origin("no fields here\n\ntext").is_none());
}

/// Discourse's reply-trimming set: every `emails/X.txt` against
/// `trimmed/X.txt`. Exact matches are counted and reported; what must hold
/// for every one is that no line of the expected text is lost.
#[test]
fn email_reply_trimmer_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/email_reply_trimmer");
    let Ok(entries) = std::fs::read_dir(dir.join("emails")) else {
        eprintln!("skipped: ../shared/corpus/email_reply_trimmer is not present");
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (mut exact, mut lost) = (0, Vec::new());
    for name in &names {
        let email = std::fs::read_to_string(dir.join("emails").join(name)).unwrap_or_default();
        let want = std::fs::read_to_string(dir.join("trimmed").join(name)).unwrap_or_default();
        let got = read(&email).text();
        let norm = |s: &str| {
            s.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        };
        if norm(&got) == norm(&normalize(&want)) {
            exact += 1;
        } else {
            eprintln!("--- {name}\nwant:\n{}\ngot:\n{}\n", norm(&want), norm(&got));
        }
        let got_lines: std::collections::HashSet<String> =
            got.lines().map(|l| l.trim().to_owned()).collect();
        for l in normalize(&want).lines() {
            if !l.trim().is_empty() && !got_lines.contains(l.trim()) {
                lost.push(format!("{name}: {l}"));
            }
        }
    }
    eprintln!("email_reply_trimmer: {exact} of {} exact", names.len());
    assert!(lost.is_empty(), "text lost:\n{}", lost.join("\n"));
    // 58 of 64 when this reader was written; the six others keep some of
    // the quoted mail (exotic quote headers: "|" quoting, a header split by
    // "mailto:" lines), never lose the author's text.
    assert!(exact >= 58, "only {exact} exact");
}
