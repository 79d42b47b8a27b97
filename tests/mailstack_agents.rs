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
