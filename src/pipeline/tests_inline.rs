//! Attachments as agents and customers need them: a screenshot pasted into
//! a Gmail mail shows where it was pasted in the agents' notification; a
//! screenshot an agent pastes into an Outlook answer reaches the customer
//! inline, where the agent put it; Outlook's `winmail.dat` reaches agents
//! as the files inside it.

use super::tests::{mail, setup, t0};
use super::tests_agent::{sent, team};
use super::*;
use crate::outbox::OutboxEntry;
use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How Gmail sends a mail with a pasted screenshot: text and HTML
/// alternatives, the HTML with the image beside it (multipart/related).
fn gmail_with_screenshot() -> RawMail {
    let body = format!(
        "--alt\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n\
         Hello,\r\n\r\nthe printer shows this error:\r\n[image: screenshot.png]\r\n\r\nCan you help?\r\n\r\nDana\r\n\r\n\
         --alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
         --rel\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n\
         <div dir=\"ltr\"><div>Hello,</div><div><br></div><div>the printer shows this error:</div>\
         <div><img src=\"cid:ii_m3x9k2a70\" alt=\"screenshot.png\" width=\"562\" height=\"310\"><br></div>\
         <div><br></div><div>Can you help?</div><div><br></div><div>Dana</div></div>\r\n\
         --rel\r\nContent-Type: image/png; name=\"screenshot.png\"\r\n\
         Content-Disposition: inline; filename=\"screenshot.png\"\r\n\
         Content-Transfer-Encoding: base64\r\nX-Attachment-Id: ii_m3x9k2a70\r\n\
         Content-ID: <ii_m3x9k2a70>\r\n\r\n{}\r\n--rel--\r\n\r\n--alt--\r\n",
        b64(PNG)
    );
    mail(
        "Dana Smith <dana@c.example>",
        "CAGx7yQ1=gmail@mail.gmail.com",
        "Printer error",
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n",
        &body,
    )
}

/// The notification Ola got.
fn to_ola(s: &super::tests::Setup) -> OutboxEntry {
    sent(s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap()
}

fn parsed(e: &OutboxEntry) -> mail_parser::Message<'_> {
    MessageParser::default().parse(e.raw.as_bytes()).unwrap()
}

/// The inline parts of `e`: (Content-ID, bytes).
fn inline_parts(e: &OutboxEntry) -> Vec<(String, Vec<u8>)> {
    let msg = parsed(e);
    msg.attachments()
        .filter(|a| {
            a.content_disposition()
                .is_some_and(|d| d.ctype() == "inline")
        })
        .map(|a| {
            (
                a.content_id().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect()
}

fn in_order(haystack: &str, needles: &[&str]) -> bool {
    let mut from = 0;
    for n in needles {
        match haystack[from..].find(n) {
            Some(at) => from += at + n.len(),
            None => return false,
        }
    }
    true
}

#[test]
fn a_pasted_screenshot_shows_where_it_was_pasted_in_the_notification() {
    let s = setup(team);
    s.process(&gmail_with_screenshot(), t0());
    let note = to_ola(&s);
    assert!(note.raw.contains("multipart/related"), "{}", note.raw);
    let html = parsed(&note).body_html(0).unwrap().into_owned();
    assert!(
        in_order(
            &html,
            &[
                "the printer shows this error:",
                "<img src=\"cid:ii_m3x9k2a70\"",
                "Can you help?"
            ]
        ),
        "{html}"
    );
    assert_eq!(
        inline_parts(&note),
        [("ii_m3x9k2a70".to_owned(), PNG.to_vec())]
    );
    // The text part still reads as before, for agents on plain text.
    let text = parsed(&note).body_text(0).unwrap().into_owned();
    assert!(text.contains("Can you help?") && text.contains(crate::agent::REPLY_ABOVE));
}

#[test]
fn a_screenshot_in_an_outlook_answer_reaches_the_customer_inline_in_place() {
    let s = setup(team);
    s.process(&gmail_with_screenshot(), t0());
    let note = to_ola(&s);
    let parent = parsed(&note).message_id().unwrap().to_owned();
    // Outlook desktop: HTML with the pasted image001.png beside it, its
    // own quote block of the notification below.
    let cid = "image001.png@01DB4A2C.5F3E2A10";
    let html = format!(
        "<html><body><div class=\"WordSection1\"><p class=\"MsoNormal\">Hello Dana,<o:p></o:p></p>\
         <p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p><p class=\"MsoNormal\">open the printer menu here:<o:p></o:p></p>\
         <p class=\"MsoNormal\"><img width=\"300\" height=\"200\" id=\"Picture_x0020_1\" src=\"cid:{cid}\"><o:p></o:p></p>\
         <p class=\"MsoNormal\">and choose Reset.<o:p></o:p></p><p class=\"MsoNormal\">Ola<o:p></o:p></p>\
         <div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\
         <p class=\"MsoNormal\"><b>From:</b> Example Support &lt;support@example.com&gt;<br><b>Sent:</b> Monday, November 23, 2026 9:01 AM<br>\
         <b>To:</b> Ola &lt;ola@example.com&gt;<br><b>Subject:</b> {subject}</p></div>\
         <p class=\"MsoNormal\">##- Reply above this line -##</p></div></body></html>",
        subject = note.subject
    );
    let text = format!(
        "Hello Dana,\r\n\r\nopen the printer menu here:\r\n\r\nand choose Reset.\r\nOla\r\n\r\n\
         From: Example Support <support@example.com>\r\nSent: Monday, November 23, 2026 9:01 AM\r\n\
         To: Ola <ola@example.com>\r\nSubject: {}\r\n\r\n##- Reply above this line -##\r\n",
        note.subject
    );
    let body = format!(
        "--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n{text}\r\n\
         --alt\r\nContent-Type: text/html; charset=\"us-ascii\"\r\n\r\n{html}\r\n--alt--\r\n\r\n\
         --rel\r\nContent-Type: image/png; name=\"image001.png\"\r\n\
         Content-Description: image001.png\r\nContent-Disposition: inline; filename=\"image001.png\"; size=70\r\n\
         Content-ID: <{cid}>\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--rel--\r\n",
        b64(PNG)
    );
    let o = s.process(
        &mail(
            "Ola <ola@example.com>",
            "AM0PR01MB1234@eurprd01.prod.outlook.com",
            &format!("RE: {}", note.subject),
            &format!(
                "In-Reply-To: <{parent}>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/related; boundary=\"rel\"; type=\"multipart/alternative\"\r\n"
            ),
            &body,
        ),
        t0() + Duration::hours(1),
    );
    assert!(o.reason.contains("answer sent"), "{}", o.reason);
    let reply = &sent(&s, "reply")[0];
    let html = parsed(reply).body_html(0).unwrap().into_owned();
    assert!(
        in_order(
            &html,
            &[
                "open the printer menu here:",
                &format!("<img src=\"cid:{cid}\""),
                "and choose Reset."
            ]
        ),
        "{html}"
    );
    assert_eq!(inline_parts(reply), [(cid.to_owned(), PNG.to_vec())]);
    let text = parsed(reply).body_text(0).unwrap().into_owned();
    assert!(
        in_order(
            &text,
            &["menu here:", "[image: image001.png]", "choose Reset."]
        ),
        "{text}"
    );
    assert!(!text.contains("Reply above"), "{text}");
}

#[test]
fn winmail_dat_reaches_agents_as_the_files_inside() {
    let s = setup(team);
    let tnef = crate::mail::tnef::tests::winmail(&[(
        "FAKTUR~1.PDF",
        "faktura grudzień.pdf",
        b"%PDF-1.4 faktura",
    )]);
    let body = format!(
        "--b\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         W załączniku faktura.\r\n\
         --b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
         Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        b64(&tnef)
    );
    s.process(
        &mail(
            "Ruth <ruth@c.example>",
            "00a1@c.example",
            "Faktura",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n",
            &body,
        ),
        t0(),
    );
    let note = to_ola(&s);
    let msg = parsed(&note);
    let files: Vec<(String, Vec<u8>)> = msg
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [(
            "faktura grudzień.pdf".to_owned(),
            b"%PDF-1.4 faktura".to_vec()
        )]
    );
}
