//! The server store's connections: each on a thread of its own, with its
//! prepared statements.
//!
//! Why threads: the blocking client runs a small runtime of its own, which
//! may not be entered from a thread that drives async tasks (the outbox
//! sender, the lease keepers). A thread per call worked but cost a thread
//! start per query; a connection that lives on its own thread takes a
//! call through two channel hand-offs instead.
//!
//! Why a statement cache: the client sends an unnamed statement's text
//! and waits for its description before it can bind parameters, two
//! round trips per query; a statement prepared once per connection takes
//! one.

use super::pg_err;
use crate::store::StoreError;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};

/// A connection and the statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    cache: HashMap<String, Statement>,
}

/// A transaction on a [`Conn`], using its prepared statements.
pub(super) struct Tx<'a> {
    tx: Transaction<'a>,
    cache: &'a mut HashMap<String, Statement>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The queries the store makes, on a connection or in a transaction.
pub(super) trait Sql {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error>;
    fn run_execute(&mut self, st: &Statement, params: Params<'_>) -> Result<u64, postgres::Error>;
    fn run_query(
        &mut self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error>;

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let st = self.statement(sql)?;
        self.run_execute(&st, params)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let st = self.statement(sql)?;
        self.run_query(&st, params)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a query returns (an aggregate, a sequence).
    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let st = self.statement(sql)?;
        self.run_query_one(&st, params)
    }

    fn run_query_one(&mut self, st: &Statement, params: Params<'_>)
    -> Result<Row, postgres::Error>;
}

impl Conn {
    pub(super) fn new(client: Client) -> Conn {
        Conn {
            client,
            cache: HashMap::new(),
        }
    }

    pub(super) fn transaction(&mut self) -> Result<Tx<'_>, postgres::Error> {
        Ok(Tx {
            tx: self.client.transaction()?,
            cache: &mut self.cache,
        })
    }
}

impl Tx<'_> {
    pub(super) fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }
}

fn cached(
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
) -> Result<Statement, postgres::Error> {
    if let Some(st) = cache.get(sql) {
        return Ok(st.clone());
    }
    let st = prepare(sql)?;
    cache.insert(sql.to_owned(), st.clone());
    Ok(st)
}

impl Sql for Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        let client = &mut self.client;
        cached(&mut self.cache, sql, |s| client.prepare(s))
    }
    fn run_execute(&mut self, st: &Statement, params: Params<'_>) -> Result<u64, postgres::Error> {
        self.client.execute(st, params)
    }
    fn run_query(
        &mut self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        self.client.query(st, params)
    }
    fn run_query_one(
        &mut self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        self.client.query_one(st, params)
    }
}

impl Sql for Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        let tx = &mut self.tx;
        cached(self.cache, sql, |s| tx.prepare(s))
    }
    fn run_execute(&mut self, st: &Statement, params: Params<'_>) -> Result<u64, postgres::Error> {
        self.tx.execute(st, params)
    }
    fn run_query(
        &mut self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        self.tx.query(st, params)
    }
    fn run_query_one(
        &mut self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        self.tx.query_one(st, params)
    }
}

/// Work for a connection's thread.
type Job = Box<dyn FnOnce(&mut Conn) + Send + 'static>;

/// A connection's thread, reached through its queue. One caller at a
/// time holds a slot (its mutex), so calls on one connection never
/// interleave.
pub(super) struct Slot {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Slot {
    /// Starts a thread that connects with `connect` and then serves calls
    /// until the slot is dropped (the connection closes on that thread).
    pub(super) fn start(
        connect: impl FnOnce() -> Result<Client, postgres::Error> + Send + 'static,
    ) -> Result<Slot, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel(1);
        let started = std::thread::Builder::new()
            .name("store-conn".into())
            .spawn(move || {
                let mut conn = match connect() {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        Conn::new(client)
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            });
        if let Err(e) = started {
            return Err(StoreError::Other(format!(
                "could not start a database connection's thread: {e}"
            )));
        }
        match connected.recv() {
            Ok(Ok(())) => Ok(Slot {
                jobs: Mutex::new(jobs),
            }),
            Ok(Err(e)) => Err(pg_err(e)),
            Err(_) => Err(StoreError::Other(
                "the database connection's thread ended before connecting".into(),
            )),
        }
    }

    pub(super) fn try_hold(&self) -> Option<Held<'_>> {
        self.jobs.try_lock().ok().map(|jobs| Held { jobs })
    }

    pub(super) fn hold(&self) -> Held<'_> {
        // A panic while holding a slot leaves it usable: the connection's
        // state is per call.
        Held {
            jobs: self.jobs.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// A slot held by one caller.
pub(super) struct Held<'a> {
    jobs: MutexGuard<'a, mpsc::Sender<Job>>,
}

impl Held<'_> {
    /// Runs `f` on the connection's thread and waits for it. `f` may
    /// borrow from the caller: the call returns only once `f` has run or
    /// has been dropped unrun.
    pub(super) fn call<T: Send>(&self, f: impl FnOnce(&mut Conn) -> T + Send) -> T {
        let (done, result) = mpsc::sync_channel(1);
        let job = move |c: &mut Conn| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(c)));
            let _ = done.send(r);
        };
        let job: Box<dyn FnOnce(&mut Conn) + Send + '_> = Box::new(job);
        // SAFETY: the job's borrows outlive its use. `result.recv()` below
        // returns only after the job has sent its result (it ran) or after
        // `done`, which the job owns, was dropped (the job was dropped,
        // unrun, because the thread is gone). Either way the job is
        // finished with everything it borrowed before this function
        // returns; the 'static is never relied on past that point.
        let job: Job = unsafe { std::mem::transmute(job) };
        if self.jobs.send(job).is_err() {
            panic!("the database connection's thread is gone");
        }
        match result.recv() {
            Ok(Ok(v)) => v,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the database connection's thread is gone"),
        }
    }
}
