//! Settings for the mail servers ticketbox talks to: IMAP mailboxes it reads
//! and the SMTP server it sends through. Passwords are never in the config
//! itself: they come from an environment variable or a file, are read when
//! connecting, and never logged.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connect, then STARTTLS before anything secret is sent.
    Starttls,
    /// No TLS: only with `allow_plaintext = true` and a loopback host.
    Plain,
}

/// Where a password comes from: `password_env` (an environment variable's
/// name) or `password_file` (a file whose first line is the password).
#[derive(Debug, Clone, Default)]
pub struct Secret {
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("cannot read password file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("no password configured (set password_env or password_file)")]
    None,
}

impl Secret {
    pub fn is_set(&self) -> bool {
        self.password_env.is_some() || self.password_file.is_some()
    }

    /// Reads the password of `user` now. The value is not kept in the
    /// config; it is remembered by [`crate::redact`] so that no log line
    /// can show it.
    pub fn read(&self, user: &str) -> Result<String, SecretError> {
        let password = if let Some(var) = &self.password_env {
            std::env::var(var).map_err(|_| SecretError::MissingEnv(var.clone()))?
        } else if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                path: path.display().to_string(),
                source,
            })?;
            text.lines().next().unwrap_or_default().to_owned()
        } else {
            return Err(SecretError::None);
        };
        crate::redact::remember(user, &password);
        Ok(password)
    }
}

/// One IMAP mailbox to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxCfg {
    /// A short name for logs, checkpoints and origins (`support`).
    pub name: String,
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub tls: TlsMode,
    /// Required (true) for `tls = "plain"`, which is refused for non-loopback hosts.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Extra trusted root certificate(s), PEM, e.g. a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    pub user: String,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_folder")]
    pub folder: String,
    /// What happens on the server once a message is safely stored.
    #[serde(default)]
    pub after: AfterStore,
    /// Folder for `after = "move"`.
    #[serde(default = "default_move_to")]
    pub move_to: String,
    /// Queue for tickets opened from this mailbox (rules may override).
    #[serde(default)]
    pub queue: Option<String>,
    /// Poll interval when the server has no IDLE.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Messages fetched per round trip when catching up on a backlog.
    #[serde(default = "default_fetch_batch")]
    pub fetch_batch: usize,
    /// At most this many MiB of mail fetched at once (a message larger than
    /// that is fetched alone), so a backlog of big attachments stays within
    /// memory.
    #[serde(default = "default_fetch_mib")]
    pub fetch_mib: u64,
    /// IDLE is ended and begun again this often; the server must answer
    /// each end within 10 seconds, so a connection gone silent is noticed
    /// within about this long plus ten seconds (and new mail is looked for
    /// even if a notification was lost).
    #[serde(default = "default_idle_renew")]
    pub idle_renew_seconds: u64,
    /// Each command (and the greeting) must be answered within this.
    #[serde(default = "default_imap_timeout")]
    pub timeout_seconds: u64,
    /// Mail that arrived over `intake.history_hours` before it is read:
    /// `file` imports it as history (stored, threaded, filed; no
    /// acknowledgement, notification or escalation); `skip` leaves it in
    /// the mailbox, untouched.
    #[serde(default)]
    pub history: History,
    /// Mail that arrived before this day (`"2025-06-01"`, UTC) is left in
    /// the mailbox, untouched, whatever `history` says.
    #[serde(default)]
    pub history_since: Option<String>,
    /// No mail for this many seconds of business time is an incident (an
    /// alarm to `health.alarm_to`); over `health.silence_after_seconds`
    /// for this mailbox. 0 turns the watch off for it.
    #[serde(default)]
    pub silence_after_seconds: Option<u64>,
    /// Log in with this `[oauth.<name>]` client's token instead of a
    /// password (Microsoft 365, Gmail). `user` is the mailbox's address
    /// (a shared mailbox's own, with a delegate's or the app's token).
    #[serde(default)]
    pub oauth: Option<String>,
}

/// What becomes of mail that was in a mailbox long before we read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum History {
    /// Stored and threaded as history: filed, never answered.
    #[default]
    File,
    /// Left in the mailbox, not read.
    Skip,
}

fn default_folder() -> String {
    "INBOX".into()
}
fn default_move_to() -> String {
    "Processed".into()
}
fn default_poll() -> u64 {
    60
}
fn default_fetch_batch() -> usize {
    200
}
fn default_fetch_mib() -> u64 {
    16
}
fn default_idle_renew() -> u64 {
    40
}
fn default_imap_timeout() -> u64 {
    60
}

/// What to do with a message on the IMAP server after it is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterStore {
    /// Set `\Seen`.
    #[default]
    Seen,
    /// Move to `move_to` (MOVE, or COPY + `\Deleted` + EXPUNGE).
    Move,
    /// Leave it as it is.
    Keep,
}

impl MailboxCfg {
    pub fn secret(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
        }
    }

    /// Mail that arrived before this instant is left in the mailbox: the
    /// start of `history_since`, and with `history = "skip"` everything
    /// older than `history_hours` before `now`.
    pub fn leave_before(
        &self,
        history_hours: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let since = self
            .history_since
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        let skip = (self.history == History::Skip && history_hours > 0)
            .then(|| now - chrono::Duration::hours(i64::from(history_hours)));
        since.max(skip)
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            _ => 143,
        })
    }
}

/// The SMTP server outgoing mail goes through (`outbox.transport = "smtp"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpCfg {
    pub host: String,
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub allow_plaintext: bool,
    pub ca_file: Option<PathBuf>,
    /// AUTH user; no AUTH when empty.
    pub user: String,
    /// AUTH with this `[oauth.<name>]` client's token instead of a
    /// password.
    pub oauth: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Envelope sender (MAIL FROM); empty: the From address of each mail.
    pub envelope_from: String,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Connecting: TCP and TLS.
    pub timeout_seconds: u64,
    /// Each command's reply: greeting, EHLO, AUTH, MAIL, RCPT, DATA
    /// (RFC 5321 §4.5.3.2 asks for five minutes).
    pub command_timeout_seconds: u64,
    /// Sending the message and the reply to its final dot (RFC 5321: ten
    /// minutes; a server may check the whole message before it answers,
    /// and a client that gives up early sends the mail twice).
    pub data_timeout_seconds: u64,
}

impl Default for SmtpCfg {
    fn default() -> Self {
        SmtpCfg {
            host: "127.0.0.1".into(),
            port: None,
            tls: TlsMode::Starttls,
            allow_plaintext: false,
            ca_file: None,
            user: String::new(),
            oauth: None,
            password_env: None,
            password_file: None,
            envelope_from: String::new(),
            concurrency: 8,
            timeout_seconds: 30,
            command_timeout_seconds: 300,
            data_timeout_seconds: 600,
        }
    }
}

impl SmtpCfg {
    pub fn secret(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 465,
            _ => 587,
        })
    }
}

/// A queue, with its own sender identity when it has one (billing@ for
/// the billing queue).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueCfg {
    pub address: Option<String>,
    pub name: Option<String>,
    /// SLA policy for its tickets (else `sla.default_policy`).
    pub sla: Option<String>,
    /// Language of its acknowledgements when the customer's is unknown.
    pub language: Option<String>,
    /// Where SLA warnings and breaches for its tickets go.
    pub escalation: Option<String>,
    /// Agents told about its new tickets, and about customers' replies on
    /// tickets nobody is assigned to. Their replies reach the customer.
    pub notify: Vec<String>,
    /// Ask for a rating when its tickets close (else `csat.enabled`).
    pub csat: Option<bool>,
}

pub type Queues = BTreeMap<String, QueueCfg>;

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the transport settings; returns messages naming the key at fault.
pub fn check(mailboxes: &[MailboxCfg], smtp: &SmtpCfg, smtp_used: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, m) in mailboxes.iter().enumerate() {
        let at = format!("mailbox[{i}] ({})", m.name);
        if let Some(d) = &m.history_since
            && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
        {
            errors.push(format!(
                "{at}: history_since {d:?} is not a date like \"2025-06-01\""
            ));
        }
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push(format!("{at}: name must be letters, digits, - or _"));
        }
        if !names.insert(m.name.clone()) {
            errors.push(format!("{at}: name used twice"));
        }
        if m.tls == TlsMode::Plain && !(m.allow_plaintext && is_loopback(&m.host)) {
            errors.push(format!(
                "{at}: tls = \"plain\" needs allow_plaintext = true and a loopback host (got {:?})",
                m.host
            ));
        }
        if m.oauth.is_none() && !m.secret().is_set() {
            errors.push(format!(
                "{at}: set password_env or password_file (or oauth = \"<client>\")"
            ));
        }
        if m.fetch_batch == 0
            || m.poll_seconds == 0
            || m.fetch_mib == 0
            || m.idle_renew_seconds == 0
            || m.timeout_seconds == 0
        {
            errors.push(format!(
                "{at}: fetch_batch, fetch_mib, poll_seconds, idle_renew_seconds and \
                 timeout_seconds must be at least 1"
            ));
        }
        if m.idle_renew_seconds > 29 * 60 {
            errors.push(format!(
                "{at}: idle_renew_seconds = {} is over 29 minutes, after which servers may end \
                 an IDLE (RFC 2177)",
                m.idle_renew_seconds
            ));
        }
    }
    if smtp_used {
        if smtp.tls == TlsMode::Plain && !(smtp.allow_plaintext && is_loopback(&smtp.host)) {
            errors.push(format!(
                "smtp: tls = \"plain\" needs allow_plaintext = true and a loopback host (got {:?})",
                smtp.host
            ));
        }
        if !smtp.user.is_empty() && smtp.oauth.is_none() && !smtp.secret().is_set() {
            errors.push("smtp: user is set: set password_env or password_file too".into());
        }
        if smtp.concurrency == 0 {
            errors.push("smtp.concurrency must be at least 1".into());
        }
    }
    errors
}
