//! The long-running job around the core: the [`worker`] (mail sources,
//! the minute timers, the outbox sender, reloads and shutdown), the
//! [`control`] socket through which the CLI reaches a running worker,
//! [`lmtp`], where the site's MTA hands mail over, and [`leased`], which
//! lets several workers on a shared store read each source one at a time.
//! Worker, socket and listener hand their work to the committer, the one
//! writer of this process.

pub mod control;
pub mod health;
pub mod leased;
pub mod lmtp;
pub mod metrics;
pub mod worker;
