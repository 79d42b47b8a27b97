//! Arguments of the `ticketbox` command (clap).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ticketbox", version, about = "Email-to-ticket mail processor")]
pub struct Cli {
    /// Config file; built-in defaults when it does not exist.
    #[arg(long, global = true, default_value = "ticketbox.toml")]
    pub config: PathBuf,
    /// Data directory: the store, and the file outbox (`DATA/outbox`) unless
    /// the config sets `outbox.dir`. Overrides `data_dir` in the config.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line (over
    /// `[log] format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<ticketbox::config::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a helpdesk in DIR (default: here): a commented ticketbox.toml
    /// with every key and its default, the shipped rules and templates to
    /// edit, and an empty Maildir. Never overwrites a file.
    Init {
        /// Where to write (created when missing).
        dir: Option<PathBuf>,
    },
    /// Look at the config.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read mail (IMAP mailboxes, else the Maildir), deliver acknowledgements, run until Ctrl-C.
    Run {
        /// Process what is there, deliver, and exit.
        #[arg(long)]
        once: bool,
        /// Read this Maildir (instead of the configured mailboxes).
        #[arg(long)]
        maildir: Option<PathBuf>,
    },
    /// Ingest messages from files, directories, Maildirs, mbox files or `-` (stdin).
    Ingest {
        /// Message files, directories (read recursively), Maildirs, mbox
        /// files, or `-` for stdin. A path that cannot be read is reported
        /// and the others are still ingested (exit status 2 at the end).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Queue acknowledgements without delivering them.
        #[arg(long)]
        no_deliver: bool,
    },
    /// Move the embedded store (in the data directory) into an empty
    /// PostgreSQL database, then read every record back and compare. Stop
    /// the worker first; the embedded store is left as it was.
    Migrate {
        /// The database: postgres://user@host:port/database (no password
        /// in it).
        #[arg(long)]
        to: String,
        /// Environment variable holding the database password.
        #[arg(long)]
        password_env: Option<String>,
        /// File whose first line is the database password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Take one message on stdin, as a mail server's pipe transport hands
    /// it over: exit 0 once it is stored (through the running worker, or
    /// into the store), 75 (EX_TEMPFAIL) when it cannot be stored now, so
    /// the mail server keeps it and tries again.
    Deliver {
        /// The envelope recipient (Postfix: `${recipient}`): a plus tag
        /// naming a queue (`support+billing@`) or a queue's address picks
        /// the queue.
        #[arg(long)]
        recipient: Option<String>,
    },
    /// How the running worker's mail sources are doing: connected, idle
    /// or failing, their last mail and last error, open incidents (exit 3
    /// when no worker runs).
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Per queue: tickets and mail, first response (median and 90th
    /// percentile, business time), SLA compliance, backlog and its age,
    /// satisfaction ratings, reopen rate; mail by weekday and hour.
    Report {
        /// From this day (2026-11-01) or moment (RFC 3339) on; the backlog
        /// is always as it stands now.
        #[arg(long)]
        since: Option<String>,
        /// One queue only.
        #[arg(long)]
        queue: Option<String>,
        /// Also write a page with charts here (self-contained HTML).
        #[arg(long)]
        html: Option<PathBuf>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every record of the store as JSON lines (tickets, messages with
    /// their raw mail, the outbox, quarantine, customers' preferences,
    /// checkpoints, counters; format in README): a consistent snapshot,
    /// also while a worker runs. Embedded store only (PostgreSQL: pg_dump).
    Export {
        /// Only tickets, mail and outgoing mail changed from this day
        /// (2026-11-01) or moment (RFC 3339) on.
        #[arg(long)]
        since: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Rebuild the configured store (an empty one: a new data directory,
    /// or an empty database) from an export, then check every record.
    Import {
        /// The export (a file: it is read twice, to check).
        file: PathBuf,
    },
    /// A consistent backup into DIR, also while a worker runs: the export
    /// (ticketbox-export.jsonl) and a copy of the config.
    Backup { dir: PathBuf },
    /// Restore a backup made by `backup` into the configured store (an
    /// empty one).
    Restore { dir: PathBuf },
    /// Addresses mail is held for because they bounced (a permanent
    /// failure, or temporary ones adding up), with the bounce's reason.
    Suppressed {
        /// A JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Send to an address that bounced again (its owner fixed it): lifts
    /// the hold, and the mail held for it goes out now.
    Unsuppress { address: String },
    /// OAuth2 sign-in for Microsoft 365 and Gmail mailboxes.
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
    /// List tickets.
    Tickets {
        /// Only tickets with this status: new, open, pending, closed or filed.
        #[arg(long)]
        status: Option<String>,
        /// Only tickets in this queue (one of the config's queues).
        #[arg(long)]
        queue: Option<String>,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its messages: who wrote, when, the Message-ID,
    /// and what each message says.
    Show {
        /// The ticket: `1042`, `TB-1042` or `[#TB-1042]`.
        ticket: String,
        /// JSON, with each message's text (`text`: own words, `body`: whole).
        #[arg(long)]
        json: bool,
        /// Each message whole, quotes and all (default: the author's own words).
        #[arg(long)]
        full: bool,
    },
    /// List outgoing mail, pending and sent.
    Outbox {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List quarantined messages and why.
    Quarantine {
        /// A JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a stored message to stdout as received (as sent, for ours), by
    /// Message-ID or content hash: e.g. for attachments too big to forward.
    Raw {
        /// A Message-ID as `show` prints it (angle brackets optional), a
        /// content hash, or the short hash `quarantine` prints.
        message_id: String,
    },
    /// Process a quarantined message after all (spam rules and the agent
    /// authentication check let it through).
    Release {
        /// The hash `ticketbox quarantine` shows (at least 6 characters).
        hash: String,
        /// The outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check and try out the rules in `rules/`.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Change a ticket's status (pending stops the SLA clock, open restarts it).
    Set {
        /// The ticket: `1042`, `TB-1042` or `[#TB-1042]`.
        ticket: String,
        /// new, open, pending, closed or filed.
        #[arg(long)]
        status: String,
    },
    /// Record a customer's language and time zone for future mail.
    Customer {
        /// The customer's email address.
        address: String,
        /// Language for mail to them: en, pl or he.
        #[arg(long)]
        language: Option<String>,
        /// Their IANA time zone, e.g. Asia/Jerusalem, Europe/Warsaw, America/New_York.
        #[arg(long)]
        timezone: Option<String>,
    },
    /// Look at the mail templates.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check the config file, and the rules and templates it points at:
    /// every problem at once, each with file:line:column (unknown keys with
    /// a suggestion, wrong types, unknown languages, zones, queues, SLA
    /// policies and agents). Exit non-zero when there is any.
    Check,
}

#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// Check the templates: each must load and render a full sample mail in
    /// its language (undefined variables, a missing `Subject:` line and
    /// runaway loops are errors). Exit non-zero with every error; a running
    /// worker refuses such a set the same way and keeps the last good one.
    Check {
        /// Templates directory (default: `templates_dir` from the config).
        dir: Option<PathBuf>,
    },
    /// Render a template: text to the terminal, HTML to a file.
    Preview {
        /// Template name: ack, notify, reply, closed, escalation, agent-error or agent-notice.
        name: String,
        /// Language of the template: en, pl or he (others fall back to en).
        #[arg(long, default_value = "en")]
        lang: String,
        /// Render for a stored ticket.
        #[arg(long, conflicts_with = "message")]
        ticket: Option<String>,
        /// Render for a message file, as if it opened a ticket now.
        #[arg(long)]
        message: Option<PathBuf>,
        /// Write the HTML part here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum OauthCommand {
    /// Sign in once for a mailbox (its `[[mailbox]] name`) or for `smtp`:
    /// prints a URL and a code to enter on any device, waits for the
    /// sign-in and keeps the tokens (device code flow). A running worker
    /// uses them at its next login.
    Login {
        /// A mailbox's name, or `smtp`.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Validate the rule files; exit non-zero with every error.
    Check {
        /// Rules directory (default: `rules_dir` from the config).
        dir: Option<PathBuf>,
    },
    /// Dry run: explain each rule on a message, or re-evaluate stored tickets.
    Test {
        /// The message (.eml) to evaluate.
        #[arg(required_unless_present = "replay")]
        message: Option<PathBuf>,
        /// Re-evaluate stored tickets and show which decisions would change.
        #[arg(long, conflicts_with = "message")]
        replay: bool,
        /// With --replay: only tickets created since this date (2026-11-01 or RFC 3339).
        #[arg(long, requires = "replay")]
        since: Option<String>,
        /// JSON instead of the explanation.
        #[arg(long)]
        json: bool,
    },
}
