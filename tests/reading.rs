//! The reader of "what this person wrote" ([`ticketbox::mail::written`]) on
//! replies from real mail clients: Mailgun talon's fixtures in
//! `../shared/corpus/talon` (12 clients' whole messages, 9 HTML bodies),
//! read through the same parse step the pipeline uses.

use std::path::Path;
use ticketbox::mail::{html, parse, written};

fn corpus() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/talon");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/corpus/talon is not present");
        None
    }
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn talon_standard_replies_read_as_the_person_wrote_them() {
    let Some(dir) = corpus() else { return };
    let mut names: Vec<_> = std::fs::read_dir(dir.join("standard_replies"))
        .expect("talon dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    let (mut exact, mut bad) = (0, Vec::new());
    for path in &names {
        let raw = std::fs::read(path).expect("read");
        let env = parse::parse(&raw, "h").expect("parses");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let want = std::fs::read_to_string(
            dir.join("standard_replies")
                .join(format!("{stem}_reply_text")),
        )
        .unwrap_or_else(|_| "Hello".to_owned());
        // talon's expected text keeps the signature and the phone's
        // footer; ours keeps the signature apart and drops the footer, so
        // the expected text is read by the same rules to compare.
        let want = written::read(&want).with_signature();
        let got = written::read(&env.text).with_signature();
        if got.trim() == want.trim() {
            exact += 1;
        } else {
            bad.push(format!("{stem}: want {:?}\n got {:?}", want.trim(), got));
        }
    }
    eprintln!("talon standard replies: {exact} of {} exact", names.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn talon_html_replies_read_as_the_person_wrote_them() {
    let Some(dir) = corpus() else { return };
    let mut names: Vec<_> = std::fs::read_dir(dir.join("html_replies"))
        .expect("talon dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    names.sort();
    let want = squeeze("Hi. I am fine.\n\nThanks,\nAlex");
    let (mut exact, mut bad) = (0, Vec::new());
    for path in &names {
        let bytes = std::fs::read(path).expect("read");
        let text = html::to_text(&String::from_utf8_lossy(&bytes));
        let w = written::read(&text);
        let got = squeeze(&w.with_signature());
        if got == want {
            exact += 1;
        } else {
            bad.push(format!(
                "{}:\n{text}\n=> {:?}",
                path.display(),
                w.with_signature()
            ));
        }
    }
    eprintln!("talon HTML replies: {exact} of {} exact", names.len());
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
