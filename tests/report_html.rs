//! `ticketbox report --html` as a person's browser shows it: a store made
//! by the real binary (customers' mail in three queues, agents' answers,
//! closing, ratings, a reopened ticket), the page opened in headless
//! Chromium, every chart measured and every number read back from the
//! rendered page and compared with `report --json` on the same store. The
//! screenshot stays in target/test-artifacts/report.png.

mod common;

use base64::Engine as _;
use common::Sandbox;
use common::browser::{self, chromium, headless};
use serde_json::Value;

/// Runs in the page after layout: each chart's size, the bars it shows
/// (filled rectangles, not the white background) and every figure cell's
/// text, as base64 JSON on the root element (read back with --dump-dom).
const PROBE: &str = r#"<script>
const charts = [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect')].filter(r => {
    const b = r.getBoundingClientRect();
    const fill = (r.getAttribute('fill') || '').toUpperCase();
    return b.width > 0 && b.height > 0 && fill !== '#FFFFFF' && fill !== 'NONE';
  }).length;
  return { id: f.id, expected: Number(f.dataset.bars), width: box.width, height: box.height, bars,
           text: svg.textContent };
});
const cells = {};
document.querySelectorAll('td[data-key]').forEach(td => cells[td.dataset.key] = td.textContent);
const out = JSON.stringify({ charts, cells });
document.documentElement.setAttribute('data-probe', btoa(unescape(encodeURIComponent(out))));
</script></body>"#;

fn mail(from: &str, id: &str, subject: &str, date: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n{extra}\r\n{body}\r\n"
    )
}

/// Feeds `mails` to the store one at a time, in order.
fn ingest(sb: &Sandbox, mails: &[String]) {
    for (i, m) in mails.iter().enumerate() {
        let path = sb.path(&format!("in-{i}.eml"));
        std::fs::write(&path, m).unwrap();
        sb.run(&["ingest", path.to_str().unwrap()]);
    }
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

#[test]
fn the_page_in_chromium_shows_the_charts_and_the_numbers_of_report_json() {
    let Some(chromium) = chromium() else { return };
    let agent = "ola@example.com";
    let sb = Sandbox::new(&format!(
        "agents = [\"{agent}\"]\n[queues.general]\n[queues.billing]\n[queues.technical]\n"
    ));
    let dates = [
        "Mon, 30 Nov 2026 09:15:00 +0000",
        "Mon, 30 Nov 2026 14:40:00 +0000",
        "Tue, 01 Dec 2026 10:05:00 +0000",
        "Wed, 02 Dec 2026 22:30:00 +0000",
        "Sat, 05 Dec 2026 08:00:00 +0000",
    ];
    let customers = [
        (
            "Anna Nowak <anna@c.example>",
            "Zamówienie nie dotarło",
            "Dzień dobry, zamówienie nie dotarło mimo upływu tygodnia.",
        ),
        (
            "Dana <dana@d.example>",
            "Invoice charged twice",
            "Hello, my invoice was charged twice this month.",
        ),
        (
            "Yossi <yossi@y.example>",
            "המדפסת לא עובדת",
            "שלום, המדפסת במשרד הפסיקה לעבוד מאז יום שני.",
        ),
        (
            "Eve <eve@e.example>",
            "Cannot log in to the portal",
            "Hi, the portal says my password is wrong since today's update.",
        ),
        (
            "Ben <ben@b.example>",
            "Refund for order 7731",
            "Hello, I returned order 7731 two weeks ago and have no refund yet.",
        ),
    ];
    let firsts: Vec<String> = customers
        .iter()
        .zip(dates)
        .enumerate()
        .map(|(i, ((from, subject, body), date))| {
            mail(from, &format!("c{i}@x"), subject, date, "", body)
        })
        .collect();
    ingest(&sb, &firsts);

    // Agents answer three, closing two of them; one is rated 5 by reply,
    // one 2; the third customer writes again after the close (reopened).
    let answer = |n: u64, id: &str, top: &str| {
        mail(
            &format!("Ola <{agent}>"),
            id,
            &format!("Re: [#TB-{n}] ticket"),
            "Mon, 07 Dec 2026 09:00:00 +0000",
            "",
            top,
        )
    };
    ingest(
        &sb,
        &[
            answer(
                1000,
                "a1@x",
                "#close\r\nDzień dobry, paczka wyszła ponownie.",
            ),
            answer(
                1001,
                "a2@x",
                "#close\r\nHello Dana, the second charge is refunded.",
            ),
            answer(1003, "a3@x", "Hi Eve, please try again now."),
        ],
    );
    let reply = |from: &str, n: u64, id: &str, body: &str| {
        mail(
            from,
            id,
            &format!("Re: [#TB-{n}] ticket"),
            "Mon, 07 Dec 2026 10:00:00 +0000",
            "",
            body,
        )
    };
    ingest(
        &sb,
        &[
            reply("anna@c.example", 1000, "r1@x", "5"),
            reply(
                "dana@d.example",
                1001,
                "r2@x",
                "2 - it took three mails to get an answer.",
            ),
        ],
    );
    // Dana writes once more: an ordinary reply opens her ticket again.
    ingest(
        &sb,
        &[reply(
            "dana@d.example",
            1001,
            "r3@x",
            "The charge is back again on my statement, can you check?",
        )],
    );

    let json = sb.json(&["report", "--json"]);
    let html = sb.path("report.html");
    sb.run(&["report", "--html", html.to_str().unwrap()]);
    // The figures themselves: what was built above.
    let total = &json["total"];
    assert_eq!(total["tickets"], 5, "{json:#}");
    assert_eq!(
        total["csat"]["distribution"],
        serde_json::json!([0, 1, 0, 0, 1])
    );
    assert_eq!(total["csat"]["average"], 3.5);
    assert_eq!(total["reopen"]["reopened"], 1, "{json:#}");
    assert_eq!(json["mail_by_hour"][9].as_u64(), Some(1), "{json:#}");

    // The page in the browser.
    let page = std::fs::read_to_string(&html).unwrap();
    let probe = sb.path("report-probe.html");
    std::fs::write(&probe, page.replace("</body>", PROBE)).unwrap();
    let out = headless(&chromium, &sb.path("profile-a"), (1400, 1000))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let b64 = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("the probe did not run: {dom}"));
    let seen: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();

    let charts = seen["charts"].as_array().unwrap();
    let ids: Vec<&str> = charts.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "chart-tickets",
            "chart-first-response",
            "chart-csat",
            "chart-backlog",
            "chart-weekday",
            "chart-hour"
        ]
    );
    for c in charts {
        assert!(
            c["width"].as_f64().unwrap() > 300.0 && c["height"].as_f64().unwrap() > 150.0,
            "{c}"
        );
        let (bars, expected) = (c["bars"].as_u64().unwrap(), c["expected"].as_u64().unwrap());
        // (First responses here take seconds of wall-clock time: their
        // bars may all be zero; every other chart has something.)
        assert!(
            expected > 0 || c["id"] == "chart-first-response",
            "every chart has something to show here: {c}"
        );
        // The legend's two swatches are rectangles too.
        let legend = u64::from(c["id"] == "chart-first-response") * 2;
        assert_eq!(bars, expected + legend, "{c}");
    }
    // The bars are the JSON's: ratings of 2 and 5; five hours with mail.
    let nonzero = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|x| x.as_u64() != Some(0))
            .count() as u64
    };
    let by_id = |id: &str| charts.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(
        by_id("chart-csat")["expected"].as_u64(),
        Some(nonzero(&total["csat"]["distribution"]))
    );
    assert_eq!(
        by_id("chart-hour")["expected"].as_u64(),
        Some(nonzero(&json["mail_by_hour"]))
    );
    assert_eq!(
        by_id("chart-weekday")["expected"].as_u64(),
        Some(nonzero(&json["mail_by_weekday"]))
    );
    assert!(
        by_id("chart-weekday")["text"]
            .as_str()
            .unwrap()
            .contains("Mon")
    );

    // Every number on the page, as rendered, equals report --json.
    let cells = seen["cells"].as_object().unwrap();
    assert!(cells.len() >= 4 * 19, "{} cells", cells.len());
    let queues: Vec<&Value> = json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .chain([total])
        .collect();
    for (key, text) in cells {
        let (queue, path) = key.split_once('.').unwrap();
        let q = queues
            .iter()
            .find(|q| q["queue"] == queue)
            .unwrap_or_else(|| panic!("no queue {queue} in the JSON"));
        let want = match lookup(q, path) {
            None | Some(Value::Null) => "-".to_owned(),
            Some(v) => v.to_string(),
        };
        assert_eq!(text.as_str().unwrap(), want, "{key}");
    }

    let png = browser::artifacts().join("report.png");
    browser::screenshot(&chromium, &sb.path("profile-b"), (1400, 2600), &html, &png);
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(size > 50_000, "{} is only {size} bytes", png.display());
    eprintln!("report rendered: {}", png.display());
}
