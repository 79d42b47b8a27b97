//! An agent working by plain email, through a real Postfix and Dovecot:
//! notified of a customer's mail, answering from their own mail client,
//! the answer reaching the customer from the support address.

mod common;

use common::mailstack::{self, Mailstack, fresh_address, smtp_send, wait_for};
use common::{Sandbox, header};
use mail_parser::MessageParser;

fn config(ms: &Mailstack, support: &str, agent: &str) -> String {
    // The shipped rules route to billing and technical; declared queues
    // replace the default set, so all three are listed.
    let queues: String = ["general", "billing", "technical"]
        .iter()
        .map(|q| format!("[queues.{q}]\nnotify = [\"{agent}\"]\n"))
        .collect();
    format!(
        "agents = [\"{agent}\"]\n{}\n{queues}",
        ms.worker_config(support, "")
    )
}

fn text_of(raw: &str) -> String {
    MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.body_text(0).map(|t| t.replace("\r\n", "\n")))
        .unwrap_or_default()
}

#[test]
fn an_agent_answers_by_email_and_the_customer_gets_it_from_support() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let (support, agent) = (fresh_address("support"), fresh_address("agent"));
    let sb = Sandbox::new(&config(&ms, &support, &agent));
    agent_answers(&ms, &support, &agent, &sb);
}

/// The same with the store on PostgreSQL.
#[test]
fn an_agent_answers_by_email_on_the_server_store() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let (support, agent) = (fresh_address("support"), fresh_address("agent"));
    let Some((sb, _db)) = Sandbox::on_server_store(&config(&ms, &support, &agent)) else {
        return;
    };
    agent_answers(&ms, &support, &agent, &sb);
}

fn agent_answers(ms: &Mailstack, support: &str, agent: &str, sb: &Sandbox) {
    let (support, agent) = (support.to_owned(), agent.to_owned());
    let customer = fresh_address("customer");
    let _worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || sb.worker_log().contains("connected")),
        "worker did not connect; log:\n{}",
        sb.worker_log()
    );

    let first = format!("first.{customer}");
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Carla Customer <{customer}>\r\nTo: <{support}>\r\nSubject: Laptop will not charge\r\n\
             Message-ID: <{first}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             My laptop stopped charging after a week.\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 1
            && ms.inbox(&agent).len() == 1),
        "expected an acknowledgement and a notification; log:\n{}",
        sb.worker_log()
    );
    let ack_id = header(&ms.inbox(&customer)[0], "Message-ID").unwrap();
    let note = ms.inbox(&agent).remove(0);
    assert!(header(&note, "From").unwrap().contains(&support));
    assert!(
        text_of(&note).contains("My laptop stopped charging"),
        "{note}"
    );

    // The agent replies from their mail client, quoting the notification.
    let quoted: String = text_of(&note)
        .lines()
        .map(|l| format!("> {l}\r\n"))
        .collect();
    smtp_send(
        &agent,
        &[&support],
        format!(
            "From: Ola Agent <{agent}>\r\nTo: <{support}>\r\nSubject: Re: {}\r\n\
             Message-ID: <answer.{agent}>\r\nIn-Reply-To: {}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             #pending\r\nHello Carla, a new charger is on its way.\r\n\r\n\
             On Mon, 23 Nov 2026, Test Support wrote:\r\n{quoted}",
            header(&note, "Subject").unwrap(),
            header(&note, "Message-ID").unwrap(),
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 2),
        "the answer did not reach the customer; log:\n{}",
        sb.worker_log()
    );
    let answer = ms
        .inbox(&customer)
        .into_iter()
        .find(|m| header(m, "Message-ID") != Some(ack_id.clone()))
        .unwrap();
    let from = header(&answer, "From").unwrap();
    assert!(from.contains(&support) && !from.contains(&agent), "{from}");
    assert_eq!(header(&answer, "Auto-Submitted"), None);
    let in_reply_to = header(&answer, "In-Reply-To").unwrap();
    assert!(
        in_reply_to == ack_id || in_reply_to == format!("<{first}>"),
        "{in_reply_to}"
    );
    let body = text_of(&answer);
    assert!(
        body.starts_with("Hello Carla, a new charger is on its way."),
        "{body}"
    );
    assert!(
        !body.contains("#pending") && !body.contains("stopped charging"),
        "{body}"
    );
    assert!(
        ms.inbox(&agent).len() == 1,
        "the agent gets no copy of their own answer"
    );

    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["status"], "pending", "{t:#}");
    assert_eq!(t["assignee"].as_str(), Some(agent.as_str()));
    assert!(t["first_response_at"].is_string(), "{t:#}");

    // The customer answers back: the ticket reopens, its assignee hears.
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Carla Customer <{customer}>\r\nTo: <{support}>\r\nSubject: Re: [#TB-1000] Laptop\r\n\
             Message-ID: <thanks.{customer}>\r\nIn-Reply-To: {}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nThank you, it arrived.\r\n",
            header(&answer, "Message-ID").unwrap()
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&agent).len() == 2),
        "the assignee was not told; log:\n{}",
        sb.worker_log()
    );
    assert!(
        ms.inbox(&agent)
            .iter()
            .any(|m| text_of(m).contains("Thank you, it arrived."))
    );
    assert_eq!(sb.json(&["show", "1000", "--json"])["status"], "open");
    assert_eq!(ms.inbox(&customer).len(), 2, "no second acknowledgement");
}

/// Two answers as real clients write them, through Postfix and Dovecot:
/// Thunderbird's inline answer under the customer's line, and Outlook's
/// HTML answer (multipart/alternative, a header block in both parts) plus
/// Outlook on the web's HTML-only one. The customer gets the agent's words,
/// the lines they answer, and nothing of the notification or the agent.
#[test]
fn inline_and_outlook_html_answers_reach_the_customer_as_written() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let agent = fresh_address("agent");
    let sb = Sandbox::new(&config(&ms, &support, &agent));
    let _worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || sb.worker_log().contains("connected")),
        "worker did not connect; log:\n{}",
        sb.worker_log()
    );
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Carla Customer <{customer}>\r\nTo: <{support}>\r\nSubject: Laptop will not charge\r\n\
             Message-ID: <first.{customer}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello,\r\nmy laptop stopped charging after a week.\r\nCan I get a replacement?\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 1
            && ms.inbox(&agent).len() == 1),
        "expected an acknowledgement and a notification; log:\n{}",
        sb.worker_log()
    );
    let note = ms.inbox(&agent).remove(0);
    let note_text = text_of(&note);
    let subject = header(&note, "Subject").unwrap();
    let note_id = header(&note, "Message-ID").unwrap();

    // Thunderbird, inline: the answer under the customer's line.
    let mut inline = String::new();
    for l in note_text.lines() {
        inline.push_str(&format!("> {l}\r\n"));
        if l.contains("stopped charging") {
            inline.push_str("\r\nThat is covered by the warranty.\r\n\r\n");
        }
    }
    smtp_send(
        &agent,
        &[&support],
        format!(
            "From: Ola Agent <{agent}>\r\nTo: <{support}>\r\nSubject: Re: {subject}\r\n\
             Message-ID: <inline.{agent}>\r\nIn-Reply-To: {note_id}\r\n\
             Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n\
             On 02.12.2026 01:05, Test Support wrote:\r\n{inline}"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 2),
        "the inline answer did not reach the customer; log:\n{}",
        sb.worker_log()
    );

    // Outlook desktop, HTML with its plain-text twin.
    let plain = format!(
        "#pending\r\nA new charger ships today.\r\n\r\nOla\r\n\r\n________________________________\r\n\
         From: Test Support <{support}>\r\nSent: Wednesday, December 2, 2026 1:05 AM\r\n\
         To: Ola Agent <{agent}>\r\nSubject: {subject}\r\n\r\n{}",
        note_text.replace('\n', "\r\n")
    );
    let html = format!(
        "<html><head><style><!-- p.MsoNormal {{margin:0cm}} --></style></head><body lang=EN-US>\
         <div class=WordSection1><p class=MsoNormal>#pending<o:p></o:p></p>\
         <p class=MsoNormal>A new charger ships today.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
         <p class=MsoNormal>Ola<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
         <div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
         <p class=MsoNormal><b>From:</b> Test Support &lt;{support}&gt; <br><b>Sent:</b> Wednesday, December 2, 2026 1:05 AM<br>\
         <b>To:</b> Ola Agent &lt;{agent}&gt;<br><b>Subject:</b> {subject}<o:p></o:p></p></div>\
         <p class=MsoNormal>{}</p></div></body></html>",
        note_text
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>")
    );
    smtp_send(
        &agent,
        &[&support],
        format!(
            "From: Ola Agent <{agent}>\r\nTo: <{support}>\r\nSubject: RE: {subject}\r\n\
             Message-ID: <outlook.{agent}>\r\nIn-Reply-To: {note_id}\r\nThread-Index: AQHZabcdefghijklmnopqrstuvwxyz==\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"_000_\"\r\n\r\n\
             --_000_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n{plain}\r\n\
             --_000_\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n{html}\r\n--_000_--\r\n"
        )
        .as_bytes(),
    );
    // Outlook on the web: HTML only, one <div> per line.
    let owa = format!(
        "<html><body><div dir=\"ltr\"><div>Tracking number:</div><div>DHL 123456</div></div>\
         <div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\">\
         <div id=\"divRplyFwdMsg\" dir=\"ltr\"><b>From:</b> Test Support &lt;{support}&gt;<br>\
         <b>Sent:</b> Wednesday, December 2, 2026 1:05 AM<br><b>To:</b> Ola Agent &lt;{agent}&gt;<br>\
         <b>Subject:</b> {subject}</div><div>{}</div></body></html>",
        note_text
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>")
    );
    smtp_send(
        &agent,
        &[&support],
        format!(
            "From: Ola Agent <{agent}>\r\nTo: <{support}>\r\nSubject: RE: {subject}\r\n\
             Message-ID: <owa.{agent}>\r\nIn-Reply-To: {note_id}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n{owa}\r\n"
        )
        .as_bytes(),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 4),
        "the Outlook answers did not reach the customer; log:\n{}",
        sb.worker_log()
    );
    let bodies: Vec<String> = ms
        .inbox(&customer)
        .iter()
        .map(|m| text_of(m))
        .map(|b| b.split("\n\n-- \n").next().unwrap_or_default().to_owned())
        .collect();
    let want = [
        "> Hello,\n> my laptop stopped charging after a week.\n\nThat is covered by the warranty.",
        "A new charger ships today.\n\nOla",
        "Tracking number:\nDHL 123456",
    ];
    for w in want {
        assert!(bodies.iter().any(|b| b == w), "{w:?} not among {bodies:#?}");
    }
    for b in &bodies[1..] {
        for leak in [
            agent.as_str(),
            "##- Reply",
            "wrote:",
            "From:",
            "Sent:",
            "#pending",
            "priority",
        ] {
            assert!(!b.contains(leak), "{leak:?} reached the customer:\n{b}");
        }
    }
    assert_eq!(sb.json(&["show", "1000", "--json"])["status"], "pending");
}
