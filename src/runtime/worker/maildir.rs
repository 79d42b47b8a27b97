//! The local Maildir as a source: an initial scan, then inotify events (via
//! `notify`) for new files, with a periodic rescan as a backstop for events
//! the kernel dropped. The watch starts before the first scan so nothing
//! arriving during the scan is missed; files seen twice are skipped by their
//! source key.

use super::{Stats, WorkerError};
use crate::committer::Committer;
use crate::intake::{self, Item};
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const RESCAN: Duration = Duration::from_secs(30);

pub struct MaildirSource<S: Store + 'static> {
    pub dir: PathBuf,
    pub committer: Committer,
    pub store: Arc<S>,
    pub batch_size: usize,
    pub health: crate::intake::health::Reporter,
}

impl<S: Store + 'static> MaildirSource<S> {
    pub async fn run(
        &self,
        once: bool,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Stats, WorkerError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let _watcher = if once {
            None
        } else {
            Some(watch(&self.dir, tx)?)
        };
        let mut stats = match self.scan().await {
            Ok(s) => s,
            Err(e) => {
                self.health.failed(problem(&e), &e.to_string());
                return Err(e);
            }
        };
        if once {
            return Ok(stats);
        }
        self.health.idle();
        tracing::info!(maildir = %self.dir.display(), "watching for new mail");
        let mut rescan = tokio::time::interval(RESCAN);
        rescan.tick().await;
        loop {
            let round = tokio::select! {
                _ = shutdown.changed() => break,
                _ = rescan.tick() => self.scan().await,
                Some(first) = rx.recv() => {
                    let mut paths = vec![first];
                    while let Ok(p) = rx.try_recv() {
                        paths.push(p);
                    }
                    self.submit(paths_to_items(&self.dir, paths)).await
                }
            };
            // A batch that could not be stored (a full disk) stays in the
            // Maildir; the next rescan offers it again. The worker goes on.
            let s = match round {
                Ok(s) => {
                    self.health.idle();
                    s
                }
                Err(e @ WorkerError::Task(_)) => {
                    self.health.failed(problem(&e), &e.to_string());
                    tracing::warn!(error = %e, retry_in = ?RESCAN, "mail not stored; the files stay and are offered again");
                    Stats::default()
                }
                Err(e) => return Err(e),
            };
            stats.skipped += s.skipped;
            stats.unreadable += s.unreadable;
            if *shutdown.borrow() {
                break;
            }
        }
        Ok(stats)
    }

    async fn scan(&self) -> Result<Stats, WorkerError> {
        let items = intake::scan_maildir(&self.dir).map_err(|source| WorkerError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        self.submit(items).await
    }

    /// Reads unseen items and submits them in batches of at most
    /// `batch_size` messages or [`super::BATCH_BYTES`], whichever comes first.
    async fn submit(&self, items: Vec<Item>) -> Result<Stats, WorkerError> {
        let mut stats = Stats::default();
        let mut items = items.into_iter().peekable();
        let seen = |key: &str| Ok(self.store.source_seen(key)?);
        while items.peek().is_some() {
            let batch = super::next_batch(&mut items, self.batch_size, &seen, &mut stats)?;
            if !batch.is_empty() {
                let n = batch.len();
                self.committer
                    .submit(batch, None)
                    .await
                    .map_err(WorkerError::Task)?;
                self.health.took(n);
            }
        }
        Ok(stats)
    }
}

/// What kind of trouble a Maildir round met: the store refusing the
/// batch, or the directory itself.
fn problem(e: &WorkerError) -> crate::health::Problem {
    match e {
        WorkerError::Task(_) | WorkerError::Store(_) => crate::health::Problem::Store,
        _ => crate::health::Problem::Other,
    }
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

fn watch(
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

impl<S: Store + 'static> crate::intake::Source for MaildirSource<S> {
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn run(
        self: Box<Self>,
        once: bool,
        shutdown: watch::Receiver<bool>,
    ) -> crate::intake::SourceRun {
        Box::pin(async move {
            let stats = MaildirSource::run(&self, once, shutdown).await?;
            Ok(crate::intake::Taken {
                skipped: stats.skipped,
                unreadable: stats.unreadable,
            })
        })
    }
}
