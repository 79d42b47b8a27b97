//! How outgoing mail leaves: a small trait and its implementations.
//!
//! [`FileTransport`] writes each message as an `.eml` file (lettre's file
//! transport), the embedded default and what tests look at.

use lettre::address::Envelope;
use lettre::{Address, AsyncFileTransport, AsyncTransport, Tokio1Executor};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// Why a delivery did not happen. `permanent` failures are not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    pub fn temporary(message: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: message.into(),
        }
    }
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: message.into(),
        }
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers one complete message to its recipients.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> SendFuture<'a>;
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

/// Writes messages as `.eml` files into a directory.
pub struct FileTransport {
    inner: AsyncFileTransport<Tokio1Executor>,
}

impl FileTransport {
    /// Creates the directory if needed.
    pub fn new(dir: &Path) -> std::io::Result<FileTransport> {
        std::fs::create_dir_all(dir)?;
        Ok(FileTransport {
            inner: AsyncFileTransport::new(dir),
        })
    }
}

impl Transport for FileTransport {
    fn send<'a>(&'a self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            let env = envelope(from, to)?;
            self.inner
                .send_raw(&env, raw)
                .await
                .map(|_| ())
                .map_err(|e| SendError::temporary(format!("writing to the outbox directory: {e}")))
        })
    }
}
