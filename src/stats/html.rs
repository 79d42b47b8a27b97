//! `ticketbox report --html`: one self-contained page, readable offline
//! and in a mail attachment (no script, no web font, nothing fetched): the
//! figures of a [`Report`] in a table per subject, and SVG bar charts drawn
//! by plotters (tickets per queue, first response, satisfaction, backlog
//! age, mail by weekday and hour).
//!
//! Every number in a table is looked up in the report's own JSON by its
//! key (`general.sla.compliance`), and each cell carries that key in
//! `data-key`: what the page shows is what `--json` says, and a test can
//! check it cell by cell in a browser.

use super::{AGE_BUCKETS, Report};
use plotters::prelude::*;
use serde_json::Value;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 300;
const BLUE: RGBColor = RGBColor(52, 101, 164);
const ORANGE: RGBColor = RGBColor(230, 126, 34);
const GREY: RGBColor = RGBColor(120, 120, 120);

/// The rows of the tables: (subject, [(label, key under a queue)]).
const ROWS: &[(&str, &[(&str, &str)])] = &[
    (
        "Volume",
        &[
            ("tickets opened", "tickets"),
            ("customers' mail", "mail_in"),
        ],
    ),
    (
        "First response (business hours)",
        &[
            ("median", "first_response.median_hours"),
            ("90th percentile", "first_response.p90_hours"),
            ("answered", "first_response.answered"),
        ],
    ),
    (
        "SLA",
        &[
            ("compliance %", "sla.compliance"),
            ("met", "sla.met"),
            ("measured", "sla.measured"),
            ("overdue now", "sla.overdue_now"),
        ],
    ),
    (
        "Backlog (now)",
        &[
            ("open", "backlog.open"),
            ("waiting on the customer", "backlog.pending"),
            ("median age (days)", "backlog.median_age_days"),
            ("oldest (days)", "backlog.oldest_days"),
        ],
    ),
    (
        "Satisfaction",
        &[
            ("average (1–5)", "csat.average"),
            ("satisfied (4–5) %", "csat.satisfied"),
            ("rated", "csat.rated"),
            ("asked", "csat.asked"),
        ],
    ),
    (
        "Reopened",
        &[
            ("rate %", "reopen.rate"),
            ("reopened", "reopen.reopened"),
            ("closed", "reopen.closed"),
        ],
    ),
];

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as the page shows it: `-` for none.
fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(v) => v.to_string(),
    }
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// One series of bars.
struct Series<'a> {
    name: &'a str,
    color: RGBColor,
    values: Vec<f64>,
}

/// A bar chart of `series` over `labels` (grouped when more than one), as
/// SVG; with the number of bars drawn (non-zero values). `counts`: the
/// scale is whole numbers.
fn bars(
    title: &str,
    y_desc: &str,
    labels: &[String],
    series: &[Series<'_>],
    counts: bool,
) -> Result<(String, usize), String> {
    let mut svg = String::new();
    let n = labels.len().max(1);
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max);
    // Headroom above the tallest bar, and a scale even when all are zero.
    let y_max = match (top > 0.0, counts) {
        (false, _) => 1.0,
        (true, true) => (top * 1.15).ceil().max(top + 1.0),
        (true, false) => top * 1.15,
    };
    // Whole steps for small counts (no "0.5 tickets").
    let y_labels = if counts {
        (y_max as usize + 1).min(11)
    } else {
        10
    };
    let mut drawn = 0;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<std::io::Error>| format!("chart {title:?}: {e}");
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(if labels.len() > 8 { 26 } else { 34 })
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n as f64, 0f64..y_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(y_labels)
            .light_line_style(WHITE)
            .y_desc(y_desc)
            .y_label_formatter(&|v| {
                if counts || y_max > 5.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .draw()
            .map_err(e)?;
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let rects = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, v)| {
                    let x0 = i as f64 + 0.1 + j as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width * 0.92, *v)], s.color.filled())
                });
            drawn += s.values.iter().filter(|v| **v > 0.0).count();
            let legend = chart.draw_series(rects).map_err(e)?;
            if series.len() > 1 {
                let color = s.color;
                legend.label(s.name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(GREY)
                .draw()
                .map_err(e)?;
        }
        // Category names under their bars (the axis of a bar chart is a
        // list of names, not a scale).
        let style = ("sans-serif", if labels.len() > 8 { 11 } else { 13 })
            .into_font()
            .color(&BLACK)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
        for (i, l) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(l.clone(), (x, y + 6), style.clone()))
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok((svg, drawn))
}

fn figure(id: &str, caption: &str, chart: (String, usize)) -> String {
    format!(
        "<figure class=\"chart\" id=\"chart-{id}\" data-bars=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
        chart.1,
        chart.0,
        escape(caption)
    )
}

/// The page for `r`.
pub fn page(r: &Report) -> Result<String, String> {
    let json = serde_json::to_value(r).map_err(|e| e.to_string())?;
    let all: Vec<(&str, &Value)> = r
        .queues
        .iter()
        .map(|q| q.queue.as_str())
        .chain(["total"])
        .zip(
            json["queues"]
                .as_array()
                .into_iter()
                .flatten()
                .chain([&json["total"]]),
        )
        .collect();
    let mut tables = String::new();
    for (subject, rows) in ROWS {
        tables.push_str(&format!(
            "<h2>{}</h2>\n<table>\n<tr><th></th>",
            escape(subject)
        ));
        for (name, _) in &all {
            tables.push_str(&format!("<th>{}</th>", escape(name)));
        }
        tables.push_str("</tr>\n");
        for (label, key) in *rows {
            tables.push_str(&format!("<tr><th>{}</th>", escape(label)));
            for (name, q) in &all {
                tables.push_str(&format!(
                    "<td data-key=\"{}.{key}\">{}</td>",
                    escape(name),
                    shown(lookup(q, key))
                ));
            }
            tables.push_str("</tr>\n");
        }
        tables.push_str("</table>\n");
    }

    let names: Vec<String> = r.queues.iter().map(|q| q.queue.clone()).collect();
    let per_queue =
        |f: &dyn Fn(&super::QueueReport) -> f64| -> Vec<f64> { r.queues.iter().map(f).collect() };
    let mut charts = String::new();
    charts.push_str(&figure(
        "tickets",
        "Tickets opened per queue",
        bars(
            "Tickets opened",
            "tickets",
            &names,
            &[Series {
                name: "tickets",
                color: BLUE,
                values: per_queue(&|q| q.tickets as f64),
            }],
            true,
        )?,
    ));
    charts.push_str(&figure(
        "first-response",
        "First response per queue, in business hours: median and 90th percentile",
        bars(
            "First response (business hours)",
            "hours",
            &names,
            &[
                Series {
                    name: "median",
                    color: BLUE,
                    values: per_queue(&|q| q.first_response.median_hours.unwrap_or(0.0)),
                },
                Series {
                    name: "p90",
                    color: ORANGE,
                    values: per_queue(&|q| q.first_response.p90_hours.unwrap_or(0.0)),
                },
            ],
            false,
        )?,
    ));
    let scores: Vec<String> = (1..=5).map(|s| s.to_string()).collect();
    charts.push_str(&figure(
        "csat",
        "Satisfaction ratings, all queues: how many of each score",
        bars(
            "Ratings (1 = poor, 5 = very good)",
            "ratings",
            &scores,
            &[Series {
                name: "ratings",
                color: BLUE,
                values: r
                    .total
                    .csat
                    .distribution
                    .iter()
                    .map(|v| *v as f64)
                    .collect(),
            }],
            true,
        )?,
    ));
    charts.push_str(&figure(
        "backlog",
        "Open tickets now, by age",
        bars(
            "Backlog by age",
            "tickets",
            &AGE_BUCKETS.map(str::to_owned),
            &[Series {
                name: "open",
                color: ORANGE,
                values: r.total.backlog.by_age.iter().map(|v| *v as f64).collect(),
            }],
            true,
        )?,
    ));
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map(str::to_owned);
    charts.push_str(&figure(
        "weekday",
        &format!("Customers' mail by weekday ({})", r.timezone),
        bars(
            "Mail by weekday",
            "messages",
            &days,
            &[Series {
                name: "mail",
                color: BLUE,
                values: r.mail_by_weekday.iter().map(|v| *v as f64).collect(),
            }],
            true,
        )?,
    ));
    let hours: Vec<String> = (0..24).map(|h| h.to_string()).collect();
    charts.push_str(&figure(
        "hour",
        &format!("Customers' mail by hour of the day ({})", r.timezone),
        bars(
            "Mail by hour",
            "messages",
            &hours,
            &[Series {
                name: "mail",
                color: BLUE,
                values: r.mail_by_hour.iter().map(|v| *v as f64).collect(),
            }],
            true,
        )?,
    ));

    let period = match r.since {
        Some(s) => format!("since {}", s.format("%Y-%m-%d")),
        None => "all time".into(),
    };
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ticketbox report, {generated}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 1400px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child {{ text-align: left; font-weight: normal; color: #555; }}
tr:first-child th {{ font-weight: bold; color: #222; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; }}
figcaption {{ color: #555; font-size: 90%; max-width: {WIDTH}px; }}
</style>
</head>
<body>
<h1>ticketbox report</h1>
<p id="period">{period}, made {generated}; weekdays and hours in {tz}; the backlog as it stands now.</p>
<section class="charts">
{charts}</section>
{tables}
</body>
</html>
"#,
        generated = r.generated.format("%Y-%m-%d %H:%M UTC"),
        tz = escape(&r.timezone),
    ))
}
