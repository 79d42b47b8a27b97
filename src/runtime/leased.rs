//! A source read by one worker at a time: the worker that holds its lease
//! in the store. On a shared store several workers run the same sources;
//! each source's lease goes to one of them, is renewed while that worker
//! lives, and is taken over by another within the lease's time when it
//! dies. On the embedded store (one process) the lease is always ours.
//!
//! Why a lease and not a lock: a worker that dies (SIGKILL, a power cut,
//! a network cut from the database) cannot unlock anything; a lease runs
//! out by itself.

use crate::clock::Clock;
use crate::intake::{Source, SourceRun, Taken};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a lease runs unless renewed; it is renewed every third of
/// that, so two missed renewals in a row (a stalled database) still keep
/// it.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub ttl: Duration,
}

impl Terms {
    fn renew_every(self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(100))
    }
}

/// Makes a fresh run of the source each time the lease is taken (again).
pub type MakeSource = Box<dyn Fn() -> Box<dyn Source> + Send + Sync>;

/// The sources of one worker, and how many of their leases it holds: on a
/// shared store each worker takes at most its share (the sources divided
/// among the live workers, rounded up), so a second worker started beside
/// a first one takes over half the mailboxes instead of standing by.
#[derive(Debug)]
pub struct Share {
    sources: usize,
    held: std::sync::atomic::AtomicUsize,
}

impl Share {
    pub fn new(sources: usize) -> Arc<Share> {
        Arc::new(Share {
            sources,
            held: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How a holder's reading ended without the source ending.
enum Stopped {
    /// A renewal was refused or could not be made.
    Lost,
    /// More workers are live now: this one gives a lease up for them.
    Yielded,
}

/// `make`'s source, read only while this process holds lease `name`.
pub struct Leased<S: Store + ?Sized + 'static> {
    pub name: String,
    pub make: MakeSource,
    pub store: Arc<S>,
    pub clock: Arc<dyn Clock>,
    pub holder: String,
    pub terms: Terms,
    /// This worker's sources, shared by their `Leased`.
    pub share: Arc<Share>,
    /// Told when another worker reads the source (standby).
    pub health: Option<crate::intake::health::Reporter>,
}

impl<S: Store + ?Sized + 'static> Leased<S> {
    /// Takes or renews the lease now; an error reaching the store counts
    /// as not holding it (the source must not run on a lease it may
    /// have lost).
    fn try_hold(&self) -> bool {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.terms.ttl).unwrap_or_default();
        match self.store.lease(&self.name, &self.holder, now, until) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "could not reach the store for a lease");
                false
            }
        }
    }

    /// How many leases this worker should hold at most: its sources
    /// divided among the live workers (their `alive:` leases), rounded
    /// up; all of them on a store nobody shares.
    fn fair_share(&self) -> usize {
        let prefix = crate::store::alive_lease("");
        let live = self
            .store
            .live_leases(&prefix, self.clock.now())
            .unwrap_or(0)
            .max(1);
        self.share.sources.div_ceil(live).max(1)
    }

    /// Resolves when reading must stop: renewed every third of its time
    /// until a renewal is refused (another worker took it, after ours ran
    /// out) or cannot be made, or until this worker holds more than its
    /// share (another worker started) and gives this one up.
    async fn stopped(&self) -> Stopped {
        loop {
            tokio::time::sleep(self.terms.renew_every()).await;
            if !self.try_hold() {
                return Stopped::Lost;
            }
            // One source at a time gives way: the count drops in the same
            // step as the decision, so two sources of this worker checking
            // at once do not both leave.
            let (held, fair) = (self.share.held(), self.fair_share());
            if held > fair
                && self
                    .share
                    .held
                    .compare_exchange(
                        held,
                        held - 1,
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                    )
                    .is_ok()
            {
                return Stopped::Yielded;
            }
        }
    }

    fn run_leased(self, once: bool, mut shutdown: watch::Receiver<bool>) -> SourceRun {
        let this = Arc::new(self);
        Box::pin(async move {
            let mut waiting_said = false;
            let began = std::time::Instant::now();
            loop {
                if *shutdown.borrow() {
                    return Ok(Taken::default());
                }
                // Beyond its share a worker leaves a source to the others
                // (a one-shot run reads whatever it can).
                let over_share = !once && this.share.held() >= this.fair_share();
                if over_share || !this.try_hold() {
                    // A one-shot run waits out one lease: the holder may
                    // be a killed run of its own whose lease has yet to
                    // run out. A holder still renewing after that is a
                    // live worker, which reads the source itself.
                    if once && began.elapsed() > this.terms.ttl + this.terms.renew_every() {
                        tracing::info!(lease = %this.name, "another worker holds this source and reads it; not reading it here");
                        return Ok(Taken::default());
                    }
                    if let Some(h) = &this.health {
                        h.standby();
                    }
                    if !waiting_said {
                        tracing::info!(lease = %this.name, "another worker holds this source; standing by");
                        waiting_said = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(this.terms.renew_every()) => continue,
                        _ = shutdown.changed() => return Ok(Taken::default()),
                    }
                }
                waiting_said = false;
                this.share
                    .held
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(lease = %this.name, holder = %this.holder, "holding the lease; reading");
                let run = (this.make)().run(once, shutdown.clone());
                let stopped = tokio::select! {
                    r = run => Err(r),
                    why = this.stopped() => Ok(why),
                };
                if !matches!(stopped, Ok(Stopped::Yielded)) {
                    // (A yield counted itself out already.)
                    this.share
                        .held
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                match stopped {
                    Err(r) => {
                        // A clean end: the next worker need not wait.
                        this.give_up();
                        return r;
                    }
                    Ok(Stopped::Lost) => {
                        tracing::warn!(lease = %this.name, "lost the lease (the store was out of reach, or another worker took over); stopped reading");
                    }
                    Ok(Stopped::Yielded) => {
                        this.give_up();
                        tracing::info!(lease = %this.name, "more workers are running: leaving this source to one of them");
                        // Long enough for a worker under its share to take it.
                        tokio::select! {
                            _ = tokio::time::sleep(this.terms.ttl) => {}
                            _ = shutdown.changed() => return Ok(Taken::default()),
                        }
                    }
                }
            }
        })
    }
}

impl<S: Store + ?Sized + 'static> Leased<S> {
    fn give_up(&self) {
        if let Err(e) = self.store.release(&self.name, &self.holder) {
            tracing::warn!(lease = %self.name, error = %e, "could not give the lease up");
        }
    }
}

impl<S: Store + ?Sized + 'static> Source for Leased<S> {
    fn name(&self) -> String {
        (self.make)().name()
    }

    fn run(self: Box<Self>, once: bool, shutdown: watch::Receiver<bool>) -> SourceRun {
        (*self).run_leased(once, shutdown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::MemoryStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source that counts its runs and then waits for shutdown.
    struct Counting(Arc<AtomicUsize>);

    impl Source for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn run(self: Box<Self>, once: bool, mut shutdown: watch::Receiver<bool>) -> SourceRun {
            Box::pin(async move {
                self.0.fetch_add(1, Ordering::SeqCst);
                if !once {
                    let _ = shutdown.wait_for(|s| *s).await;
                }
                Ok(Taken::default())
            })
        }
    }

    fn leased(
        store: &Arc<MemoryStore>,
        clock: &Arc<FixedClock>,
        holder: &str,
        runs: &Arc<AtomicUsize>,
    ) -> Box<dyn Source> {
        let runs = runs.clone();
        Box::new(Leased {
            name: "mailbox:support".into(),
            make: Box::new(move || Box::new(Counting(runs.clone())) as Box<dyn Source>),
            store: store.clone(),
            clock: clock.clone() as Arc<dyn Clock>,
            holder: holder.into(),
            terms: Terms {
                ttl: Duration::from_millis(300),
            },
            share: Share::new(1),
            health: None,
        })
    }

    #[tokio::test]
    async fn one_holder_reads_and_another_takes_over_when_it_stops_renewing() {
        let store = Arc::new(MemoryStore::new(1000));
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let (a_runs, b_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (stop_a, rx_a) = watch::channel(false);
        let (stop_b, rx_b) = watch::channel(false);
        let a = tokio::spawn(leased(&store, &clock, "a", &a_runs).run(false, rx_a));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b = tokio::spawn(leased(&store, &clock, "b", &b_runs).run(false, rx_b));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(a_runs.load(Ordering::SeqCst), 1, "a holds it");
        assert_eq!(b_runs.load(Ordering::SeqCst), 0, "b stands by");
        // a dies without a word (its task is gone, the lease stays on
        // record); once the lease has run out, b reads.
        a.abort();
        let _ = stop_a;
        clock.advance(chrono::Duration::milliseconds(301));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(b_runs.load(Ordering::SeqCst), 1, "b took over");
        // A one-shot run while b holds it reads nothing.
        let (_s, rx_c) = watch::channel(false);
        let c_runs = Arc::new(AtomicUsize::new(0));
        leased(&store, &clock, "c", &c_runs)
            .run(true, rx_c)
            .await
            .unwrap();
        assert_eq!(c_runs.load(Ordering::SeqCst), 0);
        // b stops cleanly: the lease is free at once.
        stop_b.send(true).unwrap();
        b.await.unwrap().unwrap();
        leased(&store, &clock, "c", &c_runs)
            .run(true, watch::channel(false).1)
            .await
            .unwrap();
        assert_eq!(c_runs.load(Ordering::SeqCst), 1);
    }
}
