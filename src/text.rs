//! Text taken from mail, made safe to show and to put back into a header.
//!
//! Names, subjects and file names come from strangers. A display name may
//! carry an encoded CR LF (`=?utf-8?Q?Eve=0D=0ABcc:?=`), a NUL, an escape
//! sequence or a hundred thousand characters; put into an outgoing header
//! as it is, that is a header injection, a panic in the mail builder, or a
//! line far over RFC 5322's 998 characters. [`one_line`] is the single
//! place such text is cleaned: control characters become spaces, runs of
//! white space one space, and the length is capped (with an ellipsis, so a
//! reader sees that something was cut).

/// Names (display names, an agent's name): longer is never a real name.
pub const MAX_NAME_CHARS: usize = 200;
/// File names of attachments passed on.
pub const MAX_FILE_NAME_CHARS: usize = 200;

/// `s` on one line: control characters (C0, DEL, C1, and the Unicode line
/// and paragraph separators) replaced by spaces, white space collapsed,
/// trimmed, and at most `max_chars` characters (the last one `…` when cut).
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut chars = 0usize;
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || is_breaking_control(c) {
            pending_space = chars > 0;
            continue;
        }
        let needed = usize::from(pending_space) + 1;
        if chars + needed > max_chars {
            if max_chars > 0 {
                // Room for the ellipsis: drop what does not fit.
                while chars >= max_chars {
                    match out.pop() {
                        Some(_) => chars -= 1,
                        None => break,
                    }
                }
                out.truncate(out.trim_end().len());
                out.push('…');
            }
            return out;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// Characters that must never reach a header: every control character
/// (`\0`, `\r`, `\n`, ESC, DEL, C1 …), and the Unicode line and paragraph
/// separators some clients treat as line breaks.
fn is_breaking_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Whether `s` could be written into a header as it is (no control
/// character at all). Message-IDs from mail must pass this before they are
/// repeated in In-Reply-To or References.
pub fn is_header_safe(s: &str) -> bool {
    !s.chars().any(is_breaking_control)
}

/// The closest of `candidates` to a mistyped `word`, when close enough to
/// be what was meant.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_single_spaces() {
        assert_eq!(one_line("Eve\r\nBcc: x@y", 100), "Eve Bcc: x@y");
        assert_eq!(one_line("Eve\0Adams", 100), "Eve Adams");
        assert_eq!(one_line("\u{1b}[31mred\u{7f}", 100), "[31mred");
        assert_eq!(one_line("a\u{85}b\u{2028}c\u{2029}d", 100), "a b c d");
        assert_eq!(one_line("  \t lots   of\t\tspace  ", 100), "lots of space");
        assert_eq!(one_line("\r\n\0", 100), "");
    }

    #[test]
    fn right_to_left_text_and_marks_are_kept() {
        // Direction marks are not line breaks: Hebrew names keep them.
        let name = "\u{200f}דנה כהן\u{200e}";
        assert_eq!(one_line(name, 100), name);
        assert_eq!(one_line("Zażółć gęślą jaźń", 100), "Zażółć gęślą jaźń");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_limit() {
        let long = "x".repeat(100_000);
        let cut = one_line(&long, 200);
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.ends_with('…'));
        let words = "ab ".repeat(1_000);
        let cut = one_line(&words, 10);
        assert!(cut.chars().count() <= 10, "{cut:?}");
        assert_eq!(cut, "ab ab ab…");
        let hebrew = "שלום ".repeat(1_000);
        assert!(one_line(&hebrew, 50).chars().count() <= 50);
        assert_eq!(one_line("exactly", 7), "exactly");
        assert_eq!(one_line("exactly!", 7), "exactl…");
        assert_eq!(one_line("abc", 0), "");
    }

    #[test]
    fn header_safety_is_about_control_characters() {
        assert!(is_header_safe("abc@example.com"));
        assert!(!is_header_safe("abc\r\n@example.com"));
        assert!(!is_header_safe("a\0b"));
    }
}
