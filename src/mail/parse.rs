//! Raw bytes → [`Envelope`]: the parts of a message the helpdesk decides on.
//!
//! mail-parser does the MIME and charset work (every charset it knows,
//! encoded words in headers, HTML-only bodies turned into text); this module
//! picks out identifiers, addresses, the text body, attachment facts and the
//! headers that classification and rules look at. It never panics on input:
//! what cannot be made sense of is a [`ParseError`] with the reason, and the
//! caller quarantines the message.

use crate::limits::{Limits, ends_of_chain};
use crate::model::{AttachmentInfo, Party};
use crate::text;
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use regex::Regex;
use std::sync::LazyLock;

/// Everything ticketbox needs to know about one incoming message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// True when the message had no usable Message-ID and one was made from
    /// the content hash.
    pub message_id_synthesized: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Option<Party>,
    pub sender: Option<Party>,
    pub reply_to: Option<Party>,
    pub to: Vec<Party>,
    pub cc: Vec<Party>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// The offset of the sender's clock in the Date header, in minutes east
    /// of UTC: the best guess at their time zone when they stated none.
    pub date_offset: Option<i32>,
    /// Plain-text body (HTML converted when there is no text part).
    pub text: String,
    pub attachments: Vec<AttachmentInfo>,
    /// Top-level headers in order: lower-cased name, unfolded raw value.
    pub headers: Vec<(String, String)>,
    /// Return-Path as given; `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    /// Top-level MIME type, e.g. `multipart/report`.
    pub content_type: String,
    /// `report-type` parameter of a multipart/report.
    pub report_type: Option<String>,
    /// Content-Language, when the sender stated one.
    pub content_language: Option<String>,
    /// Message-IDs of messages embedded in a report or quoted in a bounce:
    /// how a bounce finds the ticket of the mail that bounced.
    pub embedded_message_ids: Vec<String>,
    /// An RFC 3464 delivery report's failed recipients, when the message
    /// carries one (see [`Envelope::delivery_report`]).
    pub delivery: Option<crate::mail::dsn::Report>,
    /// Hex SHA-256 of the raw bytes.
    pub raw_hash: String,
    /// [`Envelope::written`], kept once read.
    pub written: WrittenMemo,
}

/// The reading of an envelope's text ([`crate::mail::written::read`]),
/// kept once made: preparing reads it for the language, on the helper
/// thread, and deciding (pacing, the acknowledgement's excerpt, ratings,
/// status requests, forwards) needs it again on the committing thread,
/// where it cost a tenth of the time. It belongs to the text it was read
/// from (its address and length), so an envelope whose text is replaced
/// reads the new text; a clone starts empty.
#[derive(Default)]
pub struct WrittenMemo(std::sync::OnceLock<(usize, usize, crate::mail::written::Written)>);

impl Clone for WrittenMemo {
    fn clone(&self) -> Self {
        WrittenMemo::default()
    }
}

impl PartialEq for WrittenMemo {
    /// A cache: never what makes two envelopes differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for WrittenMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "read"
        } else {
            "unread"
        })
    }
}

impl Envelope {
    /// The text read for what its author wrote, their signature, what
    /// they quoted and forwarded ([`crate::mail::written::read`]).
    pub fn written(&self) -> std::borrow::Cow<'_, crate::mail::written::Written> {
        let key = (self.text.as_ptr() as usize, self.text.len());
        let (ptr, len, w) = self
            .written
            .0
            .get_or_init(|| (key.0, key.1, crate::mail::written::read(&self.text)));
        if (*ptr, *len) == key {
            std::borrow::Cow::Borrowed(w)
        } else {
            std::borrow::Cow::Owned(crate::mail::written::read(&self.text))
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Who to answer: Reply-To, else From, else Sender.
    pub fn reply_address(&self) -> Option<&Party> {
        self.reply_to
            .as_ref()
            .or(self.from.as_ref())
            .or(self.sender.as_ref())
    }

    /// The author: From, else Sender, else the Return-Path address.
    pub fn author(&self) -> Option<&Party> {
        self.from.as_ref().or(self.sender.as_ref())
    }

    /// What a bounce reports: its RFC 3464 report, else what its text
    /// says. Only meaningful for a message classified as a bounce.
    pub fn delivery_report(&self) -> Option<crate::mail::dsn::Report> {
        self.delivery
            .clone()
            .or_else(|| crate::mail::dsn::from_text(&self.text))
    }

    /// Every Message-ID this message points at, nearest parent first:
    /// In-Reply-To, then References from last to first.
    pub fn parent_ids(&self) -> impl Iterator<Item = &str> {
        self.in_reply_to
            .iter()
            .chain(self.references.iter().rev())
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message (0 bytes)")]
    Empty,
    #[error("no content: {0} bytes of white space only")]
    Blank(usize),
    #[error("header block of {bytes} bytes is over limits.max_header_bytes ({limit})")]
    HeadersTooBig { bytes: usize, limit: usize },
    #[error("{count} header fields, over limits.max_headers ({limit})")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("{count} MIME parts, over limits.max_mime_parts ({limit})")]
    TooManyParts { count: usize, limit: usize },
    #[error("MIME parts nested {depth} deep, over limits.max_mime_depth ({limit})")]
    TooDeep { depth: usize, limit: usize },
    #[error("not an email: no header block found")]
    NoHeaders,
    #[error("the MIME parser could not read the message")]
    Unreadable,
    #[error("no sender address: From, Sender and Return-Path are all missing or empty")]
    NoSender,
}

static HEADER_MESSAGE_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^[ \t>]*Message-ID:[ \t]*<([^>\s]+)>").expect("static regex")
});

/// Parses raw bytes whose content hash is `raw_hash`, with the default
/// [`Limits`].
pub fn parse(raw: &[u8], raw_hash: &str) -> Result<Envelope, ParseError> {
    parse_limited(raw, raw_hash, &Limits::default())
}

/// Parses raw bytes whose content hash is `raw_hash`. What is over
/// `limits` in structure (headers, MIME parts) is an error before the MIME
/// parser spends anything on it; long chains of ids and long subjects are
/// cut.
pub fn parse_limited(raw: &[u8], raw_hash: &str, limits: &Limits) -> Result<Envelope, ParseError> {
    if raw.is_empty() {
        return Err(ParseError::Empty);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Blank(raw.len()));
    }
    check_structure(raw, limits)?;
    let msg = MessageParser::default().parse(raw).ok_or_else(|| {
        if looks_like_headers(raw) {
            ParseError::Unreadable
        } else {
            ParseError::NoHeaders
        }
    })?;
    if msg.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    check_parts(&msg, limits)?;

    let mut env = Envelope {
        raw_hash: raw_hash.to_owned(),
        ..Envelope::default()
    };
    match msg.message_id().map(clean_id).filter(|id| !id.is_empty()) {
        Some(id) => env.message_id = id,
        None => {
            env.message_id = synthetic_message_id(raw_hash);
            env.message_id_synthesized = true;
        }
    }
    env.in_reply_to = ends_of_chain(ids(msg.in_reply_to()), limits.max_references);
    env.references = ends_of_chain(ids(msg.references()), limits.max_references);
    env.from = first_party(msg.from());
    env.sender = first_party(msg.sender());
    env.reply_to = first_party(msg.reply_to());
    env.to = all_parties(msg.to());
    env.cc = all_parties(msg.cc());
    env.subject = msg
        .subject()
        .map(|s| text::one_line(s, limits.max_subject_chars))
        .unwrap_or_default();
    let date = msg.date().filter(|d| d.is_valid());
    env.date = date.and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
    env.date_offset = date.filter(|_| env.date.is_some()).map(|d| {
        let minutes = i32::from(d.tz_hour) * 60 + i32::from(d.tz_minute);
        if d.tz_before_gmt { -minutes } else { minutes }
    });
    env.headers = msg
        .headers_raw()
        .map(|(n, v)| (n.to_ascii_lowercase(), one_line(v)))
        .collect();
    env.return_path = env.header("return-path").map(|v| {
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_lowercase()
    });
    if let Some(ct) = msg.content_type() {
        env.content_type = match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        }
        .to_ascii_lowercase();
        env.report_type = ct.attribute("report-type").map(str::to_ascii_lowercase);
    } else {
        env.content_type = "text/plain".into();
    }
    env.content_language = msg
        .content_language()
        .as_text()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    env.text = body_text(&msg);
    env.attachments = attachments(&msg, false)
        .into_iter()
        .map(|a| a.info)
        .collect();
    env.embedded_message_ids = embedded_ids(&msg, &env.text);
    env.delivery = crate::mail::dsn::structured(&msg);

    if env.from.is_none() && env.sender.is_none() {
        match env.return_path.as_deref() {
            Some(rp) if rp.contains('@') => env.from = Some(Party::new(None, rp)),
            _ => return Err(ParseError::NoSender),
        }
    }
    Ok(env)
}

/// Whether one of the first lines is a `Name: value` header field.
fn looks_like_headers(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'\n').take(10).any(|line| {
        let name_len = line
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        name_len > 0 && line.get(name_len) == Some(&b':')
    })
}

/// The Message-ID used when a message has none: stable, from the content.
pub fn synthetic_message_id(raw_hash: &str) -> String {
    let short = raw_hash.get(..32).unwrap_or(raw_hash);
    format!("{short}@hash.ticketbox.invalid")
}

/// Strips angle brackets and surrounding white space from a Message-ID.
pub fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    // An id that could not be written back into a header (control
    // characters, absurd length) is not one we will ever see again.
    raw.into_iter()
        .map(clean_id)
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID_BYTES && text::is_header_safe(id))
        .collect()
}

/// Longest Message-ID kept (RFC 5322 puts no number on it; real ids are
/// under 100 bytes, and a header line must stay under 998).
const MAX_ID_BYTES: usize = 500;

/// The header block's size and field count, and how many multipart or
/// message parts the whole message declares, from the raw bytes in one
/// pass: bounds checked before the MIME parser builds anything (nesting a
/// hundred thousand messages deep would otherwise exhaust the stack when
/// the parsed message is dropped).
fn check_structure(raw: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let mut in_headers = true;
    let (mut header_bytes, mut fields, mut containers) = (0usize, 0usize, 0usize);
    let mut offset = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        offset += line.len();
        if in_headers {
            if line == b"\n" || line == b"\r\n" {
                in_headers = false;
                header_bytes = offset;
            } else if !matches!(line.first(), Some(b' ' | b'\t')) {
                fields += 1;
            }
        }
        if is_container_type(line) {
            containers += 1;
            if containers > limits.max_mime_parts {
                return Err(ParseError::TooManyParts {
                    count: containers,
                    limit: limits.max_mime_parts,
                });
            }
        }
    }
    if in_headers {
        header_bytes = raw.len();
    }
    if header_bytes > limits.max_header_bytes {
        return Err(ParseError::HeadersTooBig {
            bytes: header_bytes,
            limit: limits.max_header_bytes,
        });
    }
    if fields > limits.max_headers {
        return Err(ParseError::TooManyHeaders {
            count: fields,
            limit: limits.max_headers,
        });
    }
    Ok(())
}

/// Whether a line is `Content-Type: multipart/…` or `message/…` (any case).
fn is_container_type(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-type:";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    let value = &line[NAME.len()..];
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let value = &value[start..];
    let starts = |p: &[u8]| value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p);
    starts(b"multipart/") || starts(b"message/")
}

/// Counts every part (nested messages included) and the deepest nesting,
/// without recursion.
fn check_parts(msg: &Message<'_>, limits: &Limits) -> Result<(), ParseError> {
    let mut count = 0usize;
    // (message, part index, depth)
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(msg, 0, 1)];
    while let Some((m, index, depth)) = stack.pop() {
        if depth > limits.max_mime_depth {
            return Err(ParseError::TooDeep {
                depth,
                limit: limits.max_mime_depth,
            });
        }
        count += 1;
        if count > limits.max_mime_parts {
            return Err(ParseError::TooManyParts {
                count,
                limit: limits.max_mime_parts,
            });
        }
        match m.parts.get(index as usize).map(|p| &p.body) {
            Some(PartType::Multipart(children)) => {
                stack.extend(children.iter().map(|&c| (m, c, depth + 1)));
            }
            Some(PartType::Message(inner)) => stack.push((inner, 0, depth + 1)),
            _ => {}
        }
    }
    Ok(())
}

fn first_party(addr: Option<&Address<'_>>) -> Option<Party> {
    addr?.iter().find_map(|a| {
        a.address()
            .filter(|s| s.contains('@'))
            .map(|s| Party::new(a.name(), s))
    })
}

fn all_parties(addr: Option<&Address<'_>>) -> Vec<Party> {
    addr.map(|a| {
        a.iter()
            .filter_map(|a| {
                a.address()
                    .filter(|s| s.contains('@'))
                    .map(|s| Party::new(a.name(), s))
            })
            .collect()
    })
    .unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn body_text(msg: &Message<'_>) -> String {
    let mut text = String::new();
    for &id in &msg.text_body {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        let piece = match &part.body {
            PartType::Text(t) => {
                let flowed = part.content_type().is_some_and(|ct| {
                    ct.attribute("format")
                        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"))
                });
                if flowed {
                    let delsp = part.content_type().is_some_and(|ct| {
                        ct.attribute("delsp")
                            .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
                    });
                    unflow(t, delsp)
                } else {
                    t.to_string()
                }
            }
            // Our own conversion: one line per block, quotes marked.
            PartType::Html(h) => crate::mail::html::to_text(h),
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        // NUL bytes survive some broken mailers; they are never content.
        text.push_str(&piece.replace('\0', ""));
    }
    text
}

/// format=flowed (RFC 3676): a line ending in a space continues on the
/// next line of the same quote depth; `-- ` stays the signature line.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<usize> = None;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = line.chars().take_while(|&c| c == '>').count();
        let mut content = &line[depth..];
        // Space-stuffing: one leading space is not content.
        content = content.strip_prefix(' ').unwrap_or(content);
        match open {
            Some(d) if d == depth => {}
            Some(_) => out.push('\n'),
            None => {}
        }
        if open != Some(depth) {
            for _ in 0..depth {
                out.push('>');
            }
            if depth > 0 {
                out.push(' ');
            }
        }
        let soft = content.ends_with(' ') && content != "-- ";
        if soft {
            let kept = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            out.push_str(kept);
            open = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open = None;
        }
    }
    if open.is_some() {
        out.push('\n');
    }
    // The split adds one line for the final newline.
    while out.ends_with("\n\n") && !text.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// An attachment with its decoded bytes, to pass it on (an agent's file to
/// the customer).
#[derive(Debug, Clone)]
pub struct AttachmentData {
    pub info: AttachmentInfo,
    pub bytes: Vec<u8>,
    /// The Content-ID an HTML body refers to it by (`cid:`), brackets off.
    pub content_id: Option<String>,
}

/// The attachments of a raw message, decoded. Empty when it does not parse
/// (it parsed before it got this far).
pub fn attachment_data(raw: &[u8]) -> Vec<AttachmentData> {
    match MessageParser::default().parse(raw) {
        Some(msg) => attachments(&msg, true),
        None => Vec::new(),
    }
}

/// Every attachment, a `winmail.dat` replaced by the files inside it;
/// the bytes copied only when `keep_bytes` (listing needs none).
fn attachments(msg: &Message<'_>, keep_bytes: bool) -> Vec<AttachmentData> {
    let mut out = Vec::new();
    let mut unnamed = 0;
    for part in msg.attachments() {
        let info = attachment_info(part, &mut unnamed);
        if is_tnef(&info)
            && let Some(files) = crate::mail::tnef::files(part.contents())
        {
            for f in files {
                let content_type = f
                    .content_type
                    .map(|c| c.to_ascii_lowercase())
                    .unwrap_or_else(|| type_of(&f.name).to_owned());
                out.push(AttachmentData {
                    info: AttachmentInfo {
                        name: text::one_line(&f.name, 255),
                        content_type,
                        size: f.bytes.len(),
                    },
                    bytes: if keep_bytes { f.bytes } else { Vec::new() },
                    content_id: None,
                });
            }
            continue;
        }
        out.push(AttachmentData {
            info,
            bytes: if keep_bytes {
                part.contents().to_vec()
            } else {
                Vec::new()
            },
            content_id: part.content_id().map(clean_id),
        });
    }
    out
}

/// The images the author put in their own text of an HTML mail (by
/// Content-ID), as opposed to those of their signature (a logo on every
/// mail) or of quoted mail. `None` when the mail has no HTML body.
pub fn images_in_own_text(raw: &[u8]) -> Option<Vec<String>> {
    Some(crate::mail::html::image_marks(&own_text_marked(raw)?))
}

/// The author's own words in the HTML body of `raw`, with each image they
/// put among them marked where it stands (see
/// [`crate::mail::html::pieces`]). `None` when the mail has no HTML body.
pub fn own_text_marked(raw: &[u8]) -> Option<String> {
    Some(crate::mail::written::read(&html_marked(raw)?).own)
}

/// The whole HTML body of `raw` as text, images marked.
pub fn html_marked(raw: &[u8]) -> Option<String> {
    let msg = MessageParser::default().parse(raw)?;
    let html = msg
        .html_body
        .iter()
        .find_map(|&id| match &msg.parts.get(id as usize)?.body {
            PartType::Html(h) => Some(h.clone()),
            _ => None,
        })?;
    Some(crate::mail::html::to_text_marking_images(&html))
}

fn is_tnef(info: &AttachmentInfo) -> bool {
    info.content_type == "application/ms-tnef"
        || info.content_type == "application/vnd.ms-tnef"
        || info.name.eq_ignore_ascii_case("winmail.dat")
}

/// A content type from a file name's extension, for files that come
/// without one (out of a winmail.dat).
fn type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("txt") => "text/plain",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xls") => "application/vnd.ms-excel",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

fn attachment_info(part: &MessagePart<'_>, unnamed: &mut usize) -> AttachmentInfo {
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase();
    let name = part
        .attachment_name()
        .map(str::to_owned)
        .or_else(|| match &part.body {
            PartType::Message(m) => m.subject().map(|s| format!("{}.eml", one_line(s))),
            _ => None,
        })
        .unwrap_or_else(|| {
            // Pasted images come without a name: one from their type, so
            // the reader sees "image-1.png", not "(unnamed)".
            *unnamed += 1;
            let (kind, sub) = content_type.split_once('/').unwrap_or(("file", "bin"));
            let ext = match sub {
                "jpeg" => "jpg",
                "octet-stream" => "bin",
                "rfc822" => "eml",
                s if s.len() <= 5 && s.chars().all(|c| c.is_ascii_alphanumeric()) => s,
                _ => "bin",
            };
            let kind = if kind.chars().all(|c| c.is_ascii_alphabetic()) {
                kind
            } else {
                "file"
            };
            format!("{kind}-{unnamed}.{ext}")
        });
    AttachmentInfo {
        name,
        content_type,
        size: part.len(),
    }
}

/// Message-IDs of messages carried inside this one: nested message/rfc822
/// parts and text/rfc822-headers parts of a report, and `Message-ID:` lines
/// quoted in a plain-text bounce.
fn embedded_ids(msg: &Message<'_>, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for part in &msg.parts {
        match &part.body {
            PartType::Message(inner) => {
                if let Some(id) = inner.message_id() {
                    found.push(clean_id(id));
                }
            }
            PartType::Text(_) | PartType::Binary(_) => {
                let is_headers = part
                    .content_type()
                    .and_then(|ct| ct.subtype())
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"));
                if is_headers {
                    let t = String::from_utf8_lossy(part.contents());
                    found.extend(HEADER_MESSAGE_ID.captures_iter(&t).map(|c| c[1].to_owned()));
                }
            }
            _ => {}
        }
    }
    found.extend(
        HEADER_MESSAGE_ID
            .captures_iter(text)
            .map(|c| c[1].to_owned()),
    );
    let own = msg.message_id().map(clean_id);
    let mut seen = std::collections::HashSet::new();
    found.retain(|id| !id.is_empty() && Some(id) != own.as_ref() && seen.insert(id.clone()));
    found
}

#[cfg(test)]
mod tests;
