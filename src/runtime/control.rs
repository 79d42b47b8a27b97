//! The control socket: how `ticketbox tickets`, `show`, `outbox`,
//! `quarantine` and `ingest` work while `ticketbox run` holds the store
//! (the embedded store admits one process).
//!
//! A unix socket `control.sock` in the data directory, mode 0600 (only the
//! owner may talk to it). One request per connection: a JSON line in, a JSON
//! line out. Reads run against the worker's open store; ingested mail goes
//! through the worker's committer like any other source.

use crate::committer::Committer;
use crate::intake::RawMail;
use crate::model::Status;
use crate::pipeline::Engine;
use crate::report;
use crate::store::Store;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Largest request accepted (an ingest of many messages).
const MAX_REQUEST: u64 = 256 * 1024 * 1024;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

pub fn remove_socket(data_dir: &Path) {
    let _ = std::fs::remove_file(socket_path(data_dir));
}

/// A message sent for ingestion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMail {
    pub origin: String,
    /// The raw bytes, base64.
    pub data: String,
    /// The queue its recipient names (`ticketbox deliver --recipient`).
    #[serde(default)]
    pub queue: Option<String>,
}

impl WireMail {
    pub fn new(bytes: &[u8], origin: String) -> WireMail {
        WireMail {
            origin,
            data: B64.encode(bytes),
            queue: None,
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        B64.decode(self.data.as_bytes())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    Tickets {
        status: Option<String>,
        queue: Option<String>,
        json: bool,
    },
    Show {
        ticket: String,
        json: bool,
        /// Whole messages, not only their authors' own words.
        #[serde(default)]
        full: bool,
    },
    Outbox {
        json: bool,
    },
    Quarantine {
        json: bool,
    },
    Ingest {
        json: bool,
        messages: Vec<WireMail>,
    },
    /// Explain the rules on disk for one message.
    RulesTest {
        json: bool,
        message: WireMail,
    },
    /// Re-evaluate stored tickets with the rules on disk.
    RulesReplay {
        json: bool,
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Change a ticket's status.
    SetStatus {
        ticket: u64,
        status: Status,
    },
    /// Record a customer's language and time zone.
    SetCustomer {
        address: String,
        language: Option<String>,
        timezone: Option<String>,
    },
    /// Process a quarantined message after all.
    Release {
        hash: String,
        json: bool,
    },
    /// A stored message's bytes, base64 in the answer.
    Raw {
        message_id: String,
    },
    /// Is a worker running here? Answers with its pid.
    Ping,
    /// Each mail source's state and incident (`ticketbox status`).
    Status {
        json: bool,
    },
    /// The figures per queue (`ticketbox report`); the page is written to
    /// `html` (an absolute path).
    Report {
        since: Option<chrono::DateTime<chrono::Utc>>,
        queue: Option<String>,
        html: Option<std::path::PathBuf>,
        json: bool,
    },
    /// Every record as JSON lines into `path` (absolute), written on the
    /// committer thread: nothing changes while it is read.
    Export {
        since: Option<chrono::DateTime<chrono::Utc>>,
        path: std::path::PathBuf,
    },
    /// Addresses mail is held for (they bounced).
    Suppressed {
        json: bool,
    },
    /// Lift the hold on an address.
    Unsuppress {
        address: String,
    },
    /// Render a template for a stored ticket (`templates preview --ticket`);
    /// the HTML part is written to `html` (an absolute path).
    Preview {
        name: String,
        lang: String,
        ticket: u64,
        html: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    pub stdout: String,
    /// Set when the command failed; the CLI prints it and exits non-zero.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no worker answers on {path}")]
    NotRunning { path: String },
    #[error("control socket {path}: {message}")]
    Io { path: String, message: String },
}

pub struct Server<S: Store + 'static> {
    listener: UnixListener,
    store: Arc<S>,
    committer: Committer,
    engine: Arc<Engine>,
    health: crate::intake::health::Health,
}

impl<S: Store + 'static> Server<S> {
    /// Binds the socket (replacing a stale one: we hold the store lock, so
    /// no other worker can be using it) and restricts it to the owner.
    pub fn bind(
        data_dir: &Path,
        store: Arc<S>,
        committer: Committer,
        engine: &Arc<Engine>,
        health: crate::intake::health::Health,
    ) -> std::io::Result<Server<S>> {
        use std::os::unix::fs::PermissionsExt;
        let path = socket_path(data_dir);
        // With a server store nothing else has made the directory.
        std::fs::create_dir_all(data_dir)?;
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Server {
            listener,
            store,
            committer,
            engine: engine.clone(),
            health,
        })
    }

    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        loop {
            let conn = tokio::select! {
                c = me.listener.accept() => c,
                _ = shutdown.changed() => return,
            };
            match conn {
                Ok((stream, _)) => {
                    let me = me.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.handle(stream).await {
                            tracing::warn!(error = %e, "control connection failed");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
            }
        }
    }

    async fn handle(&self, stream: UnixStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        BufReader::new(read.take(MAX_REQUEST))
            .read_line(&mut line)
            .await?;
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => self.answer(req).await,
            Err(e) => Response {
                stdout: String::new(),
                error: Some(format!("bad request: {e}")),
            },
        };
        let mut out = serde_json::to_vec(&response).map_err(std::io::Error::from)?;
        out.push(b'\n');
        write.write_all(&out).await?;
        write.shutdown().await
    }

    async fn answer(&self, req: Request) -> Response {
        match req {
            Request::Ingest { json, messages } => return self.ingest(json, messages).await,
            Request::Status { json } => return self.status(json).await,
            Request::Ping => {
                return Response {
                    stdout: std::process::id().to_string(),
                    error: None,
                };
            }
            Request::Export { since, path } => {
                let r = self
                    .committer
                    .run(Box::new(move |_engine, store, now| {
                        crate::store::dump::write_file(store, since, now, &path)
                            .map(|m| m.to_string())
                            .map_err(|e| e.to_string())
                    }))
                    .await;
                // The summary goes to the asker's stderr: stdout may be the
                // export itself.
                return Response {
                    stdout: String::new(),
                    error: r.err(),
                };
            }
            Request::SetStatus { ticket, status } => {
                return self
                    .write(Box::new(move |engine, store, now| {
                        crate::ops::set_status(engine, store, ticket, status, now)
                            .map_err(|e| e.to_string())
                    }))
                    .await;
            }
            Request::Release { hash, json } => {
                return self
                    .write(Box::new(move |engine, store, now| {
                        crate::ops::release(engine, store, &hash, now)
                            .map(|o| crate::report::released(&o, &engine.threading.tags, json))
                            .map_err(|e| e.to_string())
                    }))
                    .await;
            }
            Request::Unsuppress { address } => {
                return self
                    .write(Box::new(move |_, store, now| {
                        crate::ops::unsuppress(store, &address, now).map_err(|e| e.to_string())
                    }))
                    .await;
            }
            Request::SetCustomer {
                address,
                language,
                timezone,
            } => {
                return self
                    .write(Box::new(move |_, store, _| {
                        crate::ops::set_customer(store, &address, language, timezone)
                            .map_err(|e| e.to_string())
                    }))
                    .await;
            }
            _ => {}
        }
        let store = self.store.clone();
        let engine = self.engine.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let r = match &req {
                Request::Tickets {
                    status,
                    queue,
                    json,
                } => report::tickets(
                    &mut out,
                    &*store,
                    status.as_deref(),
                    queue.as_deref(),
                    *json,
                ),
                Request::Show { ticket, json, full } => report::show(
                    &mut out,
                    &*store,
                    ticket,
                    &engine.threading.tags,
                    *json,
                    *full,
                ),
                Request::Outbox { json } => report::outbox(&mut out, &*store, *json),
                Request::Suppressed { json } => report::suppressed(&mut out, &*store, *json),
                Request::Report {
                    since,
                    queue,
                    html,
                    json,
                } => report::summary(
                    &mut out,
                    &engine,
                    &*store,
                    &crate::stats::Ask {
                        since: *since,
                        queue: queue.clone(),
                    },
                    html.as_deref(),
                    *json,
                    chrono::Utc::now(),
                ),
                Request::Quarantine { json } => report::quarantine(&mut out, &*store, *json),
                Request::RulesTest { json, message } => {
                    rules_test(&engine, &*store, message, *json, &mut out)
                }
                Request::RulesReplay { json, since } => {
                    rules_replay(&engine, &*store, *since, *json, &mut out)
                }
                Request::Raw { message_id } => report::raw_message(&*store, message_id)
                    .map(|bytes| out.extend_from_slice(B64.encode(bytes).as_bytes())),
                Request::Preview {
                    name,
                    lang,
                    ticket,
                    html,
                } => crate::dryrun::preview(
                    &engine,
                    Some(&*store),
                    name,
                    lang,
                    crate::dryrun::PreviewSource::Ticket(*ticket),
                    chrono::Utc::now(),
                )
                .map_err(report::ReportError::Input)
                .and_then(|r| report::preview(&mut out, &r, lang, html.as_deref())),
                Request::Ingest { .. }
                | Request::Status { .. }
                | Request::Unsuppress { .. }
                | Request::Ping
                | Request::SetStatus { .. }
                | Request::Export { .. }
                | Request::SetCustomer { .. }
                | Request::Release { .. } => Ok(()),
            };
            (out, r)
        })
        .await;
        match result {
            Ok((out, r)) => Response {
                stdout: String::from_utf8_lossy(&out).into_owned(),
                error: r.err().map(|e| e.to_string()),
            },
            Err(e) => Response {
                stdout: String::new(),
                error: Some(format!("internal error: {e}")),
            },
        }
    }

    /// The sources' states with their incidents, read off the committer
    /// thread.
    async fn status(&self, json: bool) -> Response {
        let (store, states) = (self.store.clone(), self.health.snapshot());
        let read = tokio::task::spawn_blocking(move || {
            crate::runtime::health::with_incidents(&*store, states)
        })
        .await;
        match read {
            Ok(Ok(sources)) => {
                let mut out = Vec::new();
                match report::status(&mut out, std::process::id(), &sources, json) {
                    Ok(()) => Response {
                        stdout: String::from_utf8_lossy(&out).into_owned(),
                        error: None,
                    },
                    Err(e) => Response {
                        stdout: String::new(),
                        error: Some(e.to_string()),
                    },
                }
            }
            Ok(Err(e)) => Response {
                stdout: String::new(),
                error: Some(e.to_string()),
            },
            Err(e) => Response {
                stdout: String::new(),
                error: Some(format!("internal error: {e}")),
            },
        }
    }

    /// Runs a change on the committer thread.
    async fn write(&self, task: crate::committer::Task) -> Response {
        match self.committer.run(task).await {
            Ok(note) => Response {
                stdout: note + "\n",
                error: None,
            },
            Err(e) => Response {
                stdout: String::new(),
                error: Some(e),
            },
        }
    }

    async fn ingest(&self, json: bool, messages: Vec<WireMail>) -> Response {
        let mut mails = Vec::with_capacity(messages.len());
        for m in messages {
            match B64.decode(m.data.as_bytes()) {
                Ok(bytes) => mails.push(RawMail::new(bytes, m.origin, None).with_queue(m.queue)),
                Err(e) => {
                    return Response {
                        stdout: String::new(),
                        error: Some(format!("{}: bad base64: {e}", m.origin)),
                    };
                }
            }
        }
        match self.committer.submit(mails, None).await {
            Ok(outcomes) => {
                let tags = &self.engine.threading.tags;
                let lines: Vec<String> = outcomes
                    .iter()
                    .map(|o| {
                        if json {
                            report::outcome_json(o)
                        } else {
                            report::outcome_line(o, tags)
                        }
                    })
                    .collect();
                Response {
                    stdout: lines.join("\n") + if lines.is_empty() { "" } else { "\n" },
                    error: None,
                }
            }
            Err(e) => Response {
                stdout: String::new(),
                error: Some(e),
            },
        }
    }
}

/// The rules as they are on disk now (what an admin is about to install).
fn disk_rules(engine: &Engine) -> Result<crate::rules::RuleSet, report::ReportError> {
    engine
        .load_rules()
        .map_err(|e| report::ReportError::Input(format!("the rules on disk do not load:\n{e}")))
}

fn rules_test<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    message: &WireMail,
    json: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), report::ReportError> {
    let raw = B64
        .decode(message.data.as_bytes())
        .map_err(|e| report::ReportError::Input(format!("bad base64: {e}")))?;
    let rules = disk_rules(engine)?;
    let r = crate::dryrun::test_message(engine, &rules, Some(store), &raw, chrono::Utc::now())
        .map_err(|e| report::ReportError::Input(e.to_string()))?;
    report::rules_test(out, &r, json)
}

fn rules_replay<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    since: Option<chrono::DateTime<chrono::Utc>>,
    json: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), report::ReportError> {
    let rules = disk_rules(engine)?;
    let (seen, changes) = crate::dryrun::replay(engine, &rules, store, since)
        .map_err(|e| report::ReportError::Input(e.to_string()))?;
    report::rules_replay(out, seen, &changes, json)
}

/// Sends one request to the worker running on `data_dir`.
pub async fn request(data_dir: &Path, req: &Request) -> Result<Response, ControlError> {
    let path = socket_path(data_dir);
    let shown = path.display().to_string();
    let io = |e: std::io::Error| ControlError::Io {
        path: shown.clone(),
        message: e.to_string(),
    };
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning { path: shown });
        }
        Err(e) => return Err(io(e)),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| io(e.into()))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(io)?;
    write.shutdown().await.map_err(io)?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| io(std::io::Error::other(format!("bad answer: {e}"))))
}
