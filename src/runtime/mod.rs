//! The long-running job around the core: the [`worker`] (mail sources,
//! the minute timers, the outbox sender, reloads and shutdown) and the
//! [`control`] socket through which the CLI reaches a running worker. Both
//! hand their work to the committer, the one writer.

pub mod control;
pub mod worker;
