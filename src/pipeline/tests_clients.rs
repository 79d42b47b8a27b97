//! Agents and customers writing the way their mail clients write: Gmail,
//! Outlook (desktop plain and HTML, on the web), Thunderbird, Apple Mail,
//! phones; top-posted, bottom-posted, inline; with a command, with a note;
//! in English, Polish and Hebrew. What must hold for every one: the
//! customer receives exactly what the agent wrote (no quote header, none of
//! our notification, no agent address), and the agent sees exactly what
//! the customer wrote.

use super::tests::{Setup, mail, setup, t0};
use super::tests_agent::{sent, team};
use super::*;
use crate::outbox::OutboxEntry;
use crate::thread::ThreadView;
use crate::{mail::parse, model::Status};

/// A ticket opened in `lang` by its customer; the notification Ola got.
fn opened(s: &Setup, lang: &str) -> OutboxEntry {
    let (from, subject, body) = match lang {
        "pl" => (
            "Anna Nowak <anna@c.example>",
            "Ładowarka nie działa",
            "Dzień dobry,\r\nładowarka przestała działać po tygodniu.\r\nProszę o wymianę.",
        ),
        "he" => (
            "Ruth Levi <anna@c.example>",
            "המטען לא עובד",
            "שלום,\r\nהמטען הפסיק לעבוד אחרי שבוע.\r\nאבקש החלפה.",
        ),
        _ => (
            "Ann Smith <anna@c.example>",
            "Charger broken",
            "Hello,\r\nthe charger stopped working after a week.\r\nPlease replace it.",
        ),
    };
    let o = s.process(&mail(from, "a1@c", subject, "", body), t0());
    assert_eq!(o.ticket, Some(1000), "{}", o.reason);
    sent(s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .expect("Ola notified")
}

fn header<'a>(raw: &'a str, name: &str) -> &'a str {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_default()
}

/// The notification's text, as the agent's client shows it.
fn shown(note: &OutboxEntry) -> String {
    parse::parse(note.raw.as_bytes(), "n")
        .unwrap()
        .text
        .replace("\r\n", "\n")
}

fn quoted(text: &str) -> String {
    text.lines().map(|l| format!("> {l}\n")).collect()
}

/// How each client writes a reply to `note`, with `answer` from the agent;
/// `inline` answers go between the quoted customer's lines.
fn agent_reply(client: &str, lang: &str, note: &OutboxEntry, answer: &str) -> (String, String) {
    let text = shown(note);
    let subject = format!("RE: {}", note.subject);
    let (from_f, sent_f, to_f, subj_f) = match lang {
        "pl" => ("Od", "Wysłano", "Do", "Temat"),
        "he" => ("מאת", "נשלח", "אל", "נושא"),
        _ => ("From", "Sent", "To", "Subject"),
    };
    let gmail_attr = match lang {
        "pl" => "śr., 2 gru 2026 o 01:05 Example Support <support@example.com> napisał(a):".to_owned(),
        "he" => "\u{202B}בתאריך יום ד׳, 2 בדצמ׳ 2026 ב-1:05 מאת \u{202A}Example Support\u{202C}\u{200F} <\u{202A}support@example.com\u{202C}\u{200F}>:\u{202C}".to_owned(),
        // Gmail wraps a long attribution line.
        _ => "On Wed, Dec 2, 2026 at 1:05 AM Example Support <\nsupport@example.com> wrote:".to_owned(),
    };
    let outlook_block = format!(
        "________________________________\n{from_f}: Example Support <support@example.com>\n{sent_f}: 2 Dec 2026 01:05\n{to_f}: Ola Kowalska <ola@example.com>\n{subj_f}: {}\n\n",
        note.subject
    );
    let (ctype, body) = match client {
        "gmail" => {
            let own: String = if lang == "he" {
                answer
                    .lines()
                    .map(|l| format!("\u{202B}{l}\u{202C}\n"))
                    .collect()
            } else {
                format!("{answer}\n")
            };
            let plain = format!("{own}\n{gmail_attr}\n\n{}", quoted(&text));
            ("text/plain; charset=utf-8".to_owned(), plain)
        }
        "iphone" => (
            "text/plain; charset=utf-8".to_owned(),
            format!(
                "{answer}\n\n{}\n\n> On 2 Dec 2026, at 01:05, Example Support <support@example.com> wrote:\n>\n{}",
                match lang {
                    "pl" => "Wysłane z iPhone'a",
                    "he" => "נשלח מה-iPhone שלי",
                    _ => "Sent from my iPhone",
                },
                quoted(&text)
            ),
        ),
        "thunderbird-bottom" => (
            "text/plain; charset=utf-8; format=flowed".to_owned(),
            format!(
                "On 02.12.2026 01:05, Example Support wrote:\n{}\n{answer}\n\n-- \nOla Kowalska\n",
                quoted(&text)
            ),
        ),
        "thunderbird-inline" => {
            // The answer goes under the customer's second line.
            let mut lines = String::new();
            let mut placed = false;
            let mut customer_lines = 0;
            for l in text.lines() {
                lines.push_str(&format!("> {l}\n"));
                if !placed && is_customer_line(l) {
                    customer_lines += 1;
                    if customer_lines == 2 {
                        lines.push_str(&format!("\n{answer}\n\n"));
                        placed = true;
                    }
                }
            }
            (
                "text/plain; charset=utf-8".to_owned(),
                format!("On 02.12.2026 01:05, Example Support wrote:\n{lines}"),
            )
        }
        "outlook" => (
            "text/plain; charset=utf-8".to_owned(),
            format!("{answer}\n\n{outlook_block}{text}"),
        ),
        "outlook-html" => {
            let own: String = answer
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "<p class=MsoNormal><o:p>&nbsp;</o:p></p>".to_owned()
                    } else {
                        format!("<p class=MsoNormal>{}<o:p></o:p></p>", html_escape(l))
                    }
                })
                .collect();
            let html = format!(
                "<html><head><style><!-- p.MsoNormal {{margin:0cm}} --></style></head><body lang=PL><div class=WordSection1>{own}<p class=MsoNormal><o:p>&nbsp;</o:p></p><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>{from_f}:</b> Example Support &lt;support@example.com&gt; <br><b>{sent_f}:</b> 2 Dec 2026 01:05<br><b>{to_f}:</b> Ola Kowalska &lt;ola@example.com&gt;<br><b>{subj_f}:</b> {}<o:p></o:p></p></div><p class=MsoNormal>{}</p></div></body></html>",
                html_escape(&note.subject),
                html_escape(&text).replace('\n', "<br>")
            );
            ("text/html; charset=utf-8".to_owned(), html)
        }
        "owa" => {
            let own: String = answer
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "<div><br></div>".to_owned()
                    } else {
                        format!("<div>{}</div>", html_escape(l))
                    }
                })
                .collect();
            let html = format!(
                "<html><body><div dir=\"ltr\">{own}</div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\" tabindex=\"-1\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\"><b>{from_f}:</b> Example Support &lt;support@example.com&gt;<br><b>{sent_f}:</b> 2 Dec 2026 01:05<br><b>{to_f}:</b> Ola Kowalska &lt;ola@example.com&gt;<br><b>{subj_f}:</b> {}</font><div>&nbsp;</div></div><div>{}</div></body></html>",
                html_escape(&note.subject),
                html_escape(&text).replace('\n', "<br>")
            );
            ("text/html; charset=utf-8".to_owned(), html)
        }
        other => panic!("no client {other}"),
    };
    let raw = format!(
        "From: Ola Kowalska <ola@example.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <r-{client}-{lang}@example.com>\r\nIn-Reply-To: {}\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
        header(&note.raw, "Message-ID"),
        body.replace('\n', "\r\n")
    );
    (raw, subject)
}

/// A line of the customer's text in our notification (not its chrome).
fn is_customer_line(l: &str) -> bool {
    [
        "przestała",
        "הפסיק",
        "stopped",
        "Dzień dobry,",
        "שלום,",
        "Hello,",
    ]
    .iter()
    .any(|w| l.contains(w))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The answer as the customer received it: the text part above our
/// signature line.
fn received(r: &OutboxEntry) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(r.raw.as_bytes())
        .unwrap();
    let body = msg.body_text(0).unwrap().replace("\r\n", "\n");
    body.split("\n\n-- \n")
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn answers(lang: &str) -> (&'static str, &'static str) {
    match lang {
        "pl" => (
            "Dzień dobry Pani Anno,\n\nwysłaliśmy nową ładowarkę kurierem.\nPozdrawiam, Ola",
            "Kurier będzie jutro.",
        ),
        "he" => (
            "שלום רות,\n\nשלחנו מטען חדש בשליח.\nבברכה, אולה",
            "השליח יגיע מחר.",
        ),
        _ => (
            "Hello Ann,\n\nwe have sent a new charger by courier.\nBest, Ola",
            "The courier comes tomorrow.",
        ),
    }
}

const LEAKS: &[&str] = &[
    "ola@example.com",
    "##- Reply",
    "wrote:",
    "napisał",
    "מאת",
    "From:",
    "Od:",
    "Sent:",
    "Wysłano",
    "priority",
    "priorytet",
    "עדיפות",
    "First response",
    "Commands",
    "iPhone",
    "#pending",
    "#oczekuje",
    "#ממתין",
];

fn assert_clean(got: &str, case: &str) {
    for leak in LEAKS {
        assert!(
            !got.contains(leak),
            "{case}: {leak:?} reached the customer:\n{got}"
        );
    }
}

#[test]
fn every_clients_answer_reaches_the_customer_exactly() {
    let clients = [
        "gmail",
        "iphone",
        "thunderbird-bottom",
        "outlook",
        "outlook-html",
        "owa",
    ];
    for lang in ["en", "pl", "he"] {
        for client in clients {
            let s = setup(team);
            let note = opened(&s, lang);
            let (answer, _) = answers(lang);
            let (raw, _) = agent_reply(client, lang, &note, answer);
            let o = s.process(
                &RawMail::new(raw.into_bytes(), "t".into(), None),
                t0() + Duration::hours(1),
            );
            let case = format!("{client}/{lang}");
            assert!(o.reason.contains("answer sent"), "{case}: {}", o.reason);
            let replies = sent(&s, "reply");
            assert_eq!(replies.len(), 1, "{case}");
            let got = received(&replies[0]);
            assert_eq!(got, answer, "{case}");
            assert_clean(&got, &case);
        }
    }
}

#[test]
fn commands_and_notes_wherever_the_client_put_them() {
    for lang in ["en", "pl", "he"] {
        let (answer, _) = answers(lang);
        let pending = match lang {
            "pl" => "#oczekuje",
            "he" => "#ממתין",
            _ => "#pending",
        };
        // A command on top, in the middle (a later line) and under the
        // answer, from three clients.
        for (client, text) in [
            ("gmail", format!("{pending}\n{answer}")),
            ("outlook", format!("{answer}\n{pending}")),
            ("thunderbird-bottom", format!("{answer}\n\n{pending}")),
            ("owa", format!("{pending}\n{answer}")),
        ] {
            let s = setup(team);
            let note = opened(&s, lang);
            let (raw, _) = agent_reply(client, lang, &note, &text);
            let o = s.process(
                &RawMail::new(raw.into_bytes(), "t".into(), None),
                t0() + Duration::hours(1),
            );
            let case = format!("{client}/{lang} command");
            assert!(
                o.reason.contains("1 command(s) applied"),
                "{case}: {}",
                o.reason
            );
            assert_eq!(
                s.store.ticket(1000).unwrap().unwrap().status,
                Status::Pending,
                "{case}"
            );
            let replies = sent(&s, "reply");
            assert_eq!(replies.len(), 1, "{case}");
            assert_eq!(received(&replies[0]), answer, "{case}");
        }
        // A note: nothing reaches the customer, whatever the client did.
        let note_cmd = match lang {
            "pl" => "#notatka",
            "he" => "#הערה",
            _ => "#note",
        };
        for client in ["gmail", "outlook-html", "owa", "thunderbird-bottom"] {
            let s = setup(team);
            let note = opened(&s, lang);
            let text = format!("{note_cmd}\nthe customer was very angry, do not offer credit");
            let (raw, _) = agent_reply(client, lang, &note, &text);
            let o = s.process(
                &RawMail::new(raw.into_bytes(), "t".into(), None),
                t0() + Duration::hours(1),
            );
            let case = format!("{client}/{lang} note");
            assert!(o.reason.contains("internal note"), "{case}: {}", o.reason);
            assert!(
                sent(&s, "reply").is_empty(),
                "{case}: a note reached the customer"
            );
        }
    }
}

#[test]
fn inline_answers_keep_the_customers_lines_and_nothing_of_ours() {
    for lang in ["en", "pl", "he"] {
        let s = setup(team);
        let note = opened(&s, lang);
        let (_, short) = answers(lang);
        let (raw, _) = agent_reply("thunderbird-inline", lang, &note, short);
        let o = s.process(
            &RawMail::new(raw.into_bytes(), "t".into(), None),
            t0() + Duration::hours(1),
        );
        assert!(o.reason.contains("answer sent"), "{lang}: {}", o.reason);
        let got = received(&sent(&s, "reply")[0]);
        let note_text = shown(&note);
        let customer: Vec<&str> = note_text
            .lines()
            .filter(|l| is_customer_line(l))
            .map(|l| l.trim())
            .collect::<Vec<_>>();
        let want = format!("> {}\n> {}\n\n{short}", customer[0], customer[1]);
        assert_eq!(got, want, "{lang}");
        assert_clean(&got, lang);
    }
}

#[test]
fn an_empty_reply_is_told_to_the_agent_not_dropped() {
    for client in ["gmail", "outlook", "owa"] {
        let s = setup(team);
        let note = opened(&s, "en");
        let (raw, _) = agent_reply(client, "en", &note, "");
        let o = s.process(
            &RawMail::new(raw.into_bytes(), "t".into(), None),
            t0() + Duration::hours(1),
        );
        assert!(
            o.reason.contains("no answer found"),
            "{client}: {}",
            o.reason
        );
        assert!(sent(&s, "reply").is_empty());
        let told = sent(&s, "notification")
            .into_iter()
            .filter(|e| e.recipients == ["ola@example.com"])
            .count();
        assert_eq!(told, 2, "{client}: the notification and the refusal");
    }
}

#[test]
fn customers_words_reach_the_agent_wherever_they_wrote_them() {
    for lang in ["en", "pl", "he"] {
        let s = setup(team);
        let _ = opened(&s, lang);
        let ack = sent(&s, "acknowledgement").remove(0);
        let ack_text = shown(&ack);
        let (words, footer, attr) = match lang {
            "pl" => (
                "Nadal nie działa, próbowałam dwóch gniazdek.",
                "Wysłane z iPhone'a",
                "W dniu 2.12.2026 o 01:05, Example Support <support@example.com> napisał:",
            ),
            "he" => (
                "עדיין לא עובד, ניסיתי שני שקעים.",
                "נשלח מה-iPhone שלי",
                "בתאריך יום ד׳, 2 בדצמ׳ 2026 ב-1:05 מאת Example Support <support@example.com>:",
            ),
            _ => (
                "Still broken, I tried two sockets.",
                "Sent from my iPhone",
                "On 2 Dec 2026, at 01:05, Example Support <support@example.com> wrote:",
            ),
        };
        // Bottom-posted under the quoted acknowledgement, with a phone
        // footer: the agent sees the words, not our acknowledgement.
        let body = format!("{attr}\n{}\n{words}\n\n{footer}\n", quoted(&ack_text));
        let raw = format!(
            "From: Customer <anna@c.example>\r\nTo: support@example.com\r\nSubject: Re: {}\r\nMessage-ID: <c2-{lang}@c>\r\nIn-Reply-To: {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: en-US\r\n\r\n{}",
            ack.subject,
            header(&ack.raw, "Message-ID"),
            body.replace('\n', "\r\n")
        );
        let o = s.process(
            &RawMail::new(raw.clone().into_bytes(), "t".into(), None),
            t0() + Duration::hours(1),
        );
        assert_eq!(o.ticket, Some(1000), "{lang}: {}", o.reason);
        let notes: Vec<_> = sent(&s, "notification")
            .into_iter()
            .filter(|e| e.recipients == ["ola@example.com"])
            .collect();
        let told = shown(notes.last().unwrap());
        assert!(
            told.contains(words),
            "{lang}: the customer's words:\n{told}"
        );
        assert!(!told.contains(footer), "{lang}: {told}");
        // Our acknowledgement is not repeated back to the agent.
        let first_ack_line = ack_text.lines().find(|l| l.trim().len() > 10).unwrap();
        assert!(!told.contains(first_ack_line), "{lang}: {told}");
        // Outlook's Content-Language: en-US, an English footer and the
        // quoted acknowledgement do not make a Polish or Hebrew customer
        // English.
        let env = parse::parse(raw.as_bytes(), "c").unwrap();
        assert_eq!(crate::lang::detect(&env).as_deref(), Some(lang), "{lang}");
    }
}

#[test]
fn an_agents_forward_of_a_customers_mail_opens_the_customers_ticket() {
    let s = setup(team);
    let raw = "From: Ola Kowalska <ola@example.com>\r\nTo: support@example.com\r\nSubject: Fwd: Drukarka\r\nMessage-ID: <fw1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKlient dzwonił, bardzo zdenerwowany.\r\n\r\n---------- Forwarded message ---------\r\nOd: Anna Nowak <anna@c.example>\r\nDate: śr., 2 gru 2026 o 01:05\r\nSubject: Drukarka\r\nTo: <ola@example.com>\r\n\r\nDrukarka nie drukuje od rana, proszę o pomoc.\r\n";
    let o = s.process(
        &RawMail::new(raw.as_bytes().to_vec(), "t".into(), None),
        t0(),
    );
    assert_eq!(o.outcome, OutcomeKind::Created, "{}", o.reason);
    assert!(
        o.reason.contains("forwarded by agent ola@example.com"),
        "{}",
        o.reason
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.customer.address, "anna@c.example");
    assert_eq!(t.subject, "Drukarka");
    let acks = sent(&s, "acknowledgement");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].recipients, ["anna@c.example"]);
    let ack = shown(&acks[0]);
    assert!(
        !ack.contains("zdenerwowany"),
        "the agent's remark stays inside: {ack}"
    );

    // Forwarded onto the ticket "for the record": internal, nothing relayed.
    let fw = "From: Ola Kowalska <ola@example.com>\r\nTo: support@example.com\r\nSubject: FW: [#TB-1000] Drukarka\r\nMessage-ID: <fw2@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDo akt: klientka grozi odejściem.\r\n\r\n________________________________\r\nOd: Anna Nowak <anna@c.example>\r\nWysłano: 2 grudnia 2026 01:05\r\nDo: Ola <ola@example.com>\r\nTemat: Drukarka\r\n\r\nNadal nie drukuje.\r\n".to_owned();
    let o = s.process(
        &RawMail::new(fw.into_bytes(), "t".into(), None),
        t0() + Duration::hours(1),
    );
    assert_eq!(o.ticket, Some(1000), "{}", o.reason);
    assert!(
        o.reason.contains("kept as an internal note"),
        "{}",
        o.reason
    );
    assert!(sent(&s, "reply").is_empty());
}

#[test]
fn pasted_images_go_along_the_signature_logo_stays() {
    let s = setup(team);
    let note = opened(&s, "en");
    let text = shown(&note);
    let plain = format!(
        "See the screenshot:\n[image: shot.png]\nThanks\n\n-- \nOla\n[image: logo.png]\n\nOn Wed, Dec 2, 2026 at 1:05 AM Example Support <support@example.com> wrote:\n\n{}",
        quoted(&text)
    )
    .replace('\n', "\r\n");
    let html = "<div dir=\"ltr\"><div>See the screenshot:</div><div><img src=\"cid:ii_shot\" alt=\"shot.png\"></div><div>Thanks</div><br clear=\"all\"><div><br></div>-- <br><div dir=\"ltr\" class=\"gmail_signature\"><div>Ola</div><img src=\"cid:ii_logo\" alt=\"logo.png\"></div></div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Wed, Dec 2, 2026 at 1:05 AM Example Support &lt;support@example.com&gt; wrote:<br></div><blockquote class=\"gmail_quote\">...</blockquote></div>";
    let raw = format!(
        "From: Ola Kowalska <ola@example.com>\r\nTo: support@example.com\r\nSubject: Re: {}\r\nMessage-ID: <img1@example.com>\r\nIn-Reply-To: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n{plain}\r\n--alt\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n{html}\r\n--alt--\r\n--rel\r\nContent-Type: image/png; name=\"shot.png\"\r\nContent-Disposition: inline; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <ii_shot>\r\n\r\niVBORw0KGgoAAAA=\r\n--rel\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <ii_logo>\r\n\r\niVBORw0KGgoBBBB=\r\n--rel--\r\n",
        note.subject,
        header(&note.raw, "Message-ID"),
    );
    let o = s.process(
        &RawMail::new(raw.into_bytes(), "t".into(), None),
        t0() + Duration::hours(1),
    );
    assert!(o.reason.contains("answer sent"), "{}", o.reason);
    let r = &sent(&s, "reply")[0];
    assert_eq!(
        received(r),
        "See the screenshot:\nThanks",
        "no [image: …] text"
    );
    let msg = mail_parser::MessageParser::default()
        .parse(r.raw.as_bytes())
        .unwrap();
    let names: Vec<String> = super::tests_agent::attached(&msg)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["shot.png"]);
}

#[test]
fn a_customers_forward_reaches_the_agent_whole() {
    let s = setup(team);
    let raw = "From: Ann Smith <anna@c.example>\r\nTo: support@example.com\r\nSubject: Fwd: Invoice 77\r\nMessage-ID: <cf1@c>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy colleague got this, is it right?\r\n\r\n---------- Forwarded message ---------\r\nFrom: Ben Brown <ben@c.example>\r\nDate: Wed, Dec 2, 2026 at 9:00 AM\r\nSubject: Invoice 77\r\nTo: <anna@c.example>\r\n\r\nThe invoice charges us twice for May.\r\n";
    let o = s.process(
        &RawMail::new(raw.as_bytes().to_vec(), "t".into(), None),
        t0(),
    );
    assert_eq!(o.ticket, Some(1000), "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        t.customer.address, "anna@c.example",
        "a customer's forward stays theirs"
    );
    let note = sent(&s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap();
    let told = shown(&note);
    assert!(
        told.contains("My colleague got this, is it right?"),
        "{told}"
    );
    assert!(
        told.contains("The invoice charges us twice for May."),
        "{told}"
    );
    assert!(told.contains("From: Ben Brown <ben@c.example>"), "{told}");
}
