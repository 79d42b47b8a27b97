//! One message's failure stays that message's.
//!
//! Mail is processed in batches for speed (one flush for many messages), so
//! without care one bad message would take its whole batch, and the worker,
//! down with it, and do so again after every restart: its raw bytes are
//! stored and pending, so recovery tries it first. Three defences:
//!
//! - **Panics** are caught around each message: that message is quarantined
//!   with the panic's text as its reason, and the batch goes on.
//! - **Crashes** that cannot be caught (an abort, a stack overflow, the
//!   kernel's OOM killer, SIGKILL) are counted: before a batch is processed
//!   each of its messages has its try counted durably. After a crash those
//!   messages come back with tries on record; each is then processed alone,
//!   with its own count and flush, so the one that brings the process down
//!   again is known. A message whose tries alone never finished
//!   [`MAX_CRASHES_ALONE`] times is set aside in quarantine at once.
//! - **Errors** from the store that concern one message (a record that no
//!   longer reads) quarantine that message; errors of the store as a whole
//!   (I/O, disk full) fail the batch, which the sources keep and offer
//!   again: that is not the message's fault.
//!
//! Quarantined mail is kept, listed by `ticketbox quarantine`, and
//! `ticketbox release HASH` tries it again after a fix.

use crate::clock::Clock;
use crate::intake::RawMail;
use crate::pipeline::{self, Engine, Outcome, OutcomeKind, Prepared};
use crate::store::{Attempts, Commit, Quarantined, Store, StoreError};
use chrono::{DateTime, Utc};

/// Tries alone that never finished before a message is set aside. Not one:
/// a SIGKILL or power cut during an innocent message's single try must not
/// quarantine it. Not two either: a kill from outside lands on whichever
/// message is in progress, most likely the slowest, and the slowest stays
/// the slowest on the next run. Our own crash test saw a 315 KB message
/// killed alone twice in a row by kills that had nothing to do with it.
/// A message that truly brings the worker down costs one restart more.
pub const MAX_CRASHES_ALONE: u32 = 3;

mod ahead {
    //! Preparing the next messages on another core while one is decided.
    //!
    //! Parsing, classifying and language detection need no store, so a
    //! helper thread runs them a bounded distance ahead (memory stays flat:
    //! at most [`AHEAD`] prepared messages wait); deciding and committing
    //! stay on the caller's thread, in order. A panic while preparing is
    //! carried over and raised where the message is processed, so it is
    //! quarantined like any other.
    //!
    //! The helper is one long-lived thread (a rayon pool of one), not a
    //! thread per batch: the regex engine keeps its scratch space per
    //! thread, and a fresh thread per batch made it grow for each (peak RSS
    //! 167 MB instead of 98 MB on the 10,000-message ingest).

    use crate::intake::RawMail;
    use crate::pipeline::{self, Engine, Prepared};
    use crate::store::StoreError;
    use std::sync::{LazyLock, mpsc};

    /// Prepared messages that may wait for their turn.
    const AHEAD: usize = 32;
    /// Prepared messages handed over at once.
    const HANDFUL: usize = 8;

    /// A message prepared, or the panic preparing it raised.
    pub type Ready = std::thread::Result<Prepared>;

    /// The helper, when there is a core to spare for it.
    static HELPER: LazyLock<Option<rayon::ThreadPool>> = LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "ticketbox-prepare".into())
            .build()
            .ok()
    });

    /// Prepares `raw`, a panic caught and kept for its turn.
    pub fn guarded(engine: &Engine, raw: &RawMail) -> Ready {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::prepare(engine, raw)
        }))
    }

    /// Calls `each(k, prepared)` for every mail of `mails`, in order, with
    /// the mail prepared ahead on another core when there is one to spare.
    pub(super) fn each_prepared(
        engine: &Engine,
        mails: &[&RawMail],
        mut each: impl FnMut(usize, Option<Ready>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let helper = HELPER.as_ref().filter(|_| mails.len() > 1);
        let Some(helper) = helper else {
            return (0..mails.len()).try_for_each(|k| each(k, None));
        };
        helper.in_place_scope(|scope| {
            // Handed over a few at a time: one wake-up per message cost
            // more than the handing over saved.
            let (tx, rx) = mpsc::sync_channel::<Vec<Ready>>(AHEAD / HANDFUL);
            scope.spawn(move |_| {
                for handful in mails.chunks(HANDFUL) {
                    let ready = handful.iter().map(|raw| guarded(engine, raw)).collect();
                    if tx.send(ready).is_err() {
                        // The caller stopped (an error of the store).
                        return;
                    }
                }
            });
            // Returning drops `rx`, which ends the helper's work early.
            let mut received = Vec::new().into_iter();
            for k in 0..mails.len() {
                if received.len() == 0 {
                    received = rx.recv().unwrap_or_default().into_iter();
                }
                // The helper sends every message unless it died outside the
                // guarded call: then the rest are prepared here.
                each(k, received.next())?;
            }
            Ok(())
        })
    }
}

/// Processes `mails` (each with [`pipeline::process`]) and returns their
/// outcomes in the same order. Messages with tries on record go first, one
/// at a time; the rest follow together. Commits are made but the last of
/// them is not flushed: the caller flushes, after its checkpoints.
pub fn process_all<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    mails: &[&RawMail],
) -> Result<Vec<Outcome>, StoreError> {
    process_all_with(
        engine,
        store,
        clock,
        mails,
        &pipeline::process_prepared::<S>,
    )
}

/// The processing step (deciding and committing a prepared message), as a
/// parameter so tests can make it fail.
pub type Step<'a, S> =
    dyn Fn(&Engine, &S, &RawMail, Prepared, DateTime<Utc>) -> Result<Outcome, StoreError> + 'a;

/// [`process_all`] with the step that processes one message given.
pub fn process_all_with<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    mails: &[&RawMail],
    step: &Step<'_, S>,
) -> Result<Vec<Outcome>, StoreError> {
    let taken = take_in_all(engine, store, mails)?;
    process_taken(engine, store, clock, mails, taken, None, step)
}

/// What became of a batch's mail at [`take_in_all`], by position.
#[derive(Debug, Default)]
pub struct TakenIn {
    /// Tried alone too often: set aside, with their tries.
    aside: Vec<(usize, Attempts)>,
    /// Tried before, in a batch that never finished: each goes alone, in
    /// this order, taken in when its turn comes.
    again: Vec<usize>,
    /// Never tried: taken in together, their raw mail durable.
    fresh: Vec<usize>,
}

/// Sorts `mails` by their tries on record and takes the fresh ones in
/// (raw mail stored, a try counted, durably). Touches nothing a decision
/// reads, so it may run for the next batch on another thread while this
/// one is decided ([`crate::runtime::worker::ingest`] does).
pub fn take_in_all<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    mails: &[&RawMail],
) -> Result<TakenIn, StoreError> {
    let mut taken = TakenIn::default();
    if mails.is_empty() {
        return Ok(taken);
    }
    // No room: the mail stays with its source, nothing is half-written.
    crate::space::ensure(
        &engine.cfg.data_dir,
        engine.cfg.intake.min_free_mib << 20,
        "intake paused until there is room (intake.min_free_mib)",
    )
    .map_err(StoreError::NoSpace)?;
    let mut again = Vec::new();
    for (i, raw) in mails.iter().enumerate() {
        let tries = store.attempts(&raw.hash)?;
        if tries.alone >= MAX_CRASHES_ALONE {
            taken.aside.push((i, tries));
        } else if tries.total > 0 {
            again.push((tries.alone, i));
        } else {
            taken.fresh.push(i);
        }
    }
    // Was in a batch that never finished: alone this time. Those already
    // tried alone go last: a process killed from outside (an admin, the
    // OOM killer for another reason) stops whichever message is first, and
    // the same one must not be first every time, or an innocent message is
    // set aside for two kills that were not its doing.
    again.sort_by_key(|&(alone, i)| (alone, i));
    taken.again = again.into_iter().map(|(_, i)| i).collect();
    if !taken.fresh.is_empty() {
        let batch: Vec<&RawMail> = taken.fresh.iter().map(|&i| mails[i]).collect();
        take_in(store, &batch)?;
    }
    Ok(taken)
}

pub use ahead::Ready;

/// The fresh mail of a batch taken in, prepared (parsed, classified, its
/// language detected) in order: what [`process_taken`] may be given when a
/// thread of the caller's prepared the batch while the one before it was
/// decided. Only mail taken in: a message that kills the process while it
/// is prepared must have its try on record.
pub fn prepare_fresh(engine: &Engine, mails: &[&RawMail], taken: &TakenIn) -> Vec<Ready> {
    taken
        .fresh
        .iter()
        .map(|&i| ahead::guarded(engine, mails[i]))
        .collect()
}

/// Decides and commits `mails` as [`take_in_all`] sorted them, and
/// returns their outcomes in the same order. The fresh ones come
/// `prepared` ([`prepare_fresh`]), or are prepared ahead on the helper.
pub fn process_taken<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    clock: &dyn Clock,
    mails: &[&RawMail],
    taken: TakenIn,
    prepared: Option<Vec<Ready>>,
    step: &Step<'_, S>,
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; mails.len()];
    for (i, tries) in taken.aside {
        outcomes[i] = Some(set_aside(store, mails[i], tries, clock.now())?);
    }
    for i in taken.again {
        let raw = mails[i];
        take_in(store, &[raw])?;
        outcomes[i] = Some(process_one(engine, store, raw, None, clock.now(), step)?);
        store.flush()?;
    }
    let fresh = taken.fresh;
    // The k-th fresh message, prepared ahead (or, given None, here).
    let mut each = |k: usize, ready: Option<Ready>| {
        let i = fresh[k];
        let now = clock.now();
        outcomes[i] = Some(process_one(engine, store, mails[i], ready, now, step)?);
        Ok(())
    };
    match prepared {
        // Made by prepare_fresh from the same TakenIn: one per fresh message.
        Some(prepared) => (prepared.into_iter().enumerate())
            .take(fresh.len())
            .try_for_each(|(k, r)| each(k, Some(r)))?,
        None => {
            let batch: Vec<&RawMail> = fresh.iter().map(|&i| mails[i]).collect();
            ahead::each_prepared(engine, &batch, each)?;
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Stores the raw messages (pending) and counts a try at each, durably,
/// before anything is decided about them.
fn take_in<S: Store + ?Sized>(store: &S, mails: &[&RawMail]) -> Result<(), StoreError> {
    let raws: Vec<(&str, &[u8], &str)> = mails
        .iter()
        .map(|m| (m.hash.as_str(), m.bytes.as_slice(), m.origin.as_str()))
        .collect();
    store.put_raws_tried(&raws, mails.len() == 1)?;
    store.flush_intake()
}

/// One message (`prepared` ahead, or else here); a panic or an error of
/// its own quarantines it.
fn process_one<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    prepared: Option<ahead::Ready>,
    now: DateTime<Utc>,
    step: &Step<'_, S>,
) -> Result<Outcome, StoreError> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The fault stands for a crash in processing proper, which mail
        // already quarantined never reaches.
        #[cfg(debug_assertions)]
        if !store.is_quarantined(&raw.hash).unwrap_or(false) {
            fault::inject(raw);
        }
        let prepared = match prepared {
            Some(Ok(p)) => p,
            // It panicked on the other core: the same as here.
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => pipeline::prepare(engine, raw),
        };
        step(engine, store, raw, prepared, now)
    }));
    let reason = match result {
        Ok(Ok(outcome)) => return Ok(outcome),
        Ok(Err(e)) if e.is_systemic() => return Err(e),
        Ok(Err(e)) => format!("the store could not take this message: {e}"),
        Err(panic) => format!(
            "internal error while processing (a bug in ticketbox): {}; \
             `ticketbox release` tries it again after an upgrade",
            panic_text(&*panic)
        ),
    };
    tracing::error!(origin = %raw.origin, hash = %raw.hash, %reason, "quarantined");
    quarantine(store, raw, reason, now)
}

/// Quarantines a message whose tries alone never finished.
fn set_aside<S: Store + ?Sized>(
    store: &S,
    raw: &RawMail,
    tries: Attempts,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let reason = format!(
        "processing it stopped the worker {} times (a crash, abort or out of memory while \
         handling this message alone); set aside so later mail flows: \
         `ticketbox release` tries it again",
        tries.alone
    );
    tracing::error!(origin = %raw.origin, hash = %raw.hash, %reason, "quarantined");
    quarantine(store, raw, reason, now)
}

fn quarantine<S: Store + ?Sized>(
    store: &S,
    raw: &RawMail,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    store.commit(&Commit {
        raw_hash: raw.hash.clone(),
        source_key: raw.source_key.clone(),
        quarantine: Some(Quarantined {
            raw_hash: raw.hash.clone(),
            reason: reason.clone(),
            received: now,
            origin: raw.origin.clone(),
            size: raw.bytes.len(),
            spam_rule: None,
        }),
        ..Commit::default()
    })?;
    Ok(Outcome {
        message_id: None,
        ticket: None,
        outcome: OutcomeKind::Quarantined,
        reason,
        acknowledged: false,
        origin: raw.origin.clone(),
        history: false,
    })
}

/// Quarantines a message a source could not give at all (an IMAP server
/// answering NO to its FETCH): there are no bytes to keep, so a short note
/// of what happened stands in for them (`ticketbox raw` shows it), and the
/// source moves on.
pub fn quarantine_unfetchable<S: Store + ?Sized>(
    store: &S,
    origin: &str,
    source_key: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let note = format!(
        "X-Ticketbox-Unreadable: {origin}\r\nDate: {}\r\n\r\nThe server could not give this message: {why}\r\n",
        now.to_rfc2822()
    );
    let raw = RawMail::new(
        note.into_bytes(),
        origin.to_owned(),
        Some(source_key.to_owned()),
    );
    store.put_raw(&raw.hash, &raw.bytes, &raw.origin)?;
    quarantine(
        store,
        &raw,
        format!("the server could not give this message: {why}"),
        now,
    )
}

/// The text a panic was raised with.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Faults on demand for the tests of this module's promises, in debug
/// builds only (a release binary has no such switch):
/// `TICKETBOX_TEST_FAULT=abort:MARKER` aborts the process, `panic:MARKER`
/// panics, while processing a message whose bytes contain MARKER.
#[cfg(debug_assertions)]
mod fault {
    use crate::intake::RawMail;
    use std::sync::LazyLock;

    static FAULT: LazyLock<Option<(String, String)>> = LazyLock::new(|| {
        let v = std::env::var("TICKETBOX_TEST_FAULT").ok()?;
        let (kind, marker) = v.split_once(':')?;
        Some((kind.to_owned(), marker.to_owned()))
    });

    pub fn inject(raw: &RawMail) {
        let Some((kind, marker)) = FAULT.as_ref() else {
            return;
        };
        let hit = !marker.is_empty()
            && raw
                .bytes
                .windows(marker.len())
                .any(|w| w == marker.as_bytes());
        if !hit {
            return;
        }
        match kind.as_str() {
            "abort" => {
                eprintln!("TICKETBOX_TEST_FAULT: aborting on {}", raw.origin);
                std::process::abort();
            }
            "panic" => panic!("TICKETBOX_TEST_FAULT: panic on {}", raw.origin),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::Config;
    use crate::store::{DiskStore, View};
    use chrono::TimeZone;
    use std::sync::Mutex;

    struct Setup {
        _dir: tempfile::TempDir,
        store: DiskStore,
        engine: Engine,
        clock: FixedClock,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            rules_dir: dir.path().join("no-rules"),
            templates_dir: dir.path().join("no-templates"),
            ..Config::default()
        };
        Setup {
            store: DiskStore::open(&dir.path().join("data"), 1000).unwrap(),
            engine: Engine::new(cfg, "test-instance".into()).unwrap(),
            clock: FixedClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()),
            _dir: dir,
        }
    }

    fn mail(n: usize, body: &str) -> RawMail {
        let text = format!(
            "From: c{n}@c.example\r\nTo: support@example.com\r\nSubject: Help {n}\r\n\
             Message-ID: <m{n}@c.example>\r\n\r\n{body}\r\n"
        );
        RawMail::new(text.into_bytes(), format!("test:{n}"), None)
    }

    /// The real step, except that a message saying "POISON" panics; every
    /// call is noted with the tries on record at that moment.
    fn step_noting<'a>(
        calls: &'a Mutex<Vec<(String, Attempts)>>,
    ) -> impl Fn(
        &Engine,
        &DiskStore,
        &RawMail,
        Prepared,
        DateTime<Utc>,
    ) -> Result<Outcome, StoreError>
    + 'a {
        move |engine, store, raw, prepared, now| {
            calls
                .lock()
                .unwrap()
                .push((raw.origin.clone(), store.attempts(&raw.hash).unwrap()));
            if String::from_utf8_lossy(&raw.bytes).contains("POISON") {
                panic!("cannot handle {}", raw.origin);
            }
            pipeline::process_prepared(engine, store, raw, prepared, now)
        }
    }

    #[test]
    fn a_panic_quarantines_its_message_and_the_batch_goes_on() {
        let s = setup();
        let mails = [mail(1, "fine"), mail(2, "POISON"), mail(3, "fine")];
        let refs: Vec<&RawMail> = mails.iter().collect();
        let calls = Mutex::new(Vec::new());
        let out =
            process_all_with(&s.engine, &s.store, &s.clock, &refs, &step_noting(&calls)).unwrap();
        s.store.flush().unwrap();
        let kinds: Vec<OutcomeKind> = out.iter().map(|o| o.outcome).collect();
        assert_eq!(
            kinds,
            [
                OutcomeKind::Created,
                OutcomeKind::Quarantined,
                OutcomeKind::Created
            ]
        );
        assert!(
            out[1].reason.contains("cannot handle test:2"),
            "{}",
            out[1].reason
        );
        let q = s.store.quarantined().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].raw_hash, mails[1].hash);
        assert!(q[0].reason.starts_with("internal error while processing"));
        assert!(s.store.pending().unwrap().is_empty());
        // Each try was counted, durably, before the step ran.
        for (_, tries) in calls.lock().unwrap().iter() {
            assert_eq!(*tries, Attempts { total: 1, alone: 0 });
        }
    }

    #[test]
    fn after_a_crash_each_message_is_tried_alone_and_a_repeat_offender_set_aside() {
        let s = setup();
        let mails: Vec<RawMail> = (1..=4).map(|n| mail(n, "fine")).collect();
        let refs: Vec<&RawMail> = mails.iter().collect();
        // A batch began (tries counted, flushed) and the process died.
        take_in(&s.store, &refs).unwrap();
        // Message 3 then took the process down three more times, alone.
        for _ in 0..MAX_CRASHES_ALONE {
            s.store.count_attempts(&[&mails[2].hash], true).unwrap();
        }
        s.store.flush().unwrap();

        let pending = s.store.pending().unwrap();
        assert_eq!(pending.len(), 4);
        assert_eq!(pending[2].attempts, Attempts { total: 4, alone: 3 });

        let calls = Mutex::new(Vec::new());
        let out =
            process_all_with(&s.engine, &s.store, &s.clock, &refs, &step_noting(&calls)).unwrap();
        s.store.flush().unwrap();
        assert_eq!(out[2].outcome, OutcomeKind::Quarantined);
        assert!(
            out[2].reason.contains("stopped the worker 3 times"),
            "{}",
            out[2].reason
        );
        for i in [0, 1, 3] {
            assert_eq!(out[i].outcome, OutcomeKind::Created, "{:?}", out[i]);
        }
        // The three others were tried alone (their second try); the set
        // aside one never reached the step.
        let calls = calls.lock().unwrap();
        let seen: Vec<&str> = calls.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(seen, ["test:1", "test:2", "test:4"]);
        for (_, tries) in calls.iter() {
            assert_eq!(*tries, Attempts { total: 2, alone: 1 });
        }
        assert!(s.store.pending().unwrap().is_empty());
        assert_eq!(s.store.quarantined().unwrap().len(), 1);
        // The same bytes arriving again stay where they are.
        let again = process_all(&s.engine, &s.store, &s.clock, &[&mails[2]]).unwrap();
        assert_eq!(again[0].outcome, OutcomeKind::Duplicate);
    }

    /// Kills from outside (an admin's SIGKILL, a power cut) stop whichever
    /// message is being tried alone; the one already tried alone waits
    /// behind the others, so two kills in a row do not both land on it.
    #[test]
    fn a_message_already_tried_alone_goes_behind_the_others() {
        let s = setup();
        let mails: Vec<RawMail> = (1..=3).map(|n| mail(n, "fine")).collect();
        let refs: Vec<&RawMail> = mails.iter().collect();
        take_in(&s.store, &refs).unwrap();
        // Message 1 was being tried alone when the process was killed.
        s.store.count_attempts(&[&mails[0].hash], true).unwrap();
        s.store.flush().unwrap();
        let calls = Mutex::new(Vec::new());
        let out =
            process_all_with(&s.engine, &s.store, &s.clock, &refs, &step_noting(&calls)).unwrap();
        let seen: Vec<String> = calls
            .lock()
            .unwrap()
            .iter()
            .map(|(o, _)| o.clone())
            .collect();
        assert_eq!(seen, ["test:2", "test:3", "test:1"]);
        // Outcomes keep the order the mail came in.
        let origins: Vec<&str> = out.iter().map(|o| o.origin.as_str()).collect();
        assert_eq!(origins, ["test:1", "test:2", "test:3"]);
        assert!(out.iter().all(|o| o.outcome == OutcomeKind::Created));
    }

    #[test]
    fn two_tries_alone_that_never_finished_are_not_enough_to_set_a_message_aside() {
        // Two SIGKILLs or power cuts during an innocent message's tries alone.
        let s = setup();
        let m = mail(1, "fine");
        take_in(&s.store, &[&m]).unwrap();
        take_in(&s.store, &[&m]).unwrap();
        assert_eq!(
            s.store.attempts(&m.hash).unwrap(),
            Attempts { total: 2, alone: 2 }
        );
        let out = process_all(&s.engine, &s.store, &s.clock, &[&m]).unwrap();
        assert_eq!(out[0].outcome, OutcomeKind::Created);
    }

    #[test]
    fn messages_prepared_ahead_come_in_order_and_an_error_stops_the_helper() {
        let s = setup();
        let mails: Vec<RawMail> = (0..100).map(|n| mail(n, "fine")).collect();
        let refs: Vec<&RawMail> = mails.iter().collect();
        take_in(&s.store, &refs).unwrap();
        let mut seen = Vec::new();
        ahead::each_prepared(&s.engine, &refs, |k, ready| {
            let prepared = ready.expect("prepared ahead").expect("no panic");
            let raw = refs[k];
            // The prepared message is this mail's: deciding it yields its id.
            let out =
                pipeline::process_prepared(&s.engine, &s.store, raw, prepared, s.clock.now())?;
            seen.push((k, out.outcome));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().enumerate().all(|(i, (k, _))| i == *k));
        assert!(
            seen.iter().all(|(_, o)| *o == OutcomeKind::Created),
            "{seen:?}"
        );

        // The caller's error ends the run at once; the helper does not hang.
        let mut calls = 0;
        let err = ahead::each_prepared(&s.engine, &refs, |k, _| {
            calls += 1;
            if k == 10 {
                return Err(StoreError::Other("stop".into()));
            }
            Ok(())
        });
        assert!(err.is_err());
        assert_eq!(calls, 11);
    }
}
