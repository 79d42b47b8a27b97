//! The `ticketbox` command: a thin shell over the library. Errors get
//! context here (anyhow); everything that decides lives in the library.
//!
//! Commands other than `run` first ask a running worker through its control
//! socket; only when no worker answers do they open the store themselves.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ticketbox::clock::{Clock, SystemClock};
use ticketbox::config::Config;
use ticketbox::control::{self, ControlError, Request, WireMail};
use ticketbox::intake::{self, Item};
use ticketbox::outbox::{FileTransport, SmtpTransport, Transport};
use ticketbox::pipeline::{Engine, OutcomeKind};
use ticketbox::report;
use ticketbox::store::{SledStore, Store, StoreError};
use ticketbox::worker::{self, Source, Worker};

#[derive(Parser)]
#[command(name = "ticketbox", version, about = "Email-to-ticket mail processor")]
struct Cli {
    /// Config file; built-in defaults when it does not exist.
    #[arg(long, global = true, default_value = "ticketbox.toml")]
    config: PathBuf,
    /// Data directory (the sled store); overrides `data_dir` in the config.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read mail (IMAP mailboxes, else the Maildir), deliver acknowledgements, run until Ctrl-C.
    Run {
        /// Process what is there, deliver, and exit.
        #[arg(long)]
        once: bool,
        /// Read this Maildir (instead of the configured mailboxes).
        #[arg(long)]
        maildir: Option<PathBuf>,
    },
    /// Ingest messages from files, directories, Maildirs, mbox files or `-` (stdin).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Queue acknowledgements without delivering them.
        #[arg(long)]
        no_deliver: bool,
    },
    /// List tickets.
    Tickets {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its messages.
    Show {
        ticket: String,
        #[arg(long)]
        json: bool,
    },
    /// List outgoing mail, pending and sent.
    Outbox {
        #[arg(long)]
        json: bool,
    },
    /// List quarantined messages and why.
    Quarantine {
        #[arg(long)]
        json: bool,
    },
    /// Check and try out the rules in `rules/`.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Change a ticket's status (pending stops the SLA clock, open restarts it).
    Set {
        ticket: String,
        #[arg(long)]
        status: String,
    },
    /// Record a customer's language and time zone for future mail.
    Customer {
        address: String,
        /// Two-letter language code (he, pl, en).
        #[arg(long)]
        language: Option<String>,
        /// IANA time zone (Asia/Jerusalem).
        #[arg(long)]
        timezone: Option<String>,
    },
    /// Look at the mail templates.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Render a template: text to the terminal, HTML to a file.
    Preview {
        /// Template name, e.g. `ack`.
        name: String,
        #[arg(long, default_value = "en")]
        lang: String,
        /// Render for a stored ticket.
        #[arg(long, conflicts_with = "message")]
        ticket: Option<String>,
        /// Render for a message file, as if it opened a ticket now.
        #[arg(long)]
        message: Option<PathBuf>,
        /// Write the HTML part here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate the rule files; exit non-zero with every error.
    Check {
        /// Rules directory (default: `rules_dir` from the config).
        dir: Option<PathBuf>,
    },
    /// Dry run: explain each rule on a message, or re-evaluate stored tickets.
    Test {
        /// The message (.eml) to evaluate.
        #[arg(required_unless_present = "replay")]
        message: Option<PathBuf>,
        /// Re-evaluate stored tickets and show which decisions would change.
        #[arg(long, conflicts_with = "message")]
        replay: bool,
        /// With --replay: only tickets created since this date (2026-11-01 or RFC 3339).
        #[arg(long, requires = "replay")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Run { .. }) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ticketbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    let explicit = cli.config != Path::new("ticketbox.toml");
    let mut cfg = Config::load(&cli.config, explicit).context("loading the config")?;
    if let Some(d) = cli.data {
        cfg.data_dir = d;
    }
    let read_only = match cli.command {
        Command::Run { once, maildir } => {
            let source = match maildir {
                Some(dir) => Source::Maildir(dir),
                None if !cfg.mailbox.is_empty() => Source::Imap(cfg.mailbox.clone()),
                None => Source::Maildir(cfg.intake.maildir.clone()),
            };
            run(cfg, source, once)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ingest {
            paths,
            json,
            no_deliver,
        } => return ingest(cfg, &paths, json, no_deliver),
        Command::Tickets {
            status,
            queue,
            json,
        } => Request::Tickets {
            status,
            queue,
            json,
        },
        Command::Show { ticket, json } => Request::Show { ticket, json },
        Command::Outbox { json } => Request::Outbox { json },
        Command::Quarantine { json } => Request::Quarantine { json },
        Command::Rules {
            command: RulesCommand::Check { dir },
        } => return rules_check(cfg, dir),
        Command::Set { ticket, status } => Request::SetStatus {
            ticket: report::ticket_number(&ticket)
                .with_context(|| format!("{ticket:?} is not a ticket number"))?,
            status: status.parse().map_err(anyhow::Error::msg)?,
        },
        Command::Customer {
            address,
            language,
            timezone,
        } => Request::SetCustomer {
            address,
            language,
            timezone,
        },
        Command::Templates {
            command:
                TemplatesCommand::Preview {
                    name,
                    lang,
                    ticket,
                    message,
                    html,
                },
        } => {
            return templates_preview(
                cfg,
                &name,
                &lang,
                ticket.as_deref(),
                message.as_deref(),
                html.as_deref(),
            );
        }
        Command::Rules {
            command:
                RulesCommand::Test {
                    message,
                    replay,
                    since,
                    json,
                },
        } => {
            if replay {
                Request::RulesReplay {
                    json,
                    since: since.as_deref().map(parse_since).transpose()?,
                }
            } else {
                let path = message.context("give a message file, or --replay")?;
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                if !cfg.data_dir.exists() {
                    // No store yet: nothing to thread against; test as new.
                    return rules_test_offline(cfg, &bytes, json);
                }
                Request::RulesTest {
                    json,
                    message: WireMail::new(&bytes, path.display().to_string()),
                }
            }
        }
    };
    // A running worker first; the store directly only when none answers.
    let store = match reach(&cfg, &read_only)? {
        Reached::Worker(code) => return Ok(code),
        Reached::Store(store) => store,
    };
    let tags = ticketbox::subject::TagFormat::new(&cfg.tickets.tag)?;
    let mut out = std::io::stdout().lock();
    match read_only {
        Request::Tickets {
            status,
            queue,
            json,
        } => report::tickets(&mut out, &store, status.as_deref(), queue.as_deref(), json)?,
        Request::Show { ticket, json } => report::show(&mut out, &store, &ticket, &tags, json)?,
        Request::Outbox { json } => report::outbox(&mut out, &store, json)?,
        Request::Quarantine { json } => report::quarantine(&mut out, &store, json)?,
        Request::RulesTest { json, message } => {
            let engine = engine(cfg, &store)?;
            let raw = message.bytes().context("decoding the message")?;
            let r = ticketbox::dryrun::test_message(
                &engine,
                &engine.rules(),
                Some(&store),
                &raw,
                chrono::Utc::now(),
            )?;
            report::rules_test(&mut out, &r, json)?
        }
        Request::RulesReplay { json, since } => {
            let engine = engine(cfg, &store)?;
            let (seen, changes) =
                ticketbox::dryrun::replay(&engine, &engine.rules(), &store, since)?;
            report::rules_replay(&mut out, seen, &changes, json)?
        }
        Request::SetStatus { ticket, status } => {
            let engine = engine(cfg, &store)?;
            let note =
                ticketbox::ops::set_status(&engine, &store, ticket, status, chrono::Utc::now())?;
            store.flush()?;
            writeln!(out, "{note}")?;
        }
        Request::SetCustomer {
            address,
            language,
            timezone,
        } => {
            let note = ticketbox::ops::set_customer(&store, &address, language, timezone)?;
            store.flush()?;
            writeln!(out, "{note}")?;
        }
        Request::Ingest { .. } => unreachable!("ingest is handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn templates_preview(
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
            (Some(open_store(&cfg)?), PreviewSource::Ticket(id))
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
    let mut out = std::io::stdout().lock();
    if r.language != lang {
        writeln!(out, "(no {lang:?} template: showing {:?})", r.language)?;
    }
    writeln!(out, "Subject: {}\n\n{}", r.subject, r.text)?;
    match (html, r.html) {
        (Some(path), Some(h)) => {
            std::fs::write(path, h).with_context(|| format!("writing {}", path.display()))?;
            writeln!(out, "HTML part written to {}", path.display())?;
        }
        (Some(_), None) => writeln!(out, "(this template has no HTML part)")?,
        (None, Some(_)) => writeln!(out, "(an HTML part exists: add --html FILE to write it)")?,
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-01` (midnight UTC) or an RFC 3339 time.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| {
        format!("--since {s:?}: expected a date like 2026-11-01 or an RFC 3339 time")
    })?;
    Ok(d.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn rules_check(mut cfg: Config, dir: Option<PathBuf>) -> Result<ExitCode> {
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

fn rules_test_offline(cfg: Config, raw: &[u8], json: bool) -> Result<ExitCode> {
    let engine = Engine::new(cfg, "rules-test".into()).context("loading rules and templates")?;
    let r = ticketbox::dryrun::test_message::<SledStore>(
        &engine,
        &engine.rules(),
        None,
        raw,
        chrono::Utc::now(),
    )?;
    report::rules_test(&mut std::io::stdout().lock(), &r, json)?;
    Ok(ExitCode::SUCCESS)
}

/// Sends `req` to a worker running on this data directory. `None` when no
/// worker answers.
fn ask_worker(cfg: &Config, req: &Request) -> Result<Option<ExitCode>> {
    if !control::socket_path(&cfg.data_dir).exists() {
        return Ok(None);
    }
    let answer = current_thread()?.block_on(control::request(&cfg.data_dir, req));
    match answer {
        Ok(resp) => {
            std::io::stdout()
                .write_all(resp.stdout.as_bytes())
                .context("writing to stdout")?;
            match resp.error {
                Some(e) => {
                    eprintln!("ticketbox: {e}");
                    Ok(Some(ExitCode::from(1)))
                }
                None => Ok(Some(ExitCode::SUCCESS)),
            }
        }
        Err(ControlError::NotRunning { .. }) => Ok(None),
        Err(e) => Err(e).context("asking the running worker"),
    }
}

enum Reached {
    /// A running worker answered, with this exit code.
    Worker(ExitCode),
    /// No worker: the store, opened here.
    Store(SledStore),
}

/// Asks a running worker, else opens the store. A worker that is starting
/// or stopping holds the store without answering yet: wait a little for it.
fn reach(cfg: &Config, req: &Request) -> Result<Reached> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(code) = ask_worker(cfg, req)? {
            return Ok(Reached::Worker(code));
        }
        match open_store(cfg) {
            Ok(store) => return Ok(Reached::Store(store)),
            Err(e) if std::time::Instant::now() < deadline && is_locked(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_locked(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreError>()
        .is_some_and(|e| matches!(e, StoreError::Locked { .. }))
}

fn open_store(cfg: &Config) -> Result<SledStore> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    match SledStore::open(&cfg.data_dir, cfg.tickets.first_number) {
        Ok(s) => Ok(s),
        Err(e @ StoreError::Locked { .. }) => Err(anyhow::Error::new(e).context(format!(
            "another ticketbox process holds the store, and no worker answers on {}",
            control::socket_path(&cfg.data_dir).display()
        ))),
        Err(e) => Err(e).context("opening the store"),
    }
}

/// The instance id from the config, else the one kept in the store, else a
/// new one (kept for next time).
fn instance_id(cfg: &Config, store: &SledStore) -> Result<String> {
    if !cfg.instance_id.is_empty() {
        return Ok(cfg.instance_id.clone());
    }
    if let Some(id) = store.meta("instance_id")? {
        return Ok(id);
    }
    let seed = format!(
        "{:?}{}{}",
        std::time::SystemTime::now(),
        std::process::id(),
        cfg.data_dir.display()
    );
    let id = intake::content_hash(seed.as_bytes())[..16].to_owned();
    store.set_meta("instance_id", &id)?;
    store.flush()?;
    Ok(id)
}

fn engine(cfg: Config, store: &SledStore) -> Result<Engine> {
    let id = instance_id(&cfg, store)?;
    Engine::new(cfg, id).context("loading rules and templates")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The configured transport.
fn transport(cfg: &Config) -> Result<Arc<dyn Transport>> {
    Ok(match cfg.outbox.transport.as_str() {
        "smtp" => Arc::new(SmtpTransport::new(&cfg.smtp).context("setting up SMTP")?),
        _ => Arc::new(FileTransport::new(&cfg.outbox.dir).with_context(|| {
            format!("creating the outbox directory {}", cfg.outbox.dir.display())
        })?),
    })
}

fn run(cfg: Config, source: Source, once: bool) -> Result<()> {
    if let Source::Maildir(dir) = &source
        && !dir.is_dir()
    {
        bail!(
            "the Maildir {} does not exist (configure [[mailbox]], set intake.maildir or pass --maildir)",
            dir.display()
        );
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
    let worker = Worker {
        engine,
        store,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        transport,
    };
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
        skipped = stats.skipped,
        unreadable = stats.unreadable,
        "done"
    );
    Ok(())
}

async fn shutdown_signal() {
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

fn read_items(paths: &[PathBuf]) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for p in paths {
        if p == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            items.extend(intake::items_from_stdin(bytes));
        } else {
            items.extend(
                intake::items_for_path(p).with_context(|| format!("reading {}", p.display()))?,
            );
        }
    }
    Ok(items)
}

fn ingest(cfg: Config, paths: &[PathBuf], json: bool, no_deliver: bool) -> Result<ExitCode> {
    let items = read_items(paths)?;
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
                    return Ok(if unreadable { ExitCode::from(2) } else { code });
                }
                Reached::Store(store) => store,
            }
        }
        Err(e) => return Err(e),
    };
    let policy = ticketbox::outbox::Policy {
        limit: usize::MAX,
        ..cfg.delivery_policy()
    };
    let rt = runtime()?;
    let _rt_context = rt.enter();
    let transport = transport(&cfg)?;
    let engine = engine(cfg, &store)?;
    let clock = SystemClock;
    let mut out = std::io::stdout().lock();
    let mut write_err = None;
    let stats = worker::ingest(&engine, &store, &clock, items, false, &mut |o| {
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
    })?;
    if let Some(e) = write_err {
        return Err(e).context("writing to stdout");
    }
    if !no_deliver {
        rt.block_on(ticketbox::outbox::deliver_due(
            &store,
            &*transport,
            &clock,
            &policy,
        ))?;
    }
    Ok(if stats.unreadable > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
