//! Where log lines go: standard error, each line scrubbed of every secret
//! the process has read (see `ticketbox::redact`), whichever library wrote
//! it and at whatever level; as text for people or as one JSON object per
//! line (`--log-format json`, `[log] format`) with the event's fields
//! (`message_id`, `ticket`, `mailbox` …) as keys.

use std::io::Write;
use ticketbox::config::{LogCfg, LogFormat};
use tracing_subscriber::fmt::MakeWriter;

/// What the command line says about logging, before the config is read.
pub struct Logging {
    pub format: Option<LogFormat>,
    /// The level when neither `RUST_LOG` nor `[log] level` gives one.
    pub default_level: &'static str,
}

impl Logging {
    /// Starts logging as `cfg` says, the command line and `RUST_LOG`
    /// winning. Once per process; later calls do nothing.
    pub fn init(&self, cfg: &LogCfg) {
        let level = if cfg.level.is_empty() {
            self.default_level
        } else {
            &cfg.level
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let builder = tracing_subscriber::fmt()
            .with_writer(Scrubbed)
            .with_env_filter(filter);
        // A second init (a config read twice) keeps the first logger.
        let _ = match self.format.unwrap_or(cfg.format) {
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .try_init(),
            LogFormat::Text => builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init(),
        };
    }
}

/// Makes one [`Line`] per log event.
pub struct Scrubbed;

impl<'a> MakeWriter<'a> for Scrubbed {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::with_capacity(256))
    }
}

/// One event's text, written to stderr scrubbed when it is complete.
pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let clean = ticketbox::redact::scrub(&text);
        // Nowhere to report a failure to write to stderr.
        let _ = std::io::stderr().lock().write_all(clean.as_bytes());
    }
}
