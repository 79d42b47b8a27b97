//! ticketbox: an email-to-ticket mail processor.
//!
//! # How a message flows
//!
//! ```text
//! intake ──► store.put_raw + count a try ──► flush ──► prepare ──────────► decide ──────────────► store.commit
//!   (Maildir,     (raw bytes durable, and             (parse, classify,    (pure: a read-only      (the one Commit:
//!    IMAP, LMTP,   the try on record, first)           language; no store)  View, rules, now ──►    ticket, records,
//!    stdin)                                                                 outcome + Commit)       indexes, outbox)
//!                                                                                 │
//!            store.flush once per batch (group commit) ──► source told "done" ──► outbox sender
//! ```
//!
//! [`pipeline::decide`] is the core's one decision: threading, rules, SLA,
//! the acknowledgement or an agent's commands and answer, all computed over
//! a [`store::View`] it cannot write through, with `now` given; it returns
//! the outcome with its explanation and one [`store::Commit`]. Live
//! processing applies that commit; `ticketbox rules test` and `--replay`
//! ([`dryrun`]) call the same function and apply nothing. The minute
//! timers ([`escalation`], [`autoclose`]) decide per ticket the same way.
//!
//! Around each message, [`committer::isolate`] keeps one message's failure its
//! own: a panic quarantines that message, and a message that took the
//! process down (abort, OOM) is tried alone after the restart and set aside
//! if it does so three times alone.
//!
//! An agent's mail takes the same road; after threading, [`agent`] reads it
//! as commands and an answer, and the answer is passed on to the customer
//! instead of an acknowledgement. A customer's mail notifies the agents.
//!
//! # Modules
//!
//! The pure core (no I/O; data in, data out):
//! - [`mail`]: reading a message: raw bytes → [`mail::parse::Envelope`]
//!   (ids, addresses, text, attachments); HTML bodies as text with quotes
//!   marked, Outlook's `winmail.dat` opened; [`mail::written`], what the
//!   author of a mail wrote apart from quotes, quote headers, signatures,
//!   phone footers, forwards and our own notification: the one reader
//!   behind agents' answers, notifications and language.
//! - [`classify`]: person, auto-reply, bounce or our own mail (RFC 3834);
//!   [`mail::dsn`] reads what a bounce reports, [`bounces`] keeps the
//!   addresses mail is held for.
//! - [`subject`]: the ticket tag and reply prefixes.
//! - [`thread`]: which ticket a message belongs to.
//! - [`rules`]: routing and priority rules from `rules/*.toml`.
//! - [`sla`] and [`calendar`]: due times in business time, working hours,
//!   holidays.
//! - [`i18n`]: one table per language (days, months and the phrases dates
//!   stand in, names of queues, priorities and statuses, agent command
//!   words and what agents are told about their mistakes); adding a
//!   language is one table plus its templates.
//! - [`lang`]: the language a customer wrote in (their own words, by
//!   [`mail::written`]).
//! - [`outgoing`]: every mail we write: templates rendered in the reader's
//!   language ([`outgoing::render`], dates and names the way each language
//!   writes them), the acknowledgement and the other mails a ticket causes
//!   ([`outgoing::ack`]), the finished message ([`outgoing::compose`]).
//! - [`agent`]: an agent's reply read as commands and an answer; each
//!   command in one place ([`agent::command`]: how it reads, what it does).
//! - [`rating`]: satisfaction ratings read from a customer's reply, and
//!   the signed links closing mail offers (HMAC under the installation's
//!   secret); the pipeline records them ([`pipeline`]'s `rating`).
//! - [`pacing`]: how many acknowledgements a correspondent gets (per
//!   sender, domain and text: robots at any pace).
//! - [`limits`] and [`text`]: bounds on the work one message causes; text
//!   from mail made safe for a header.
//! - [`model`]: tickets and message records.
//!
//! The edges:
//! - [`intake`]: reading Maildirs, mbox files, stdin; the
//!   [`intake::Source`] trait every mail source (Maildir, IMAP, LMTP)
//!   implements.
//! - [`imap`]: reading IMAP mailboxes (IDLE, checkpoints, reconnects,
//!   timeouts, modified UTF-7 folder names); [`oauth`]: OAuth2 tokens for
//!   IMAP and SMTP (device sign-in, refresh with rotation kept on disk).
//! - [`health`]: whether a mail source's trouble is an incident (pure),
//!   from what each source reports ([`intake::health`]); the worker's
//!   alarm timer ([`runtime::health`]) writes incidents and alarm mail.
//! - [`store`]: the ports: [`store::View`] (what deciding reads),
//!   [`store::Store`] (commits, pending marks, the outbox with its due-time
//!   order and claims, typed state such as checkpoints, ticket numbers)
//!   and [`store::Blobs`] (raw mail and outgoing messages, apart from the
//!   records), with leases (one holder at a time per name); backends
//!   [`store::DiskStore`] (embedded, the default), [`store::ServerStore`]
//!   (PostgreSQL, shared by several workers) and [`store::MemoryStore`]
//!   (the core's tests), held to one conformance suite; [`store::open`]
//!   opens the one the config names, and [`store::moving`] moves an
//!   embedded store into a server one (`ticketbox migrate`);
//!   [`store::dump`] writes a store as JSON lines and reads them back
//!   (`export`, `import`, `backup`, `restore`).
//! - [`outbox`]: the durable outgoing queue and its transports (file, SMTP);
//!   each round claims what it sends, so no two drainers send one mail.
//! - [`pipeline`]: [`pipeline::prepare`] and [`pipeline::decide`] (one
//!   message into one commit; an agent's message: commands applied, answer
//!   passed on to the customer), and [`pipeline::process`], which stores
//!   the raw mail, decides and applies.
//! - [`committer`]: the one writer: batches of mail processed and committed
//!   (group commit), each message prepared on a second core while the one
//!   before it is decided, one message's failure kept its own
//!   ([`committer::isolate`]: taking in, preparing and deciding are steps
//!   of their own, so [`runtime::worker::ingest`] runs them a batch apart
//!   on three threads); the sources, the control socket and the timers
//!   hand it their work.
//! - [`runtime`]: the long-running job: [`runtime::worker`] (sources, the
//!   committer, the timers, the outbox sender), [`runtime::leased`] (each
//!   source read by one worker at a time under its lease) and
//!   [`runtime::control`], the unix socket the CLI uses while a worker
//!   runs on the embedded store, and [`runtime::lmtp`], the listener the
//!   site's MTA hands mail to (LMTP, `250` once stored).
//! - [`metrics`]: what a worker counts for Prometheus (mail in and out,
//!   commit and acknowledgement latency, reloads); [`runtime::metrics`]
//!   serves it with `/healthz` and `/readyz`.
//! - [`peer`]: this process's name among the workers of a shared store.
//! - [`report`]: listings for the CLI and the control socket;
//!   [`stats`], the figures of `ticketbox report` (per queue: volume,
//!   first response in business time, SLA, backlog, ratings, reopen rate;
//!   mail by weekday and hour) and its HTML page with SVG charts.
//! - [`dryrun`] and [`ops`]: trying rules and templates; changes made
//!   outside mail (status, customer preferences, releasing quarantine).
//! - [`escalation`] and [`autoclose`]: what the worker's minute timer does
//!   (SLA notices; closing tickets that waited on the customer too long).
//! - [`clock`], [`config`] and [`tls`]: time, settings, TLS, injected.
//!
//! No module reaches back to itself through others, and the deciding
//! modules read no file, environment or clock and write nothing
//! (`tests/layout.rs` checks both).
//! - [`space`] and [`redact`]: free space on the data disk (intake pauses
//!   before it is full); secrets kept out of logs and stored errors.

// The map above names private modules too (they are the core's parts, not
// its API); `cargo doc --document-private-items` renders every link.
#![allow(rustdoc::private_intra_doc_links)]

mod agent;
mod autoclose;
pub mod bounces;
mod calendar;
mod classify;
pub mod clock;
pub mod committer;
pub mod config;
pub mod dryrun;
mod escalation;
pub mod health;
mod i18n;
pub mod imap;
pub mod intake;
mod lang;
mod limits;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod oauth;
pub mod ops;
pub mod outbox;
pub mod outgoing;
mod pacing;
pub mod peer;
pub mod pipeline;
mod rating;
pub mod redact;
pub mod report;
pub mod rules;
pub mod runtime;
mod sla;
pub mod space;
pub mod stats;
pub mod store;
pub mod subject;
mod text;
pub mod thread;
mod tls;
