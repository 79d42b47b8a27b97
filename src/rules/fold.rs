//! Text folding for matching: case and diacritics do not matter, so
//! `zwrot` matches `ZWRÓT`, `café` matches `CAFE`, and Hebrew matches with
//! or without niqqud and cantillation marks.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower-cases, decomposes (NFD), drops combining marks (accents, Hebrew
/// points), and maps the letters that have no decomposition (ł, ø, ß …).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    if s.is_ascii() {
        out.push_str(&s.to_ascii_lowercase());
        return out;
    }
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ø' | 'Ø' => out.push('o'),
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ı' => out.push('i'),
            // Hebrew final letters match their regular forms.
            'ך' => out.push('כ'),
            'ם' => out.push('מ'),
            'ן' => out.push('נ'),
            'ף' => out.push('פ'),
            'ץ' => out.push('צ'),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_case_and_diacritics() {
        assert_eq!(fold("ZWROT"), "zwrot");
        assert_eq!(fold("Zwrót pieniędzy"), "zwrot pieniedzy");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("CAFÉ"), "cafe");
    }

    #[test]
    fn hebrew_with_and_without_niqqud() {
        // "shalom" with niqqud (holam, qamats) and without.
        assert_eq!(fold("שָׁלוֹם"), fold("שלום"));
        assert_eq!(fold("דָּחוּף"), "דחופ");
        assert_eq!(fold("דחוף"), "דחופ");
    }
}
