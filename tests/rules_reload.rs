//! Hot reload: the running worker takes a good rule edit within a second,
//! and keeps the last good rules when an edit is broken.

mod common;

use common::Sandbox;
use common::mailstack::wait_for;
use std::time::{Duration, Instant};

fn mail(i: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Customer <c{i}@customer.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <reload-{i}@customer.example>\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

fn queue_of(sb: &Sandbox, i: usize) -> String {
    let tickets = sb.json(&["tickets", "--json"]);
    let t = tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["customer"] == format!("c{i}@customer.example"))
        .unwrap_or_else(|| panic!("no ticket for message {i}: {tickets:#}"))
        .clone();
    t["queue"].as_str().unwrap().to_owned()
}

#[test]
fn good_edits_apply_within_a_second_and_bad_edits_change_nothing() {
    let sb = Sandbox::new("");
    let rules = sb.own_rules();
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(10, || sb
            .worker_log()
            .contains("watching rules for changes")),
        "{}",
        sb.worker_log()
    );

    // Before: "parcel" means nothing to the shipped rules.
    sb.deliver(0, &mail(0, "Where is my parcel?"));
    assert!(wait_for(10, || sb.outbox_files().len() == 1));
    assert_eq!(queue_of(&sb, 0), "general");

    // A good edit: parcels go to billing.
    let edit = Instant::now();
    std::fs::write(
        rules.join("50-parcels.toml"),
        "[[rule]]\nname = \"parcels\"\nwhen = { subject = \"parcel\" }\nthen = { queue = \"billing\" }\n",
    )
    .unwrap();
    assert!(
        wait_for(5, || sb.worker_log().contains("rules reloaded")),
        "no reload; log:\n{}",
        sb.worker_log()
    );
    let took = edit.elapsed();
    eprintln!("good edit in force after {took:?}");
    assert!(took < Duration::from_secs(1), "reload took {took:?}");
    sb.deliver(1, &mail(1, "Another parcel question"));
    assert!(wait_for(10, || sb.outbox_files().len() == 2));
    assert_eq!(queue_of(&sb, 1), "billing");

    // A bad edit (typo in a queue name): reported, old rules stay.
    std::fs::write(
        rules.join("50-parcels.toml"),
        "[[rule]]\nname = \"parcels\"\nwhen = { subject = \"parcel\" }\nthen = { queue = \"technicl\" }\n",
    )
    .unwrap();
    assert!(
        wait_for(5, || sb.worker_log().contains("rules not reloaded")),
        "bad edit not reported; log:\n{}",
        sb.worker_log()
    );
    let log = sb.worker_log();
    assert!(
        log.contains("50-parcels.toml:4:18: unknown queue \"technicl\""),
        "{log}"
    );
    sb.deliver(2, &mail(2, "Third parcel"));
    assert!(wait_for(10, || sb.outbox_files().len() == 3));
    assert_eq!(
        queue_of(&sb, 2),
        "billing",
        "the last good rules must stay in force"
    );

    assert!(worker.stop().success());
}

#[test]
fn template_edits_reload_and_a_broken_one_keeps_the_last_good() {
    let sb = Sandbox::new("");
    let templates = sb.path("templates");
    common::copy_dir(
        &std::path::Path::new(common::REPO).join("templates"),
        &templates,
    );
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    let old = format!(
        "templates_dir = {:?}",
        std::path::Path::new(common::REPO).join("templates")
    );
    std::fs::write(
        sb.path("ticketbox.toml"),
        cfg.replace(&old, &format!("templates_dir = {templates:?}")),
    )
    .unwrap();
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(10, || sb
            .worker_log()
            .contains("watching templates for changes")),
        "{}",
        sb.worker_log()
    );

    // A good edit: a new English greeting.
    let ack = templates.join("en/ack.txt");
    let text = std::fs::read_to_string(&ack).unwrap();
    std::fs::write(
        &ack,
        text.replace(
            "thank you for writing to us.",
            "thanks a lot for your mail.",
        ),
    )
    .unwrap();
    assert!(
        wait_for(5, || sb.worker_log().contains("templates reloaded")),
        "{}",
        sb.worker_log()
    );
    sb.deliver(0, &mail(0, "First question"));
    assert!(wait_for(10, || sb.outbox_files().len() == 1));
    assert!(sb.outbox_files()[0].contains("thanks a lot for your mail."));

    // A broken edit: reported with file and line; the good one stays.
    std::fs::write(&ack, "Subject: {{ ticket.tag }}\n\nHello\n{% if %}\n").unwrap();
    assert!(
        wait_for(5, || sb.worker_log().contains("templates not reloaded")),
        "{}",
        sb.worker_log()
    );
    assert!(
        sb.worker_log().contains("en/ack.txt:4:"),
        "{}",
        sb.worker_log()
    );
    // A typo in a variable loads but cannot render: refused the same way,
    // and the last good set stays (not the broken one before it).
    let typo = text
        .replace(
            "thank you for writing to us.",
            "thanks a lot for your mail.",
        )
        .replace("{{ ticket.queue }}", "{{ ticket.queu }}");
    std::fs::write(&ack, typo).unwrap();
    assert!(
        wait_for(5, || sb
            .worker_log()
            .matches("templates not reloaded")
            .count()
            >= 2),
        "{}",
        sb.worker_log()
    );
    assert!(
        sb.worker_log().contains("en/ack.txt:6: undefined"),
        "{}",
        sb.worker_log()
    );
    sb.deliver(1, &mail(1, "Second question"));
    assert!(wait_for(10, || sb.outbox_files().len() == 2));
    assert!(
        sb.outbox_files()
            .iter()
            .all(|f| f.contains("thanks a lot for your mail."))
    );
    assert!(worker.stop().success());
}
