//! Where log lines go: standard error, each line scrubbed of every secret
//! the process has read (see `ticketbox::redact`), whichever library wrote
//! it and at whatever level.

use std::io::Write;
use tracing_subscriber::fmt::MakeWriter;

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
