//! Folder names as IMAP wants them: modified UTF-7 (RFC 3501 §5.1.3).
//!
//! An IMAP server takes mailbox names in 7-bit ASCII; "Wsparcie/Zgłoszenia"
//! sent as raw UTF-8 is refused, and was retried forever. Printable ASCII
//! stays as it is (`&` becomes `&-`); every run of other characters becomes
//! `&`, the base64 of its UTF-16BE code units with `,` for `/` and no
//! padding, and `-`. Small and exactly specified, so written here.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// `name` in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Writes a run of UTF-16 code units as `&…-`.
fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn rfc_3501_examples_and_our_languages() {
        // RFC 3501 §5.1.3.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("&"), "&-");
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Wsparcie/Zgłoszenia"), "Wsparcie/Zg&AUI-oszenia");
        assert_eq!(encode("Zażółć"), "Za&AXwA8wFCAQc-");
        assert_eq!(encode("תמיכה"), "&BeoF3gXZBdsF1A-");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        // Outside the BMP: a surrogate pair.
        assert_eq!(encode("📁"), "&2D3cwQ-");
    }
}
