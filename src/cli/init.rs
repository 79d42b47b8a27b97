//! `ticketbox init [DIR]`: a place to start: a commented `ticketbox.toml`
//! listing every key with its default, the shipped rules and templates to
//! edit, and an empty Maildir for `run` to read.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// The config `init` writes (also `examples/ticketbox.toml`).
pub const CONFIG: &str = include_str!("../../examples/ticketbox.toml");

/// The shipped rules, by file under `rules/`.
const RULES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../rules/README.md")),
    (
        "00-automatic.toml",
        include_str!("../../rules/00-automatic.toml"),
    ),
    (
        "10-routing.toml",
        include_str!("../../rules/10-routing.toml"),
    ),
    (
        "20-priority.toml",
        include_str!("../../rules/20-priority.toml"),
    ),
    ("30-vip.toml", include_str!("../../rules/30-vip.toml")),
    (
        "lists/no-reply-senders.txt",
        include_str!("../../rules/lists/no-reply-senders.txt"),
    ),
    (
        "lists/vip-domains.txt",
        include_str!("../../rules/lists/vip-domains.txt"),
    ),
];

/// Writes the starting files into `dir`; refuses to overwrite anything.
/// Returns the lines to tell the admin.
pub fn init(dir: &Path) -> Result<Vec<String>> {
    let config = dir.join("ticketbox.toml");
    if config.exists() {
        bail!(
            "{} exists; init writes only into a directory without one",
            config.display()
        );
    }
    let mut files: Vec<(String, &str)> = vec![("ticketbox.toml".into(), CONFIG)];
    files.extend(RULES.iter().map(|(p, t)| (format!("rules/{p}"), *t)));
    files.push((
        "templates/README.md".into(),
        include_str!("../../templates/README.md"),
    ));
    files.extend(
        ticketbox::outgoing::render::BUILTIN
            .iter()
            .map(|(p, t)| (format!("templates/{p}"), *t)),
    );
    for (path, _) in &files {
        let p = dir.join(path);
        if p.exists() {
            bail!("{} exists; not overwriting it", p.display());
        }
    }
    for (path, text) in &files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    for sub in ["new", "cur", "tmp"] {
        let p = dir.join("Maildir").join(sub);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    let shown = dir.display();
    Ok(vec![
        format!(
            "wrote {shown}/ticketbox.toml (every key, with its default), {shown}/rules/, {shown}/templates/ and an empty {shown}/Maildir/"
        ),
        "next, in that directory:".into(),
        "  edit [support] address and name in ticketbox.toml, then `ticketbox config check`".into(),
        "  put mail into Maildir/new (or configure [[mailbox]]) and `ticketbox run`".into(),
        "  `ticketbox tickets`, `ticketbox show 1000`, `ticketbox rules test some.eml`".into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `# key = value` line of the written config, uncommented, is
    /// valid and is the default: the file tells the truth about defaults.
    #[test]
    fn the_commented_defaults_are_the_defaults() {
        let header = regex::Regex::new(r"^# (\[[^\]]*\]\]?|[a-z_]+ = .*)$").unwrap();
        let open: String = CONFIG
            .lines()
            .map(|l| match header.captures(l) {
                Some(c) => c[1].to_owned(),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(open.contains("\n[sla.policies.standard]\n"), "{open}");
        let all = ticketbox::config::Config::parse(&open, "uncommented").unwrap();
        let plain = ticketbox::config::Config::parse(CONFIG, "ticketbox.toml").unwrap();
        let d = ticketbox::config::Config::default();
        for (name, a, b) in [
            (
                "tickets",
                format!("{:?}", all.tickets),
                format!("{:?}", d.tickets),
            ),
            (
                "threading",
                format!("{:?}", all.threading),
                format!("{:?}", d.threading),
            ),
            ("ack", format!("{:?}", all.ack), format!("{:?}", d.ack)),
            (
                "sla",
                format!("{:?}", all.sla.policies),
                format!("{:?}", d.sla.policies),
            ),
            (
                "estimate",
                format!("{:?}", all.sla.estimate),
                format!("{:?}", d.sla.estimate),
            ),
            (
                "limits",
                format!("{:?}", all.limits),
                format!("{:?}", d.limits),
            ),
            (
                "outbox",
                format!("{:?}", all.outbox),
                format!("{:?}", d.outbox),
            ),
            ("smtp", format!("{:?}", all.smtp), format!("{:?}", d.smtp)),
            (
                "calendars",
                format!("{:?}", all.calendars),
                format!("{:?}", d.calendars),
            ),
            (
                "queues",
                format!("{:?}", all.queues),
                format!("{:?}", d.queues),
            ),
            ("csat", format!("{:?}", all.csat), format!("{:?}", d.csat)),
            (
                "bounces",
                format!("{:?}", all.bounces),
                format!("{:?}", d.bounces),
            ),
            (
                "health",
                format!("{:?}", all.health),
                format!("{:?}", d.health),
            ),
            ("log", format!("{:?}", all.log), format!("{:?}", d.log)),
            (
                "metrics",
                format!("{:?}", all.metrics),
                format!("{:?}", d.metrics),
            ),
            (
                "plain",
                format!("{:?}", plain.tickets),
                format!("{:?}", d.tickets),
            ),
        ] {
            assert_eq!(a, b, "{name}");
        }
        assert_eq!(all.intake.history_hours, d.intake.history_hours);
        assert_eq!(all.data_dir, d.data_dir);
        assert_eq!(all.support.team_language, d.support.team_language);
    }

    #[test]
    fn init_writes_a_working_place_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let lines = init(dir.path()).unwrap();
        assert!(lines[0].contains("ticketbox.toml"));
        for p in [
            "ticketbox.toml",
            "rules/10-routing.toml",
            "templates/he/ack.html",
            "Maildir/new",
        ] {
            assert!(dir.path().join(p).exists(), "{p}");
        }
        let e = init(dir.path()).unwrap_err().to_string();
        assert!(e.contains("exists"), "{e}");
    }
}
