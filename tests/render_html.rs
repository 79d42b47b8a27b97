//! The acknowledgement as a person sees it: the HTML part rendered by
//! headless Chromium (Debian's package). Hebrew must run right to left,
//! Polish left to right; the PNGs stay in target/test-artifacts/.

mod common;

use common::browser::{self, chromium};
use common::{Sandbox, fixture};
use std::path::{Path, PathBuf};

fn headless(chromium: &Path, profile: &Path) -> std::process::Command {
    browser::headless(chromium, profile, (800, 500))
}

/// Measures an element (`SELECTOR`) in the browser: its computed direction
/// and where its text sits on the page.
const PROBE: &str = r#"<script>
const p = document.querySelector('SELECTOR');
const r = document.createRange(); r.selectNodeContents(p);
const box = r.getBoundingClientRect();
const root = document.documentElement;
root.setAttribute('data-direction', getComputedStyle(p).direction);
root.setAttribute('data-left', Math.round(box.left));
root.setAttribute('data-right', Math.round(box.right));
root.setAttribute('data-width', root.clientWidth);
</script></body>"#;

fn attr(dom: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {dom}"))
        + key.len();
    dom[start..].split('"').next().unwrap().to_owned()
}

/// Renders `template` for `message` in `lang`; returns (direction, left,
/// right, width) of the element `selector` and the screenshot's path.
fn render(
    sb: &Sandbox,
    chromium: &Path,
    (template, selector): (&str, &str),
    lang: &str,
    message: &[u8],
) -> (String, i64, i64, i64, PathBuf) {
    let name = format!("{template}-{lang}-{}", message.len());
    let msg = sb.path(&format!("{name}.eml"));
    std::fs::write(&msg, message).unwrap();
    let html = sb.path(&format!("{name}.html"));
    sb.run(&[
        "templates",
        "preview",
        template,
        "--lang",
        lang,
        "--message",
        msg.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();

    let probe = sb.path(&format!("probe-{name}.html"));
    let script = PROBE.replace("SELECTOR", selector);
    std::fs::write(&probe, page.replace("</body>", &script)).unwrap();
    let out = headless(chromium, &sb.path(&format!("profile-a-{name}")))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let num = |n: &str| attr(&dom, n).parse::<i64>().unwrap();

    let artifacts = browser::artifacts();
    let png = artifacts.join(format!("{template}-{lang}.png"));
    let profile = sb.path(&format!("profile-b-{name}"));
    browser::screenshot(chromium, &profile, (800, 500), &html, &png);
    (
        attr(&dom, "data-direction"),
        num("data-left"),
        num("data-right"),
        num("data-width"),
        png,
    )
}

#[test]
fn hebrew_reads_right_to_left_and_polish_left_to_right() {
    let Some(chromium) = chromium() else { return };
    let sb = Sandbox::new("");

    let ack = ("ack", "#greeting");
    let (dir, left, right, width, png) = render(
        &sb,
        &chromium,
        ack,
        "he",
        &fixture("hebrew-windows-1255.eml"),
    );
    assert_eq!(dir, "rtl");
    // The greeting hugs the right margin and leaves the left side empty.
    assert!(width - right < 30, "right edge {right} of {width}");
    assert!(
        left > width / 2,
        "left edge {left} of {width}: not right-aligned"
    );
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(size > 5_000, "{} is only {size} bytes", png.display());
    eprintln!("Hebrew acknowledgement rendered: {}", png.display());

    let (dir, left, right, width, png) =
        render(&sb, &chromium, ack, "pl", &fixture("polish-iso-8859-2.eml"));
    assert_eq!(dir, "ltr");
    assert!(left < 30, "left edge {left}");
    assert!(right < width / 2, "right edge {right} of {width}");
    assert!(std::fs::metadata(&png).unwrap().len() > 5_000);
    eprintln!("Polish acknowledgement rendered: {}", png.display());
}

#[test]
fn an_agents_answer_keeps_its_own_direction_inside_a_hebrew_mail() {
    let Some(chromium) = chromium() else { return };
    let sb = Sandbox::new("");
    let reply = ("reply", "#answer p");

    // A Hebrew answer in the Hebrew reply: right to left, on the right.
    let (dir, left, right, width, _) = render(
        &sb,
        &chromium,
        reply,
        "he",
        &fixture("hebrew-windows-1255.eml"),
    );
    assert_eq!(dir, "rtl");
    assert!(
        width - right < 30,
        "{left}..{right} of {width}: not on the right"
    );

    // An agent who answers in English: the paragraph runs left to right
    // even though the mail around it is Hebrew.
    let english = b"From: Ola <ola@example.com>\r\nSubject: Re: charger\r\nMessage-ID: <e1@x>\r\n\r\nYour new charger was sent today by courier.\r\n";
    let (dir, left, right, width, png) = render(&sb, &chromium, reply, "he", english);
    assert_eq!(dir, "ltr");
    assert!(
        left < 30 && right < width * 3 / 4,
        "{left}..{right} of {width}: not on the left"
    );
    eprintln!("Hebrew reply with an English answer: {}", png.display());
}
