//! Parse tests on the fixtures in `tests/fixtures/` (written for ticketbox).

use super::*;

fn fixture(name: &str) -> Envelope {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&raw, &crate::intake::content_hash(&raw)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn hebrew_windows_1255_body_and_base64_headers() {
    let e = fixture("hebrew-windows-1255.eml");
    assert_eq!(e.subject, "המדפסת לא עובדת");
    let from = e.from.unwrap();
    assert_eq!(from.name.as_deref(), Some("דנה כהן"));
    assert_eq!(from.address, "dana@example.co.il");
    assert!(e.text.contains("המדפסת במשרד לא עובדת"), "{}", e.text);
    assert_eq!(e.message_id, "he-1255-001@mail.example.co.il");
}

#[test]
fn hebrew_iso_8859_8_quoted_printable() {
    let e = fixture("hebrew-iso-8859-8.eml");
    assert_eq!(e.subject, "חשבונית חסרה");
    assert_eq!(e.from.unwrap().name.as_deref(), Some("יוסי לוי"));
    assert!(e.text.contains("לא קיבלתי את החשבונית"), "{}", e.text);
}

#[test]
fn polish_iso_8859_2_and_windows_1250() {
    let e = fixture("polish-iso-8859-2.eml");
    assert_eq!(e.subject, "Reklamacja zamówienia 4411");
    assert_eq!(
        e.from.as_ref().unwrap().name.as_deref(),
        Some("Łukasz Żółkiewski")
    );
    assert_eq!(e.to[0].name.as_deref(), Some("Obsługa klienta"));
    assert!(e.text.contains("Proszę o zwrot pieniędzy"), "{}", e.text);

    let e = fixture("polish-windows-1250.eml");
    assert_eq!(e.subject, "Nie mogę się zalogować");
    assert_eq!(e.from.unwrap().name.as_deref(), Some("Zofia Wójcik"));
    assert!(e.text.contains("Hasło nie działa"), "{}", e.text);
}

#[test]
fn gmail_reply_threading_headers() {
    let e = fixture("gmail-reply.eml");
    assert_eq!(e.in_reply_to, vec!["tb.1000.ack.fixture@example.com"]);
    assert_eq!(
        e.references,
        vec![
            "CAF1234567890abcdef@mail.gmail.com",
            "tb.1000.ack.fixture@example.com"
        ]
    );
    // Nearest parent first.
    let parents: Vec<_> = e.parent_ids().collect();
    assert_eq!(parents[0], "tb.1000.ack.fixture@example.com");
    assert!(e.text.starts_with("It also shows error E-42 now."));
    assert_eq!(e.date.unwrap().to_rfc3339(), "2026-11-23T09:02:44+00:00");
}

#[test]
fn outlook_reply_keeps_thread_index_and_language() {
    let e = fixture("outlook-reply.eml");
    assert_eq!(e.subject, "RE: VPN drops every hour");
    assert!(e.header("thread-index").unwrap().starts_with("AdlP4XK9"));
    assert_eq!(e.content_language.as_deref(), Some("en-us"));
    assert!(e.references.is_empty());
    assert_eq!(e.in_reply_to.len(), 1);
}

#[test]
fn html_only_body_becomes_text_and_missing_id_is_synthesized() {
    let raw = std::fs::read(format!(
        "{}/tests/fixtures/html-only-no-message-id.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let hash = crate::intake::content_hash(&raw);
    let e = parse(&raw, &hash).unwrap();
    assert!(e.text.contains("Error 500"), "{}", e.text);
    assert!(!e.text.contains("<b>"));
    assert!(e.message_id_synthesized);
    // Stable: the same bytes give the same id.
    assert_eq!(e.message_id, parse(&raw, &hash).unwrap().message_id);
    assert_eq!(e.attachments.len(), 1);
    assert_eq!(e.attachments[0].name, "error.png");
    assert_eq!(e.attachments[0].content_type, "image/png");
    assert!(e.attachments[0].size > 50);
}

#[test]
fn forward_lists_the_attached_message_but_not_as_a_parent() {
    let e = fixture("forward.eml");
    assert_eq!(e.subject, "Fwd: Your invoice 2026-11");
    assert!(e.parent_ids().next().is_none());
    assert_eq!(e.attachments.len(), 1);
    assert_eq!(e.attachments[0].content_type, "message/rfc822");
}

#[test]
fn dsn_carries_the_bounced_message_id() {
    let e = fixture("dsn-bounce.eml");
    assert_eq!(e.content_type, "multipart/report");
    assert_eq!(e.report_type.as_deref(), Some("delivery-status"));
    assert_eq!(e.return_path.as_deref(), Some(""));
    assert_eq!(
        e.embedded_message_ids,
        vec!["tb.1000.ack.fixture@example.com"]
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert_eq!(parse(b"", "h"), Err(ParseError::Empty));
    assert_eq!(parse(b"  \r\n", "h"), Err(ParseError::Blank(4)));
    let raw = std::fs::read(format!(
        "{}/tests/fixtures/not-mail.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(parse(&raw, "h").is_err());
    assert_eq!(
        parse(b"Subject: hi\r\n\r\nbody", "h"),
        Err(ParseError::NoSender)
    );
    for junk in [
        &b"\xff\xfe\x00\x01"[..],
        b"From:\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x",
    ] {
        let _ = parse(junk, "h");
    }
}

#[test]
fn format_flowed_soft_breaks_are_joined() {
    let raw = b"From: Ann <ann@example.com>\r\nTo: support@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nThe printer on the third floor \r\nkeeps jamming.\r\n\r\n> Quoted line that was \r\n> wrapped.\r\n-- \r\nAnn\r\n";
    let env = parse(raw, "h").expect("parses");
    assert_eq!(
        env.text,
        "The printer on the third floor keeps jamming.\n\n> Quoted line that was wrapped.\n-- \nAnn\n"
    );
}

#[test]
fn winmail_dat_is_opened_and_nameless_images_get_names() {
    use base64::Engine as _;
    let tnef = crate::mail::tnef::tests::winmail(&[(
        "FAKTUR~1.PDF",
        "faktura grudzień.pdf",
        b"%PDF-1.4 x",
    )]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&tnef);
    let raw = format!(
        "From: Ruth <ruth@example.com>\r\nTo: support@example.com\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    );
    let env = parse(raw.as_bytes(), "h").expect("parses");
    let names: Vec<&str> = env.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["faktura grudzień.pdf", "image-1.png"]);
    assert_eq!(env.attachments[0].content_type, "application/pdf");
    let data = attachment_data(raw.as_bytes());
    assert_eq!(data[0].bytes, b"%PDF-1.4 x");
}
