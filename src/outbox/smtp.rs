//! Delivery through an SMTP server: implicit TLS, STARTTLS or (loopback
//! only) plain; optional AUTH; reused connections so several messages are in
//! flight at once without a handshake each.
//!
//! The transaction is ours (lettre parses replies and writes commands):
//! - **Per recipient**: each RCPT's reply is kept. What the server took is
//!   delivered; a recipient refused with 5xx is reported with the server's
//!   reason and the others still get the mail; one refused with 4xx is
//!   tried again later, alone. Only when nobody was taken is the message a
//!   failure (permanent if every refusal was).
//! - **Timeouts per command** as RFC 5321 §4.5.3.2 has them: five minutes
//!   for a command's reply, ten for the reply to the final dot (a server
//!   may check the whole message first; giving up sooner sends it twice).
//! - **A connection is reused only when known good**: never after a 421,
//!   a timeout or a network error. A reused connection that fails before
//!   the message was given is replaced by a fresh one at once; one that
//!   fails after the message was given is not (the server may have it), and
//!   the entry is retried later, with a warning.
//! - **Greylisting**: a 4xx naming a wait ("try again in 300 seconds") is
//!   retried just after it, not before.
//! - **Secrets**: every message that may carry a server's reply passes a
//!   [`Redactor`], so an echoed `AUTH PLAIN` never reaches a log or the
//!   stored `last_error`.
//!
//! lettre speaks SMTP; we open the sockets. Why: lettre writes the message
//! and the final `.` in two writes, and its sockets keep Nagle's algorithm
//! on, so every message waited ~40 ms for the server's delayed ACK. Our
//! sockets set TCP_NODELAY.

use super::transport::{Refusal, SendError, SendFuture, Sent, Transport, envelope};
use crate::config::{SecretError, SmtpCfg, TlsMode};
use crate::redact::Redactor;
use crate::tls::MailStream;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use regex::Regex;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections older than this are closed rather than reused
/// (servers drop idle clients after a few minutes).
const MAX_IDLE: Duration = Duration::from_secs(60);
/// Wait after a greylisting reply that names no time (postgrey's default).
const GREYLIST_DEFAULT: Duration = Duration::from_secs(300);

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
    connect_timeout: Duration,
    command_timeout: Duration,
    data_timeout: Duration,
    /// For STARTTLS (lettre upgrades the stream itself).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (we wrap the socket before lettre sees it).
    implicit: Option<tokio_rustls::TlsConnector>,
    credentials: Option<Credentials>,
    /// Log in with an OAuth2 token (fetched for each new connection)
    /// instead of `credentials`.
    oauth: Option<(crate::oauth::Login, String)>,
    redactor: Redactor,
    hello: ClientId,
    /// Envelope sender override (empty: each entry's own).
    envelope_from: String,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// How a transaction on one connection ended.
enum Ended {
    /// A result, and whether the connection may be used again.
    Done(Result<Sent, SendError>, bool),
    /// The connection was dead before the message was given: nothing was
    /// delivered, a fresh connection may try at once.
    Stale(SendError),
}

impl SmtpTransport {
    /// `oauth`: the `[oauth.<name>]` client `cfg.oauth` names, if any.
    pub fn new(
        cfg: &SmtpCfg,
        oauth: Option<crate::oauth::Login>,
    ) -> Result<SmtpTransport, SmtpSetupError> {
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
        let (credentials, redactor) = if cfg.user.is_empty() || oauth.is_some() {
            (None, Redactor::default())
        } else {
            let password = cfg.secret().read(&cfg.user)?;
            let redactor = Redactor::for_login(&cfg.user, &password);
            (Some(Credentials::new(cfg.user.clone(), password)), redactor)
        };
        let secs = |s: u64| Duration::from_secs(s.max(1));
        Ok(SmtpTransport {
            host: cfg.host.clone(),
            port: cfg.port(),
            mode: cfg.tls,
            connect_timeout: secs(cfg.timeout_seconds),
            command_timeout: secs(cfg.command_timeout_seconds),
            data_timeout: secs(cfg.data_timeout_seconds),
            starttls,
            implicit,
            credentials,
            oauth: oauth.map(|o| (o, cfg.user.clone())),
            redactor,
            hello: ClientId::default(),
            envelope_from: cfg.envelope_from.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let addr = format!("{}:{}", self.host, self.port);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            SendError::temporary(self.redactor.redact(&format!("SMTP {addr}: {what}: {e}")))
        };
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|e| fail("connect", &e))?
            .map_err(|e| fail("connect", &e))?;
        tcp.set_nodelay(true).map_err(|e| fail("socket", &e))?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.mode, &self.implicit) {
            (TlsMode::Implicit, Some(connector)) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| fail("TLS", &e))?;
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|e| fail("TLS", &e))?
                    .map_err(|e| fail("TLS", &e))?;
                Box::new(MailStream::Tls(Box::new(tls)))
            }
            _ => Box::new(MailStream::Plain(tcp)),
        };
        let t = self.command_timeout;
        let mut conn = tokio::time::timeout(
            t,
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
        )
        .await
        .map_err(|e| fail("greeting", &e))?
        .map_err(|e| fail("greeting", &e))?;
        if let Some(params) = &self.starttls {
            tokio::time::timeout(t, conn.starttls(params.clone(), &self.hello))
                .await
                .map_err(|e| fail("STARTTLS", &e))?
                .map_err(|e| fail("STARTTLS", &e))?;
        }
        if let Some(creds) = &self.credentials {
            tokio::time::timeout(t, conn.auth(&[Mechanism::Plain, Mechanism::Login], creds))
                .await
                .map_err(|e| fail("AUTH", &e))?
                .map_err(|e| fail("AUTH", &e))?;
        }
        if let Some((login, user)) = &self.oauth {
            self.oauth_auth(&mut conn, login, user).await?;
        }
        Ok(conn)
    }

    /// AUTH with an OAuth2 access token, fetched (or refreshed) now, off
    /// the async threads.
    async fn oauth_auth(
        &self,
        conn: &mut AsyncSmtpConnection,
        login: &crate::oauth::Login,
        user: &str,
    ) -> Result<(), SendError> {
        use base64::Engine as _;
        let (l, u) = (login.clone(), user.to_owned());
        let token = tokio::task::spawn_blocking(move || l.token(&u, "smtp"))
            .await
            .map_err(|e| SendError::temporary(format!("OAuth2 token for {user}: {e}")))?
            .map_err(|e| SendError::temporary(format!("OAuth2 token for {user}: {e}")))?;
        let t = self.command_timeout;
        let refused = |e: &dyn std::fmt::Display| {
            SendError::temporary(self.redactor.redact(&format!(
                "SMTP {}:{}: AUTH {} refused for {user}: {e}",
                self.host,
                self.port,
                login.cfg.mechanism.as_str()
            )))
        };
        match login.cfg.mechanism {
            crate::config::OauthMechanism::Xoauth2 => {
                let creds = Credentials::new(user.to_owned(), token);
                tokio::time::timeout(t, conn.auth(&[Mechanism::Xoauth2], &creds))
                    .await
                    .map_err(|e| refused(&e))?
                    .map_err(|e| refused(&e))?;
            }
            crate::config::OauthMechanism::Oauthbearer => {
                // lettre has no OAUTHBEARER: the initial response goes as
                // a raw AUTH command (RFC 7628 §3.2, RFC 4954).
                let b64 = base64::engine::general_purpose::STANDARD;
                let initial = b64.encode(crate::oauth::sasl::oauthbearer(
                    user, &self.host, self.port, &token,
                ));
                let reply = tokio::time::timeout(
                    t,
                    conn.command(format!("AUTH OAUTHBEARER {initial}\r\n")),
                )
                .await
                .map_err(|e| refused(&e))?
                .map_err(|e| refused(&e))?;
                if reply.code().to_string() != "235" {
                    // A 334 carries the server's error; ^A ends the
                    // exchange and the server fails it.
                    let said = reply.message().collect::<Vec<_>>().join(" ");
                    let abort = b64.encode(crate::oauth::sasl::OAUTHBEARER_ABORT);
                    let end = tokio::time::timeout(t, conn.command(format!("{abort}\r\n"))).await;
                    let why = match end {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("server said {}", crate::text::one_line(&said, 200)),
                    };
                    return Err(refused(&why));
                }
            }
        }
        Ok(())
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

    /// One message on one connection: MAIL, a RCPT per recipient (each
    /// reply kept), DATA and the message when anyone took it.
    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        env: &Envelope,
        raw: &[u8],
    ) -> Ended {
        let redact = |s: String| self.redactor.redact(&s);
        let cmd = self.command_timeout;
        let mut options = Vec::new();
        if env
            .to()
            .iter()
            .chain(env.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii())
        {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                let e = "an address is not ASCII and the server does not offer SMTPUTF8";
                return Ended::Done(Err(SendError::permanent(e)), true);
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            // Without 8BITMIME most servers still take 8-bit mail; say so
            // when we may.
            if conn.server_info().supports_feature(Extension::EightBitMime) {
                options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
            }
        }
        match step(cmd, conn.command(Mail::new(env.from().cloned(), options))).await {
            Reply::Ok => {}
            // A server closing an idle connection answers its next command
            // with 421: nothing was given, a fresh connection may try.
            Reply::Refused(r) if r.code == 421 => {
                return Ended::Stale(SendError::temporary(redact(format!("SMTP: {}", r.text))));
            }
            Reply::Refused(r) => {
                let _ = step(cmd, conn.command(Rset)).await;
                let e = refused_error(format!("MAIL FROM refused: {}", redact(r.text.clone())), &r);
                return Ended::Done(Err(e), true);
            }
            // Nothing given yet: a fresh connection may try at once.
            Reply::Lost(why) => {
                return Ended::Stale(SendError::temporary(redact(format!("SMTP: {why}"))));
            }
        }
        let mut refused = Vec::new();
        let mut taken = 0;
        for to in env.to() {
            match step(cmd, conn.command(Rcpt::new(to.clone(), Vec::new()))).await {
                Reply::Ok => taken += 1,
                Reply::Refused(r) if r.code == 421 => {
                    let e = format!("the server is closing the connection: {}", redact(r.text));
                    return Ended::Done(Err(SendError::temporary(e)), false);
                }
                Reply::Refused(r) => refused.push(Refusal {
                    address: to.to_string(),
                    permanent: r.permanent,
                    retry_after: r.retry_after,
                    reason: redact(r.text),
                }),
                Reply::Lost(why) => {
                    let e = SendError::temporary(redact(format!("SMTP during RCPT: {why}")));
                    return Ended::Done(Err(e), false);
                }
            }
        }
        if taken == 0 {
            let _ = step(cmd, conn.command(Rset)).await;
            let all: Vec<String> = refused
                .iter()
                .map(|r| format!("{}: {}", r.address, r.reason))
                .collect();
            let e = SendError {
                permanent: refused.iter().all(|r| r.permanent),
                message: format!("every recipient refused: {}", all.join("; ")),
                retry_after: refused.iter().filter_map(|r| r.retry_after).max(),
            };
            return Ended::Done(Err(e), true);
        }
        match step(cmd, conn.command(Data)).await {
            Reply::Ok => {}
            Reply::Refused(r) => {
                let closing = r.code == 421;
                let e = refused_error(format!("DATA refused: {}", redact(r.text.clone())), &r);
                return Ended::Done(Err(e), !closing);
            }
            Reply::Lost(why) => {
                let e = SendError::temporary(redact(format!("SMTP during DATA: {why}")));
                return Ended::Done(Err(e), false);
            }
        }
        match step(self.data_timeout, conn.message(raw)).await {
            Reply::Ok => Ended::Done(Ok(Sent { refused }), true),
            Reply::Refused(r) => {
                let closing = r.code == 421;
                let e = refused_error(format!("message refused: {}", redact(r.text.clone())), &r);
                Ended::Done(Err(e), !closing)
            }
            Reply::Lost(why) => {
                // The server may have the message: no quick second try.
                tracing::warn!(host = %self.host, %why, "connection lost after the message was sent; it may have been delivered and will be sent again later");
                let e = format!(
                    "connection lost after the message was sent (it may have arrived): {}",
                    redact(why)
                );
                Ended::Done(Err(SendError::temporary(e)), false)
            }
        }
    }
}

/// A server's negative reply, read.
struct Negative {
    code: u16,
    permanent: bool,
    text: String,
    retry_after: Option<Duration>,
}

enum Reply {
    Ok,
    Refused(Negative),
    /// No reply: timeout, closed connection, unreadable reply.
    Lost(String),
}

/// Runs one command (or the message) under `limit` and reads its reply.
async fn step(
    limit: Duration,
    work: impl std::future::Future<
        Output = Result<
            lettre::transport::smtp::response::Response,
            lettre::transport::smtp::Error,
        >,
    >,
) -> Reply {
    match tokio::time::timeout(limit, work).await {
        Err(_) => Reply::Lost(format!("no reply within {} s", limit.as_secs())),
        Ok(Ok(_)) => Reply::Ok,
        Ok(Err(e)) => match e.status() {
            Some(code) => {
                let code: u16 = code.to_string().parse().unwrap_or(0);
                // lettre writes "permanent error (550): text".
                let shown = e.to_string();
                let text = shown
                    .split_once("): ")
                    .map_or(shown.as_str(), |(_, t)| t)
                    .trim();
                let text = format!("{code} {text}");
                Reply::Refused(Negative {
                    code,
                    permanent: e.is_permanent(),
                    retry_after: (!e.is_permanent()).then(|| greylist_wait(&text)).flatten(),
                    text,
                })
            }
            None => Reply::Lost(e.to_string()),
        },
    }
}

fn refused_error(message: String, r: &Negative) -> SendError {
    SendError {
        permanent: r.permanent,
        message,
        retry_after: r.retry_after,
    }
}

/// How long a greylisting reply asks us to wait, if it is one.
fn greylist_wait(text: &str) -> Option<Duration> {
    static WAIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(\d{1,6})\s*(s\b|sec|second|min|minute)").expect("static regex")
    });
    let lower = text.to_ascii_lowercase();
    let greylisted = lower.contains("greylist")
        || lower.contains("graylist")
        || lower.contains("4.7.1 ") && lower.contains("try again");
    if !greylisted {
        return None;
    }
    let Some(c) = WAIT.captures(text) else {
        return Some(GREYLIST_DEFAULT);
    };
    let n: u64 = c[1].parse().ok()?;
    let minutes = c[2].to_ascii_lowercase().starts_with("min");
    Some(Duration::from_secs(if minutes { n * 60 } else { n }).min(Duration::from_secs(6 * 3600)))
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
            let (mut conn, reused) = match self.take_idle() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            let mut ended = self.transaction(&mut conn, &env, raw).await;
            if reused && let Ended::Stale(e) = &ended {
                // The server closed the idle connection meanwhile.
                tracing::debug!(error = %e.message, "reused SMTP connection was closed; opening a new one");
                conn = self.connect().await?;
                ended = self.transaction(&mut conn, &env, raw).await;
            }
            match ended {
                Ended::Done(result, reusable) => {
                    if reusable {
                        self.put_idle(conn);
                    }
                    result
                }
                Ended::Stale(e) => Err(e),
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
