//! What a person wrote in a mail: one reader for agents' answers, agents'
//! notifications, language detection and the dry run.
//!
//! A reply carries much that its author did not write: the quoted mail
//! (`>` lines, a client's quote header, Outlook's header block), a
//! signature, a phone's footer, forwarded mail, and, when an agent answers,
//! our own notification with its internal details. [`read`] splits a text
//! body into those pieces and keeps every piece of the author's text
//! wherever it stands: on top, below the quote, or between quoted lines.
//! For answers written between quoted lines it keeps the quoted lines they
//! answer (so the reader can follow), never the chrome of our notification.
//!
//! How a line that only looks like a quote header is told from one: a
//! client's quote header ends with its colon, and is followed by quoted
//! text, or carries the time or address every client puts there. "On
//! Monday, Tom from our lab wrote: …" in the middle of a paragraph is text.
//!
//! Pure: text in, [`Written`] out. HTML bodies are turned into text with
//! their quotes marked by [`crate::mail::html`] before they get here.

mod patterns;

use patterns::*;

/// The line our notifications put above the quoted text; everything from
/// it on is never sent to a customer, whatever the agent's client does.
pub const REPLY_ABOVE: &str = "##- Reply above this line -##";

/// One mail's text, taken apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// What the author wrote, without signature, footers, quotes and
    /// forwarded mail; quoted lines that the author answered in between
    /// are kept as `> ` lines.
    pub own: String,
    /// The author's signature (after `-- ` or a sign-off delimiter),
    /// without device footers. Empty when none.
    pub signature: String,
    /// Forwarded mail, from the client's forward marker on. Empty when none.
    pub forwarded: String,
    /// Mail embedded without a forward marker (Outlook's header block,
    /// "-----Original Message-----"), from its first line on: a forward
    /// when the subject says so ("FW:").
    pub embedded: String,
    /// Whether quoted or embedded mail was left out.
    pub quoted: bool,
    /// Whether the author answered between quoted lines.
    pub inline: bool,
}

impl Written {
    /// What the author sent: their own text, or when they wrote nothing
    /// but forwarded mail, the text of what they forwarded.
    pub fn text(&self) -> String {
        if self.own.is_empty() && !self.forwarded.is_empty() {
            forwarded_body(&self.forwarded)
        } else {
            self.own.clone()
        }
    }

    /// The author's text with their signature: what an agent's answer
    /// sends to a customer.
    pub fn with_signature(&self) -> String {
        if self.signature.is_empty() {
            self.own.clone()
        } else if self.own.is_empty() {
            String::new()
        } else {
            format!("{}\n\n-- \n{}", self.own, self.signature)
        }
    }
}

/// Characters that set text direction (Gmail wraps Hebrew lines in
/// U+202B…U+202C) or are invisible: never content, and in the way of every
/// match.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{061C}' | '\u{FEFF}' | '\u{00AD}')
}

/// The text with direction marks and invisible characters removed, line
/// ends made `\n`, non-breaking spaces made spaces.
pub fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| !is_invisible(c))
        .map(|c| if c == '\u{00A0}' { ' ' } else { c })
        .collect()
}

/// What one stretch of lines is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Own,
    /// `>` lines, with the quote header above them when there was one.
    Quote {
        attributed: bool,
    },
}

struct Block<'a> {
    kind: Kind,
    lines: Vec<&'a str>,
}

fn has_text(b: &Block) -> bool {
    b.kind == Kind::Own && b.lines.iter().any(|l| !l.trim().is_empty())
}

/// Reads a text body.
pub fn read(text: &str) -> Written {
    let text = normalize(text);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut blocks: Vec<Block> = Vec::new();
    let mut signature: Vec<&str> = Vec::new();
    let mut forwarded: Vec<&str> = Vec::new();
    let mut embedded: Vec<&str> = Vec::new();
    let mut quoted = false;
    let mut in_signature = false;
    // Inside a fenced code block nothing is a delimiter or a header.
    let mut in_code = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || t.starts_with("```") {
            if in_signature {
                signature.push(line);
            } else {
                push_own(&mut blocks, line);
            }
            i += 1;
            continue;
        }
        if is_quoted(line) {
            // A run of quoted lines, blank lines inside it included.
            // Blank lines belong to the run when quoted text follows them
            // (looked at once per stretch of blanks: linear).
            let mut end = i;
            while end < lines.len() {
                if is_quoted(lines[end]) {
                    end += 1;
                    continue;
                }
                let blanks = lines[end..]
                    .iter()
                    .take_while(|l| l.trim().is_empty())
                    .count();
                if blanks > 0 && lines.get(end + blanks).is_some_and(|l| is_quoted(l)) {
                    end += blanks;
                } else {
                    break;
                }
            }
            let block = Block {
                kind: Kind::Quote { attributed: false },
                lines: lines[i..end].to_vec(),
            };
            match blocks.last_mut() {
                Some(b) if matches!(b.kind, Kind::Quote { .. }) => b.lines.extend(block.lines),
                _ => blocks.push(block),
            }
            quoted = true;
            i = end;
            continue;
        }
        // Our notification, unquoted: everything from here on is ours.
        if t.contains(REPLY_ABOVE) {
            quoted = true;
            break;
        }
        if FORWARD.is_match(t) {
            forwarded = lines[i..].to_vec();
            break;
        }
        if ORIGINAL.is_match(t) || header_block_at(&lines, i) || separator_before_header(&lines, i)
        {
            quoted = true;
            embedded = lines[i..].to_vec();
            break;
        }
        if let Some(len) = attribution_at(&lines, i) {
            let after = i + len;
            let next = (after..lines.len()).find(|&j| !lines[j].trim().is_empty());
            let stamped = lines[i..after].iter().any(|l| STAMP.is_match(l));
            match next {
                Some(j) if is_quoted(lines[j]) => {
                    // The header belongs to the quote below it.
                    blocks.push(Block {
                        kind: Kind::Quote { attributed: true },
                        lines: Vec::new(),
                    });
                    i = j;
                    in_signature = false;
                    continue;
                }
                _ if stamped && !blocks.iter().any(has_text) => {
                    // A header on top with unmarked text under it: the
                    // author wrote into the quoted mail (Gmail's mobile
                    // app); the header is the client's, the rest theirs.
                    quoted = true;
                    i = after;
                    continue;
                }
                _ if stamped => {
                    // Clients that quote without `>` (Outlook mobile):
                    // the original follows, unmarked.
                    quoted = true;
                    break;
                }
                _ => {}
            }
        } else if loose_attribution(t) && next_is_quoted(&lines, i + 1) {
            // "26.06.2014, 14:41, "Ann" <a@x>:" (Yandex, mail.ru): no verb,
            // but a stamp, an address and the quote right under it.
            blocks.push(Block {
                kind: Kind::Quote { attributed: true },
                lines: Vec::new(),
            });
            i += 1;
            in_signature = false;
            continue;
        }
        if !in_signature && starts_signature(t) {
            in_signature = true;
            // A device footer is not the author's signature.
            if !DEVICE.is_match(t) && !is_delimiter(t) {
                signature.push(line);
            }
            i += 1;
            continue;
        }
        if in_signature {
            if !DEVICE.is_match(t) {
                signature.push(line);
            }
        } else if !DEVICE.is_match(t) {
            push_own(&mut blocks, line);
        }
        i += 1;
    }

    // Which quotes the author answered: with text of their own between
    // quotes, every quote followed by their text; otherwise only a quote
    // without a client's header above it (a line they picked to answer),
    // not the whole mail quoted under a bottom-posted answer.
    let own_runs = blocks.iter().filter(|b| has_text(b)).count();
    // A mail of quoted lines only, none of them ours, quoted nothing
    // else: those lines are what the author sent.
    let quote_only = own_runs == 0
        && forwarded.is_empty()
        && blocks.len() == 1
        && blocks[0].kind == (Kind::Quote { attributed: false })
        && !blocks[0].lines.iter().any(|l| l.contains(REPLY_ABOVE))
        // …and not just the headers of a chain of quotes.
        && blocks[0].lines.iter().any(|l| {
            let t = unquote(l).trim();
            !t.is_empty() && attribution_at(&[t], 0).is_none()
        });
    // What lies before and after each block, computed once (a mail of
    // thousands of alternating quotes stays linear).
    let is_quote = |b: &Block| matches!(b.kind, Kind::Quote { .. });
    let n = blocks.len();
    let (mut text_after, mut quote_after, mut quote_text_after) =
        (vec![false; n], vec![false; n], vec![false; n]);
    for k in (0..n.saturating_sub(1)).rev() {
        let next = &blocks[k + 1];
        text_after[k] = text_after[k + 1] || has_text(next);
        quote_after[k] = quote_after[k + 1] || is_quote(next);
        quote_text_after[k] = quote_text_after[k + 1] || quote_has_text(next);
    }
    let (mut text_before, mut quote_before) = (vec![false; n], vec![false; n]);
    for k in 1..n {
        text_before[k] = text_before[k - 1] || has_text(&blocks[k - 1]);
        quote_before[k] = quote_before[k - 1] || is_quote(&blocks[k - 1]);
    }
    // Text between quotes: answers to the lines above it, whether the
    // author also wrote on top (text, quote, text) or not (quote, text,
    // quote: an answer under one line of the quoted mail).
    let inline = (own_runs >= 2
        && (0..n).any(|k| is_quote(&blocks[k]) && text_after[k] && text_before[k]))
        || (0..n).any(|k| {
            has_text(&blocks[k]) && quote_before[k] && quote_after[k] && quote_text_after[k]
        });
    let mut out: Vec<String> = Vec::new();
    let mut ours = Chrome::default();
    for (k, b) in blocks.iter().enumerate() {
        match b.kind {
            Kind::Own => out.extend(b.lines.iter().map(|l| (*l).to_owned())),
            Kind::Quote { attributed } => {
                let keep = quote_only || text_after[k] && (inline || !attributed);
                let kept = ours.filter(&b.lines);
                if keep && !kept.is_empty() {
                    out.extend(kept);
                }
            }
        }
    }
    let inline = inline && out.iter().any(|l| l.starts_with('>'));
    let own = trim_blank_lines(&out.join("\n"));
    Written {
        own,
        signature: trim_blank_lines(&signature.join("\n")),
        forwarded: trim_blank_lines(&forwarded.join("\n")),
        embedded: trim_blank_lines(&embedded.join("\n")),
        quoted,
        inline,
    }
}

/// Quoted lines of our own notification, left out of what an agent
/// answers: its marker and the internal lines under it (who wrote, queue,
/// priority, due time) up to the first blank line, and everything from its
/// `-- ` on (command help, addresses). The customer's words quoted in it
/// stay, so an agent can answer between them.
#[derive(Default)]
struct Chrome {
    in_header: bool,
    seen_marker: bool,
    after_signature: bool,
}

impl Chrome {
    fn filter(&mut self, lines: &[&str]) -> Vec<String> {
        let mut kept = Vec::new();
        // A signature inside one quoted mail ends at the quote's end; ours
        // ends our notification, whatever follows.
        if !self.seen_marker {
            self.after_signature = false;
        }
        for line in lines {
            let inner = unquote(line);
            let t = inner.trim();
            if t.contains(REPLY_ABOVE) {
                self.seen_marker = true;
                self.in_header = true;
                self.after_signature = false;
                continue;
            }
            if self.in_header {
                if t.is_empty() {
                    self.in_header = false;
                }
                continue;
            }
            if self.after_signature {
                continue;
            }
            if t == "--" || inner.trim_start() == "-- " {
                self.after_signature = true;
                continue;
            }
            kept.push(line.trim_end().to_owned());
        }
        // ">", "> >": an empty quoted line (">>>>>>>>" is someone's text).
        let blank = |l: &String| {
            l.chars().all(|c| c == '>' || c.is_whitespace()) && l.matches('>').count() <= 3
        };
        // Nothing but empty quote lines is nothing to follow.
        if kept.iter().all(blank) {
            kept.clear();
        }
        while kept.last().is_some_and(blank) {
            kept.pop();
        }
        while kept.first().is_some_and(blank) {
            kept.remove(0);
        }
        kept
    }
}

/// Whether a block is a quote of more than empty lines.
fn quote_has_text(b: &Block) -> bool {
    matches!(b.kind, Kind::Quote { .. }) && b.lines.iter().any(|l| !unquote(l).trim().is_empty())
}

fn push_own<'a>(blocks: &mut Vec<Block<'a>>, line: &'a str) {
    match blocks.last_mut() {
        Some(b) if b.kind == Kind::Own => b.lines.push(line),
        _ => blocks.push(Block {
            kind: Kind::Own,
            lines: vec![line],
        }),
    }
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn next_is_quoted(lines: &[&str], from: usize) -> bool {
    lines[from..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_quoted(l))
}

/// A quoted line without its `>` marks (all levels).
fn unquote(line: &str) -> &str {
    let mut s = line.trim_start();
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.strip_prefix(' ').unwrap_or(rest);
        if !s.trim_start().starts_with('>') {
            break;
        }
        s = s.trim_start();
    }
    s
}

fn loose_attribution(t: &str) -> bool {
    t.ends_with(':') && t.contains('@') && TIME.is_match(t) && t.chars().count() <= 300
}

/// How many lines (1–3) a quote header at `i` spans, if one ends there.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    for len in 1..=3 {
        // A header that starts on a later line is that line's, not a
        // wrapped one that takes the author's last line with it.
        let opens = |j: usize| {
            lines
                .get(j)
                .is_some_and(|l| ATTRIBUTION_OPENER.is_match(l) || DATED.is_match(l))
        };
        let later = (i + 1..i + len).any(|j| opens(j) && attribution_at_one(lines, j, i + len - j));
        if len > 1 && later {
            return None;
        }
        if attribution_at_one(lines, i, len) {
            return Some(len);
        }
    }
    None
}

/// Whether lines `i..i + len` are a quote header.
fn attribution_at_one(lines: &[&str], i: usize, len: usize) -> bool {
    let Some(window) = lines.get(i..i + len) else {
        return false;
    };
    if window.iter().any(|l| l.trim().is_empty() || is_quoted(l)) {
        return false;
    }
    let joined = window
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.chars().count() > 400 {
        return false;
    }
    // A sentence that ends on the first line is the author's, not the
    // start of a wrapped header.
    if len > 1 && ends_sentence(window[0]) {
        return false;
    }
    let stamped_verb = joined.ends_with(':') && contains_wrote(&joined) && STAMP.is_match(&joined);
    if len > 1 && !stamped_verb && !ATTRIBUTION_OPENER.is_match(&joined) && !DATED.is_match(&joined)
    {
        return false;
    }
    let dated = joined.ends_with(':') && DATED.is_match(&joined) && joined.contains('@');
    if stamped_verb
        || dated
        || ends_with_wrote(&joined)
        || gmail_hebrew(&joined)
        || ZOHO.is_match(&joined)
    {
        return true;
    }
    false
}

/// "… wrote:" in any of our languages; the colon ends the line.
fn ends_with_wrote(line: &str) -> bool {
    let Some(body) = line.trim_end().strip_suffix(':') else {
        return false;
    };
    let body = body.trim_end().to_lowercase();
    WROTE.iter().any(|w| {
        body.ends_with(w)
            && body[..body.len() - w.len()]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric())
    }) || body.ends_with('>') && body.contains(" wrote ")
}

/// Whether a line ends a sentence: a word of four letters or more, then
/// `.`, `!` or `?` ("Fr., 28." in a German header does not).
fn ends_sentence(line: &str) -> bool {
    let t = line.trim_end();
    let Some(body) = t.strip_suffix(['.', '!', '?']) else {
        return false;
    };
    let word: String = body
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .collect();
    word.chars().count() >= 4
}

/// A quote verb as a word anywhere in the line ("schrieb am Fr., …:").
fn contains_wrote(line: &str) -> bool {
    let lower = line.to_lowercase();
    WROTE.iter().any(|w| {
        lower.match_indices(w).any(|(at, _)| {
            let before = lower[..at].chars().last();
            let after = lower[at + w.len()..].chars().next();
            before.is_none_or(|c| !c.is_alphanumeric())
                && after.is_none_or(|c| !c.is_alphanumeric())
        })
    })
}

/// Gmail in Hebrew: "בתאריך יום ד׳, 2 בדצמ׳ 2026 ב-1:05 מאת Ruth <r@x>:".
fn gmail_hebrew(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("בתאריך") && t.contains("מאת") && t.ends_with(':')
}

/// The name of a `Name: value` line (Outlook bolds it: `*From:*`).
fn field_name(line: &str) -> Option<String> {
    let t = line.trim().trim_start_matches('*');
    let (name, _) = t.split_once(':')?;
    let name = name.trim().trim_end_matches('*').trim();
    if name.is_empty() || name.chars().count() > 20 {
        return None;
    }
    Some(name.to_lowercase())
}

/// An Outlook-style header block at `i`: three or more header fields in
/// a row (a value wrapped onto the next line allowed), one of them From.
/// Outlook starts with From, Hotmail with Date.
fn header_block_at(lines: &[&str], i: usize) -> bool {
    let known = |n: &str| FROM_FIELDS.contains(&n) || OTHER_FIELDS.contains(&n);
    if !field_name(lines[i]).is_some_and(|n| known(&n)) {
        return false;
    }
    let (mut fields, mut from, mut gap) = (0, false, 0);
    for line in lines[i..].iter().take(10) {
        match field_name(line) {
            Some(n) if known(&n) => {
                fields += 1;
                from |= FROM_FIELDS.contains(&n.as_str());
                gap = 0;
            }
            _ if line.trim().is_empty() => break,
            _ => {
                gap += 1;
                if gap > 1 {
                    break;
                }
            }
        }
    }
    fields >= 3 && from
}

/// Outlook's rule ("____…" or "-----…") right above a header block.
fn separator_before_header(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    if !(t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-')) {
        return false;
    }
    let next = (i + 1..lines.len()).find(|&j| !lines[j].trim().is_empty());
    next.is_some_and(|j| header_block_at(lines, j))
}

/// A line that starts a signature: `-- `, a delimiter rule, a device footer.
fn starts_signature(t: &str) -> bool {
    t == "--" || t == "-- " || is_delimiter(t) || DEVICE.is_match(t)
}

/// A line of one repeated punctuation mark ("___", "***", "====="), or a
/// lone mark some clients leave under a signature.
fn is_delimiter(t: &str) -> bool {
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    // Gmail's tracker dot (U+1427) under some signatures.
    if t == "\u{1427}" {
        return true;
    }
    if first.is_alphanumeric() || first.is_whitespace() {
        return false;
    }
    let count = t.chars().count();
    (count >= 2 && t.chars().all(|c| c == first) && first != '.' && first != '>')
        || (count == 1 && !first.is_ascii())
}

/// Who wrote a forwarded (or embedded) mail, and what: read from the
/// header fields a client writes above it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub name: Option<String>,
    pub address: String,
    pub subject: Option<String>,
    pub body: String,
}

/// The author, subject and text of a forward block (`forwarded` or
/// `embedded`); `None` when it names no author address.
pub fn origin(block: &str) -> Option<Origin> {
    let lines: Vec<&str> = block.lines().collect();
    let mut i = 0;
    // The marker or separator line(s) above the fields.
    while i < lines.len() && field_name(lines[i]).is_none() {
        i += 1;
        if i > 3 {
            return None;
        }
    }
    let mut origin = Origin::default();
    while i < lines.len() && !lines[i].trim().is_empty() {
        let line = lines[i].trim().trim_start_matches('*');
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().trim_end_matches('*').trim().to_lowercase();
            let value = value.trim().trim_start_matches('*').trim();
            if FROM_FIELDS.contains(&name.as_str()) && origin.address.is_empty() {
                let (n, a) = name_and_address(value)?;
                origin.name = n;
                origin.address = a;
            } else if SUBJECT_FIELDS.contains(&name.as_str()) {
                origin.subject = Some(value.to_owned());
            }
        }
        i += 1;
    }
    if origin.address.is_empty() {
        return None;
    }
    origin.body = trim_blank_lines(&lines[i.min(lines.len())..].join("\n"));
    Some(origin)
}

/// "Ruth Cohen <ruth@x.example>", "ruth@x.example", Outlook's
/// "Ruth Cohen [mailto:ruth@x.example]".
fn name_and_address(value: &str) -> Option<(Option<String>, String)> {
    if let Some(start) = value.find(['<', '[']) {
        let inner = &value[start + 1..];
        let end = inner.find(['>', ']']).unwrap_or(inner.len());
        let address = inner[..end]
            .trim()
            .trim_start_matches("mailto:")
            .to_lowercase();
        let name = value[..start].trim().trim_matches('"').trim();
        let name = (!name.is_empty()).then(|| name.to_owned());
        if address.contains('@') && !address.contains(char::is_whitespace) {
            return Some((name, address));
        }
    }
    let bare = value.trim().to_lowercase();
    (bare.contains('@') && !bare.contains(char::is_whitespace)).then_some((None, bare))
}

/// The text of a forward under its marker and header fields.
fn forwarded_body(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 1;
    // Header fields, a field's value wrapped onto a second line included,
    // up to the first blank line.
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    trim_blank_lines(&lines[i.min(lines.len())..].join("\n"))
}

fn trim_blank_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.iter().position(|l| !l.trim().is_empty());
    let end = lines.iter().rposition(|l| !l.trim().is_empty());
    match (start, end) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
