//! The single writer. Every source (Maildir watcher, each IMAP mailbox, the
//! control socket) hands its mail to one committer thread, so ticket numbers
//! and indexes are decided in one place, in order. The committer takes
//! whatever batches are waiting, processes them, writes their checkpoints,
//! flushes the store once (group commit) and only then answers each source,
//! which may then tell its server the mail is safe.

pub mod isolate;

use crate::clock::Clock;
use crate::intake::RawMail;
use crate::pipeline::{Engine, Outcome};
use crate::store::{Checkpoint, Staged, Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Mail from one source, and what to remember once it is stored.
pub struct Batch {
    pub mails: Vec<RawMail>,
    /// A (meta key, value) written after the batch's commits and before the
    /// flush, e.g. an IMAP mailbox's last UID.
    pub checkpoint: Option<(String, Checkpoint)>,
    done: oneshot::Sender<Result<Vec<Outcome>, String>>,
}

/// Work on the store that is not incoming mail (status changes, customer
/// preferences, escalations): run on the committer thread, then flushed.
pub type Task =
    Box<dyn FnOnce(&Engine, &dyn Store, DateTime<Utc>) -> Result<String, String> + Send>;

enum Job {
    Mail(Batch),
    Task(Task, oneshot::Sender<Result<String, String>>),
}

/// A handle for submitting batches; clone one per source.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    processed: Arc<AtomicUsize>,
}

impl Committer {
    /// Starts the committer thread. `committed` is notified after every
    /// flush (the outbox sender listens). The thread ends when every handle
    /// is dropped, after finishing what was submitted.
    /// When the store fails for good (see [`StoreError::is_fatal`]) the
    /// reason goes to `fatal` (the worker stops) and every later job is
    /// refused.
    pub fn start<S: Store + 'static>(
        engine: Arc<Engine>,
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        committed: Arc<Notify>,
        fatal: watch::Sender<Option<String>>,
    ) -> (Committer, std::thread::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(64);
        let processed = Arc::new(AtomicUsize::new(0));
        let count = processed.clone();
        let max_group = engine.cfg.intake.batch_size.max(1) * 4;
        let thread = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = Vec::new();
                    let mut tasks = Vec::new();
                    let mut n = 0;
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        match job {
                            Job::Mail(b) => {
                                n += b.mails.len();
                                group.push(b);
                            }
                            Job::Task(t, done) => tasks.push((t, done)),
                        }
                        if n < max_group {
                            next = rx.try_recv().ok();
                        }
                    }
                    match commit_group(&engine, &*store, &*clock, &group) {
                        Ok(results) => {
                            count.fetch_add(n, Ordering::Relaxed);
                            for (b, outcomes) in group.into_iter().zip(results) {
                                let _ = b.done.send(Ok(outcomes));
                            }
                        }
                        Err(e) => {
                            // No batch is acknowledged: the sources keep
                            // their mail and try again.
                            tracing::error!(error = %e, "storing a batch failed; its sources will retry");
                            // Said before the sources hear of the failure:
                            // a source that gives up on it may end the
                            // process, and the reason must be in the log.
                            if e.is_fatal() {
                                let why = format!(
                                    "the store takes no more writes ({e}); stopping: start again once \
                                     the cause is gone (a full disk: free some space); no mail is lost"
                                );
                                tracing::error!("{why}");
                                let _ = fatal.send(Some(why));
                            }
                            for b in group {
                                let _ = b.done.send(Err(e.to_string()));
                            }
                        }
                    }
                    for (task, done) in tasks {
                        let result = store.exclusive().map_err(|e| e.to_string()).and_then(|_alone| {
                            task(&engine, &*store, clock.now())
                                .and_then(|r| store.flush().map(|_| r).map_err(|e| e.to_string()))
                        });
                        let _ = done.send(result);
                    }
                    committed.notify_one();
                }
            })
            .expect("spawning a thread at startup");
        (Committer { tx, processed }, thread)
    }

    /// Submits mail and waits until it is committed and flushed.
    pub async fn submit(
        &self,
        mails: Vec<RawMail>,
        checkpoint: Option<(String, Checkpoint)>,
    ) -> Result<Vec<Outcome>, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Mail(Batch {
                mails,
                checkpoint,
                done,
            }))
            .await
            .map_err(|_| "the committer has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Runs `task` on the committer thread (the only writer) and flushes.
    pub async fn run(&self, task: Task) -> Result<String, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Task(task, done))
            .await
            .map_err(|_| "the committer has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Messages committed so far.
    pub fn processed(&self) -> usize {
        self.processed.load(Ordering::Relaxed)
    }
}

/// Processes every batch of a group and flushes once.
fn commit_group<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    group: &[Batch],
) -> Result<Vec<Vec<Outcome>>, StoreError> {
    // Alone among the workers of a shared store from the first read to
    // the last write: deciding reads what the commits before it wrote.
    let _alone = store.exclusive()?;
    // Commits are held and written a chunk at a time (see `Staged`).
    let mails: Vec<&RawMail> = group.iter().flat_map(|b| &b.mails).collect();
    let run = |staged: &Staged<'_, S>| -> Result<Vec<Vec<Outcome>>, StoreError> {
        let mut outcomes = isolate::process_all(engine, staged, clock, &mails)?.into_iter();
        let mut results = Vec::with_capacity(group.len());
        for b in group {
            let batch: Vec<Outcome> = outcomes.by_ref().take(b.mails.len()).collect();
            batch.iter().for_each(log_outcome);
            if let Some((source, at)) = &b.checkpoint {
                staged.set_checkpoint(source, *at)?;
            }
            results.push(batch);
        }
        // The durable write of the whole group: what the metric times.
        let started = std::time::Instant::now();
        staged.flush()?;
        crate::metrics::commit_took(started.elapsed().as_secs_f64());
        Ok(results)
    };
    // The group is one batch: flushed once, at its end.
    Staged::for_batches(store, mails.len(), run)
}

pub fn log_outcome(o: &Outcome) {
    crate::metrics::message_in(&o.origin.to_string(), o.outcome.as_str());
    tracing::info!(
        message_id = o.message_id.as_deref().unwrap_or("-"),
        ticket = o.ticket,
        outcome = o.outcome.as_str(),
        origin = %o.origin,
        reason = %o.reason,
        "processed"
    );
}
