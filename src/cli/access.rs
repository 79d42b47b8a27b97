//! Reaching the data: with the embedded store, a running worker through
//! its control socket first, the store directly only when no worker
//! answers (the embedded store admits one process); with a server store,
//! the database directly, whatever workers run.

use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use ticketbox::config::Config;
use ticketbox::intake;
use ticketbox::pipeline::Engine;
use ticketbox::runtime::control::{self, ControlError, Request};
use ticketbox::store::View;
use ticketbox::store::{Location, Opened, Store, StoreError};

/// Sends `req` to a worker running on this data directory. `None` when no
/// worker answers.
pub fn ask_worker(cfg: &Config, req: &Request) -> Result<Option<ExitCode>> {
    if !control::socket_path(&cfg.data_dir).exists() {
        return Ok(None);
    }
    let answer = current_thread()?.block_on(control::request(&cfg.data_dir, req));
    match answer {
        Ok(resp) => {
            // Raw mail travels base64 (it need not be UTF-8); the rest is text.
            let bytes = match req {
                Request::Raw { .. } if resp.error.is_none() => {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(resp.stdout.trim())
                        .context("decoding the worker's answer")?
                }
                _ => resp.stdout.into_bytes(),
            };
            std::io::stdout()
                .write_all(&bytes)
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

pub enum Reached {
    /// A running worker answered, with this exit code.
    Worker(ExitCode),
    /// No worker: the store, opened here.
    Store(Box<Opened>),
}

/// Asks a running worker, else opens the store. A worker that is starting
/// or stopping holds the store without answering yet: wait a little for it.
pub fn reach(cfg: &Config, req: &Request) -> Result<Reached> {
    if cfg.store.is_server() {
        // Every worker and command shares the database: no need to ask.
        return Ok(Reached::Store(Box::new(open_store(cfg)?)));
    }
    // Looking at a store that is not there must not make an empty one.
    let looks = !matches!(req, Request::Ingest { .. } | Request::SetCustomer { .. });
    if looks && !cfg.data_dir.exists() {
        anyhow::bail!(
            "no data directory at {}: nothing has been stored there yet (run `ticketbox run` or `ticketbox ingest` first, or point --data at the right place)",
            cfg.data_dir.display()
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(code) = ask_worker(cfg, req)? {
            return Ok(Reached::Worker(code));
        }
        match open_store(cfg) {
            Ok(store) => return Ok(Reached::Store(Box::new(store))),
            Err(e) if std::time::Instant::now() < deadline && is_locked(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Room a command needs on the data disk before it opens the store.
const OPEN_MIN_FREE: u64 = 2 << 20;

pub fn is_locked(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreError>()
        .is_some_and(|e| matches!(e, StoreError::Locked { .. }))
}

/// Where the config puts the store, with the server's password read now
/// (from its variable or file: never from the config itself).
pub fn location(cfg: &Config) -> Result<Location> {
    if !cfg.store.is_server() {
        return Ok(Location::Embedded {
            dir: cfg.data_dir.clone(),
            cache_bytes: cfg.store_cache_mib.max(1) << 20,
        });
    }
    server(&cfg.store)
}

/// A server store's place, its password read now.
pub fn server(store: &ticketbox::config::StoreCfg) -> Result<Location> {
    if let Some(problem) = store.problem() {
        anyhow::bail!("{problem}");
    }
    let secret = store.secret();
    let password = if secret.is_set() {
        // The user name is what the URL gives, for the log's redaction.
        let user = store
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(user, _)| user)
            .unwrap_or_default();
        Some(secret.read(user).context("store: the database password")?)
    } else {
        None
    };
    Ok(Location::Server {
        url: store.url.clone(),
        password,
        ca_file: store.ca_file.clone(),
    })
}

pub fn open_store(cfg: &Config) -> Result<Opened> {
    let at = location(cfg)?;
    if at.is_shared() {
        return ticketbox::store::open(&at, cfg.tickets.first_number)
            .with_context(|| format!("opening the store at {}", cfg.store.url));
    }
    // Opening the store may write (the embedded store brings its snapshot up to date):
    // on a disk with almost no room, a command meant to look must not be
    // the one that fills it, and a worker could not take mail anyway.
    ticketbox::space::ensure(
        &cfg.data_dir,
        OPEN_MIN_FREE,
        "not opening the store, since opening it may write; free some space and try again",
    )
    .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    match ticketbox::store::open(&at, cfg.tickets.first_number) {
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
pub fn instance_id(cfg: &Config, store: &Opened) -> Result<String> {
    if !cfg.instance_id.is_empty() {
        return Ok(cfg.instance_id.clone());
    }
    if let Some(id) = store.instance_id()? {
        return Ok(id);
    }
    let seed = format!(
        "{:?}{}{}",
        std::time::SystemTime::now(),
        std::process::id(),
        cfg.data_dir.display()
    );
    let id = intake::content_hash(seed.as_bytes())[..16].to_owned();
    // Workers starting together on a shared store agree on the first one.
    Ok(store.init_meta("instance_id", &id)?)
}

pub fn engine(cfg: Config, store: &Opened) -> Result<Engine> {
    let id = instance_id(&cfg, store)?;
    // The key of rating links: made once per installation, kept in the
    // store (every worker signs and checks with the same one).
    let secret = store
        .init_meta("rating_secret", &ticketbox::pipeline::random_secret())
        .context("the installation's rating secret")?;
    Ok(Engine::new(cfg, id)
        .context("loading rules and templates")?
        .with_rating_secret(secret.as_bytes()))
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
