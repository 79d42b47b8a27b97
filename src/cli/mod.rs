//! The command line: arguments (`args`), reaching a worker or the store
//! (`access`), what each command does (`commands`), and where log lines
//! go (`log`).

pub mod access;
pub mod args;
pub mod commands;
pub mod init;
pub mod log;
