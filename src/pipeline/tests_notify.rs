//! Notifications to agents: the customer's files travel along, in the team's language.

use super::tests::{mail, setup};
use super::tests_agent::{attached, sent, team};
use super::*;
use crate::mail::parse;

#[test]
fn a_customers_attachment_travels_with_the_notification() {
    let s = setup(team);
    let raw = "From: Anna <anna@c.example>\r\nTo: support@example.com\r\nSubject: Broken screen\r\n\
               Message-ID: <p1@c>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
               --b\r\nContent-Type: text/plain\r\n\r\nPhoto attached.\r\n\
               --b\r\nContent-Type: image/png; name=screen.png\r\nContent-Disposition: attachment; filename=screen.png\r\n\
               Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
    s.process(
        &RawMail::new(raw.as_bytes().to_vec(), "t".into(), None),
        super::tests::t0(),
    );
    let notes = sent(&s, "notification");
    assert_eq!(notes.len(), 2, "both queue agents");
    let msg = mail_parser::MessageParser::default()
        .parse(notes[0].raw.as_bytes())
        .unwrap();
    let files = attached(&msg);
    assert_eq!(
        files,
        [("screen.png".to_owned(), b"\x89PNG\r\n\x1a\n".to_vec())]
    );
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains("Attachments:") && text.contains("screen.png (8 bytes)"),
        "{text}"
    );
    // The acknowledgement to the customer carries nothing back.
    let ack = &sent(&s, "acknowledgement")[0];
    let ack = mail_parser::MessageParser::default()
        .parse(ack.raw.as_bytes())
        .unwrap();
    assert_eq!(ack.attachments().count(), 0);
}

#[test]
fn files_too_big_to_forward_are_only_named() {
    let big = vec![b'x'; 11 << 20];
    let env = parse::Envelope {
        attachments: vec![crate::model::AttachmentInfo {
            name: "dump.bin".into(),
            content_type: "application/octet-stream".into(),
            size: big.len(),
        }],
        ..parse::Envelope::default()
    };
    let raw = [
        &b"From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
           Content-Type: text/plain\r\n\r\nsee dump\r\n--b\r\nContent-Type: application/octet-stream\r\n\
           Content-Disposition: attachment; filename=dump.bin\r\n\r\n"[..],
        &big[..],
        &b"\r\n--b--\r\n"[..],
    ]
    .concat();
    let p = super::answer::customer_files(&env, &raw);
    assert!(p.forward.is_empty());
    assert_eq!(p.files.len(), 1);
    assert!(
        !p.files[0].attached && p.files[0].size == "11.0 MB",
        "{:?}",
        p.files
    );
}

#[test]
fn a_hebrew_speaking_team_gets_its_mail_in_hebrew() {
    let s = setup(|c| {
        team(c);
        c.support.team_language = "he".into();
    });
    s.process(
        &mail(
            "Anna <anna@c.example>",
            "h1@c",
            "Broken screen",
            "",
            "The screen cracked.",
        ),
        super::tests::t0(),
    );
    let note = &sent(&s, "notification")[0];
    assert!(note.raw.contains("Content-Language: he"), "{}", note.raw);
    let text = parse::parse(note.raw.as_bytes(), "n").unwrap().text;
    assert!(text.contains("כתב/ה בפנייה [#TB-1000]"), "{text}");
    assert!(
        text.contains("יום שני, 23 בנובמבר, 17:00"),
        "due in Hebrew: {text}"
    );
    // The marker that keeps the quote away from customers is the same.
    assert!(text.contains(crate::agent::REPLY_ABOVE), "{text}");
    // The customer's acknowledgement stays in the customer's language.
    let ack = &sent(&s, "acknowledgement")[0];
    assert!(ack.raw.contains("Content-Language: en"));
}
