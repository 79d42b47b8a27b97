//! The LMTP listener (RFC 2033): the site's MTA (Postfix's `lmtp:` transport,
//! Exim's `lmtp` transport) hands each message straight to the running
//! worker, which answers in milliseconds instead of waiting for a mailbox
//! to be fetched.
//!
//! The promise to the MTA is the one an IMAP source keeps to its server:
//! `250` only once the message is stored and flushed (through the same
//! committer and group commit as every other source), so the MTA may
//! delete its copy. Anything that may pass (the store failing, a full disk,
//! shutting down) is a `4xx`, and the MTA keeps the mail and tries again;
//! a retry carries the same bytes, which the store takes once. The only
//! `5xx` for a message is a permanent reason: larger than
//! `intake.max_message_bytes`. The recipient picks the queue as
//! `ticketbox deliver --recipient` does (a queue's address, or a plus tag).
//!
//! Each recipient of a transaction gets its own reply after DATA, as LMTP
//! requires; one message with several recipients is stored once (one
//! ticket), in the queue of its first recipient that names one.

use crate::committer::Committer;
use crate::config::{Config, LmtpListen};
use crate::intake::{GaveUp, RawMail, Source, SourceRun, Taken};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// The longest command line read (RFC 5321 says 512; parameters may add).
const MAX_COMMAND: usize = 4096;
/// Recipients per transaction (RFC 5321's minimum that must be accepted).
const MAX_RECIPIENTS: usize = 100;
/// How long a session may sit silent before it is closed (RFC 5321 asks
/// servers to wait at least five minutes).
const IDLE: Duration = Duration::from_secs(300);

/// What a stored message came to, for the `250` text.
pub type Stored = Result<Option<u64>, String>;
/// Stores one message and resolves once it is durable.
pub type StoreFn =
    Arc<dyn Fn(RawMail) -> Pin<Box<dyn Future<Output = Stored> + Send>> + Send + Sync>;

/// What every session needs.
#[derive(Clone)]
pub struct Context {
    /// Named in the greeting and LHLO reply.
    pub hostname: String,
    /// Larger messages are refused for good (552).
    pub max_bytes: usize,
    /// For the queue a recipient names.
    pub cfg: Arc<Config>,
    pub store: StoreFn,
    /// Told of each message stored or refused (`ticketbox status`).
    pub health: Option<crate::intake::health::Reporter>,
}

impl Context {
    /// Sessions that store through the worker's committer.
    pub fn through(committer: Committer, cfg: Arc<Config>) -> Context {
        let store: StoreFn = Arc::new(move |mail: RawMail| {
            let committer = committer.clone();
            Box::pin(async move {
                let outcomes = committer.submit(vec![mail], None).await?;
                Ok(outcomes.first().and_then(|o| o.ticket))
            })
        });
        Context {
            hostname: hostname(&cfg),
            max_bytes: cfg.intake.max_message_bytes,
            cfg,
            store,
            health: None,
        }
    }
}

/// The name the listener greets with: the support address's domain.
fn hostname(cfg: &Config) -> String {
    cfg.support
        .address
        .rsplit_once('@')
        .map_or("ticketbox", |(_, d)| d)
        .to_owned()
}

/// A bound listener; binding happens at startup so that a taken port or
/// an unwritable socket path stops `run` with the reason.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl Listener {
    pub async fn bind(at: &LmtpListen, socket_mode: u32) -> std::io::Result<Listener> {
        match at {
            LmtpListen::Tcp(addr) => Ok(Listener::Tcp(tokio::net::TcpListener::bind(addr).await?)),
            LmtpListen::Unix(path) => {
                use std::os::unix::fs::{FileTypeExt, PermissionsExt};
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    if !meta.file_type().is_socket() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "a file that is not a socket is in the way",
                        ));
                    }
                    // A socket left by a process that died is removed; one
                    // that answers belongs to a running process.
                    if tokio::net::UnixStream::connect(path).await.is_ok() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::AddrInUse,
                            "another process listens on it",
                        ));
                    }
                    std::fs::remove_file(path)?;
                }
                let listener = tokio::net::UnixListener::bind(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(socket_mode))?;
                Ok(Listener::Unix(listener, path.clone()))
            }
        }
    }

    /// Where it listens, for logs and the source's name.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".into(), |a| a.to_string()),
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }
}

/// The LMTP listener as one of the worker's sources.
pub struct LmtpSource {
    pub listener: Listener,
    pub context: Context,
    pub max_sessions: usize,
    pub health: crate::intake::health::Reporter,
}

impl Source for LmtpSource {
    fn name(&self) -> String {
        format!("lmtp:{}", self.listener.describe())
    }

    fn run(self: Box<Self>, once: bool, shutdown: watch::Receiver<bool>) -> SourceRun {
        Box::pin(async move {
            // Nothing to catch up on: the MTA pushes, and keeps what it
            // could not hand over.
            if once {
                return Ok(Taken::default());
            }
            self.serve(shutdown).await.map(|()| Taken::default())
        })
    }
}

impl LmtpSource {
    async fn serve(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), GaveUp> {
        tracing::info!(listen = %self.listener.describe(), "LMTP: listening");
        self.health.idle();
        self.context.health = Some(self.health.clone());
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_sessions.max(1)));
        let mut sessions = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                a = accept(&self.listener) => a,
            };
            let (io, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "LMTP: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Reap finished sessions so the set does not grow.
            while sessions.try_join_next().is_some() {}
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let mut io = io;
                    let _ = io
                        .write_all(b"421 4.3.2 Too many sessions, try again later\r\n")
                        .await;
                });
                continue;
            };
            let (context, shutdown) = (self.context.clone(), shutdown.clone());
            sessions.spawn(async move {
                if let Err(e) = session(io, &context, shutdown).await {
                    tracing::debug!(%peer, error = %e, "LMTP: session ended");
                }
                drop(slot);
            });
        }
        // Sessions answer 421 at their next command; one storing a message
        // finishes it first, so nothing half-answered is left.
        while sessions.join_next().await.is_some() {}
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
        self.health.stopped();
        Ok(())
    }
}

/// A connection of either kind.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn accept(l: &Listener) -> std::io::Result<(Box<dyn Io>, String)> {
    match l {
        Listener::Tcp(l) => {
            let (s, a) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Box::new(s), a.to_string()))
        }
        Listener::Unix(l, p) => {
            let (s, _) = l.accept().await?;
            Ok((Box::new(s), p.display().to_string()))
        }
    }
}

/// One command line, read.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Lhlo(String),
    /// The reverse path (empty for `<>`), and the SIZE it declares.
    Mail(String, Option<u64>),
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    /// HELO or EHLO: this is LMTP.
    Smtp,
    /// A known verb with bad arguments: the reply's text.
    Syntax(&'static str),
    Unknown,
}

fn parse(line: &str) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    match verb.to_ascii_uppercase().as_str() {
        "LHLO" if rest.is_empty() => Command::Syntax("LHLO needs a host name"),
        "LHLO" => Command::Lhlo(rest.to_owned()),
        "HELO" | "EHLO" => Command::Smtp,
        "MAIL" => match path_after(rest, "FROM:") {
            Some((from, params)) => {
                let size = params
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix("SIZE=").or_else(|| p.strip_prefix("size=")))
                    .and_then(|n| n.parse().ok());
                Command::Mail(from, size)
            }
            None => Command::Syntax("Syntax: MAIL FROM:<address>"),
        },
        "RCPT" => match path_after(rest, "TO:") {
            Some((to, _)) if to.contains('@') => Command::Rcpt(to),
            Some(_) => Command::Syntax("Syntax: RCPT TO:<user@domain>"),
            None => Command::Syntax("Syntax: RCPT TO:<address>"),
        },
        "DATA" => Command::Data,
        "RSET" => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" => Command::Quit,
        "VRFY" => Command::Vrfy,
        _ => Command::Unknown,
    }
}

/// `FROM:<a@b> PARAMS` → (`a@b`, `PARAMS`); a space after the colon is
/// tolerated (some clients write one).
fn path_after<'a>(rest: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let (addr, params) = inner.split_once('>')?;
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // A source route (`<@a,@b:user@c>`) is obsolete: keep the mailbox.
    let addr = addr.rsplit_once(':').map_or(addr, |(_, a)| a);
    Some((addr.to_owned(), params))
}

/// A line read with a bound on its length.
enum Line {
    Read,
    /// Longer than the bound: consumed, not kept.
    TooLong,
    Eof,
}

/// Reads through the next `\n` into `buf` (cleared first), keeping at most
/// `max` bytes; a longer line is consumed to its end and reported.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            // A connection cut mid-line delivered nothing complete.
            return Ok(Line::Eof);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

/// The message after DATA, dot-unstuffed, or `None` when it grew past
/// `max` (read to its end all the same, so the session can go on).
async fn read_data<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    let mut over = false;
    loop {
        // A line may be long (HTML in one line); the message's bound is
        // the line's too.
        let room = if over {
            1
        } else {
            max.saturating_sub(body.len()) + 3
        };
        match read_line(r, &mut line, room.max(3)).await? {
            Line::Eof => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the connection closed in the middle of a message",
                ));
            }
            Line::TooLong => over = true,
            Line::Read => {
                if line == b".\r\n" || line == b".\n" {
                    return Ok(if over { None } else { Some(body) });
                }
                if over {
                    continue;
                }
                let text = line.strip_prefix(b".").unwrap_or(&line);
                body.extend_from_slice(text);
                if body.len() > max {
                    over = true;
                    body = Vec::new();
                }
            }
        }
    }
}

/// One LMTP session, to QUIT, the end of the connection, an idle timeout
/// or shutdown.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    ctx: &Context,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (r, mut w) = tokio::io::split(io);
    let mut r = BufReader::new(r);
    let host = &ctx.hostname;
    w.write_all(format!("220 {host} LMTP ticketbox ready\r\n").as_bytes())
        .await?;
    let mut greeted = false;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE, read_line(&mut r, &mut buf, MAX_COMMAND)) => Some(r),
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(read) = read else {
            w.write_all(b"421 4.3.2 Shutting down, try again later\r\n")
                .await?;
            return Ok(());
        };
        let command = match read {
            Err(_) => {
                w.write_all(b"421 4.4.2 Idle too long, closing\r\n").await?;
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::Eof)) => return Ok(()),
            Ok(Ok(Line::TooLong)) => {
                w.write_all(b"500 5.5.2 Line too long\r\n").await?;
                continue;
            }
            Ok(Ok(Line::Read)) => parse(&String::from_utf8_lossy(&buf)),
        };
        let reply: String = match command {
            Command::Lhlo(_) => {
                greeted = true;
                (from, rcpts) = (None, Vec::new());
                format!(
                    "250-{host}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n\
                     250-8BITMIME\r\n250 SIZE {}\r\n",
                    ctx.max_bytes
                )
            }
            Command::Smtp => "500 5.5.1 This is LMTP: say LHLO\r\n".into(),
            Command::Mail(..) if !greeted => "503 5.5.1 Say LHLO first\r\n".into(),
            Command::Mail(..) if from.is_some() => "503 5.5.1 Nested MAIL command\r\n".into(),
            Command::Mail(_, Some(size)) if size > ctx.max_bytes as u64 => format!(
                "552 5.3.4 The message is larger than the {} bytes this helpdesk takes\r\n",
                ctx.max_bytes
            ),
            Command::Mail(sender, _) => {
                from = Some(sender);
                "250 2.1.0 Sender OK\r\n".into()
            }
            Command::Rcpt(_) if from.is_none() => "503 5.5.1 Say MAIL first\r\n".into(),
            Command::Rcpt(_) if rcpts.len() >= MAX_RECIPIENTS => {
                "452 4.5.3 Too many recipients\r\n".into()
            }
            Command::Rcpt(to) => {
                rcpts.push(to);
                "250 2.1.5 Recipient OK\r\n".into()
            }
            Command::Data if rcpts.is_empty() => "503 5.5.1 No valid recipients\r\n".into(),
            Command::Data => {
                w.write_all(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")
                    .await?;
                let data = read_data(&mut r, ctx.max_bytes).await?;
                let sender = from.take().unwrap_or_default();
                let to = std::mem::take(&mut rcpts);
                deliver(ctx, &sender, &to, data).await
            }
            Command::Rset => {
                (from, rcpts) = (None, Vec::new());
                "250 2.0.0 OK\r\n".into()
            }
            Command::Noop => "250 2.0.0 OK\r\n".into(),
            Command::Vrfy => "252 2.5.0 Send the message and it will be delivered\r\n".into(),
            Command::Quit => {
                w.write_all(format!("221 2.0.0 {host} closing\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            Command::Syntax(text) => format!("501 5.5.4 {text}\r\n"),
            Command::Unknown => "500 5.5.1 Command not recognized\r\n".into(),
        };
        w.write_all(reply.as_bytes()).await?;
    }
}

/// Stores a received message and returns one reply line per recipient.
async fn deliver(ctx: &Context, sender: &str, to: &[String], data: Option<Vec<u8>>) -> String {
    let each = |line: &dyn Fn(&str) -> String| to.iter().map(|r| line(r)).collect::<String>();
    let Some(data) = data else {
        let max = ctx.max_bytes;
        return each(&|r| {
            format!(
                "552 5.3.4 <{r}> The message is larger than the {max} bytes this helpdesk takes\r\n"
            )
        });
    };
    // As a delivery agent does: the envelope sender as Return-Path, which
    // tells a bounce (`<>`) from a person's mail. A retry writes the same
    // line, so the same message stores once.
    let mut bytes = Vec::with_capacity(data.len() + sender.len() + 20);
    bytes.extend_from_slice(format!("Return-Path: <{sender}>\r\n").as_bytes());
    bytes.extend_from_slice(&data);
    drop(data);
    let queue = to.iter().find_map(|r| ctx.cfg.queue_for_recipient(r));
    let origin = format!("lmtp:{}", to.first().map_or("", String::as_str));
    let mail = RawMail::new(bytes, origin, None).with_queue(queue);
    let stored = (ctx.store)(mail).await;
    if let Some(h) = &ctx.health {
        match &stored {
            Ok(_) => h.took(1),
            Err(e) => h.failed(crate::health::Problem::Store, e),
        }
    }
    match stored {
        Ok(Some(ticket)) => each(&|r| format!("250 2.0.0 <{r}> Stored, ticket {ticket}\r\n")),
        Ok(None) => each(&|r| format!("250 2.0.0 <{r}> Stored\r\n")),
        Err(e) => {
            tracing::warn!(error = %e, "LMTP: a message could not be stored; the MTA keeps it and retries");
            // One line: a reason with line breaks would end the reply early.
            let why = crate::text::one_line(&e, 200);
            each(&|r| format!("451 4.3.0 <{r}> Not stored now ({why}); try again later\r\n"))
        }
    }
}

#[cfg(test)]
mod tests;
