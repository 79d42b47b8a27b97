//! Opening an IMAP session: TCP, then implicit TLS, STARTTLS or (loopback
//! only) plain, then LOGIN. One stream type covers all three so the rest of
//! the code does not care.

use crate::config::{MailboxCfg, SecretError, TlsMode};
use crate::tls::MailStream;
use async_imap::{Client, Session};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a session could not be opened or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {addr} failed: {message}")]
    Tls { addr: String, message: String },
    #[error("login as {user} refused: {message}")]
    Login { user: String, message: String },
    #[error("password: {0}")]
    Secret(#[from] SecretError),
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("server closed the connection")]
    Closed,
    #[error("no answer to {what} within {seconds} s (connection silent or half-open)")]
    Timeout { what: String, seconds: u64 },
    #[error("storing messages failed: {0}")]
    Commit(String),
    /// No OAuth2 access token could be had (refresh refused, nobody
    /// signed in, the provider out of reach).
    #[error("OAuth2 token for {user}: {message}")]
    Token { user: String, message: String },
}

/// `work` (an IMAP exchange called `what`) within `limit`.
pub async fn timed<T, E: Into<ImapError>>(
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(ImapError::Timeout {
            what: what.to_owned(),
            seconds: limit.as_secs(),
        }),
    }
}

impl ImapError {
    /// The kind of trouble, as an admin looks for its cause.
    pub fn problem(&self) -> crate::health::Problem {
        use crate::health::Problem;
        match self {
            ImapError::Login { .. } | ImapError::Secret(_) => Problem::Auth,
            ImapError::Tls { .. } => Problem::Tls,
            ImapError::Connect { .. }
            | ImapError::Closed
            | ImapError::Timeout { .. }
            | ImapError::Protocol(_) => Problem::Connection,
            ImapError::Commit(_) => Problem::Store,
            ImapError::Token { .. } => Problem::Token,
        }
    }

    /// Errors retrying cannot fix without a config change (still retried,
    /// but logged as such).
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            ImapError::Login { .. }
                | ImapError::Secret(_)
                | ImapError::Tls { .. }
                | ImapError::Token { .. }
        )
    }
}

pub type ImapSession = Session<MailStream>;

/// A SASL exchange with one initial response: later challenges (a
/// server's error report) get the answer that ends the exchange.
struct Sasl {
    first: Option<String>,
    then: &'static str,
}

impl async_imap::Authenticator for Sasl {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.first.take().unwrap_or_else(|| self.then.to_owned())
    }
}

/// Connects, secures and logs in, each step within `timeout_seconds` (a
/// server that accepts the connection and never greets must not hold the
/// mailbox forever).
pub async fn open(
    cfg: &MailboxCfg,
    oauth: Option<&crate::oauth::Login>,
) -> Result<ImapSession, ImapError> {
    let limit = Duration::from_secs(cfg.timeout_seconds.max(1));
    let addr = format!("{}:{}", cfg.host, cfg.port());
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| ImapError::Connect {
            addr: addr.clone(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
        })?
        .map_err(|source| ImapError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let client = match cfg.tls {
        TlsMode::Implicit => {
            let stream = timed("the TLS handshake", limit, tls(cfg, &addr, tcp)).await?;
            let mut c = Client::new(stream);
            timed("the greeting", limit, greeting(&mut c)).await?;
            c
        }
        TlsMode::Starttls => {
            let mut c = Client::new(MailStream::Plain(tcp));
            timed("the greeting", limit, greeting(&mut c)).await?;
            timed(
                "STARTTLS",
                limit,
                c.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let MailStream::Plain(tcp) = c.into_inner() else {
                unreachable!("the stream was plain before STARTTLS")
            };
            // No greeting after STARTTLS.
            Client::new(timed("the TLS handshake", limit, tls(cfg, &addr, tcp)).await?)
        }
        TlsMode::Plain => {
            let mut c = Client::new(MailStream::Plain(tcp));
            timed("the greeting", limit, greeting(&mut c)).await?;
            c
        }
    };
    if let Some(o) = oauth {
        return authenticate(cfg, o, client, limit).await;
    }
    let password = cfg.secret().read(&cfg.user)?;
    let login = async {
        client
            .login(&cfg.user, &password)
            .await
            .map_err(|(e, _)| ImapError::Login {
                user: cfg.user.clone(),
                message: server_said(&e),
            })
    };
    timed("LOGIN", limit, login).await
}

/// AUTHENTICATE with an access token (XOAUTH2 or OAUTHBEARER); the
/// token is fetched (or refreshed) first, off the async threads.
async fn authenticate(
    cfg: &MailboxCfg,
    o: &crate::oauth::Login,
    client: Client<MailStream>,
    limit: Duration,
) -> Result<ImapSession, ImapError> {
    let (login, user, mailbox) = (o.clone(), cfg.user.clone(), cfg.name.clone());
    let failed = |message: String| ImapError::Token {
        user: cfg.user.clone(),
        message,
    };
    let token = tokio::task::spawn_blocking(move || login.token(&user, &mailbox))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))?;
    let mechanism = o.cfg.mechanism;
    let sasl = match mechanism {
        crate::config::OauthMechanism::Xoauth2 => Sasl {
            first: Some(crate::oauth::sasl::xoauth2(&cfg.user, &token)),
            then: "",
        },
        crate::config::OauthMechanism::Oauthbearer => Sasl {
            first: Some(crate::oauth::sasl::oauthbearer(
                &cfg.user,
                &cfg.host,
                cfg.port(),
                &token,
            )),
            then: crate::oauth::sasl::OAUTHBEARER_ABORT,
        },
    };
    let login = async {
        client
            .authenticate(mechanism.as_str(), sasl)
            .await
            .map_err(|(e, _)| ImapError::Login {
                user: cfg.user.clone(),
                message: format!(
                    "{} with its OAuth2 token: {}",
                    mechanism.as_str(),
                    server_said(&e)
                ),
            })
    };
    timed("AUTHENTICATE", limit, login).await
}

/// What the server said in a NO or BAD, in its own words: async-imap
/// hands the response over as debug text (`code: None, info: Some("…")`).
fn server_said(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    let (kind, text) = match e {
        Error::No(t) => ("the server said NO", t),
        Error::Bad(t) => ("the server said BAD", t),
        other => return other.to_string(),
    };
    let info = text
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(said, _)| said.replace("\\\"", "\""));
    match info {
        Some(said) => format!("{kind}: {said}"),
        None if text.contains("info: None") => kind.to_owned(),
        None => format!("{kind}: {text}"),
    }
}

async fn greeting(c: &mut Client<MailStream>) -> Result<(), ImapError> {
    match c.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Closed),
        Err(e) => Err(ImapError::Protocol(e.into())),
    }
}

async fn tls(cfg: &MailboxCfg, addr: &str, tcp: TcpStream) -> Result<MailStream, ImapError> {
    let err = |message: String| ImapError::Tls {
        addr: addr.to_owned(),
        message,
    };
    let config =
        crate::tls::client_config(cfg.ca_file.as_deref()).map_err(|e| err(e.to_string()))?;
    let name =
        rustls_pki_types::ServerName::try_from(cfg.host.clone()).map_err(|e| err(e.to_string()))?;
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| err(e.to_string()))?;
    Ok(MailStream::Tls(Box::new(stream)))
}
