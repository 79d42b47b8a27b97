//! What an admin meets in the first hour with the CLI: clear answers when
//! something is missing or running, listings that say when they are empty,
//! messages shown with what they say, and an `ingest` that goes on past a
//! bad path.

mod common;

use common::Sandbox;
use common::mailstack::wait_for;
use std::process::Stdio;

fn mail(n: usize, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Carla Customer <carla{n}@customer.example>\r\nTo: support@example.com\r\n\
         Subject: {subject}\r\nMessage-ID: <cli{n}@customer.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn show_prints_what_each_message_says_and_its_message_id() {
    let sb = Sandbox::new("");
    let file = sb.path("one.eml");
    std::fs::write(
        &file,
        mail(
            1,
            "Printer on floor 3",
            "The printer on floor 3 jams on every page.\r\n\r\nOn Sun, Carla wrote:\r\n> an older quote",
        ),
    )
    .unwrap();
    sb.run(&["ingest", file.to_str().unwrap()]);
    let out = stdout(&sb.run(&["show", "1000"]));
    assert!(out.contains("Message-ID <cli1@customer.example>"), "{out}");
    assert!(out.contains("jams on every page"), "{out}");
    assert!(!out.contains("an older quote"), "own words only: {out}");
    let full = stdout(&sb.run(&["show", "TB-1000", "--full"]));
    assert!(full.contains("an older quote"), "{full}");
    let v = sb.json(&["show", "1000", "--json"]);
    let first = &v["messages"][0];
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("jams on every page"),
        "{v:#}"
    );
    assert!(
        first["body"].as_str().unwrap().contains("an older quote"),
        "{v:#}"
    );
}

#[test]
fn empty_and_unknown_things_are_said_plainly() {
    let sb = Sandbox::new("");
    // Nothing stored yet: looking does not create a store.
    let o = sb.command(&["outbox"]).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no data directory at"),
        "{}",
        stderr(&o)
    );
    assert!(!sb.path("data").exists());

    let file = sb.path("one.eml");
    std::fs::write(&file, mail(1, "Hello", "Hi")).unwrap();
    sb.run(&["ingest", "--no-deliver", file.to_str().unwrap()]);
    let o = stdout(&sb.run(&["quarantine"]));
    assert_eq!(o.trim(), "nothing in quarantine");
    let o = stdout(&sb.run(&["tickets", "--status", "closed"]));
    assert_eq!(o.trim(), "no tickets with status closed");
    let o = sb
        .command(&["tickets", "--queue", "nosuch"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no queue \"nosuch\"; the queues are billing, general, technical"),
        "{}",
        stderr(&o)
    );
    let o = sb
        .command(&["tickets", "--status", "opne"])
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("expected new, open, pending, closed or filed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tickets_into_head_exits_quietly() {
    let sb = Sandbox::new("");
    let dir = sb.path("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..400 {
        std::fs::write(
            dir.join(format!("{i:04}.eml")),
            mail(i, &format!("Topic {i}"), "x"),
        )
        .unwrap();
    }
    sb.run(&["ingest", "--no-deliver", dir.to_str().unwrap()]);
    let mut child = sb
        .command(&["tickets"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line and hang up, as `head -1` does.
    {
        use std::io::BufRead;
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("SUBJECT"), "{first}");
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn ingest_goes_on_past_a_missing_path_and_sums_up() {
    let sb = Sandbox::new("");
    let a = sb.path("a.eml");
    let b = sb.path("b.eml");
    std::fs::write(&a, mail(1, "First", "one")).unwrap();
    std::fs::write(&b, mail(2, "Second", "two")).unwrap();
    let o = sb
        .command(&[
            "ingest",
            a.to_str().unwrap(),
            "/nonexistent/x.eml",
            b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/x.eml"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("ingest: 2 messages: 2 new tickets, 2 acknowledgements queued, 1 paths not found or not readable"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 2);
}

#[test]
fn data_moves_the_file_outbox_too() {
    // No outbox.dir in this config: it follows --data.
    let sb = Sandbox::new("[outbox]\ntransport = \"file\"\n");
    let file = sb.path("one.eml");
    std::fs::write(&file, mail(1, "Hello", "Hi")).unwrap();
    let elsewhere = sb.path("elsewhere");
    sb.run(&[
        "--data",
        elsewhere.to_str().unwrap(),
        "ingest",
        file.to_str().unwrap(),
    ]);
    let acks = std::fs::read_dir(elsewhere.join("outbox")).unwrap().count();
    assert_eq!(acks, 1);
    assert!(!sb.path("outbox").exists());
    assert!(!std::path::Path::new("outbox").join("never").exists());
}

#[test]
fn raw_takes_the_short_hash_quarantine_prints() {
    let sb = Sandbox::new("");
    let file = sb.path("empty.eml");
    std::fs::write(&file, b"\r\n\r\n").unwrap();
    sb.command(&["ingest", file.to_str().unwrap()])
        .output()
        .unwrap();
    let v = sb.json(&["quarantine", "--json"]);
    let hash = v[0]["raw_hash"].as_str().unwrap().to_owned();
    let short = &hash[..12];
    let line = stdout(&sb.run(&["quarantine"]));
    assert!(line.contains(short), "{line}");
    let raw = sb.run(&["raw", short]);
    assert_eq!(raw.stdout, b"\r\n\r\n");
}

#[test]
fn a_running_worker_is_said_at_once_and_previews_go_through_it() {
    let sb = Sandbox::new("");
    sb.deliver(1, &mail(1, "Printer", "It jams."));
    let worker = sb.start_worker(&[]);
    assert!(wait_for(15, || sb.worker_log().contains("processed")
        || sb.outbox_files().len() == 1));
    let log = sb.worker_log();
    assert!(log.contains("reading=the Maildir"), "{log}");
    assert!(log.contains("outgoing=as .eml files in"), "{log}");

    let started = std::time::Instant::now();
    let o = sb.command(&["run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a worker is already running on"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "at once"
    );

    let html = sb.path("ack.html");
    let o = sb
        .command(&[
            "templates",
            "preview",
            "ack",
            "--lang",
            "pl",
            "--ticket",
            "1000",
            "--html",
            html.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Subject: [#TB-1000] Printer"),
        "{}",
        stdout(&o)
    );
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("lang=\"pl\"")
    );

    // The report through the worker: its figures, and its page written
    // where the command was asked (a relative path, from here).
    let r = sb.json(&["report", "--json"]);
    assert_eq!(r["total"]["tickets"], 1, "{r:#}");
    assert_eq!(r["total"]["backlog"]["open"], 1, "{r:#}");
    let o = sb
        .command(&["report", "--html", "report.html"])
        .current_dir(sb.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("HTML report written to"),
        "{}",
        stdout(&o)
    );
    let page = std::fs::read_to_string(sb.path("report.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 6);
    let o = sb
        .command(&["report", "--queue", "nosuch"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no queue \"nosuch\""), "{}", stderr(&o));
    assert!(worker.stop().success());
}

#[test]
fn every_argument_has_help() {
    let sb = Sandbox::new("");
    for cmd in [
        vec!["run"],
        vec!["ingest"],
        vec!["tickets"],
        vec!["show"],
        vec!["outbox"],
        vec!["quarantine"],
        vec!["raw"],
        vec!["release"],
        vec!["set"],
        vec!["customer"],
        vec!["rules", "check"],
        vec!["rules", "test"],
        vec!["templates", "check"],
        vec!["templates", "preview"],
        vec!["report"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = stdout(&sb.run(&args));
        // Every argument line (`  --x`, `  <X>`) is followed by words.
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if (t.starts_with("--") || t.starts_with('<') || t.starts_with("-h"))
                && l.starts_with("  ")
            {
                let described = t.split("  ").filter(|p| !p.trim().is_empty()).count() > 1
                    || lines
                        .get(i + 1)
                        .is_some_and(|n| n.starts_with("          "));
                assert!(described, "{cmd:?}: no help for {t:?}\n{out}");
            }
        }
    }
}

#[test]
fn ingesting_an_old_maildir_takes_it_in_as_history_and_says_so() {
    let sb = Sandbox::new("");
    let old = sb.deliver(1, &mail(1, "Old question", "From last spring."));
    let march_2025 =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_741_600_000);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(march_2025)
        .unwrap();
    sb.deliver(2, &mail(2, "New question", "From today."));
    let o = sb
        .command(&["ingest", "--json", sb.maildir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "ingest: 2 messages: 2 new tickets, 1 acknowledgements queued, 1 taken in as history"
        ),
        "{}",
        stderr(&o)
    );
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let history: Vec<bool> = lines
        .iter()
        .map(|l| l["history"].as_bool().unwrap())
        .collect();
    assert_eq!(history.iter().filter(|h| **h).count(), 1, "{lines:?}");
    let filed = sb.json(&["tickets", "--status", "filed", "--json"]);
    assert_eq!(filed[0]["subject"], "Old question");
}
