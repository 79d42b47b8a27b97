//! What each command does, beyond asking the worker or printing a report.

use super::access::{Reached, current_thread, engine, is_locked, open_store, reach, runtime};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ticketbox::clock::{Clock, SystemClock};
use ticketbox::config::Config;
use ticketbox::intake::{self, Item};
use ticketbox::outbox::{FileTransport, SmtpTransport, Transport};
use ticketbox::pipeline::{Engine, OutcomeKind};
use ticketbox::report;
use ticketbox::runtime::control::{self, Request, WireMail};
use ticketbox::runtime::worker::{self, Intake, Worker};
use ticketbox::store::Opened;

pub fn templates_preview(
    cfg: Config,
    name: &str,
    lang: &str,
    ticket: Option<&str>,
    message: Option<&Path>,
    html: Option<&Path>,
) -> Result<ExitCode> {
    use ticketbox::dryrun::PreviewSource;
    let raw;
    let (store, source) = match (ticket, message) {
        (Some(t), _) => {
            let id = report::ticket_number(t)
                .with_context(|| format!("{t:?} is not a ticket number"))?;
            // A running worker holds the store: it renders for us.
            let html = html
                .map(std::path::absolute)
                .transpose()
                .context("resolving --html")?;
            let req = Request::Preview {
                name: name.to_owned(),
                lang: lang.to_owned(),
                ticket: id,
                html,
            };
            match reach(&cfg, &req)? {
                Reached::Worker(code) => return Ok(code),
                Reached::Store(store) => (Some(*store), PreviewSource::Ticket(id)),
            }
        }
        (None, Some(path)) => {
            raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            (None, PreviewSource::Message(&raw))
        }
        (None, None) => (None, PreviewSource::Example),
    };
    let engine = match &store {
        Some(s) => engine(cfg, s)?,
        None => Engine::new(cfg, "preview".into()).context("loading rules and templates")?,
    };
    let r = ticketbox::dryrun::preview(
        &engine,
        store.as_ref(),
        name,
        lang,
        source,
        chrono::Utc::now(),
    )
    .map_err(anyhow::Error::msg)?;
    report::preview(&mut std::io::stdout().lock(), &r, lang, html)?;
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| {
        format!("--since {s:?}: expected a date like 2026-11-01 or an RFC 3339 time")
    })?;
    Ok(d.and_time(chrono::NaiveTime::MIN).and_utc())
}

pub fn rules_check(mut cfg: Config, dir: Option<PathBuf>) -> Result<ExitCode> {
    if let Some(d) = dir {
        cfg.rules_dir = d;
    }
    let shown = cfg.rules_dir.display().to_string();
    match Engine::new(cfg, "rules-check".into()) {
        Ok(engine) => {
            let rules = engine.rules();
            let files: std::collections::BTreeSet<&str> =
                rules.rules.iter().map(|r| r.file.as_str()).collect();
            println!(
                "{shown}: {} rules in {} files, all valid",
                rules.rules.len(),
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ticketbox::pipeline::EngineError::Rules(errors)) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{shown}: {} errors; nothing was changed", errors.0.len());
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// `ticketbox config check`: the config, then the rules and templates it
/// names, every problem listed.
pub fn config_check(path: &Path) -> Result<ExitCode> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{shown}: no such file (`ticketbox init` writes one with every key)")
        }
        Err(e) => return Err(e).with_context(|| format!("reading {shown}")),
    };
    let cfg = match Config::check_all(&text, &shown) {
        Ok(cfg) => cfg,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{shown}: {} problem{}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(1));
        }
    };
    // The rules and templates the config names, against its queues,
    // policies and languages.
    let summary = format!(
        "{shown}: good: queues {}; SLA policies {}; {}",
        cfg.known_queues()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        cfg.sla_policies()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        if cfg.mailbox.is_empty() {
            format!("mail from the Maildir {}", cfg.intake.maildir.display())
        } else {
            format!("{} IMAP mailbox(es)", cfg.mailbox.len())
        }
    );
    match Engine::new(cfg, "config-check".into()) {
        Ok(engine) => {
            println!("{summary}");
            println!(
                "rules: {} in {}; templates: all render",
                engine.rules().rules.len(),
                engine.cfg.rules_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn templates_check(cfg: &Config, dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| cfg.templates_dir.clone());
    let shown = dir.display().to_string();
    match ticketbox::outgoing::ack::load_templates(&dir, &cfg.display) {
        Ok(t) => {
            let (files, _) = t.files();
            let langs: std::collections::BTreeSet<&str> =
                files.iter().map(|(l, _)| l.as_str()).collect();
            println!(
                "{shown}: {} templates ({}), each rendered against a full and a sparse sample mail: all good",
                files.len(),
                langs.into_iter().collect::<Vec<_>>().join(", "),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{shown}: {} error{}; a running worker keeps its last good templates",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::from(1))
        }
    }
}

pub fn rules_test_offline(cfg: Config, raw: &[u8], json: bool) -> Result<ExitCode> {
    let engine = Engine::new(cfg, "rules-test".into()).context("loading rules and templates")?;
    let r = ticketbox::dryrun::test_message::<Opened>(
        &engine,
        &engine.rules(),
        None,
        raw,
        chrono::Utc::now(),
    )?;
    report::rules_test(&mut std::io::stdout().lock(), &r, json)?;
    Ok(ExitCode::SUCCESS)
}

/// The configured transport.
pub fn transport(cfg: &Config) -> Result<Arc<dyn Transport>> {
    Ok(match cfg.outbox.transport.as_str() {
        "smtp" => Arc::new(
            SmtpTransport::new(
                &cfg.smtp,
                ticketbox::oauth::Login::named(cfg, cfg.smtp.oauth.as_deref()),
            )
            .context("setting up SMTP")?,
        ),
        _ => Arc::new(FileTransport::new(&cfg.outbox.dir).with_context(|| {
            format!("creating the outbox directory {}", cfg.outbox.dir.display())
        })?),
    })
}

/// Exit status of `run` when outgoing mail failed for now and still waits
/// (EX_TEMPFAIL): a `run --once` in a script must not look like success.
const UNDELIVERED: u8 = 75;

pub fn run(cfg: Config, source: Intake, once: bool) -> Result<ExitCode> {
    if let Intake::Maildir(dir) = &source
        && !dir.is_dir()
    {
        bail!(
            "the Maildir {} does not exist (configure [[mailbox]], set intake.maildir or pass --maildir)",
            dir.display()
        );
    }
    // One worker per data directory: say so at once, not after a wait.
    if control::socket_path(&cfg.data_dir).exists()
        && let Ok(resp) = super::access::current_thread()?
            .block_on(control::request(&cfg.data_dir, &Request::Ping))
    {
        bail!(
            "a worker is already running on {} (pid {}); stop it first, or give this one another --data",
            cfg.data_dir.display(),
            resp.stdout.trim()
        );
    }
    // Passwords are looked up now, before any connection, so a missing
    // variable is one line at start rather than a retry loop later.
    // With OAuth2 the client secret (when there is one) stands in for the
    // password; a sign-in still to be done is that mailbox's failure, not
    // a reason to read no mailbox at all.
    let mut missing = Vec::new();
    let check =
        |what: String, user: &str, oauth: Option<&str>, secret: ticketbox::config::Secret| {
            let read = match ticketbox::oauth::Login::named(&cfg, oauth) {
                Some(login) if login.cfg.secret().is_set() => {
                    login.cfg.secret().read(&login.cfg.client_id)
                }
                Some(_) => Ok(String::new()),
                None => secret.read(user),
            };
            read.err().map(|e| format!("{what}: {e}"))
        };
    if let Intake::Imap(mailboxes) = &source {
        for m in mailboxes {
            missing.extend(check(
                format!("mailbox {:?}", m.name),
                &m.user,
                m.oauth.as_deref(),
                m.secret(),
            ));
        }
    }
    if cfg.outbox.transport == "smtp" && !cfg.smtp.user.is_empty() {
        missing.extend(check(
            "smtp".into(),
            &cfg.smtp.user,
            cfg.smtp.oauth.as_deref(),
            cfg.smtp.secret(),
        ));
    }
    if !missing.is_empty() {
        bail!("cannot start: {}", missing.join("; "));
    }
    // A CLI command may hold the store for a moment: wait for it, briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let store = loop {
        match open_store(&cfg) {
            Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break Arc::new(other?),
        }
    };
    let rt = runtime()?;
    // lettre's SMTP pool is built and dropped inside a runtime context.
    let _rt_context = rt.enter();
    let transport = transport(&cfg)?;
    let engine = Arc::new(engine(cfg, &store)?);
    // Said once at start: where mail comes from and where ours goes.
    let cfg = &engine.cfg;
    let sending = match cfg.outbox.transport.as_str() {
        "smtp" => format!("SMTP via {}:{}", cfg.smtp.host, cfg.smtp.port()),
        _ => format!("as .eml files in {}", cfg.outbox.dir.display()),
    };
    let data = cfg.data_dir.display().to_string();
    let worker = Worker {
        engine,
        store,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        transport,
    };
    let reading = match &source {
        Intake::Maildir(dir) => format!("the Maildir {}", dir.display()),
        Intake::Imap(boxes) => boxes
            .iter()
            .map(|m| {
                format!(
                    "IMAP {} ({}@{}:{}, {})",
                    m.name,
                    m.user,
                    m.host,
                    m.port(),
                    m.folder
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    tracing::info!(reading = %reading, outgoing = %sending, data = %data, once, "starting");
    let stats = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        worker.run(source, once, rx).await
    })?;
    tracing::info!(
        processed = stats.processed,
        already_stored = stats.skipped,
        unreadable = stats.unreadable,
        undelivered = stats.undelivered,
        "done"
    );
    if stats.undelivered > 0 {
        eprintln!(
            "ticketbox: {} outgoing message(s) could not be delivered yet and wait in the outbox \
             (see `ticketbox outbox`)",
            stats.undelivered
        );
        return Ok(ExitCode::from(UNDELIVERED));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// The messages under `paths`, and a line for each path that could not be
/// read: one missing path does not stop the others.
pub fn read_items(paths: &[PathBuf]) -> Result<(Vec<Item>, Vec<String>)> {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            items.extend(intake::items_from_stdin(bytes));
        } else {
            match intake::items_for_path(p) {
                Ok(found) => items.extend(found),
                Err(e) => {
                    let line = format!("cannot read {}: {e}", p.display());
                    eprintln!("ticketbox: {line}");
                    problems.push(line);
                }
            }
        }
    }
    Ok((items, problems))
}

/// What an `ingest` did, told at the end.
#[derive(Default)]
struct Tally {
    by_kind: std::collections::BTreeMap<&'static str, usize>,
    acknowledged: usize,
    history: usize,
}

impl Tally {
    fn add(&mut self, o: &ticketbox::pipeline::Outcome) {
        *self.by_kind.entry(o.outcome.as_str()).or_default() += 1;
        self.acknowledged += usize::from(o.acknowledged);
        self.history += usize::from(o.history);
    }

    fn summary(&self, unreadable: usize, problems: &[String]) -> String {
        let n: usize = self.by_kind.values().sum();
        let mut parts: Vec<String> = [
            ("created", "new tickets"),
            ("appended", "added to tickets"),
            ("duplicate", "already stored"),
            ("ignored", "ignored (automatic mail, bounces, our own)"),
            ("quarantined", "quarantined (see `ticketbox quarantine`)"),
        ]
        .iter()
        .filter_map(|(k, words)| {
            let c = *self.by_kind.get(k)?;
            Some(format!("{c} {words}"))
        })
        .collect();
        parts.push(format!("{} acknowledgements queued", self.acknowledged));
        if self.history > 0 {
            parts.push(format!(
                "{} taken in as history (they arrived over intake.history_hours ago: filed or added, nobody told)",
                self.history
            ));
        }
        if unreadable > 0 {
            parts.push(format!("{unreadable} files unreadable"));
        }
        if !problems.is_empty() {
            parts.push(format!(
                "{} paths not found or not readable",
                problems.len()
            ));
        }
        format!("ingest: {n} messages: {}", parts.join(", "))
    }
}

/// A one-line progress count on a terminal, for inputs large enough to
/// wait for; nothing when stderr is a file or a pipe.
struct Progress {
    total: usize,
    done: usize,
    shown: std::time::Instant,
    on: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            shown: std::time::Instant::now(),
            on: total >= 200 && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn step(&mut self) {
        self.done += 1;
        if self.on && (self.shown.elapsed().as_millis() >= 200 || self.done == self.total) {
            self.shown = std::time::Instant::now();
            let pct = self.done * 100 / self.total.max(1);
            let bar = "#".repeat(pct / 4) + &" ".repeat(25 - pct / 4);
            eprint!("\r[{bar}] {}/{} messages ({pct}%)", self.done, self.total);
            if self.done == self.total {
                eprintln!();
            }
        }
    }
}

pub fn ingest(cfg: Config, paths: &[PathBuf], json: bool, no_deliver: bool) -> Result<ExitCode> {
    let (items, problems) = read_items(paths)?;
    if items.is_empty() && !problems.is_empty() {
        bail!("nothing to ingest: {}", problems.join("; "));
    }
    // With a worker running, the mail goes through it.
    let store = match open_store(&cfg) {
        Ok(store) => store,
        Err(e) if is_locked(&e) => {
            let mut messages = Vec::with_capacity(items.len());
            let mut unreadable = false;
            for item in &items {
                match item.clone().read() {
                    Ok(raw) => messages.push(WireMail::new(&raw.bytes, raw.origin)),
                    Err(e) => {
                        eprintln!("ticketbox: {item:?}: {e}");
                        unreadable = true;
                    }
                }
            }
            match reach(&cfg, &Request::Ingest { json, messages })? {
                Reached::Worker(code) => {
                    return Ok(if unreadable || !problems.is_empty() {
                        ExitCode::from(2)
                    } else {
                        code
                    });
                }
                Reached::Store(store) => *store,
            }
        }
        Err(e) => return Err(e),
    };
    let policy = ticketbox::outbox::Policy {
        limit: usize::MAX,
        ..ticketbox::outbox::Policy::from_config(&cfg)
    };
    let rt = runtime()?;
    let _rt_context = rt.enter();
    let transport = transport(&cfg)?;
    let engine = engine(cfg, &store)?;
    let clock = SystemClock;
    // One line per message: written a block at a time into a file or a
    // pipe (a write per line cost the committing thread ~13 µs a
    // message), a line at a time on a terminal, where someone watches.
    let stdout = std::io::stdout();
    let capacity = if std::io::IsTerminal::is_terminal(&stdout) {
        0
    } else {
        64 << 10
    };
    let mut out = std::io::BufWriter::with_capacity(capacity, stdout.lock());
    let mut write_err = None;
    let mut tally = Tally::default();
    let mut progress = Progress::new(items.len());
    // What the batches queue is delivered while the next ones are
    // processed, on the runtime's threads: a big ingest's first customers
    // hear back before its last message is read, and the file or SMTP
    // work overlaps the deciding.
    let done = std::sync::atomic::AtomicBool::new(false);
    let deliver_round = || {
        rt.block_on(ticketbox::outbox::deliver_due(
            &store,
            &*transport,
            &clock,
            &policy,
        ))
    };
    let (stats, mut to_tell) = std::thread::scope(|scope| -> Result<_> {
        let sender = (!no_deliver).then(|| {
            scope.spawn(|| -> Result<Vec<ticketbox::store::OutboxEntry>> {
                let mut to_tell = Vec::new();
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::Acquire);
                    let round = deliver_round()?;
                    let idle = round.sent + round.retrying + round.failed == 0;
                    to_tell.extend(round.to_tell);
                    if finished {
                        return Ok(to_tell);
                    }
                    if idle {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
            })
        });
        let stats = worker::ingest(&engine, &store, &clock, items, false, &mut |o| {
            tally.add(o);
            progress.step();
            let line = if json {
                report::outcome_json(o)
            } else {
                report::outcome_line(o, &engine.threading.tags)
            };
            if let Err(e) = out.write_all((line + "\n").as_bytes()) {
                write_err.get_or_insert(e);
            }
            if o.outcome == OutcomeKind::Quarantined {
                tracing::warn!(origin = %o.origin, reason = %o.reason, "quarantined");
            }
        });
        done.store(true, std::sync::atomic::Ordering::Release);
        let to_tell = match sender.map(|h| h.join()) {
            Some(Ok(told)) => told?,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Vec::new(),
        };
        Ok((stats?, to_tell))
    })?;
    if let Err(e) = out.flush() {
        write_err.get_or_insert(e);
    }
    if let Some(e) = write_err {
        return Err(e).context("writing to stdout");
    }
    let mut undelivered = 0;
    if !no_deliver {
        // The sender's last round started after the last batch was
        // flushed; agents hear of refused recipients, and that is sent too.
        for e in to_tell.drain(..) {
            ticketbox::pipeline::settle_refused(&engine, &store, &e, clock.now())?;
        }
        ticketbox::store::Store::flush(&store)?;
        let round = deliver_round()?;
        for e in &round.to_tell {
            ticketbox::pipeline::settle_refused(&engine, &store, e, clock.now())?;
        }
        if !round.to_tell.is_empty() {
            ticketbox::store::Store::flush(&store)?;
            deliver_round()?;
        }
        undelivered = ticketbox::store::View::outbox_active(&store)?.len();
    }
    eprintln!("{}", tally.summary(stats.unreadable, &problems));
    Ok(if stats.unreadable > 0 || !problems.is_empty() {
        ExitCode::from(2)
    } else if undelivered > 0 {
        eprintln!(
            "ticketbox: {undelivered} outgoing message(s) could not be delivered yet and wait in the outbox"
        );
        ExitCode::from(UNDELIVERED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ticketbox migrate --to URL`: the embedded store into an empty
/// PostgreSQL database, every record read back and compared.
pub fn migrate(cfg: &Config, target: &ticketbox::config::StoreCfg) -> Result<ExitCode> {
    if cfg.store.is_server() {
        bail!(
            "the config already keeps the store in a database ({}); migrate moves the embedded store in {} (use a config without [store] url)",
            cfg.store.url,
            cfg.data_dir.display()
        );
    }
    if !cfg.data_dir.exists() {
        bail!(
            "no embedded store at {}: nothing to move",
            cfg.data_dir.display()
        );
    }
    let at = super::access::server(target)?;
    let from = super::access::open_store(cfg)?;
    let to = ticketbox::store::open(&at, cfg.tickets.first_number)
        .with_context(|| format!("opening the database at {}", target.url))?;
    let moved = ticketbox::store::moving::move_all(&from, &to).context("moving the store")?;
    println!("moved and checked: {moved}");
    println!(
        "next: in the config, set [store] url = {:?} with password_env or password_file, then start the workers; {} is left as it was",
        target.url,
        cfg.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ticketbox deliver [--recipient ADDR]`: one message from stdin,
/// stored before the exit status says so (0); any failure is an error,
/// which `main` turns into 75 for the mail server to retry.
pub fn deliver(cfg: &Config, recipient: Option<&str>) -> Result<ExitCode> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("reading the message from stdin")?;
    let queue = recipient.and_then(|r| cfg.queue_for_recipient(r));
    let origin = format!("deliver:{}", recipient.unwrap_or("stdin"));
    let store = match open_store(cfg) {
        Ok(store) => store,
        Err(e) if is_locked(&e) => {
            let mail = WireMail {
                queue: queue.clone(),
                ..WireMail::new(&bytes, origin.clone())
            };
            match reach(
                cfg,
                &Request::Ingest {
                    json: false,
                    messages: vec![mail],
                },
            )? {
                Reached::Worker(code) if code == ExitCode::SUCCESS => return Ok(code),
                Reached::Worker(_) => bail!("the running worker could not store it"),
                Reached::Store(store) => *store,
            }
        }
        Err(e) => return Err(e),
    };
    // No worker: stored here; the acknowledgement goes out with the next
    // run (as `ingest --no-deliver`).
    let engine = engine(cfg.clone(), &store)?;
    let raw = ticketbox::intake::RawMail::new(bytes, origin, None).with_queue(queue);
    let outcomes =
        ticketbox::committer::isolate::process_all(&engine, &store, &SystemClock, &[&raw])
            .context("storing the message")?;
    ticketbox::store::Store::flush(&store).context("storing the message")?;
    for o in &outcomes {
        println!("{}", report::outcome_line(o, &engine.threading.tags));
    }
    Ok(ExitCode::SUCCESS)
}

/// The name of the export inside a backup directory.
const BACKUP_FILE: &str = "ticketbox-export.jsonl";

/// `ticketbox export`: through the running worker (on its committer
/// thread, so nothing changes while it is read), else from the store.
pub fn export(cfg: &Config, since: Option<&str>, output: Option<&Path>) -> Result<ExitCode> {
    let since = since.map(parse_since).transpose()?;
    match output {
        Some(path) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("the export's path {}", path.display()))?;
            export_to(cfg, since, &path)
        }
        None => {
            // The worker writes a file; it goes to stdout from there.
            std::fs::create_dir_all(&cfg.data_dir).ok();
            let tmp = std::path::absolute(
                cfg.data_dir
                    .join(format!(".export-{}.jsonl", std::process::id())),
            )?;
            let code = export_to(cfg, since, &tmp);
            let copied = (|| -> Result<()> {
                let mut file = std::fs::File::open(&tmp)?;
                std::io::copy(&mut file, &mut std::io::stdout().lock())?;
                Ok(())
            })();
            let _ = std::fs::remove_file(&tmp);
            let code = code?;
            copied.context("writing the export to stdout")?;
            Ok(code)
        }
    }
}

/// Writes the export into `path` (absolute), through the worker or not.
fn export_to(
    cfg: &Config,
    since: Option<chrono::DateTime<chrono::Utc>>,
    path: &Path,
) -> Result<ExitCode> {
    let req = Request::Export {
        since,
        path: path.to_path_buf(),
    };
    match reach(cfg, &req)? {
        Reached::Worker(code) => {
            if code == ExitCode::SUCCESS {
                eprintln!(
                    "exported (through the running worker) to {}",
                    path.display()
                );
            }
            Ok(code)
        }
        Reached::Store(store) => {
            let wrote =
                ticketbox::store::dump::write_file(&*store, since, chrono::Utc::now(), path)
                    .context("exporting")?;
            eprintln!("exported {wrote} to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ticketbox import FILE`: into the configured store, which must be
/// empty and held by no worker.
pub fn import(cfg: &Config, file: &Path) -> Result<ExitCode> {
    if control::socket_path(&cfg.data_dir).exists()
        && current_thread()?
            .block_on(control::request(&cfg.data_dir, &Request::Ping))
            .is_ok()
    {
        bail!("a worker is running on this store: stop it, and import into an empty store");
    }
    let store = open_store(cfg)?;
    let open = || -> Result<std::io::BufReader<std::fs::File>> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?,
        ))
    };
    let took = ticketbox::store::dump::import(&store, &mut open()?, &mut open()?)
        .with_context(|| format!("importing {}", file.display()))?;
    println!("imported and checked: {took}");
    Ok(ExitCode::SUCCESS)
}

/// `ticketbox backup DIR`: the export and the config, consistent while a
/// worker runs.
pub fn backup(cfg: &Config, config_file: &Path, dir: &Path) -> Result<ExitCode> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::path::absolute(dir)?;
    let code = export_to(cfg, None, &dir.join(BACKUP_FILE))?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    if config_file.exists() {
        std::fs::copy(config_file, dir.join("ticketbox.toml"))
            .with_context(|| format!("copying {}", config_file.display()))?;
    }
    println!("backup in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `ticketbox restore DIR`: a backup's export into the configured store.
pub fn restore(cfg: &Config, dir: &Path) -> Result<ExitCode> {
    import(cfg, &dir.join(BACKUP_FILE))
}
