//! Delivery through an SMTP server: implicit TLS, STARTTLS or (loopback
//! only) plain; optional AUTH; reused connections so several messages are in
//! flight at once without a handshake each. 5xx replies are permanent
//! failures; everything else (4xx, timeouts, refused connections) is retried.
//!
//! lettre speaks SMTP; we open the sockets. Why: lettre writes the message
//! and the final `.` in two writes, and its sockets keep Nagle's algorithm
//! on, so every message waited ~40 ms for the server's delayed ACK. Our
//! sockets set TCP_NODELAY.

use super::transport::{SendError, SendFuture, Transport, envelope};
use crate::config::{SecretError, SmtpCfg, TlsMode};
use crate::tls::MailStream;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections older than this are closed rather than reused
/// (servers drop idle clients after a few minutes).
const MAX_IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("smtp password: {0}")]
    Secret(#[from] SecretError),
    #[error("smtp TLS: {0}")]
    Tls(String),
}

pub struct SmtpTransport {
    host: String,
    port: u16,
    mode: TlsMode,
    timeout: Duration,
    /// For STARTTLS (lettre upgrades the stream itself).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (we wrap the socket before lettre sees it).
    implicit: Option<tokio_rustls::TlsConnector>,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Envelope sender override (empty: each entry's own).
    envelope_from: String,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpTransport {
    pub fn new(cfg: &SmtpCfg) -> Result<SmtpTransport, SmtpSetupError> {
        let starttls = match cfg.tls {
            TlsMode::Starttls => {
                let mut p = TlsParameters::builder(cfg.host.clone());
                if let Some(path) = &cfg.ca_file {
                    for cert in crate::tls::read_pem_certs(path)
                        .map_err(|e| SmtpSetupError::Tls(e.to_string()))?
                    {
                        let cert = Certificate::from_der(cert.to_vec())
                            .map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
                        p = p.add_root_certificate(cert);
                    }
                }
                Some(
                    p.build_rustls()
                        .map_err(|e| SmtpSetupError::Tls(e.to_string()))?,
                )
            }
            _ => None,
        };
        let implicit = match cfg.tls {
            TlsMode::Implicit => {
                let config = crate::tls::client_config(cfg.ca_file.as_deref())
                    .map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
                Some(tokio_rustls::TlsConnector::from(config))
            }
            _ => None,
        };
        let credentials = if cfg.user.is_empty() {
            None
        } else {
            Some(Credentials::new(cfg.user.clone(), cfg.secret().read()?))
        };
        Ok(SmtpTransport {
            host: cfg.host.clone(),
            port: cfg.port(),
            mode: cfg.tls,
            timeout: Duration::from_secs(cfg.timeout_seconds.max(1)),
            starttls,
            implicit,
            credentials,
            hello: ClientId::default(),
            envelope_from: cfg.envelope_from.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let addr = format!("{}:{}", self.host, self.port);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            SendError::temporary(format!("SMTP {addr}: {what}: {e}"))
        };
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&addr))
            .await
            .map_err(|e| fail("connect", &e))?
            .map_err(|e| fail("connect", &e))?;
        tcp.set_nodelay(true).map_err(|e| fail("socket", &e))?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.mode, &self.implicit) {
            (TlsMode::Implicit, Some(connector)) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| fail("TLS", &e))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| fail("TLS", &e))?;
                Box::new(MailStream::Tls(Box::new(tls)))
            }
            _ => Box::new(MailStream::Plain(tcp)),
        };
        let work = async {
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
                .await
                .map_err(|e| fail("greeting", &e))?;
            if let Some(params) = &self.starttls {
                conn.starttls(params.clone(), &self.hello)
                    .await
                    .map_err(|e| fail("STARTTLS", &e))?;
            }
            if let Some(creds) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                    .await
                    .map_err(|e| fail("AUTH", &e))?;
            }
            Ok(conn)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|e| fail("session setup", &e))?
    }

    /// A recently used idle connection, if there is one.
    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, at)) = idle.pop() {
            if at.elapsed() < MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((conn, Instant::now()));
        }
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            let from = if self.envelope_from.is_empty() {
                from
            } else {
                &self.envelope_from
            };
            let env = envelope(from, to)?;
            // A reused connection may have been closed by the server in the
            // meantime: then try once more on a fresh one.
            let (mut conn, reused) = match self.take_idle() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            let mut result = tokio::time::timeout(self.timeout, conn.send(&env, raw)).await;
            let dropped = |r: &Result<Result<_, lettre::transport::smtp::Error>, _>| matches!(r, Ok(Err(e)) if !e.is_permanent() && !e.is_transient());
            if reused && dropped(&result) {
                conn = self.connect().await?;
                result = tokio::time::timeout(self.timeout, conn.send(&env, raw)).await;
            }
            match result {
                Ok(Ok(_)) => {
                    self.put_idle(conn);
                    Ok(())
                }
                Ok(Err(e)) => {
                    let message = format!("SMTP: {e}");
                    Err(if e.is_permanent() {
                        SendError::permanent(message)
                    } else {
                        SendError::temporary(message)
                    })
                }
                Err(_) => Err(SendError::temporary(format!(
                    "SMTP: no answer within {} s",
                    self.timeout.as_secs()
                ))),
            }
        })
    }
}

/// lettre drives our streams; it wants their peer address.
impl AsyncTokioStream for MailStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            MailStream::Plain(s) => s.peer_addr(),
            MailStream::Tls(s) => s.get_ref().0.peer_addr(),
        }
    }
}
