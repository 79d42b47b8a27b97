//! A place mail comes from. The worker runs every configured source side
//! by side until shutdown (with `once`, until each has caught up); each
//! hands its mail to the committer with the checkpoint it covers, and
//! reports what it skipped and could not read. A new kind of source (a
//! directory watched over NFS, a POP3 box, an HTTP hook) is one type
//! implementing [`Source`], added to the worker's list of sources.

use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;

/// What a source's run came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Items already taken in before (a Maildir file seen in an earlier run).
    pub skipped: usize,
    /// Items that could not be read at all (left where they are).
    pub unreadable: usize,
}

/// Why a source gave up.
pub type GaveUp = Box<dyn std::error::Error + Send + Sync>;

/// What a source's run resolves to.
pub type SourceRun = Pin<Box<dyn Future<Output = Result<Taken, GaveUp>> + Send>>;

pub trait Source: Send {
    /// What the admin calls it in logs and errors (a Maildir path, a
    /// mailbox's name).
    fn name(&self) -> String;

    /// Reads until `shutdown` turns true, or with `once` until there is
    /// nothing more to read now. An error is the source giving up.
    fn run(self: Box<Self>, once: bool, shutdown: watch::Receiver<bool>) -> SourceRun;
}
