use super::*;

fn report(raw: &str) -> Option<Report> {
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    structured(&msg).or_else(|| from_text(&text))
}

/// As Postfix writes a DSN.
const POSTFIX: &str = "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\nTo: support@example.com\r\n\
Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n\
--B1\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
This is the mail system at host mx.example.net.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\r\n<dana@customer.example>: host mx.customer.example[192.0.2.1] said: 550\r\n\
    5.1.1 <dana@customer.example>: Recipient address rejected: User unknown in\r\n    virtual mailbox table (in reply to RCPT TO command)\r\n\r\n\
--B1\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.net\r\nX-Postfix-Queue-ID: 3F1A2B\r\nArrival-Date: Sun,  6 Dec 2026 10:00:00 +0000 (UTC)\r\n\r\n\
Final-Recipient: rfc822; dana@customer.example\r\nOriginal-Recipient: rfc822;dana@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Remote-MTA: dns; mx.customer.example\r\nDiagnostic-Code: smtp; 550 5.1.1 <dana@customer.example>: Recipient\r\n    address rejected: User unknown in virtual mailbox table\r\n\r\n\
--B1\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n\
From: Support <support@example.com>\r\nMessage-ID: <tb.1000.ack.abc@example.com>\r\nSubject: [#TB-1000] Printer\r\n\r\n--B1--\r\n";

#[test]
fn a_postfix_dsn_is_read_field_by_field() {
    let r = report(POSTFIX).unwrap();
    assert!(r.structured);
    assert_eq!(r.failed.len(), 1);
    let f = &r.failed[0];
    assert_eq!(f.address, "dana@customer.example");
    assert_eq!(f.status, "5.1.1");
    assert_eq!(f.action, "failed");
    assert!(f.is_permanent());
    assert_eq!(
        f.diagnostic,
        "550 5.1.1 <dana@customer.example>: Recipient address rejected: User unknown in virtual mailbox table"
    );
}

#[test]
fn a_delayed_recipient_is_temporary_and_delivered_ones_are_left_out() {
    let raw = "From: postmaster@outlook.example\r\nSubject: Delivery delayed\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n--x\r\n\
Content-Type: text/plain\r\n\r\nDelivery is delayed.\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns;outlook.example\r\n\r\nFinal-Recipient: rfc822;ok@a.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n\
Final-Recipient: rfc822;slow@b.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n--x--\r\n";
    let r = report(raw).unwrap();
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].address, "slow@b.example");
    assert_eq!(r.failed[0].action, "delayed");
    assert!(!r.failed[0].is_permanent());
}

#[test]
fn plain_text_bounces_as_qmail_and_exim_write_them() {
    let qmail = "From: MAILER-DAEMON@mail.example.jp\r\nSubject: failure notice\r\n\r\n\
Hi. This is the qmail-send program at mail.example.jp.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\n\
This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<kijitora@example.jp>:\r\n\
Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n--- Below this line is a copy of the message.\r\n\r\nReturn-Path: <x@y.example>\r\n";
    let r = report(qmail).unwrap();
    assert!(!r.structured);
    assert_eq!(r.failed[0].address, "kijitora@example.jp");
    assert_eq!(r.failed[0].status, "5.1.1");
    let exim = "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\nSubject: Mail delivery failed: returning message to sender\r\n\r\n\
This message was created automatically by mail delivery software.\r\n\r\nA message that you sent could not be delivered to one or more of its\r\n\
recipients. This is a permanent error. The following address(es) failed:\r\n\r\n  gone@example.org\r\n    mailbox is full: retry timeout exceeded\r\n\r\n\
------ This is a copy of the message, including all the headers. ------\r\nFrom: support@example.com\r\n";
    let r = report(exim).unwrap();
    assert_eq!(r.failed[0].address, "gone@example.org");
    assert_eq!(r.failed[0].status, "4.2.2");
}

/// The sisimai set in ../shared/corpus: how many bounces give the status
/// sisimai finds for their first failed recipient, and the same
/// permanent/temporary verdict. Skipped when the corpus is absent.
#[test]
fn agrees_with_sisimai_on_its_bounces() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sisimai");
    let Ok(expected) = std::fs::read_to_string(root.join("expected-sisimai.json")) else {
        eprintln!("skipped: ../shared/corpus/sisimai is not here");
        return;
    };
    let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
    let (mut files, mut read, mut same_status, mut same_class, mut with_address) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    for (file, v) in expected["expected"].as_object().unwrap() {
        let want = &v["expected"][0];
        let status = want["status"].as_str().unwrap_or_default();
        let reason = want["reason"].as_str().unwrap_or_default();
        // Auto-replies, abuse reports and success reports are not failures.
        if status.is_empty() || matches!(reason, "vacation" | "feedback" | "delivered") {
            continue;
        }
        let Ok(raw) = std::fs::read(root.join("bounces").join(file)) else {
            continue;
        };
        files += 1;
        let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        let Some(r) = structured(&msg).or_else(|| from_text(&text)) else {
            misses.push(format!("{file}: nothing read (want {status})"));
            continue;
        };
        read += 1;
        let got = &r.failed[0];
        if !got.address.is_empty() {
            with_address += 1;
        }
        // Sisimai writes x.0.9nn for a status it inferred from words: no
        // code to match, only its class.
        let inferred = status.get(1..5) == Some(".0.9");
        if got.status == status || (inferred && got.status.get(..1) == status.get(..1)) {
            same_status += 1;
        } else {
            misses.push(format!("{file}: {} (want {status})", got.status));
        }
        if got.status.get(..1) == status.get(..1) {
            same_class += 1;
        }
    }
    eprintln!(
        "sisimai bounces: {files} with a failure status; read {read}; same status {same_status}; \
         same permanent/temporary class {same_class}; an address found {with_address}"
    );
    for m in misses.iter().take(20) {
        eprintln!("  {m}");
    }
    assert!(files > 500, "{files}");
    // Floors a little under what this reader does now: a change that
    // reads fewer bounces right fails here.
    assert!(read * 100 >= files * 90, "read {read} of {files}");
    assert!(
        same_class * 100 >= files * 86,
        "class {same_class} of {files}"
    );
    assert!(
        same_status * 100 >= files * 83,
        "status {same_status} of {files}"
    );
    assert!(
        with_address * 100 >= files * 89,
        "an address in {with_address} of {files}"
    );
}
