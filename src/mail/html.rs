//! HTML mail → text that keeps what the reader of a reply needs: one line
//! per block (Outlook on the web writes one `<div>` per line; run together,
//! `#pending` and the next line's "hi" would become `#pendinghi`), and
//! quoted mail marked with `>` per `<blockquote>` level (and the quote
//! containers of Yahoo), so [`crate::mail::written`] reads HTML replies the way it
//! reads plain ones.
//!
//! A small tokenizer, not a browser: mail HTML is tag soup, and all that
//! matters here is text, line breaks and quote depth. Never panics; any
//! byte sequence gives some text.

/// Elements whose start and end break the line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "hr",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "dd",
    "dt",
    "dl",
    "address",
    "form",
    "fieldset",
    "tbody",
    "thead",
    "tfoot",
];

/// Elements whose content is never text.
const HIDDEN: &[&str] = &["head", "style", "script", "title", "xml", "template"];

/// The text of an HTML document, quotes marked with `>`.
pub fn to_text(html: &str) -> String {
    convert(html, false)
}

/// Like [`to_text`], with each `<img src="cid:…">` left as a mark where it
/// stands, to tell which images are in which part of the text.
pub fn to_text_marking_images(html: &str) -> String {
    convert(html, true)
}

const MARK_OPEN: char = '\u{E000}';
const MARK_CLOSE: char = '\u{E001}';

/// The Content-IDs marked in `text` by [`to_text_marking_images`].
pub fn image_marks(text: &str) -> Vec<String> {
    text.split(MARK_OPEN)
        .skip(1)
        .filter_map(|rest| rest.split_once(MARK_CLOSE).map(|(cid, _)| cid.to_owned()))
        .collect()
}

/// The mark [`to_text_marking_images`] leaves for image `cid`.
pub fn image_mark(cid: &str) -> String {
    format!("{MARK_OPEN}{cid}{MARK_CLOSE}")
}

/// A stretch of marked text: words, or an image by its Content-ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Image(&'a str),
}

/// `text` (marked by [`to_text_marking_images`]) cut at its image marks.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK_OPEN) {
        if at > 0 {
            out.push(Piece::Text(&rest[..at]));
        }
        let after = &rest[at + MARK_OPEN.len_utf8()..];
        match after.split_once(MARK_CLOSE) {
            Some((cid, tail)) => {
                out.push(Piece::Image(cid));
                rest = tail;
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// `text` with each image mark replaced by what `say` makes of its
/// Content-ID (`[image: photo.png]`, or nothing).
pub fn replace_marks(text: &str, say: impl Fn(&str) -> String) -> String {
    pieces(text)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t.to_owned(),
            Piece::Image(cid) => say(cid),
        })
        .collect()
}

/// The `cid:` an `<img>` tag shows, if any.
fn image_cid(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find("src=")?;
    let value = tag[at + 4..].trim_start_matches(['"', '\'']);
    let cid = value
        .strip_prefix("cid:")
        .or_else(|| value.strip_prefix("CID:"))?;
    let end = cid.find(['"', '\'', ' ', '>']).unwrap_or(cid.len());
    Some(cid[..end].to_owned())
}

/// Containers clients put a signature in: Gmail's `gmail_signature`,
/// Outlook on the web's `Signature`, Thunderbird's `moz-signature`, Apple
/// Mail's `AppleMailSignature`.
fn is_signature_container(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    lower.contains("signature") && (lower.contains("class=") || lower.contains("id="))
}

fn convert(html: &str, mark_images: bool) -> String {
    let mut out = Out::default();
    let mut hidden: Option<String> = None;
    // The depth at which each open quote container started, so its end
    // tag can be recognised among the `div`s inside it.
    let mut quote_divs: Vec<usize> = Vec::new();
    let mut div_depth = 0usize;
    let mut pre = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if hidden.is_none() {
                out.text(&decode(rest), pre > 0);
            }
            break;
        };
        if lt > 0 && hidden.is_none() {
            out.text(&decode(&rest[..lt]), pre > 0);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            // A `<` that opens no tag is text.
            if hidden.is_none() {
                out.text("<", pre > 0);
            }
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        if let Some(h) = &hidden {
            if closing && name == *h {
                hidden = None;
            }
            continue;
        }
        if HIDDEN.contains(&name.as_str()) && !closing && !body.trim_end().ends_with('/') {
            hidden = Some(name);
            continue;
        }
        match (name.as_str(), closing) {
            ("blockquote", false) => {
                out.newline();
                out.depth += 1;
            }
            ("blockquote", true) => {
                out.newline();
                out.depth = out.depth.saturating_sub(1);
            }
            ("img", false) if mark_images => {
                if let Some(cid) = image_cid(body) {
                    out.text(&format!(" {MARK_OPEN}{cid}{MARK_CLOSE} "), false);
                }
            }
            ("div", false) => {
                out.newline();
                div_depth += 1;
                // The signature is read as one, as after a `-- ` line.
                if is_signature_container(body) {
                    out.text("-- ", true);
                    out.newline_always();
                }
                if is_quote_container(body) {
                    quote_divs.push(div_depth);
                    out.depth += 1;
                }
            }
            ("div", true) => {
                out.newline();
                if quote_divs.last() == Some(&div_depth) {
                    quote_divs.pop();
                    out.depth = out.depth.saturating_sub(1);
                }
                div_depth = div_depth.saturating_sub(1);
            }
            ("pre", c) => {
                out.newline();
                pre = if c { pre.saturating_sub(1) } else { pre + 1 };
            }
            ("p", _) => out.newline(),
            ("hr", _) => {
                out.newline();
                out.text("________________________________", true);
                out.newline();
            }
            ("td" | "th", true) => out.text(" ", false),
            ("br", _) => out.br(),
            (n, _) if BLOCKS.contains(&n) => out.newline(),
            _ => {}
        }
    }
    out.finish()
}

/// Where a tag that starts at `s[0] == '<'` ends (its `>`), quotes in
/// attribute values respected; `None` when `<` opens no tag.
fn tag_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    match bytes.get(1) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'/' || *b == b'!' || *b == b'?' => {}
        _ => return None,
    }
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Quote containers that are `div`s: Yahoo's `yahoo_quoted`, and the
/// `gmail_quote` Gmail wraps around a forward (its replies use a
/// blockquote inside it, which is counted instead).
fn is_quote_container(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    lower.contains("yahoo_quoted") || lower.contains("type=\"cite\"")
}

#[derive(Default)]
struct Out {
    lines: Vec<(usize, String)>,
    line: String,
    depth: usize,
    /// The depth the current line was started at.
    line_depth: usize,
}

impl Out {
    fn text(&mut self, t: &str, verbatim: bool) {
        if verbatim {
            for (k, piece) in t.split('\n').enumerate() {
                if k > 0 {
                    self.newline_always();
                }
                self.append(piece);
            }
            return;
        }
        for (k, word) in t
            .split(|c: char| c.is_whitespace() && c != '\u{00A0}')
            .enumerate()
        {
            if k > 0 && !self.line.is_empty() && !self.line.ends_with(' ') {
                self.line.push(' ');
            }
            if !word.is_empty() {
                self.append(word);
            }
        }
    }

    fn append(&mut self, s: &str) {
        if self.line.is_empty() {
            self.line_depth = self.depth;
        }
        self.line.push_str(s);
    }

    /// Ends the current line, if it has text. A line of only
    /// non-breaking spaces is how Outlook writes an empty line: kept, empty.
    fn newline(&mut self) {
        if !self.line.trim().is_empty() {
            self.newline_always();
        } else if self.line.contains('\u{00A0}') {
            self.line.clear();
            self.newline_always();
        } else {
            self.line.clear();
        }
    }

    /// A `<br>`: ends the line, and on an empty line makes an empty line.
    fn br(&mut self) {
        if self.line.trim().is_empty() {
            self.line.clear();
        }
        self.newline_always();
    }

    fn newline_always(&mut self) {
        let line = std::mem::take(&mut self.line);
        let depth = if line.is_empty() {
            self.depth
        } else {
            self.line_depth
        };
        self.lines
            .push((depth, line.trim_end().replace('\u{00A0}', " ")));
    }

    fn finish(mut self) -> String {
        self.newline();
        let mut text = String::new();
        let mut blank_run = 0;
        for (depth, line) in &self.lines {
            let line = line.trim_start();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            for _ in 0..*depth {
                text.push('>');
            }
            if *depth > 0 && !line.is_empty() {
                text.push(' ');
            }
            text.push_str(line);
            text.push('\n');
        }
        text.trim_matches('\n').to_owned()
    }
}

/// Character references: the named ones mail uses, and numeric ones.
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i + 1);
        let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e + 1)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "nbsp" => '\u{00A0}',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "copy" => '©',
        "reg" => '®',
        "euro" => '€',
        "shy" => '\u{00AD}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "lrm" => '\u{200E}',
        "rlm" => '\u{200F}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_div_per_line_stays_one_line_each() {
        let html =
            "<div>#pending</div><div>hi Ruth,</div><div><br></div><div>the part ships today.</div>";
        assert_eq!(to_text(html), "#pending\nhi Ruth,\n\nthe part ships today.");
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div dir=\"ltr\">Fixed.</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Wed, Dec 2, 2026 at 1:05 AM Support &lt;s@x.example&gt; wrote:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0\"><div>Hello<br>there</div><blockquote>older</blockquote></blockquote></div>";
        assert_eq!(
            to_text(html),
            "Fixed.\n\nOn Wed, Dec 2, 2026 at 1:05 AM Support <s@x.example> wrote:\n> Hello\n> there\n>> older"
        );
    }

    #[test]
    fn styles_comments_and_entities() {
        let html = "<html><head><style>p {color:red}</style></head><body><!-- x --><p>a&nbsp;&amp;&#x5D0;&#64;</p><p>b &unknown; c</p></body></html>";
        assert_eq!(to_text(html), "a &א@\nb &unknown; c");
    }

    #[test]
    fn images_of_the_text_and_of_the_signature_are_told_apart() {
        let html = "<div>See the screenshot:</div><div><img src=\"cid:ii_shot\" alt=\"x\"></div><div>Thanks</div><div class=\"gmail_signature\"><div>Ola</div><img src=\"cid:logo@01\"></div><div class=\"gmail_quote\">On Wed, Dec 2, 2026 at 1:05 AM S &lt;s@x.example&gt; wrote:<blockquote><img src=\"cid:old\"></blockquote></div>";
        let text = to_text_marking_images(html);
        let own = crate::mail::written::read(&text).own;
        assert_eq!(image_marks(&own), ["ii_shot"]);
        assert_eq!(image_marks(&text), ["ii_shot", "logo@01", "old"]);
        assert!(!to_text(html).contains('\u{E000}'));
    }

    #[test]
    fn tag_soup_never_panics() {
        for s in [
            "<",
            "<<div",
            "<div class=\"x>",
            "&#xFFFFFFFF;",
            "<blockquote></blockquote></blockquote>",
            "a<b",
            "&",
        ] {
            let _ = to_text(s);
        }
    }
}
