//! `ticketbox.toml`: every setting with its default, so that no config file
//! at all is a working setup (local Maildir in, file outbox out, embedded store
//! in `./data`). Unknown keys are errors: a typo must not silently fall back
//! to a default.

mod lmtp;
mod oauth;
mod transport;

// `[sla]` is described by the SLA module, as `[calendars]` by the calendar's.
pub use crate::sla::settings::{EstimateCfg, Sla, SlaPolicyCfg, Targets};

pub use lmtp::{LmtpCfg, LmtpListen};
pub use oauth::{Flow, Mechanism as OauthMechanism, OauthCfg, Provider};
pub use transport::{
    AfterStore, MailboxCfg, QueueCfg, Queues, Secret, SecretError, SmtpCfg, TlsMode, is_loopback,
};

use crate::calendar::{Calendar, CalendarCfg};
use crate::model::Priority;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value that parses but makes no sense; `line` when the key is in
    /// the file (not a default).
    #[error("{path}{}: {message}", at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Value {
        path: String,
        /// Line and column of the key, when the file has it.
        at: Option<(usize, usize)>,
        message: String,
    },
    /// Several problems, each on its own line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    fn from_many(mut errors: Vec<ConfigError>) -> ConfigError {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ConfigError::Many(errors)
        }
    }

    /// Each problem apart.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(all) => all.iter().collect(),
            one => vec![one],
        }
    }
}

/// toml's "unknown field `queu`, expected one of `a`, `b`" with a "did you
/// mean" added when one of them is close.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let candidates = expected.split('`').skip(1).step_by(2);
    match crate::text::closest(word, candidates) {
        Some(c) => format!("{message}; did you mean `{c}`?"),
        None => message.to_owned(),
    }
}

/// `text` with the lines from `start` to `end` (byte offsets) blanked out,
/// every byte kept in place so offsets still hold; a table header takes its
/// whole table with it.
fn blank_lines(text: &str, start: usize, end: usize) -> String {
    let from = text[..start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let mut to = text[end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| end + i);
    if text[from..].trim_start().starts_with('[') {
        // The table's keys go with its header.
        let mut at = to;
        while at < text.len() {
            let next = text[at + 1..].find('\n').map_or(text.len(), |i| at + 1 + i);
            if text[at + 1..next].trim_start().starts_with('[') {
                break;
            }
            at = next;
        }
        to = at;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..from]);
    for c in text[from..to].chars() {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    out.push_str(&text[to..]);
    out
}

/// The line of a dotted key (`calendars.default.days`, `mailbox.1.folder`)
/// in config text: the deepest part of the path the file has.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    key_at(text, key).map(|(l, _)| l)
}

/// Line and column of a dotted key in config text (see [`key_line`]).
pub fn key_at(text: &str, key: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let (doc, _) = DeTable::parse_recoverable(text);
    let lines = Lines::new(text);
    let mut span = None;
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == part) else {
            break;
        };
        span = Some(k.span().start);
        let mut value = v;
        // An array of tables: the next part is the index.
        if let DeValue::Array(items) = value.get_ref() {
            let Some(i) = parts.peek().and_then(|p| p.parse::<usize>().ok()) else {
                break;
            };
            parts.next();
            let Some(item) = items.get(i) else { break };
            span = Some(item.span().start);
            value = item;
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    span.map(|s| lines.line_col(s))
}

/// Largest `tickets.first_number`: far from overflow, and still a number a
/// person can read out on the phone.
pub const MAX_FIRST_NUMBER: u64 = 999_999_999_999;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded store lives.
    pub data_dir: PathBuf,
    /// Memory the store may keep as a page cache, in MiB.
    pub store_cache_mib: u64,
    /// `[store]`: a database server instead of the embedded store.
    pub store: StoreCfg,
    /// Identifies this installation in the loop-detection header. Empty:
    /// generated once and kept in the store.
    pub instance_id: String,
    pub support: Support,
    pub tickets: Tickets,
    pub threading: Threading,
    pub ack: Ack,
    pub sla: Sla,
    pub intake: Intake,
    /// Bounds on the work one message can cause.
    pub limits: crate::limits::Limits,
    pub outbox: Outbox,
    /// Agents' addresses: their mail is never acknowledged and may write
    /// into any ticket.
    pub agents: Vec<String>,
    /// The authserv-id of our receiving mail server. When set, mail from an
    /// agent's address counts as the agent's only when that server's
    /// Authentication-Results shows DKIM, SPF or DMARC passing; otherwise
    /// it is quarantined (a forged From must not speak to customers).
    pub agents_authserv_id: String,
    pub rules_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// IMAP mailboxes to read (`[[mailbox]]`); when there are none, `run`
    /// reads the Maildir.
    pub mailbox: Vec<MailboxCfg>,
    /// The SMTP server, for `outbox.transport = "smtp"`.
    pub smtp: SmtpCfg,
    /// The queues tickets can be in, with optional sender identities
    /// (`[queues.billing]`). The default queue always exists.
    pub queues: Queues,
    /// Working calendars (`[calendars.default]`): business hours, holidays.
    pub calendars: BTreeMap<String, CalendarCfg>,
    /// What readers of each language see for queues, priorities and
    /// statuses (`[display.pl] queue = { billing = "Rozliczenia" }`), over
    /// the built-in names.
    pub display: Display,
    /// `[lmtp]`: mail handed over by the site's MTA (off unless `listen`).
    pub lmtp: LmtpCfg,
    /// `[health]`: when a mail source that fails or falls silent is worth
    /// an alarm, and to whom.
    pub health: HealthCfg,
    /// `[oauth.<name>]`: OAuth2 clients mailboxes and SMTP log in with.
    pub oauth: BTreeMap<String, OauthCfg>,
    /// `[bounces]`: when an address that bounces stops getting mail.
    pub bounces: BouncesCfg,
    /// `[csat]`: satisfaction ratings asked for when tickets close.
    pub csat: CsatCfg,
    /// `[log]`: how log lines look and how many there are.
    pub log: LogCfg,
    /// `[metrics]`: the monitoring listener.
    pub metrics: MetricsCfg,
}

/// `[metrics]`: `listen` is a loopback address and port
/// (`127.0.0.1:9187`) where `run` serves `/metrics`, `/healthz` and
/// `/readyz`; empty is off. It has no authentication: loopback only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsCfg {
    pub listen: String,
}

impl MetricsCfg {
    /// The address to listen on, if any.
    pub fn address(&self) -> Result<Option<std::net::SocketAddr>, String> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        let addr: std::net::SocketAddr = self.listen.trim().parse().map_err(|_| {
            format!(
                "metrics.listen {:?}: expected an address and port such as 127.0.0.1:9187",
                self.listen
            )
        })?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "metrics.listen {:?}: loopback addresses only (the listener has no authentication; let a local agent or proxy forward it)",
                self.listen
            ));
        }
        Ok(Some(addr))
    }
}

/// `[log]`: `format` is `text` (for people) or `json` (one object per
/// line, for a log collector); `level` is a filter such as `info` or
/// `ticketbox=debug,info` (`RUST_LOG` wins; empty: `info` for `run`,
/// `warn` for other commands).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogCfg {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[csat]`: the closing mail asks for a rating from 1 to 5 (per queue:
/// `queues.<name>.csat`); low ratings are passed on to the team.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsatCfg {
    pub enabled: bool,
    /// A rating at or below this tells the queue's agents (0: never).
    pub notify_at_or_below: u8,
}

impl Default for CsatCfg {
    fn default() -> Self {
        CsatCfg {
            enabled: true,
            notify_at_or_below: 2,
        }
    }
}

/// `[bounces]`: a permanent failure holds mail to the address at once;
/// temporary ones do when `soft_limit` come within `soft_window_days`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BouncesCfg {
    /// 0: temporary failures never hold mail.
    pub soft_limit: u32,
    pub soft_window_days: u32,
}

impl Default for BouncesCfg {
    fn default() -> Self {
        BouncesCfg {
            soft_limit: 3,
            soft_window_days: 7,
        }
    }
}

impl BouncesCfg {
    pub fn policy(&self) -> crate::bounces::Policy {
        crate::bounces::Policy {
            soft_limit: self.soft_limit,
            soft_window_days: self.soft_window_days,
        }
    }
}

/// `[health]`: alarms about mail sources (see [`crate::health`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCfg {
    /// Who gets the alarm and the all-clear mails; none: incidents are only
    /// logged and shown by `ticketbox status`.
    pub alarm_to: Vec<String>,
    /// A source failing (login, TLS, connection, token, store) this long
    /// without a success is an incident.
    pub failing_after_seconds: u64,
    /// No mail for this many seconds of business time (the default
    /// calendar) is an incident; 0 (the default) watches no silence.
    /// `[[mailbox]] silence_after_seconds` sets it per mailbox.
    pub silence_after_seconds: u64,
}

impl Default for HealthCfg {
    fn default() -> Self {
        HealthCfg {
            alarm_to: Vec::new(),
            failing_after_seconds: 600,
            silence_after_seconds: 0,
        }
    }
}

/// `[display.<lang>]` tables, by language.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Display(pub BTreeMap<String, DisplayNames>);

/// One language's names for queues, priorities and statuses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayNames {
    pub queue: BTreeMap<String, String>,
    pub priority: BTreeMap<String, String>,
    pub status: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Support {
    /// The address customers write to; acknowledgements come from it.
    pub address: String,
    /// Display name on outgoing mail.
    pub name: String,
    /// Other addresses that are ours (aliases, other queues' addresses).
    pub aliases: Vec<String>,
    /// Language of mail to agents and escalation addresses (notifications,
    /// escalations, command errors), e.g. `he` for a team in Israel.
    pub team_language: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tickets {
    /// Tag format in subjects; `{n}` is the ticket number.
    pub tag: String,
    /// Number of the first ticket in a new store.
    pub first_number: u64,
    pub default_queue: String,
    pub default_priority: Priority,
    /// A customer's reply to a ticket closed less than this many days ago
    /// reopens it; later replies open a new ticket linked to the old one.
    pub reopen_days: u32,
    /// A ticket waiting on the customer (pending) this many days without a
    /// word from them is closed, and they are told; 0 keeps it pending.
    pub close_pending_after_days: u32,
    /// Bulk mail (List-Id, List-Unsubscribe, Precedence: bulk/list/junk)
    /// that opens a ticket is filed: stored and searchable, but out of the
    /// queue and the SLA. `false` queues it like any other mail.
    pub file_bulk_mail: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Threading {
    /// Days the subject fallback looks back; 0 turns it off.
    pub subject_fallback_days: u32,
    /// Subjects too vague for the fallback (compared after normalizing).
    pub generic_subjects: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ack {
    pub enabled: bool,
    /// Template name under `templates/<language>/`.
    pub template: String,
    pub language: String,
    /// At most this many acknowledgements per sender per hour.
    pub max_per_sender_per_hour: u32,
    /// … and per day.
    pub max_per_sender_per_day: u32,
    /// At most this many per domain per day (robots changing their address).
    pub max_per_domain_per_day: u32,
    /// Domains of shared mail providers: many different people, so no
    /// per-domain bound.
    pub shared_domains: Vec<String>,
    /// The same text from the same domain is acknowledged once in this
    /// many days (a robot answering our acknowledgements); 0 turns it off.
    pub same_text_days: u32,
    /// A new ticket from a customer whose previous ticket was closed this
    /// recently is linked to it and the acknowledgement says so.
    pub followup_days: u32,
    /// A customer's mail an agent forwards to the support address (no
    /// ticket yet) opens the customer's ticket; acknowledge it to the
    /// customer as if they had written to us.
    pub forwarded_by_agent: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intake {
    /// The Maildir `run` reads and watches.
    pub maildir: PathBuf,
    /// Most messages committed together (one flush per batch).
    pub batch_size: usize,
    /// Upper bound for a single message; larger ones are quarantined.
    pub max_message_bytes: usize,
    /// Below this much free space on the data disk, no mail is taken (it
    /// stays with its source) until there is room again.
    pub min_free_mib: u64,
    /// Mail that arrived in its mailbox (IMAP INTERNALDATE, a Maildir
    /// file's delivery time) more than this many hours before it is read is
    /// history, not a new request: it is stored and threaded, its ticket
    /// filed, with no acknowledgement, notification or escalation. 0 reads
    /// every message as new.
    pub history_hours: u32,
}

/// `[store]`: where tickets, mail and the outbox live. With no `url`,
/// the embedded store in `data_dir` (one process); with
/// `url = "postgres://user@host:port/database"`, a PostgreSQL database
/// any number of workers share. The password never goes in the URL: it
/// comes from `password_env` or `password_file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreCfg {
    pub url: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for the database's TLS besides
    /// Mozilla's roots. Whether TLS is used is the URL's `sslmode`
    /// (`prefer` unless it says `require` or `disable`).
    pub ca_file: Option<PathBuf>,
    /// How long a worker's hold on a mailbox (and on the minute timers)
    /// lasts without renewal: when a worker dies, another takes over its
    /// mailboxes within this time.
    pub lease_seconds: u64,
}

impl Default for StoreCfg {
    fn default() -> Self {
        StoreCfg {
            url: String::new(),
            password_env: None,
            password_file: None,
            ca_file: None,
            lease_seconds: 30,
        }
    }
}

impl StoreCfg {
    /// Whether the store is a database server's.
    pub fn is_server(&self) -> bool {
        !self.url.is_empty()
    }

    pub fn secret(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
        }
    }

    /// What is wrong with `url`, if anything: the scheme, or a password
    /// written into it (it would end up in shell histories and process
    /// lists).
    pub fn problem(&self) -> Option<String> {
        if self.url.is_empty() {
            return None;
        }
        let Some(rest) = self
            .url
            .strip_prefix("postgres://")
            .or_else(|| self.url.strip_prefix("postgresql://"))
        else {
            return Some(format!(
                "store.url: expected postgres://user@host:port/database, found {:?}",
                self.url.split("://").next().unwrap_or_default()
            ));
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && user_info.contains(':')
        {
            return Some(
                "store.url: a password is written in the URL; put it in store.password_env or store.password_file"
                    .into(),
            );
        }
        None
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbox {
    /// `file` (writes .eml files to `dir`).
    pub transport: String,
    pub dir: PathBuf,
    /// Attempts before a temporary failure becomes final.
    pub max_attempts: u32,
    /// First retry after this many seconds, doubling up to an hour.
    pub retry_base_seconds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "data".into(),
            store_cache_mib: 8,
            store: StoreCfg::default(),
            instance_id: String::new(),
            support: Support::default(),
            tickets: Tickets::default(),
            threading: Threading::default(),
            ack: Ack::default(),
            sla: Sla::default(),
            intake: Intake::default(),
            limits: crate::limits::Limits::default(),
            outbox: Outbox::default(),
            agents: Vec::new(),
            agents_authserv_id: String::new(),
            rules_dir: "rules".into(),
            templates_dir: "templates".into(),
            mailbox: Vec::new(),
            smtp: SmtpCfg::default(),
            queues: ["billing", "technical"]
                .into_iter()
                .map(|q| (q.to_owned(), QueueCfg::default()))
                .collect(),
            calendars: [("default".to_owned(), CalendarCfg::default())].into(),
            display: Display::default(),
            lmtp: LmtpCfg::default(),
            health: HealthCfg::default(),
            oauth: BTreeMap::new(),
            bounces: BouncesCfg::default(),
            csat: CsatCfg::default(),
            log: LogCfg::default(),
            metrics: MetricsCfg::default(),
        }
    }
}

impl Default for Support {
    fn default() -> Self {
        Support {
            address: "support@example.com".into(),
            name: "Example Support".into(),
            aliases: Vec::new(),
            team_language: "en".into(),
        }
    }
}

impl Default for Tickets {
    fn default() -> Self {
        Tickets {
            tag: "[#TB-{n}]".into(),
            first_number: 1000,
            default_queue: "general".into(),
            default_priority: Priority::Normal,
            reopen_days: 30,
            close_pending_after_days: 0,
            file_bulk_mail: true,
        }
    }
}

impl Default for Threading {
    fn default() -> Self {
        Threading {
            subject_fallback_days: 14,
            // Every language's vague subjects (see crate::i18n).
            generic_subjects: crate::i18n::generic_subjects()
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }
}

impl Default for Ack {
    fn default() -> Self {
        Ack {
            enabled: true,
            template: "ack".into(),
            language: "en".into(),
            max_per_sender_per_hour: 5,
            max_per_sender_per_day: 10,
            max_per_domain_per_day: 100,
            shared_domains: [
                "gmail.com",
                "googlemail.com",
                "outlook.com",
                "hotmail.com",
                "live.com",
                "msn.com",
                "yahoo.com",
                "icloud.com",
                "me.com",
                "aol.com",
                "proton.me",
                "protonmail.com",
                "gmx.de",
                "gmx.net",
                "web.de",
                "wp.pl",
                "o2.pl",
                "onet.pl",
                "interia.pl",
                "op.pl",
                "gazeta.pl",
                "walla.co.il",
                "walla.com",
                "bezeqint.net",
                "012.net.il",
                "netvision.net.il",
            ]
            .map(String::from)
            .to_vec(),
            same_text_days: 30,
            followup_days: 14,
            forwarded_by_agent: true,
        }
    }
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            maildir: "examples/inbox".into(),
            batch_size: 256,
            max_message_bytes: 50 * 1024 * 1024,
            min_free_mib: 64,
            history_hours: 24,
        }
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            transport: "file".into(),
            dir: "outbox".into(),
            max_attempts: 12,
            retry_base_seconds: 30,
        }
    }
}

impl Config {
    /// Reads `path`; when `required` is false a missing file means defaults.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Config::default()
                    .checked(&shown, "")
                    .map_err(ConfigError::from_many);
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: shown,
                    source,
                });
            }
        };
        Config::parse(&text, &shown)
    }

    /// Parses config text; `path` is only for messages. Every problem is
    /// reported, not only the first ([`ConfigError::Many`]).
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        Config::check_all(text, path).map_err(ConfigError::from_many)
    }

    /// Parses config text and returns every problem in it: a key that is
    /// unknown or of the wrong type is reported and set aside, and parsing
    /// goes on, so one run of `config check` lists them all.
    pub fn check_all(text: &str, path: &str) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut work = text.to_owned();
        for _ in 0..64 {
            match toml::from_str::<Config>(&work) {
                Ok(cfg) => {
                    return match cfg.checked(path, text) {
                        Ok(cfg) if errors.is_empty() => Ok(cfg),
                        Ok(_) => {
                            errors.sort_by_key(Config::line_of);
                            Err(errors)
                        }
                        Err(mut more) => {
                            errors.append(&mut more);
                            errors.sort_by_key(Config::line_of);
                            Err(errors)
                        }
                    };
                }
                Err(e) => {
                    let (line, column) =
                        e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
                    let error = ConfigError::Invalid {
                        path: path.to_owned(),
                        line,
                        column,
                        message: with_suggestion(e.message().trim()),
                    };
                    let repeated = errors
                        .iter()
                        .any(|x: &ConfigError| x.to_string() == error.to_string());
                    if !repeated {
                        errors.push(error);
                    }
                    match e.span() {
                        Some(s) if !repeated => work = blank_lines(&work, s.start, s.end),
                        _ => return Err(errors),
                    }
                }
            }
        }
        Err(errors)
    }

    /// Checks values that parse but make no sense; each error names the
    /// file and, when the key is in it, the line.
    fn checked(mut self, path: &str, text: &str) -> Result<Config, Vec<ConfigError>> {
        let mut errors: Vec<ConfigError> = Vec::new();
        let at = |key: &str, message: String| ConfigError::Value {
            path: path.to_owned(),
            at: key_at(text, key),
            message,
        };
        let bad = |message: String| {
            // The key is the message's first word (`tickets.tag: …`,
            // `mailbox[1] …`).
            let key = message
                .split([':', ' '])
                .next()
                .unwrap_or_default()
                .replace('[', ".")
                .replace(']', "");
            at(&key, message)
        };
        self.support.address = self.support.address.trim().to_lowercase();
        if !self.support.address.contains('@') {
            errors.push(bad(format!(
                "support.address {:?} is not an email address",
                self.support.address
            )));
        }
        for a in self
            .support
            .aliases
            .iter_mut()
            .chain(self.agents.iter_mut())
        {
            *a = a.trim().to_lowercase();
        }
        if let Err(e) = crate::subject::TagFormat::new(&self.tickets.tag) {
            errors.push(bad(format!("tickets.tag: {e}")));
        }
        if !(1..=MAX_FIRST_NUMBER).contains(&self.tickets.first_number) {
            errors.push(bad(format!(
                "tickets.first_number = {}: expected 1 to {MAX_FIRST_NUMBER}",
                self.tickets.first_number
            )));
        }
        if self.ack.max_per_domain_per_day as usize > crate::model::ACKS_KEPT {
            errors.push(bad(format!(
                "ack.max_per_domain_per_day = {} is over {}, the acknowledgement times kept",
                self.ack.max_per_domain_per_day,
                crate::model::ACKS_KEPT
            )));
        }
        for d in &mut self.ack.shared_domains {
            *d = d.trim().to_lowercase();
        }
        let problems = self.limits.check();
        if !problems.is_empty() {
            errors.push(bad(problems.join("; ")));
        }
        if let Some(p) = self.store.problem() {
            errors.push(bad(p));
        }
        if !(3..=3600).contains(&self.store.lease_seconds) {
            errors.push(bad(format!(
                "store.lease_seconds = {}: expected 3 to 3600",
                self.store.lease_seconds
            )));
        }
        if let Err(e) = self.metrics.address() {
            errors.push(bad(e));
        }
        for p in self.lmtp.problems() {
            errors.push(bad(p));
        }
        for (name, o) in &self.oauth {
            for p in o.problems(name) {
                errors.push(bad(p));
            }
        }
        let unknown = |which: &Option<String>| -> Option<String> {
            which.clone().filter(|n| !self.oauth.contains_key(n))
        };
        for m in &self.mailbox {
            if let Some(n) = unknown(&m.oauth) {
                errors.push(bad(format!(
                    "mailbox {}: oauth = {n:?} names no [oauth.{n}] client",
                    m.name
                )));
            }
        }
        if let Some(n) = unknown(&self.smtp.oauth) {
            errors.push(bad(format!(
                "smtp.oauth: {n:?} names no [oauth.{n}] client"
            )));
        }
        for a in &mut self.health.alarm_to {
            *a = a.trim().to_lowercase();
            if !a.contains('@') {
                errors.push(bad(format!(
                    "health.alarm_to: {a:?} is not an email address"
                )));
            }
        }
        if self.health.failing_after_seconds == 0 {
            errors.push(bad(
                "health.failing_after_seconds must be at least 1 (an alarm at the first hiccup would cry wolf)".into(),
            ));
        }
        if !self.log.level.is_empty()
            && let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level)
        {
            errors.push(bad(format!("log.level {:?}: {e}", self.log.level)));
        }
        if self.csat.notify_at_or_below > 5 {
            errors.push(bad(format!(
                "csat.notify_at_or_below = {}: ratings go from 1 to 5 (0 tells nobody)",
                self.csat.notify_at_or_below
            )));
        }
        if self.intake.batch_size == 0 {
            errors.push(bad("intake.batch_size must be at least 1".into()));
        }
        if !matches!(self.outbox.transport.as_str(), "file" | "smtp") {
            errors.push(bad(format!(
                "outbox.transport {:?}: expected \"file\" or \"smtp\"",
                self.outbox.transport
            )));
        }
        for q in self.queues.values_mut() {
            if let Some(a) = &mut q.address {
                *a = a.trim().to_lowercase();
                if !a.contains('@') {
                    errors.push(bad(format!(
                        "queues: address {a:?} is not an email address"
                    )));
                }
            }
        }
        self.calendars.entry("default".into()).or_default();
        for (name, c) in &self.calendars {
            if let Err(e) = Calendar::from_cfg(c) {
                // The error names the setting first (`open: …`).
                let field = e.split([':', '.', ' ']).next().unwrap_or_default();
                errors.push(at(
                    &format!("calendars.{name}.{field}"),
                    format!("calendars.{name}: {e}"),
                ));
            }
        }
        for (name, c) in &self.calendars {
            // Holidays back to back can still close every day for years.
            if let Ok(cal) = Calendar::from_cfg(c)
                && crate::sla::add_business(&cal, chrono::Utc::now(), chrono::Duration::minutes(1))
                    .is_none()
            {
                errors.push(at(
                    &format!("calendars.{name}.holidays"),
                    format!("calendars.{name}: no working time in the next three years (holidays)"),
                ));
            }
        }
        for (name, p) in &self.sla.policies {
            // A broken calendar is reported once, by the calendar.
            let calendar_broken = self
                .calendars
                .get(&p.calendar)
                .is_some_and(|c| Calendar::from_cfg(c).is_err());
            if calendar_broken {
                continue;
            }
            if let Err(e) = crate::sla::Policy::from_cfg(name, p, &self.calendars) {
                let field = e.split(':').next().unwrap_or_default();
                errors.push(at(
                    &format!("sla.policies.{name}.{field}"),
                    format!("sla.policies.{name}: {e}"),
                ));
            }
        }
        if !self.sla.policies.contains_key(&self.sla.default_policy) {
            errors.push(bad(format!(
                "sla.default_policy {:?} is not among sla.policies ({})",
                self.sla.default_policy,
                self.sla
                    .policies
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (q, cfg) in self.queues.iter_mut() {
            for a in &mut cfg.notify {
                *a = a.trim().to_lowercase();
                if !self.agents.contains(a) {
                    errors.push(bad(format!(
                        "queues.{q}.notify: {a:?} is not in `agents`; its replies would count as a customer's"
                    )));
                }
            }
        }
        for (q, cfg) in &self.queues {
            if let Some(p) = &cfg.sla
                && !self.sla.policies.contains_key(p)
            {
                errors.push(bad(format!("queues.{q}.sla: no SLA policy named {p:?}")));
            }
        }
        for m in &self.mailbox {
            if let Some(q) = &m.queue
                && !self.known_queues().contains(q)
            {
                errors.push(bad(format!(
                    "mailbox {}: queue {q:?} is not declared; add [queues.{q}]",
                    m.name
                )));
            }
        }
        for (lang, names) in &self.display.0 {
            if !crate::i18n::known(lang) {
                errors.push(at(
                    &format!("display.{lang}"),
                    format!(
                        "display.{lang}: no language {lang:?}; languages are {}",
                        crate::i18n::codes().join(", ")
                    ),
                ));
            }
            let known_queues = self.known_queues();
            let checks: [(&str, &BTreeMap<String, String>, Vec<String>); 3] = [
                (
                    "queue",
                    &names.queue,
                    known_queues.iter().cloned().collect(),
                ),
                (
                    "priority",
                    &names.priority,
                    Priority::ALL
                        .iter()
                        .map(|p| p.as_str().to_owned())
                        .collect(),
                ),
                (
                    "status",
                    &names.status,
                    crate::model::Status::ALL
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                ),
            ];
            for (what, map, known) in checks {
                if let Some(id) = map.keys().find(|k| !known.contains(k)) {
                    errors.push(at(
                        &format!("display.{lang}.{what}"),
                        format!(
                            "display.{lang}.{what}: no {what} {id:?}; known: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        let languages = crate::i18n::codes();
        let mut language = |key: String, lang: &str| {
            if !crate::i18n::known(lang) {
                errors.push(at(
                    &key,
                    format!(
                        "{key}: no templates in {lang:?}; the languages are {}",
                        languages.join(", ")
                    ),
                ));
            }
        };
        language("support.team_language".into(), &self.support.team_language);
        language("ack.language".into(), &self.ack.language);
        for (q, c) in &self.queues {
            if let Some(l) = &c.language {
                language(format!("queues.{q}.language"), l);
            }
        }
        for (i, a) in self.agents.iter().enumerate() {
            if !a.contains('@') || a.starts_with('@') || a.ends_with('@') {
                errors.push(at(
                    "agents",
                    format!("agents[{i}]: {a:?} is not an email address"),
                ));
            }
        }
        for problem in transport::check(&self.mailbox, &self.smtp, self.outbox.transport == "smtp")
        {
            let key = problem
                .split([':', ' '])
                .next()
                .unwrap_or_default()
                .replace('[', ".")
                .replace(']', "");
            errors.push(ConfigError::Value {
                at: key_at(text, &key),
                path: path.to_owned(),
                message: problem,
            });
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// Where an error points: its line, for ordering.
    fn line_of(e: &ConfigError) -> usize {
        match e {
            ConfigError::Invalid { line, .. } => *line,
            ConfigError::Value { at, .. } => at.map_or(0, |(l, _)| l),
            _ => 0,
        }
    }

    /// Our own addresses: the support address, its aliases and the queues'
    /// addresses.
    pub fn own_addresses(&self) -> Vec<String> {
        std::iter::once(self.support.address.clone())
            .chain(self.support.aliases.iter().cloned())
            .chain(self.queues.values().filter_map(|q| q.address.clone()))
            .collect()
    }

    /// The sender (address, display name) for mail about a ticket in `queue`.
    /// Whether tickets of `queue` ask for a rating when they close.
    pub fn csat_for(&self, queue: &str) -> bool {
        self.queues
            .get(queue)
            .and_then(|q| q.csat)
            .unwrap_or(self.csat.enabled)
    }

    pub fn sender_for(&self, queue: &str) -> (&str, &str) {
        let q = self.queues.get(queue);
        (
            q.and_then(|q| q.address.as_deref())
                .unwrap_or(&self.support.address),
            q.and_then(|q| q.name.as_deref())
                .unwrap_or(&self.support.name),
        )
    }

    /// Every queue name: the default queue and the declared ones.
    /// The queue mail to `recipient` goes to, when the address says: a
    /// plus tag naming a queue (`support+billing@…`), or a queue's own
    /// address (`[queues.billing] address`). None: the rules and the
    /// default queue decide.
    pub fn queue_for_recipient(&self, recipient: &str) -> Option<String> {
        let addr = recipient.trim().trim_matches(['<', '>']).to_lowercase();
        let (local, domain) = addr.rsplit_once('@')?;
        let (base, tag) = match local.split_once('+') {
            Some((base, tag)) => (base, Some(tag)),
            None => (local, None),
        };
        if let Some(tag) = tag
            && self.known_queues().contains(tag)
        {
            return Some(tag.to_owned());
        }
        let plain = format!("{base}@{domain}");
        self.queues
            .iter()
            .find(|(_, q)| q.address.as_deref() == Some(plain.as_str()))
            .map(|(name, _)| name.clone())
    }

    pub fn known_queues(&self) -> BTreeSet<String> {
        std::iter::once(self.tickets.default_queue.clone())
            .chain(self.queues.keys().cloned())
            .collect()
    }

    /// SLA policy names.
    pub fn sla_policies(&self) -> BTreeSet<String> {
        self.sla.policies.keys().cloned().collect()
    }

    /// The default calendar (always valid after loading).
    pub fn default_calendar(&self) -> Calendar {
        self.calendars
            .get("default")
            .and_then(|c| Calendar::from_cfg(c).ok())
            .unwrap_or_else(|| {
                Calendar::from_cfg(&CalendarCfg::default())
                    .unwrap_or_else(|_| unreachable!("the built-in calendar parses"))
            })
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    Lines::new(text).line_col(offset)
}

/// Where each line of a text starts, for many line numbers out of one
/// text: a loader naming a line for each of 16,000 rules must not count
/// newlines from the top each time.
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_store_is_a_postgres_url_without_its_password() {
        let errors = |text: &str| -> Vec<String> {
            match Config::check_all(text, "t.toml") {
                Ok(_) => Vec::new(),
                Err(e) => e.iter().map(ToString::to_string).collect(),
            }
        };
        let ok = "[support]\naddress = \"s@x.example\"\n[store]\nurl = \"postgres://tb@db.example:5432/tickets\"\npassword_env = \"TB_DB\"\n";
        assert_eq!(errors(ok), Vec::<String>::new());
        let cfg = Config::parse(ok, "t.toml").unwrap();
        assert!(cfg.store.is_server());
        assert!(!Config::default().store.is_server(), "embedded by default");
        let pw = errors("[store]\nurl = \"postgres://tb:hunter2@db/tickets\"\n");
        assert!(
            pw.iter().any(|e| e
                .starts_with("t.toml:2:1: store.url: a password is written in the URL")
                && !e.contains("hunter2")),
            "{pw:?}"
        );
        let scheme = errors("[store]\nurl = \"mysql://db/tickets\"\n");
        assert!(
            scheme
                .iter()
                .any(|e| e.contains("expected postgres://") && e.contains("\"mysql\"")),
            "{scheme:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_file_order() {
        let text = "store_cache_mb = 64\n\
                    [support]\nteam_language = \"fr\"\n\
                    [tickets]\ndefault_priority = \"highest\"\nreopen_days = \"thirty\"\n\
                    [queues.billing]\nlanguag = \"pl\"\n\
                    [calendars.default]\ntimezone = \"Europe/Warsow\"\n";
        let errors: Vec<String> = Config::check_all(text, "t.toml")
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        let expect = [
            (
                "t.toml:1:1: unknown field `store_cache_mb`",
                "did you mean `store_cache_mib`?",
            ),
            (
                "t.toml:3:1: support.team_language: no templates in \"fr\"",
                "en, pl, he",
            ),
            ("t.toml:5:20: unknown variant `highest`", "`urgent`"),
            ("t.toml:6:15: invalid type: string \"thirty\"", "u32"),
            (
                "t.toml:8:1: unknown field `languag`",
                "did you mean `language`?",
            ),
            (
                "t.toml:10:1: calendars.default: timezone",
                "did you mean \"Europe/Warsaw\"?",
            ),
        ];
        assert_eq!(errors.len(), expect.len(), "{errors:#?}");
        for (e, (start, words)) in errors.iter().zip(expect) {
            assert!(e.starts_with(start) && e.contains(words), "{e}");
        }
    }

    #[test]
    fn sla_policies_lay_over_the_built_in_ones() {
        // A new policy keeps the built-ins the shipped rules name.
        let cfg = Config::parse(
            "[sla.policies.gold]\nfirst_response = { urgent = \"10m\" }\n",
            "t.toml",
        )
        .unwrap();
        let p = &cfg.sla.policies;
        assert_eq!(p.keys().collect::<Vec<_>>(), ["gold", "standard", "vip"]);
        assert_eq!(p["gold"].first_response.urgent, "10m");
        assert_eq!(p["gold"].first_response.normal, "1d", "standard's default");
        // A partial table for a built-in changes only what it names.
        let cfg = Config::parse(
            "[sla.policies.vip]\nfirst_response = { urgent = \"15m\" }\nwarn_at = 0.5\n",
            "t.toml",
        )
        .unwrap();
        let vip = &cfg.sla.policies["vip"];
        assert_eq!(
            (
                vip.first_response.urgent.as_str(),
                vip.first_response.high.as_str(),
                vip.warn_at
            ),
            ("15m", "1h", 0.5)
        );
        // Removing one is said, not implied.
        let cfg = Config::parse("[sla.policies.vip]\nremove = true\n", "t.toml").unwrap();
        assert!(!cfg.sla.policies.contains_key("vip"));
        // A misspelt key is still an error with its place.
        let e = Config::parse("[sla.policies.vip]\nfirst_respons = {}\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml:2"), "{e}");
    }

    #[test]
    fn lines_and_columns_are_found_by_offset() {
        let t = "ab\nżółw\n\nx";
        let l = Lines::new(t);
        assert_eq!(l.line_col(0), (1, 1));
        assert_eq!(l.line_col(2), (1, 3));
        assert_eq!(l.line_col(3), (2, 1));
        assert_eq!(l.line_col(t.find('w').unwrap()), (2, 4));
        assert_eq!(l.line_col(t.find('x').unwrap()), (4, 1));
        assert_eq!(l.line_col(10_000), (4, 2));
    }

    /// Values that parse but make no sense are refused, each with the file
    /// and the line of the key at fault.
    #[test]
    fn nonsense_values_are_refused_with_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[support]\nname = \"x\"\n\n[calendars.default]\ndays = \"\"\n",
                5,
                "no working time",
            ),
            (
                "[calendars.default]\nholidays = [\"2026-01-01..2030-12-31\"]\n",
                2,
                "1826 days",
            ),
            (
                "[sla.policies.standard]\nfirst_response = { urgent = \"999999999d\", high = \"4h\", normal = \"1d\", low = \"3d\" }\nresolution = { urgent = \"4h\", high = \"1d\", normal = \"3d\", low = \"10d\" }\n",
                2,
                "first_response.urgent",
            ),
            (
                "[sla.policies.standard]\nfirst_response = { urgent = \"1h\", high = \"4h\", normal = \"1d\", low = \"3d\" }\nresolution = { urgent = \"4h\", high = \"1d\", normal = \"3d\", low = \"200d\" }\n",
                3,
                "over 90 working days",
            ),
            (
                "[tickets]\nfirst_number = 18446744073709551615\n",
                2,
                "expected 1 to",
            ),
            ("[tickets]\nfirst_number = 0\n", 2, "expected 1 to"),
            (
                "# x\n[calendars.default]\nopen = \"17:00-09:00\"\n",
                3,
                "after the start",
            ),
            ("[limits]\nmax_references = 0\n", 2, "below 2"),
            (
                "[[mailbox]]\nname = \"ok\"\nhost = \"h\"\ntls = \"implicit\"\nuser = \"u\"\npassword_env = \"X\"\n\n\
                 [[mailbox]]\nname = \"a b\"\nhost = \"h\"\ntls = \"implicit\"\nuser = \"u\"\npassword_env = \"X\"\n",
                8,
                "letters, digits",
            ),
        ];
        for (text, line, words) in cases {
            let err = Config::parse(text, "t.toml").unwrap_err().to_string();
            // file:line:column
            let at = format!("t.toml:{line}:");
            assert!(
                err.starts_with(&at)
                    && err[at.len()..]
                        .split(':')
                        .next()
                        .is_some_and(|c| c.parse::<usize>().is_ok()),
                "{text}\n=> {err}"
            );
            assert!(err.contains(words), "{err}");
        }
    }

    #[test]
    fn no_file_means_defaults() {
        let c = Config::load(Path::new("/nonexistent/ticketbox.toml"), false).unwrap();
        assert_eq!(c.support.address, "support@example.com");
        assert_eq!(c.tickets.first_number, 1000);
        assert!(Config::load(Path::new("/nonexistent/ticketbox.toml"), true).is_err());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err =
            Config::parse("[support]\naddress = \"a@b\"\nadress = \"x\"\n", "t.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("t.toml:3:1: unknown field `adress`"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_and_bad_values_are_reported() {
        let err = Config::parse("[tickets]\nfirst_number = \"ten\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().starts_with("t.toml:2:16:"), "{err}");
        let err =
            Config::parse("[calendars.default]\ntimezone = \"Mars/Base\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("Mars/Base"), "{err}");
        let err = Config::parse("[tickets]\ntag = \"TB\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("{n}"), "{err}");
    }
}
