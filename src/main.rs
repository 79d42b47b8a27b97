//! The `ticketbox` command: a thin shell over the library. Errors get
//! context here (anyhow); everything that decides lives in the library.

mod listing;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ticketbox::clock::{Clock, SystemClock};
use ticketbox::config::Config;
use ticketbox::intake;
use ticketbox::outbox::FileTransport;
use ticketbox::pipeline::{Engine, OutcomeKind};
use ticketbox::store::{SledStore, Store, StoreError};
use ticketbox::worker::{self, Worker};

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
    /// Process the Maildir, deliver acknowledgements, keep watching until Ctrl-C.
    Run {
        /// Process what is there, deliver, and exit.
        #[arg(long)]
        once: bool,
        /// Maildir to read; overrides `intake.maildir`.
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
}

fn main() -> std::process::ExitCode {
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
            std::process::ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> Result<std::process::ExitCode> {
    let explicit = cli.config != Path::new("ticketbox.toml");
    let mut cfg = Config::load(&cli.config, explicit).context("loading the config")?;
    if let Some(d) = cli.data {
        cfg.data_dir = d;
    }
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Run { once, maildir } => {
            let maildir = maildir.unwrap_or_else(|| cfg.intake.maildir.clone());
            run(cfg, &maildir, once)?;
            Ok(ok)
        }
        Command::Ingest {
            paths,
            json,
            no_deliver,
        } => ingest(cfg, &paths, json, no_deliver),
        Command::Tickets {
            status,
            queue,
            json,
        } => {
            let store = open_store(&cfg)?;
            listing::tickets(&store, status.as_deref(), queue.as_deref(), json)?;
            Ok(ok)
        }
        Command::Show { ticket, json } => {
            let store = open_store(&cfg)?;
            let tags = ticketbox::subject::TagFormat::new(&cfg.tickets.tag)?;
            listing::show(&store, &ticket, &tags, json)?;
            Ok(ok)
        }
        Command::Outbox { json } => {
            listing::outbox(&open_store(&cfg)?, json)?;
            Ok(ok)
        }
        Command::Quarantine { json } => {
            listing::quarantine(&open_store(&cfg)?, json)?;
            Ok(ok)
        }
    }
}

fn open_store(cfg: &Config) -> Result<SledStore> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    match SledStore::open(&cfg.data_dir, cfg.tickets.first_number) {
        Ok(s) => Ok(s),
        Err(StoreError::Locked { path }) => bail!(
            "the store in {path} is in use by a running ticketbox (only one process may open it); stop it or run this command again when it is done"
        ),
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

fn run(cfg: Config, maildir: &Path, once: bool) -> Result<()> {
    if !maildir.is_dir() {
        bail!(
            "the Maildir {} does not exist (set intake.maildir or pass --maildir)",
            maildir.display()
        );
    }
    let store = Arc::new(open_store(&cfg)?);
    let transport = FileTransport::new(&cfg.outbox.dir)
        .with_context(|| format!("creating the outbox directory {}", cfg.outbox.dir.display()))?;
    let engine = Arc::new(engine(cfg, &store)?);
    let worker = Worker {
        engine,
        store,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        transport: Arc::new(transport),
    };
    let rt = runtime()?;
    let stats = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        worker.run(maildir, once, rx).await
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

fn ingest(
    cfg: Config,
    paths: &[PathBuf],
    json: bool,
    no_deliver: bool,
) -> Result<std::process::ExitCode> {
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
    let store = open_store(&cfg)?;
    let outbox_dir = cfg.outbox.dir.clone();
    let max_attempts = cfg.outbox.max_attempts;
    let engine = engine(cfg, &store)?;
    let clock = SystemClock;
    let mut out = std::io::stdout().lock();
    let mut write_err = None;
    let stats = worker::ingest(&engine, &store, &clock, items, false, &mut |o| {
        let line = if json {
            listing::outcome_json(o)
        } else {
            listing::outcome_line(o, &engine.threading.tags)
        };
        if let Err(e) = std::io::Write::write_all(&mut out, (line + "\n").as_bytes()) {
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
        let transport = FileTransport::new(&outbox_dir)
            .with_context(|| format!("creating the outbox directory {}", outbox_dir.display()))?;
        runtime()?.block_on(ticketbox::outbox::deliver_due(
            &store,
            &transport,
            &clock,
            max_attempts,
            usize::MAX,
        ))?;
    }
    Ok(if stats.unreadable > 0 {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::SUCCESS
    })
}
