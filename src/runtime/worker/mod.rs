//! The long-running job (`ticketbox run`), and batch ingestion for the CLI.
//!
//! Shape of a running worker, in tasks:
//! - sources: one reader per IMAP mailbox, or the Maildir watcher; each
//!   hands batches of raw mail to the committer and waits;
//! - the committer thread (the only writer): processes, checkpoints, flushes
//!   once per group of batches, then answers the sources;
//! - the outbox sender: woken after every flush, delivers what is due;
//! - the control socket: answers `ticketbox tickets` & co. while we hold the
//!   store.
//!
//! Shutdown (SIGTERM, Ctrl-C): sources stop taking new mail and finish the
//! batch in hand, the committer drains and flushes, the sender finishes what
//! is due, IMAP sessions log out.

mod maildir;
mod reload;

use crate::clock::Clock;
use crate::committer::{self, Committer, isolate};
use crate::config::MailboxCfg;
use crate::imap::MailboxReader;
use crate::intake::{self, Item, Source};
use crate::outbox::{self, Transport};
use crate::pipeline::{Engine, Outcome};
use crate::runtime::control;
use crate::store::View;
use crate::store::{Staged, Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

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
    /// A mail source gave up (its name: a Maildir path, a mailbox).
    #[error("{name}: {message}")]
    Source { name: String, message: String },
    #[error("control socket: {0}")]
    Control(String),
    #[error("worker task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Fatal(String),
}

/// Counts of what a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub processed: usize,
    pub skipped: usize,
    pub unreadable: usize,
    /// Outgoing mail whose last attempt failed for now and that is still
    /// waiting (a full disk under the file outbox, a server down).
    pub undelivered: usize,
}

/// Outbox entries whose refused recipients an agent must hear of, between
/// the sender (which finds them) and the committer (which writes the
/// notices: it is the one writer of tickets).
#[derive(Clone, Default)]
struct Refusals {
    queue: Arc<std::sync::Mutex<Vec<outbox::OutboxEntry>>>,
    wake: Arc<Notify>,
}

impl Refusals {
    fn handler(&self) -> outbox::OnRefused {
        let me = self.clone();
        Arc::new(move |entries| {
            me.queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(entries);
            me.wake.notify_one();
        })
    }

    fn take(&self) -> Vec<outbox::OutboxEntry> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs until aborted: each batch of refusals becomes notices, written
    /// by the committer.
    async fn tell(self, committer: Committer) {
        loop {
            self.wake.notified().await;
            let batch = self.take();
            if batch.is_empty() {
                continue;
            }
            let task: committer::Task = Box::new(move |engine, store, now| {
                let (mut told, mut booked) = (0, 0);
                for e in &batch {
                    let (t, b) = crate::pipeline::settle_refused(engine, store, e, now)
                        .map_err(|e| e.to_string())?;
                    told += usize::from(t);
                    booked += b;
                }
                Ok(format!(
                    "{told} notice(s) of refused recipients; {booked} address(es) held"
                ))
            });
            if let Err(e) = committer.run(task).await {
                tracing::error!(error = %e, "telling agents of refused recipients failed");
            }
        }
    }
}

/// Where `run` takes mail from, as configured.
#[derive(Debug, Clone)]
pub enum Intake {
    Maildir(PathBuf),
    Imap(Vec<MailboxCfg>),
}

/// Processes `items` in batches of `batch_size`, flushing once per batch:
/// the synchronous path of `ticketbox ingest`. `report` sees every outcome;
/// unreadable files are logged and counted. With `skip_seen`, source items
/// already committed are not read again.
pub fn ingest<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    items: Vec<Item>,
    skip_seen: bool,
    report: &mut dyn FnMut(&Outcome),
) -> Result<Stats, WorkerError> {
    // The batches to come: as big as configured, unless there are fewer.
    let size = engine.cfg.intake.batch_size;
    let batch = items.len().min(size);
    let mut items = items.into_iter();
    let run = |store: &Staged<'_, S>| -> Result<Stats, WorkerError> {
        std::thread::scope(|scope| {
            // Three stages side by side, a batch apart: the next batch is
            // read and taken in (its raw mail durable, its tries counted)
            // on one thread, the one before it prepared (parsed,
            // classified, its language found) on another, while this one
            // is decided here. Reading and storing raw mail were a third
            // of the deciding thread's time, and preparing could not start
            // a batch before it was taken in.
            let (read, to_prepare) = std::sync::mpsc::sync_channel(1);
            let (ready, batches) = std::sync::mpsc::sync_channel(1);
            let seen = |key: &str| Ok(skip_seen && store.source_seen(key)?);
            let taker = move || {
                loop {
                    let mut stats = Stats::default();
                    let taken = next_batch(&mut items, size, &seen, &mut stats).and_then(|b| {
                        let mails: Vec<&intake::RawMail> = b.iter().collect();
                        let taken = isolate::take_in_all(engine, store, &mails)?;
                        Ok((b, taken))
                    });
                    let last = !matches!(&taken, Ok((b, _)) if !b.is_empty());
                    if read.send(taken.map(|t| (t, stats))).is_err() || last {
                        return;
                    }
                }
            };
            let preparer = move || {
                for taken in to_prepare {
                    let taken = taken.map(|((batch, taken), stats)| {
                        let mails: Vec<&intake::RawMail> = batch.iter().collect();
                        let prepared = isolate::prepare_fresh(engine, &mails, &taken);
                        (batch, taken, prepared, stats)
                    });
                    if ready.send(taken).is_err() {
                        return;
                    }
                }
            };
            for (name, work) in [
                (
                    "ticketbox-take-in",
                    Box::new(taker) as Box<dyn FnOnce() + Send + '_>,
                ),
                ("ticketbox-prepare-ahead", Box::new(preparer)),
            ] {
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn_scoped(scope, work)
                    .map_err(|e| WorkerError::Task(format!("starting thread {name}: {e}")))?;
            }
            let mut stats = Stats::default();
            for taken in batches {
                let (batch, taken, prepared, read) = taken?;
                stats.skipped += read.skipped;
                stats.unreadable += read.unreadable;
                let mails: Vec<&intake::RawMail> = batch.iter().collect();
                // Alone among a shared store's workers while deciding (see
                // `Store::exclusive`), until the batch is written. Each
                // batch's raw mail is durable before it is decided, so one
                // flush at the end is enough: a crash before it leaves
                // mail pending, to be decided again, never lost.
                let alone = store.exclusive()?;
                let step = &crate::pipeline::process_prepared::<Staged<'_, S>>;
                for outcome in isolate::process_taken(
                    engine,
                    store,
                    clock,
                    &mails,
                    taken,
                    Some(prepared),
                    step,
                )? {
                    report(&outcome);
                    stats.processed += 1;
                }
                store.write_out()?;
                drop(alone);
            }
            store.flush()?;
            Ok(stats)
        })
    };
    Staged::for_batches(store, batch, run)
}

/// Reads the next batch from `items`: the readable ones not `seen`
/// already, up to `size` messages or [`BATCH_BYTES`], whichever comes
/// first; counts what it skips and what it cannot read. The one way every
/// Maildir, mbox or file source turns items into mail for the committer.
pub(crate) fn next_batch(
    items: &mut dyn Iterator<Item = Item>,
    size: usize,
    seen: &dyn Fn(&str) -> Result<bool, WorkerError>,
    stats: &mut Stats,
) -> Result<Vec<intake::RawMail>, WorkerError> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for item in items {
        if let Some(key) = item.source_key()
            && seen(key)?
        {
            stats.skipped += 1;
            continue;
        }
        match item.clone().read() {
            Ok(raw) => {
                bytes += raw.bytes.len();
                batch.push(raw);
            }
            Err(e) => {
                // Gone already (a client moved it) or unreadable.
                tracing::warn!(item = ?item, error = %e, "cannot read message");
                stats.unreadable += 1;
                continue;
            }
        }
        if batch.len() >= size.max(1) || bytes >= BATCH_BYTES {
            break;
        }
    }
    Ok(batch)
}

/// After SIGTERM, deliveries in hand get this long.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Mail read for one batch stops at this many bytes (big attachments are
/// not all held at once).
pub(crate) const BATCH_BYTES: usize = 16 << 20;

/// Raw messages stored but never committed (a crash between the two):
/// they were durable, so they are processed again, not lost. Their tries
/// are on record in the store; [`isolate`] decides how.
pub fn pending_mails<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
) -> Result<Vec<intake::RawMail>, WorkerError> {
    let mut mails = Vec::new();
    for crate::store::PendingMail { hash, origin, .. } in store.pending()? {
        let Some(bytes) = store.raw(&hash)? else {
            continue;
        };
        // From an IMAP mailbox: the mailbox's queue applies; handed over
        // by the MTA: the queue its recipient names.
        let from = intake::Origin::parse(&origin);
        let queue = match from.mailbox() {
            Some(name) => engine
                .cfg
                .mailbox
                .iter()
                .find(|m| m.name == name)
                .and_then(|m| m.queue.clone()),
            None => from
                .recipient()
                .and_then(|r| engine.cfg.queue_for_recipient(r)),
        };
        mails.push(intake::RawMail::new(bytes, origin, None).with_queue(queue));
    }
    Ok(mails)
}

/// Processes [`pending_mails`] directly (no worker running).
pub fn recover<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
) -> Result<usize, WorkerError> {
    let mails = pending_mails(engine, store)?;
    let store = &Staged::new(store);
    let all: Vec<&intake::RawMail> = mails.iter().collect();
    for o in isolate::process_all(engine, store, clock, &all)? {
        tracing::info!(origin = %o.origin, outcome = o.outcome.as_str(), "recovered");
    }
    store.flush()?;
    Ok(mails.len())
}

/// The process's peak resident memory (Linux `VmHWM`), when known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of this process so far (Linux), in seconds.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// What `run` needs.
pub struct Worker<S: Store + 'static> {
    pub engine: Arc<Engine>,
    pub store: Arc<S>,
    pub clock: Arc<dyn Clock>,
    pub transport: Arc<dyn Transport>,
}

impl<S: Store + 'static> Worker<S> {
    fn lease_terms(&self) -> crate::runtime::leased::Terms {
        crate::runtime::leased::Terms {
            ttl: std::time::Duration::from_secs(self.engine.cfg.store.lease_seconds.max(1)),
        }
    }

    /// Reads `source` until `shutdown` turns true; with `once`, until caught
    /// up, then delivers what is due and returns.
    pub async fn run(
        &self,
        source: Intake,
        once: bool,
        outer: watch::Receiver<bool>,
    ) -> Result<Stats, WorkerError> {
        // Everything stops on the caller's word, or when the store fails
        // for good (a full disk): then the worker ends with that reason
        // rather than go on refusing every batch.
        let (fatal_tx, fatal) = watch::channel(None::<String>);
        let (stop_tx, shutdown) = watch::channel(false);
        let stopper = {
            let (mut outer, mut fatal) = (outer.clone(), fatal.clone());
            tokio::spawn(async move {
                if !*outer.borrow() {
                    tokio::select! {
                        _ = outer.wait_for(|s| *s) => {}
                        _ = fatal.wait_for(Option::is_some) => {}
                    }
                }
                let _ = stop_tx.send(true);
            })
        };
        let result = self.run_until(source, once, shutdown, fatal_tx).await;
        stopper.abort();
        match fatal.borrow().clone() {
            Some(why) => Err(WorkerError::Fatal(why)),
            None => result,
        }
    }

    async fn run_until(
        &self,
        source: Intake,
        once: bool,
        shutdown: watch::Receiver<bool>,
        fatal: watch::Sender<Option<String>>,
    ) -> Result<Stats, WorkerError> {
        let committed = Arc::new(Notify::new());
        let (committer, committer_thread) = Committer::start(
            self.engine.clone(),
            self.store.clone(),
            self.clock.clone(),
            committed.clone(),
            fatal,
        );
        let (stop_sender, sender_stopped) = watch::channel(false);
        // Answers whose recipients a mail server refused: the sender hands
        // them over, the committer writes the notices to their agents.
        let refusals = Refusals::default();
        let sender = tokio::spawn(outbox::send_loop(
            self.store.clone(),
            self.transport.clone(),
            self.clock.clone(),
            crate::outbox::Policy::from_config(&self.engine.cfg),
            committed.clone(),
            sender_stopped,
            Some(refusals.handler()),
        ));
        let teller = tokio::spawn(refusals.clone().tell(committer.clone()));
        // Deliver what an earlier run left pending.
        committed.notify_one();

        // What each source reports about itself: `ticketbox status` and
        // the alarms read it.
        let health = crate::intake::health::Health::new(self.clock.clone());
        let silence = self.engine.cfg.health.silence_after_seconds;
        // Bound first: a port in use or a socket path that cannot be
        // written stops the run with the reason, before any mail is taken.
        let lmtp_at = match (once, self.engine.cfg.lmtp.listen()) {
            (false, Ok(Some(at))) => Some(
                crate::runtime::lmtp::Listener::bind(&at, self.engine.cfg.lmtp.socket_mode)
                    .await
                    .map_err(|source| WorkerError::Io {
                        path: format!("lmtp.listen {at}"),
                        source,
                    })?,
            ),
            _ => None,
        };
        let control = if once {
            None
        } else {
            let server = control::Server::bind(
                &self.engine.cfg.data_dir,
                self.store.clone(),
                committer.clone(),
                &self.engine,
                health.clone(),
            )
            .map_err(|e| WorkerError::Control(e.to_string()))?;
            Some(tokio::spawn(server.serve(shutdown.clone())))
        };

        let reloaders: Vec<_> = if once {
            Vec::new()
        } else {
            [reload::Kind::Rules, reload::Kind::Templates]
                .into_iter()
                .map(|k| tokio::spawn(reload::watch(self.engine.clone(), k, shutdown.clone())))
                .chain([tokio::spawn(reload::on_hangup(
                    self.engine.clone(),
                    shutdown.clone(),
                ))])
                .collect()
        };
        // On a shared store: this worker's sign of life, which keeps its
        // outbox claims its own (see `store::alive_lease`).
        let (stop_beating, beat_stop) = watch::channel(false);
        let heartbeat = self.store.is_shared().then(|| {
            tokio::spawn(heartbeat(
                self.store.clone(),
                self.clock.clone(),
                self.lease_terms(),
                beat_stop,
            ))
        });
        // Monitoring: off unless `[metrics] listen` is set; a port that is
        // taken stops the start, as a taken LMTP port does.
        let metrics = match (once, self.engine.cfg.metrics.address()) {
            (false, Ok(Some(addr))) => {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    WorkerError::Control(format!("metrics listener on {addr}: {e}"))
                })?;
                tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
                let scrape = Arc::new(crate::runtime::metrics::Scrape {
                    engine: self.engine.clone(),
                    store: self.store.clone(),
                    health: health.clone(),
                    clock: self.clock.clone(),
                });
                Some(tokio::spawn(crate::runtime::metrics::serve(
                    listener,
                    scrape,
                    shutdown.clone(),
                )))
            }
            _ => None,
        };
        let alarms = (!once).then(|| {
            tokio::spawn(crate::runtime::health::alarm_timer(
                committer.clone(),
                self.engine.clone(),
                self.store.clone(),
                health.clone(),
                self.clock.clone(),
                shutdown.clone(),
            ))
        });
        let escalations = (!once).then(|| {
            tokio::spawn(escalation_timer(
                committer.clone(),
                self.engine.clone(),
                self.store.clone(),
                self.clock.clone(),
                shutdown.clone(),
            ))
        });

        // Mail stored but not committed by an interrupted run goes first,
        // through the committer like everything else. On a shared store
        // the pending mail may be another live worker's batch in flight:
        // taking it too would decide it twice. There each source's next
        // holder reads again what was not committed (the IMAP checkpoint
        // and Maildir's seen marks move only with commits).
        let (engine, store) = (self.engine.clone(), self.store.clone());
        let recovered = if self.store.is_shared() {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(move || pending_mails(&engine, &*store))
                .await
                .map_err(|e| WorkerError::Task(e.to_string()))??
        };
        if !recovered.is_empty() {
            let n = recovered.len();
            committer
                .submit(recovered, None)
                .await
                .map_err(WorkerError::Task)?;
            tracing::info!(recovered = n, "recovered messages from an interrupted run");
        }

        // Every source side by side; one that gives up leaves the others
        // running (with `once`, its error is the run's).
        // Each source under a lease: on a shared store, one worker reads
        // it at a time (see intake::leased).
        let share = crate::runtime::leased::Share::new(match &source {
            Intake::Maildir(_) => 1,
            Intake::Imap(boxes) => boxes.len(),
        });
        let leased = |name: String, make: crate::runtime::leased::MakeSource| -> Box<dyn Source> {
            Box::new(crate::runtime::leased::Leased {
                health: Some(health.source(&name, silence)),
                name,
                make,
                store: self.store.clone(),
                clock: self.clock.clone(),
                holder: crate::peer::this_process().to_owned(),
                terms: self.lease_terms(),
                share: share.clone(),
            })
        };
        let sources: Vec<Box<dyn Source>> = match source {
            Intake::Maildir(dir) => {
                let (committer, store) = (committer.clone(), self.store.clone());
                let batch_size = self.engine.cfg.intake.batch_size;
                let name = format!("maildir:{}", dir.display());
                let reporter = health.source(&name, silence);
                vec![leased(
                    name,
                    Box::new(move || {
                        Box::new(maildir::MaildirSource {
                            dir: dir.clone(),
                            committer: committer.clone(),
                            store: store.clone(),
                            batch_size,
                            health: reporter.clone(),
                        }) as Box<dyn Source>
                    }),
                )]
            }
            Intake::Imap(mailboxes) => mailboxes
                .into_iter()
                .map(|cfg| {
                    let (committer, store) = (committer.clone(), self.store.clone());
                    let history_hours = self.engine.cfg.intake.history_hours;
                    let name = format!("mailbox:{}", cfg.name);
                    let reporter =
                        health.source(&name, cfg.silence_after_seconds.unwrap_or(silence));
                    let oauth = crate::oauth::Login::named(&self.engine.cfg, cfg.oauth.as_deref());
                    leased(
                        name,
                        Box::new(move || {
                            Box::new(MailboxReader {
                                cfg: cfg.clone(),
                                committer: committer.clone(),
                                store: store.clone(),
                                once,
                                history_hours,
                                health: reporter.clone(),
                                oauth: oauth.clone(),
                            }) as Box<dyn Source>
                        }),
                    )
                })
                .collect(),
        };
        // The MTA's hand-over, beside the mailboxes and through the same
        // committer; each worker listens where its own config says.
        let mut sources = sources;
        if !once && let Some(at) = lmtp_at {
            sources.push(Box::new(crate::runtime::lmtp::LmtpSource {
                health: health.source(&format!("lmtp:{}", at.describe()), silence),
                listener: at,
                context: crate::runtime::lmtp::Context::through(
                    committer.clone(),
                    Arc::new(self.engine.cfg.clone()),
                ),
                max_sessions: self.engine.cfg.lmtp.max_sessions,
            }));
        }
        let runs: Vec<_> = sources
            .into_iter()
            .map(|s| (s.name(), tokio::spawn(s.run(once, shutdown.clone()))))
            .collect();
        let mut stats = Stats::default();
        let total = runs.len();
        let (mut failed, mut gave_up) = (None, 0);
        for (name, task) in runs {
            match task.await.map_err(|e| WorkerError::Task(e.to_string()))? {
                Ok(taken) => {
                    stats.skipped += taken.skipped;
                    stats.unreadable += taken.unreadable;
                }
                Err(e) => {
                    let e = WorkerError::Source {
                        name,
                        message: e.to_string(),
                    };
                    if once {
                        return Err(e);
                    }
                    tracing::error!(error = %e, "mail source gave up");
                    gave_up += 1;
                    failed = Some(e);
                }
            }
        }
        stats.processed = committer.processed();

        // Sources are done: let the committer drain, then the sender.
        drop(committer);
        if let Some(c) = control {
            c.abort();
        }
        for r in reloaders {
            r.abort();
        }
        if let Some(e) = escalations {
            e.abort();
        }
        if let Some(a) = alarms {
            a.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        teller.abort();
        tokio::task::spawn_blocking(move || committer_thread.join())
            .await
            .map_err(|e| WorkerError::Task(e.to_string()))?
            .map_err(|_| WorkerError::Task("the committer thread panicked".into()))?;
        let _ = stop_sender.send(true);
        committed.notify_one();
        // Stopping on request (SIGTERM): deliveries in hand get a few
        // seconds, not the ten minutes a slow server may take; what is cut
        // off is `sending` and goes again at the next start.
        let stopping = *shutdown.borrow();
        let sender = if stopping {
            let abort = sender.abort_handle();
            match tokio::time::timeout(STOP_GRACE, sender).await {
                Ok(done) => done,
                Err(_) => {
                    abort.abort();
                    tracing::warn!(
                        "deliveries still in hand at shutdown were cut off; they go again at the next start"
                    );
                    Ok(Ok(0))
                }
            }
        } else {
            sender.await
        };
        stats.undelivered = sender.map_err(|e| WorkerError::Task(e.to_string()))??;
        // The committer has finished: notices still owed are written here,
        // and sent before we stop.
        let left = refusals.take();
        if !left.is_empty() {
            let now = self.clock.now();
            for e in &left {
                crate::pipeline::settle_refused(&self.engine, &*self.store, e, now)?;
            }
            self.store.flush()?;
            outbox::deliver_due(
                &*self.store,
                &*self.transport,
                &*self.clock,
                &crate::outbox::Policy::from_config(&self.engine.cfg),
            )
            .await?;
        }
        self.store.flush()?;
        // Every claim is settled: the sign of life can go.
        let _ = stop_beating.send(true);
        if let Some(h) = heartbeat {
            let _ = h.await;
        }
        control::remove_socket(&self.engine.cfg.data_dir);
        tracing::info!(
            peak_rss_kib = peak_rss_kib(),
            cpu_seconds = cpu_seconds(),
            "stopped: batches finished, store flushed"
        );
        // A worker none of whose sources still reads is a failed run (a
        // supervisor restarts it), once what they took in is safe.
        match failed {
            Some(e) if gave_up == total => Err(e),
            _ => Ok(stats),
        }
    }
}

/// Renews this worker's alive lease every third of its time until
/// `stop`, then gives it up.
async fn heartbeat<S: Store + 'static>(
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    terms: crate::runtime::leased::Terms,
    mut stop: watch::Receiver<bool>,
) {
    let me = crate::peer::this_process();
    let name = crate::store::alive_lease(me);
    let ttl = chrono::Duration::from_std(terms.ttl).unwrap_or_default();
    loop {
        let now = clock.now();
        if let Err(e) = store.lease(&name, me, now, now + ttl) {
            tracing::warn!(error = %e, "could not renew this worker's sign of life");
        }
        tokio::select! {
            _ = tokio::time::sleep(terms.ttl / 3) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Err(e) = store.release(&name, me) {
        tracing::warn!(error = %e, "could not give up this worker's sign of life");
    }
}

/// How often the minute timers look.
const TIMER_TICK_SECONDS: u64 = 60;
/// The lease the minute timers run under (see `escalation_timer`).
const TIMERS_LEASE: &str = "timers";

/// Every minute: SLA escalations and auto-closing. Finding the tickets
/// that need either reads every open ticket, so it happens here, off the
/// committer thread, on a snapshot; only those tickets go to the committer,
/// which reads each again before acting. Mail never waits for the scan.
async fn escalation_timer<S: Store + 'static>(
    committer: Committer,
    engine: Arc<Engine>,
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(TIMER_TICK_SECONDS));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (e, s, now) = (engine.clone(), store.clone(), clock.now());
        // On a shared store the timers run once per tick across the
        // workers: on the one holding their lease, which lasts past the
        // next tick, so the holder keeps it and another worker takes over
        // one lease time after the holder's last tick.
        let ttl =
            chrono::Duration::seconds(i64::try_from(engine.cfg.store.lease_seconds).unwrap_or(30));
        let until = now + chrono::Duration::seconds(TIMER_TICK_SECONDS as i64) + ttl;
        match store.lease(TIMERS_LEASE, crate::peer::this_process(), now, until) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "could not reach the store for the timers' lease");
                continue;
            }
        }
        let found = tokio::task::spawn_blocking(move || {
            let open = s.open_tickets()?;
            let days = e.cfg.tickets.close_pending_after_days;
            Ok::<_, crate::store::StoreError>((
                crate::escalation::candidates(&e, &open, now),
                crate::autoclose::candidates(&open, days, now),
            ))
        })
        .await;
        let (escalate, close) = match found {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading open tickets for escalations failed");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "escalation scan failed");
                continue;
            }
        };
        if escalate.is_empty() && close.is_empty() {
            continue;
        }
        let task: committer::Task = Box::new(move |engine, store, now| {
            let escalated = crate::escalation::run_for(engine, store, &escalate, now)
                .map_err(|e| e.to_string())?;
            let closed =
                crate::autoclose::run_for(engine, store, &close, now).map_err(|e| e.to_string())?;
            Ok(format!("{escalated}; {closed}"))
        });
        match committer.run(task).await {
            Ok(summary) => tracing::debug!(%summary, "escalations checked"),
            Err(e) => tracing::error!(error = %e, "escalation check failed"),
        }
    }
}
