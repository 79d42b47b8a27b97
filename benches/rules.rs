//! Rule evaluation cost per message with many rules loaded (default 1,000,
//! `TB_BENCH_RULES`): a mix of keyword lists, regexes, equality, list
//! membership, numeric and nested conditions, like a large real rule set.
//! `cargo bench --bench rules`.

use std::time::Instant;
use ticketbox::mail::parse::Envelope;
use ticketbox::model::{AttachmentInfo, Party};
use ticketbox::rules::{Facts, Known, RuleSet};

const WORDS: &[&str] = &[
    "invoice",
    "refund",
    "password",
    "login",
    "delivery",
    "damaged",
    "cancel",
    "upgrade",
    "discount",
    "warranty",
    "faktura",
    "zwrot",
    "hasło",
    "dostawa",
    "reklamacja",
    "anulować",
    "gwarancja",
    "rabat",
    "חשבונית",
    "החזר",
    "סיסמה",
    "משלוח",
    "ביטול",
    "אחריות",
    "הנחה",
];

fn rules_text(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let w = |k: usize| WORDS[(i * 7 + k * 3) % WORDS.len()];
        let when = match i % 8 {
            0 => format!("{{ subject = [\"{}\", \"{}\", \"{}-{i}\"] }}", w(0), w(1), w(2)),
            1 => format!("{{ body = [\"{} {}\", \"{}{i}\"] }}", w(0), w(1), w(2)),
            2 => format!("{{ body = {{ regex = \"(?i)\\\\b{}\\\\s+(no\\\\.?|number)?\\\\s*\\\\d{{{}}}\\\\b\" }} }}", w(0), 3 + i % 5),
            3 => format!("{{ from_domain = {{ equals = \"customer{i}.example\" }} }}"),
            4 => "{ from_domain = { in_list = \"vip-domains\" }, attachment_size = { gt = 1000000 } }".to_owned(),
            5 => format!("{{ any = [{{ subject = \"{}\" }}, {{ header = {{ X-Priority = {{ starts_with = \"{}\" }} }} }}] }}", w(1), i % 5),
            6 => format!("{{ not = {{ subject = \"{}\" }}, kind = \"new\", hour = {{ gte = {} }} }}", w(2), i % 24),
            _ => format!("{{ all = [{{ to = \"support\" }}, {{ subject = {{ starts_with = \"{}\" }} }}], language = {{ equals = \"pl\" }} }}", w(0)),
        };
        out.push_str(&format!(
            "[[rule]]\nname = \"rule {i}\"\nwhen = {when}\nthen = {{ add_tags = [\"t{}\"], raise_priority = 1 }}\n\n",
            i % 50
        ));
    }
    out
}

fn message(i: usize) -> Envelope {
    let body = format!(
        "Dzień dobry,\n\nzamówienie {i} dotarło uszkodzone, proszę o zwrot pieniędzy albo wymianę. \
         Faktura nr 12345 jest w załączniku. {}\n\nPozdrawiam,\nJan\n\n> On Mon wrote:\n> previous text\n",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(30)
    );
    Envelope {
        message_id: format!("m{i}@x"),
        from: Some(Party::new(
            Some("Jan Kowalski"),
            &format!("jan{i}@customer{}.example", i % 100),
        )),
        to: vec![Party::new(None, "support@example.com")],
        subject: format!("Reklamacja zamówienia {i} — zwrot"),
        text: body,
        headers: vec![
            ("x-priority".into(), "3".into()),
            ("received".into(), "from mx by mx".into()),
        ],
        attachments: vec![AttachmentInfo {
            name: "faktura.pdf".into(),
            content_type: "application/pdf".into(),
            size: 84_000,
        }],
        ..Envelope::default()
    }
}

fn main() {
    let n: usize = std::env::var("TB_BENCH_RULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let known = Known {
        queues: ["general"].map(String::from).into(),
        lists: [(
            "vip-domains".to_owned(),
            (0..500).map(|i| format!("vip{i}.example")).collect(),
        )]
        .into(),
        ..Known::default()
    };
    let text = rules_text(n);
    let t = Instant::now();
    let rules = RuleSet::from_sources(&[("bench.toml".into(), text)], &known).expect("rules load");
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;

    let messages: Vec<Envelope> = (0..200).map(message).collect();
    let now = chrono::Utc::now();
    let mut fired = 0;
    // Warm up, then time batches.
    for m in &messages {
        fired += rules.evaluate(&Facts::new(m, now)).fired.len();
    }
    let rounds = 25;
    let mut per_message = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for m in &messages {
            let mut f = Facts::new(m, now);
            f.language = Some("pl".into());
            fired += rules.evaluate(&f).fired.len();
        }
        per_message.push(t.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
    }
    per_message.sort_by(f64::total_cmp);
    let body_len = messages[0].text.len();
    println!(
        "rules: {n} rules loaded and compiled in {load_ms:.0} ms; evaluation over {} messages ({body_len}-byte bodies), {rounds} rounds:",
        messages.len()
    );
    println!(
        "  per message: median {:.1} µs, best {:.1} µs, worst {:.1} µs (rules fired per message: {:.1})",
        per_message[per_message.len() / 2],
        per_message[0],
        per_message[per_message.len() - 1],
        fired as f64 / (messages.len() * (rounds + 1)) as f64
    );
}
