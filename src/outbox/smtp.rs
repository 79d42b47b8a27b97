//! Delivery through an SMTP server with lettre: implicit TLS, STARTTLS or
//! (loopback only) plain; optional AUTH; a pool of connections so several
//! messages are in flight at once. 5xx replies are permanent failures,
//! everything else (4xx, timeouts, refused connections) is retried.

use super::transport::{SendError, SendFuture, Transport, envelope};
use crate::config::{SecretError, SmtpCfg, TlsMode};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("smtp password: {0}")]
    Secret(#[from] SecretError),
    #[error("smtp TLS: {0}")]
    Tls(String),
}

pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    /// Envelope sender override (empty: each entry's own).
    envelope_from: String,
}

impl SmtpTransport {
    pub fn new(cfg: &SmtpCfg) -> Result<SmtpTransport, SmtpSetupError> {
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port())
            .timeout(Some(Duration::from_secs(cfg.timeout_seconds)))
            .pool_config(PoolConfig::new().max_size(cfg.concurrency as u32));
        let tls = || -> Result<TlsParameters, SmtpSetupError> {
            let mut p = TlsParameters::builder(cfg.host.clone());
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| SmtpSetupError::Tls(format!("{}: {e}", path.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| SmtpSetupError::Tls(format!("{}: {e}", path.display())))?;
                p = p.add_root_certificate(cert);
            }
            p.build_rustls()
                .map_err(|e| SmtpSetupError::Tls(e.to_string()))
        };
        b = match cfg.tls {
            TlsMode::Implicit => b.tls(Tls::Wrapper(tls()?)),
            TlsMode::Starttls => b.tls(Tls::Required(tls()?)),
            TlsMode::Plain => b.tls(Tls::None),
        };
        if !cfg.user.is_empty() {
            b = b.credentials(Credentials::new(cfg.user.clone(), cfg.secret().read()?));
        }
        Ok(SmtpTransport {
            inner: b.build(),
            envelope_from: cfg.envelope_from.clone(),
        })
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
            self.inner
                .send_raw(&env, raw)
                .await
                .map(|_| ())
                .map_err(|e| {
                    let message = format!("SMTP: {e}");
                    if e.is_permanent() {
                        SendError::permanent(message)
                    } else {
                        SendError::temporary(message)
                    }
                })
        })
    }
}
