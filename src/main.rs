//! The `ticketbox` command: a thin shell over the library. Errors get
//! context here (anyhow); everything that decides lives in the library.
//!
//! Commands other than `run` first ask a running worker through its control
//! socket; only when no worker answers do they open the store themselves.

mod cli;

// jemalloc instead of the C library's allocator: deciding and the embedded
// store allocate many short-lived values of mixed sizes, and glibc's
// consolidation of freed chunks was a fifth of the ingest's CPU. Measured
// on the 10,000-message ingest: 1.08-1.28 s against 1.22-1.45 s, peak RSS
// 77 MB against 70 MB (benches/ingest.sh; mimalloc peaked over 110 MB).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// One arena for every thread: intake reads and prepares mail on threads of
// its own and frees it on the deciding one, and an arena per thread kept
// about 10 MB more of freed memory at the peak for no measurable speed.
// (jemalloc reads this C string before main; `_RJEM_MALLOC_CONF` in the
// environment still overrides it.)
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: CString = CString(c"narenas:1".as_ptr());

/// A C string pointer as jemalloc declares its `malloc_conf`.
#[repr(transparent)]
struct CString(*const std::ffi::c_char);
// SAFETY: it points at a constant, never written.
unsafe impl Sync for CString {}

use anyhow::{Context, Result};
use clap::Parser;
use cli::access::{Reached, engine, reach};
use cli::args::{Cli, Command, ConfigCommand, OauthCommand, RulesCommand, TemplatesCommand};
use cli::commands::{
    config_check, deliver, ingest, migrate, parse_since, rules_check, rules_test_offline, run,
    templates_check, templates_preview,
};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use ticketbox::config::Config;
use ticketbox::report;
use ticketbox::runtime::control::{Request, WireMail};
use ticketbox::runtime::worker::Intake;
use ticketbox::store::Store;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Run { .. }) {
        "info"
    } else {
        "warn"
    };
    // What this process creates (the store, raw mail, outgoing mail, the
    // control socket) is readable by its owner only, whatever the umask.
    // SAFETY: umask only sets the process's file mode mask; no memory is
    // involved, and no other thread runs yet.
    unsafe {
        libc::umask(0o077);
    }
    // The config says how to log; until it is read (and for the commands
    // that read none), the command line and the defaults do.
    let log = cli::log::Logging {
        format: cli.log_format,
        default_level,
    };
    // A mail server retries on 75 and bounces on anything else: for
    // `deliver` every failure to store (a config that does not load
    // included) is one to retry, never a bounce.
    let delivering = matches!(cli.command, Command::Deliver { .. });
    match real_main(cli, &log) {
        Ok(code) => code,
        Err(e) if delivering => {
            eprintln!("ticketbox deliver: not stored, the mail server should try again: {e:#}");
            ExitCode::from(75)
        }
        // `ticketbox tickets | head`: the reader has what it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ticketbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn real_main(cli: Cli, log: &cli::log::Logging) -> Result<ExitCode> {
    if matches!(cli.command, Command::Init { .. } | Command::Config { .. }) {
        log.init(&ticketbox::config::LogCfg::default());
    }
    match &cli.command {
        Command::Init { dir } => {
            let dir = dir.clone().unwrap_or_else(|| ".".into());
            for line in cli::init::init(&dir)? {
                println!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => return config_check(&cli.config),
        _ => {}
    }
    let explicit = cli.config != Path::new("ticketbox.toml");
    let loaded = Config::load(&cli.config, explicit);
    log.init(
        loaded
            .as_ref()
            .map(|c| &c.log)
            .unwrap_or(&Default::default()),
    );
    let mut cfg = loaded.context("loading the config")?;
    if let Some(d) = cli.data {
        // Everything a run writes moves with the data: the file outbox
        // too, unless the config put it somewhere of its own.
        if cfg.outbox.dir == Path::new("outbox") {
            cfg.outbox.dir = d.join("outbox");
        }
        cfg.data_dir = d;
    }
    let read_only = match cli.command {
        Command::Init { .. } | Command::Config { .. } => unreachable!("handled above"),
        Command::Run { once, maildir } => {
            let source = match maildir {
                Some(dir) => Intake::Maildir(dir),
                None if !cfg.mailbox.is_empty() => Intake::Imap(cfg.mailbox.clone()),
                None => Intake::Maildir(cfg.intake.maildir.clone()),
            };
            return run(cfg, source, once);
        }
        Command::Ingest {
            paths,
            json,
            no_deliver,
        } => return ingest(cfg, &paths, json, no_deliver),
        Command::Deliver { recipient } => return deliver(&cfg, recipient.as_deref()),
        Command::Oauth {
            command: OauthCommand::Login { name },
        } => return oauth_login(&cfg, &name),
        Command::Migrate {
            to,
            password_env,
            password_file,
        } => {
            let target = ticketbox::config::StoreCfg {
                url: to,
                password_env,
                password_file,
                ..Default::default()
            };
            return migrate(&cfg, &target);
        }
        Command::Tickets {
            status,
            queue,
            json,
        } => {
            known_queue(&cfg, queue.as_deref())?;
            if let Some(s) = &status {
                s.parse::<ticketbox::model::Status>()
                    .map_err(anyhow::Error::msg)?;
            }
            Request::Tickets {
                status,
                queue,
                json,
            }
        }
        Command::Show { ticket, json, full } => Request::Show { ticket, json, full },
        Command::Outbox { json } => Request::Outbox { json },
        Command::Export { since, output } => {
            return cli::commands::export(&cfg, since.as_deref(), output.as_deref());
        }
        Command::Import { file } => return cli::commands::import(&cfg, &file),
        Command::Backup { dir } => return cli::commands::backup(&cfg, &cli.config, &dir),
        Command::Restore { dir } => return cli::commands::restore(&cfg, &dir),
        Command::Suppressed { json } => Request::Suppressed { json },
        Command::Report {
            since,
            queue,
            html,
            json,
        } => {
            known_queue(&cfg, queue.as_deref())?;
            // The worker writes the page: it needs a path that does not
            // depend on where it was started.
            let html = html
                .map(|p| std::path::absolute(&p).with_context(|| format!("{}", p.display())))
                .transpose()?;
            Request::Report {
                since: since.as_deref().map(parse_since).transpose()?,
                queue,
                html,
                json,
            }
        }
        Command::Unsuppress { address } => Request::Unsuppress { address },
        Command::Status { json } if !cfg.data_dir.exists() => return not_running(&cfg, json),
        Command::Status { json } => Request::Status { json },
        Command::Quarantine { json } => Request::Quarantine { json },
        Command::Release { hash, json } => Request::Release { hash, json },
        Command::Raw { message_id } => Request::Raw { message_id },
        Command::Rules {
            command: RulesCommand::Check { dir },
        } => return rules_check(cfg, dir),
        Command::Set { ticket, status } => Request::SetStatus {
            ticket: report::ticket_number(&ticket)
                .with_context(|| format!("{ticket:?} is not a ticket number"))?,
            status: status.parse().map_err(anyhow::Error::msg)?,
        },
        Command::Customer {
            address,
            language,
            timezone,
        } => Request::SetCustomer {
            address,
            language,
            timezone,
        },
        Command::Templates {
            command: TemplatesCommand::Check { dir },
        } => return templates_check(&cfg, dir),
        Command::Templates {
            command:
                TemplatesCommand::Preview {
                    name,
                    lang,
                    ticket,
                    message,
                    html,
                },
        } => {
            return templates_preview(
                cfg,
                &name,
                &lang,
                ticket.as_deref(),
                message.as_deref(),
                html.as_deref(),
            );
        }
        Command::Rules {
            command:
                RulesCommand::Test {
                    message,
                    replay,
                    since,
                    json,
                },
        } => {
            if replay {
                Request::RulesReplay {
                    json,
                    since: since.as_deref().map(parse_since).transpose()?,
                }
            } else {
                let path = message.context("give a message file, or --replay")?;
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                if !cfg.data_dir.exists() {
                    // No store yet: nothing to thread against; test as new.
                    return rules_test_offline(cfg, &bytes, json);
                }
                Request::RulesTest {
                    json,
                    message: WireMail::new(&bytes, path.display().to_string()),
                }
            }
        }
    };
    // A running worker first; the store directly only when none answers.
    let store = match reach(&cfg, &read_only)? {
        Reached::Worker(code) => return Ok(code),
        Reached::Store(store) => *store,
    };
    let tags = ticketbox::subject::TagFormat::new(&cfg.tickets.tag)?;
    let mut out = std::io::stdout().lock();
    match read_only {
        Request::Tickets {
            status,
            queue,
            json,
        } => report::tickets(&mut out, &store, status.as_deref(), queue.as_deref(), json)?,
        Request::Show { ticket, json, full } => {
            report::show(&mut out, &store, &ticket, &tags, json, full)?
        }
        Request::Outbox { json } => report::outbox(&mut out, &store, json)?,
        Request::Suppressed { json } => report::suppressed(&mut out, &store, json)?,
        Request::Export { .. } => unreachable!("exports are handled by cli::commands::export"),
        Request::Report {
            since,
            queue,
            html,
            json,
        } => {
            let engine = engine(cfg, &store)?;
            let ask = ticketbox::stats::Ask { since, queue };
            let now = chrono::Utc::now();
            report::summary(&mut out, &engine, &store, &ask, html.as_deref(), json, now)?
        }
        Request::Unsuppress { address } => {
            let note = ticketbox::ops::unsuppress(&store, &address, chrono::Utc::now())?;
            store.flush()?;
            writeln!(out, "{note}")?;
        }
        Request::Quarantine { json } => report::quarantine(&mut out, &store, json)?,
        Request::RulesTest { json, message } => {
            let engine = engine(cfg, &store)?;
            let raw = message.bytes().context("decoding the message")?;
            let r = ticketbox::dryrun::test_message(
                &engine,
                &engine.rules(),
                Some(&store),
                &raw,
                chrono::Utc::now(),
            )?;
            report::rules_test(&mut out, &r, json)?
        }
        Request::RulesReplay { json, since } => {
            let engine = engine(cfg, &store)?;
            let (seen, changes) =
                ticketbox::dryrun::replay(&engine, &engine.rules(), &store, since)?;
            report::rules_replay(&mut out, seen, &changes, json)?
        }
        Request::Raw { message_id } => {
            let bytes = report::raw_message(&store, &message_id)?;
            out.write_all(&bytes)?;
        }
        Request::Release { hash, json } => {
            let engine = engine(cfg, &store)?;
            let o = ticketbox::ops::release(&engine, &store, &hash, chrono::Utc::now())?;
            store.flush()?;
            writeln!(out, "{}", report::released(&o, &tags, json))?;
        }
        Request::SetStatus { ticket, status } => {
            let engine = engine(cfg, &store)?;
            let note =
                ticketbox::ops::set_status(&engine, &store, ticket, status, chrono::Utc::now())?;
            store.flush()?;
            writeln!(out, "{note}")?;
        }
        Request::SetCustomer {
            address,
            language,
            timezone,
        } => {
            let note = ticketbox::ops::set_customer(&store, &address, language, timezone)?;
            store.flush()?;
            writeln!(out, "{note}")?;
        }
        Request::Status { json } => return not_running(&cfg, json),
        Request::Ingest { .. } | Request::Preview { .. } | Request::Ping => {
            unreachable!("ingest and preview are handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ticketbox status` with no worker: sources report to the process
/// reading them, and none is (exit 3, as `systemctl status` of a stopped
/// unit).
fn not_running(cfg: &Config, json: bool) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "running": false, "sources": [] })
        )?;
    } else {
        writeln!(
            out,
            "no worker is running on {}: no mail is being read",
            cfg.data_dir.display()
        )?;
    }
    Ok(ExitCode::from(3))
}

/// `ticketbox oauth login NAME`: the first sign-in for a mailbox or SMTP.
fn oauth_login(cfg: &Config, name: &str) -> Result<ExitCode> {
    let (client, user) = if name == "smtp" {
        (cfg.smtp.oauth.clone(), cfg.smtp.user.clone())
    } else {
        let m = cfg
            .mailbox
            .iter()
            .find(|m| m.name == name)
            .with_context(|| {
                let names: Vec<&str> = cfg.mailbox.iter().map(|m| m.name.as_str()).collect();
                format!("no [[mailbox]] named {name:?} (mailboxes: {names:?}; or `smtp`)")
            })?;
        (m.oauth.clone(), m.user.clone())
    };
    let client = client.with_context(|| {
        format!(
            "{name} logs in with a password: set oauth = \"<client>\" and an [oauth.<client>] table"
        )
    })?;
    let login = ticketbox::oauth::Login::named(cfg, Some(&client))
        .with_context(|| format!("no [oauth.{client}] table in the config"))?;
    ticketbox::oauth::login(
        &login.cfg,
        &client,
        &user,
        &cfg.data_dir,
        &mut std::io::stdout(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a `--queue` the config does not name.
fn known_queue(cfg: &Config, queue: Option<&str>) -> anyhow::Result<()> {
    if let Some(q) = queue
        && !cfg.known_queues().contains(q)
    {
        anyhow::bail!(
            "no queue {q:?}; the queues are {}",
            cfg.known_queues()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
