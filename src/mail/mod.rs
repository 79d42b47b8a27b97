//! Reading a message: raw bytes into an envelope ([`parse`]: ids,
//! addresses, text, attachments, within the limits), HTML bodies as text
//! with quotes marked ([`html`]), Outlook's `winmail.dat` opened
//! ([`tnef`]), and what the author of a mail wrote apart from quotes,
//! quote headers, signatures and footers ([`written`]); what a bounce
//! reports about each failed recipient ([`dsn`]).

pub mod dsn;
pub mod html;
pub mod parse;
pub(crate) mod tnef;
pub mod written;
