//! The command line: arguments (`args`), reaching a worker or the store
//! (`access`), and what each command does (`commands`).

pub mod access;
pub mod args;
pub mod commands;
