//! The long-running job, and batch ingestion shared with the CLI.
//!
//! Mail is processed in batches: every message of a batch is committed, then
//! the store is flushed once (group commit), then the source may forget the
//! messages and the outbox sender is woken. A batch is whatever is waiting,
//! up to `intake.batch_size`: one message when mail is sparse (low latency),
//! hundreds under a backlog (high throughput).
//!
//! `run` watches the Maildir with inotify (via `notify`) and rescans it now
//! and then as a backstop; the outbox sender is a separate task that wakes
//! when a batch queued mail or a retry falls due.

use crate::clock::Clock;
use crate::intake::{self, Item};
use crate::outbox::{self, Transport};
use crate::pipeline::{self, Engine, Outcome};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("watching {path}: {message}")]
    Watch { path: String, message: String },
    #[error("worker task failed: {0}")]
    Task(String),
}

/// Counts of what a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub processed: usize,
    pub skipped: usize,
    pub unreadable: usize,
}

/// Processes `items` in batches of `batch_size`, flushing once per batch.
/// `report` sees every outcome; unreadable files are logged and counted.
/// With `skip_seen`, source items already committed are not read again
/// (the worker's restart path); without, they are read and reported as
/// duplicates (what `ingest` shows a user).
pub fn ingest<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    items: Vec<Item>,
    skip_seen: bool,
    report: &mut dyn FnMut(&Outcome),
) -> Result<Stats, WorkerError> {
    let mut stats = Stats::default();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut in_batch = 0;
        for item in items.by_ref() {
            if skip_seen
                && let Some(key) = item.source_key()
                && store.source_seen(key)?
            {
                stats.skipped += 1;
                continue;
            }
            let raw = match item.clone().read() {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::error!(item = ?item, error = %e, "cannot read message");
                    stats.unreadable += 1;
                    continue;
                }
            };
            let outcome = pipeline::process(engine, store, &raw, clock.now())?;
            report(&outcome);
            stats.processed += 1;
            in_batch += 1;
            if in_batch >= engine.cfg.intake.batch_size {
                break;
            }
        }
        store.flush()?;
    }
    Ok(stats)
}

/// Re-processes raw messages stored but never committed (a crash between
/// the two); they were durable, so they are not lost.
pub fn recover<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
) -> Result<usize, WorkerError> {
    let mut n = 0;
    for (hash, origin) in store.pending()? {
        if let Some(bytes) = store.raw(&hash)? {
            let raw = intake::RawMail::new(bytes, origin, None);
            let o = pipeline::process(engine, store, &raw, clock.now())?;
            tracing::info!(origin = %o.origin, outcome = o.outcome.as_str(), "recovered");
            n += 1;
        }
    }
    store.flush()?;
    Ok(n)
}

/// What `run` needs.
pub struct Worker<S: Store + 'static> {
    pub engine: Arc<Engine>,
    pub store: Arc<S>,
    pub clock: Arc<dyn Clock>,
    pub transport: Arc<dyn Transport>,
}

impl<S: Store + 'static> Worker<S> {
    /// Processes the Maildir, then (unless `once`) watches it until
    /// `shutdown` turns true. With `once`, returns after the outbox has
    /// been given a chance to deliver what this run queued.
    pub async fn run(
        &self,
        maildir: &Path,
        once: bool,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Stats, WorkerError> {
        let recovered = self
            .blocking(|w| recover(&w.engine, &*w.store, &*w.clock))
            .await?;
        if recovered > 0 {
            tracing::info!(recovered, "recovered messages from an interrupted run");
        }
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let sender = tokio::spawn(send_loop(
            self.store.clone(),
            self.transport.clone(),
            self.clock.clone(),
            self.engine.cfg.outbox.max_attempts,
            wake.clone(),
            stop_rx,
        ));

        let dir = maildir.to_path_buf();
        // Watch before the first scan, so mail arriving during the scan is
        // not missed (anything seen twice is skipped as already read).
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let _watcher = if once {
            None
        } else {
            Some(watch_maildir(&dir, tx)?)
        };
        let mut total = self.scan(&dir).await?;
        wake.notify_one();

        if once {
            // One delivery round for what is due now, then stop.
            let _ = stop_tx.send(true);
            wake.notify_one();
            sender
                .await
                .map_err(|e| WorkerError::Task(e.to_string()))??;
            return Ok(total);
        }

        let mut rescan = tokio::time::interval(Duration::from_secs(30));
        rescan.tick().await;
        tracing::info!(maildir = %dir.display(), "watching for new mail");
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = rescan.tick() => {
                    let s = self.scan(&dir).await?;
                    add(&mut total, s);
                    wake.notify_one();
                }
                Some(first) = rx.recv() => {
                    let mut paths = vec![first];
                    while let Ok(p) = rx.try_recv() {
                        paths.push(p);
                    }
                    let items = paths_to_items(&dir, paths);
                    let s = self.ingest_items(items).await?;
                    add(&mut total, s);
                    wake.notify_one();
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!("stopping: batch finished, store flushed");
        let _ = stop_tx.send(true);
        wake.notify_one();
        sender
            .await
            .map_err(|e| WorkerError::Task(e.to_string()))??;
        self.store.flush()?;
        Ok(total)
    }

    async fn scan(&self, dir: &Path) -> Result<Stats, WorkerError> {
        let items = intake::scan_maildir(dir).map_err(|source| WorkerError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        self.ingest_items(items).await
    }

    async fn ingest_items(&self, items: Vec<Item>) -> Result<Stats, WorkerError> {
        self.blocking(move |w| {
            ingest(&w.engine, &*w.store, &*w.clock, items, true, &mut |o| {
                tracing::info!(
                    message_id = o.message_id.as_deref().unwrap_or("-"),
                    ticket = o.ticket,
                    outcome = o.outcome.as_str(),
                    reason = %o.reason,
                    "processed"
                );
            })
        })
        .await
    }

    /// Runs store-bound work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Worker<S>) -> Result<T, WorkerError> + Send + 'static,
    ) -> Result<T, WorkerError> {
        let w = Worker {
            engine: self.engine.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            transport: self.transport.clone(),
        };
        tokio::task::spawn_blocking(move || f(&w))
            .await
            .map_err(|e| WorkerError::Task(e.to_string()))?
    }
}

fn add(total: &mut Stats, s: Stats) {
    total.processed += s.processed;
    total.skipped += s.skipped;
    total.unreadable += s.unreadable;
}

/// Maildir files named by watcher events, as items (deduplicated).
fn paths_to_items(dir: &Path, mut paths: Vec<PathBuf>) -> Vec<Item> {
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            let sub = p
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str());
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            matches!(sub, Some("new" | "cur")) && !hidden
        })
        .map(|path| Item::File {
            source_key: intake::maildir_key(dir, &path),
            path,
        })
        .collect()
}

fn watch_maildir(
    dir: &Path,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> Result<notify::RecommendedWatcher, WorkerError> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let err = |e: notify::Error| WorkerError::Watch {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if matches!(ev.kind, EventKind::Create(_) | EventKind::Modify(_)) => {
                for p in ev.paths {
                    let _ = tx.send(p);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "maildir watch error; the periodic rescan will catch up")
            }
        })
        .map_err(err)?;
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|source| WorkerError::Io {
            path: d.display().to_string(),
            source,
        })?;
        watcher
            .watch(&d, RecursiveMode::NonRecursive)
            .map_err(err)?;
    }
    Ok(watcher)
}

/// Delivers due outbox entries whenever woken or when a retry falls due;
/// after `stop` turns true, makes one last round and returns.
async fn send_loop<S: Store + 'static>(
    store: Arc<S>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    loop {
        let round = outbox::deliver_due(&*store, &*transport, &*clock, max_attempts, 200).await?;
        if *stop.borrow() {
            if round.sent + round.retrying + round.failed == 0 {
                return Ok(());
            }
            continue;
        }
        if round.sent + round.retrying + round.failed > 0
            && round.next_due.is_some_and(|d| d <= clock.now())
        {
            continue;
        }
        let sleep = round
            .next_due
            .and_then(|d| (d - clock.now()).to_std().ok())
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}
