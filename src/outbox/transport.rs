//! How outgoing mail leaves: a small trait and its implementations.
//!
//! [`FileTransport`] writes each message as an `.eml` file, the embedded
//! default and what tests look at.

use lettre::Address;
use lettre::address::Envelope;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

/// Why a delivery did not happen, to any recipient. `permanent` failures
/// are not retried; `retry_after` is the server's own word on when to try
/// again (greylisting), when it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn temporary(message: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// A recipient the server would not take while it took the message for
/// others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: String,
    pub permanent: bool,
    /// The server's reply, e.g. `550 5.1.1 <x@y>: user unknown`.
    pub reason: String,
    pub retry_after: Option<Duration>,
}

/// A message taken for at least one recipient; every recipient not in
/// `refused` has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    pub refused: Vec<Refusal>,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendError>> + Send + 'a>>;

/// Delivers one complete message to its recipients: `Ok` when at least
/// one took it (with those that did not), `Err` when none did.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> SendFuture<'a>;

    /// Whether sending a message again leaves the recipient with one copy
    /// (a file named after its content): then a delivery round marks
    /// nothing before a send and writes its results in groups, durable at
    /// the round's end. Not so for SMTP: a second send is a second mail.
    fn repeat_is_harmless(&self) -> bool {
        false
    }
}

/// Builds a lettre envelope; a malformed address is a permanent failure.
pub fn envelope(from: &str, to: &[String]) -> Result<Envelope, SendError> {
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|e| SendError::permanent(format!("invalid address {a:?}: {e}")))
    };
    let from = if from.is_empty() {
        None
    } else {
        Some(parse(from)?)
    };
    let to = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
    Envelope::new(from, to).map_err(|e| SendError::permanent(format!("invalid envelope: {e}")))
}

/// Writes messages as `.eml` files into a directory, as lettre's file
/// transport does, but each file appears whole or not at all (written under
/// a hidden temporary name, then renamed), and is named after its content:
/// delivering the same message again after a crash replaces the file
/// instead of adding a second copy. Files are not fsynced one by one: this
/// is the embedded default for trying ticketbox and for tests; SMTP is the
/// transport whose acceptance means the mail is safe.
/// Room the file outbox leaves free on its disk.
const FILE_RESERVE: u64 = 4 << 20;

pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Creates the directory if needed (the owner's alone: it holds mail
    /// to customers).
    pub fn new(dir: &Path) -> std::io::Result<FileTransport> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(FileTransport {
            dir: dir.to_path_buf(),
        })
    }
}

impl Transport for FileTransport {
    fn repeat_is_harmless(&self) -> bool {
        true
    }

    fn send<'a>(&'a self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            // The same checks as a real transport: a bad address is refused.
            envelope(from, to)?;
            // Mail waits rather than fill the disk (the store may share it).
            crate::space::ensure(
                &self.dir,
                FILE_RESERVE + raw.len() as u64,
                "outgoing mail waits until there is room",
            )
            .map_err(SendError::temporary)?;
            let name = format!("{}.eml", &crate::intake::content_hash(raw)[..32]);
            let (dir, bytes) = (self.dir.clone(), raw.to_vec());
            let written = tokio::task::spawn_blocking(move || {
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, dir.join(&name))
            })
            .await;
            match written {
                Ok(Ok(())) => Ok(Sent::default()),
                Ok(Err(e)) => Err(SendError::temporary(format!(
                    "writing to the outbox directory {}: {e}",
                    self.dir.display()
                ))),
                Err(e) => Err(SendError::temporary(format!("writing task failed: {e}"))),
            }
        })
    }
}
