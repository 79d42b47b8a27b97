//! Every mail we write: templates rendered in the reader's language
//! ([`render`], with dates, times and names the way that language writes
//! them, [`locale`]), the acknowledgement and the other mails a ticket
//! causes ([`ack`]: what goes in them and when not to send one), and the
//! finished RFC 5322 message with our loop-prevention headers ([`compose`]).
//! Deciding *whether* a mail goes out is the pipeline's; what it looks
//! like is here.

pub mod ack;
pub mod alarm;
pub mod compose;
pub(crate) mod locale;
pub mod render;
pub mod status;
