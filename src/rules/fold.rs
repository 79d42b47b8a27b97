//! Text folding for matching: case and diacritics do not matter, so
//! `zwrot` matches `ZWRÓT`, `café` matches `CAFE`, and Hebrew matches with
//! or without niqqud and cantillation marks.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Lower-cases, decomposes (NFD), drops combining marks (accents, Hebrew
/// points), and maps the letters that have no decomposition (ł, ø, ß …).
/// ASCII, most of any mail, takes a fast path.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
        return out;
    }
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if !is_combining_mark(c) && !push_special(c, &mut out) {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            });
        }
    }
    out
}

/// Letters without a decomposition, and Hebrew final forms.
fn push_special(c: char, out: &mut String) -> bool {
    let s = match c {
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ø' | 'Ø' => "o",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ı' => "i",
        'ך' => "כ",
        'ם' => "מ",
        'ן' => "נ",
        'ף' => "פ",
        'ץ' => "צ",
        _ => return false,
    };
    out.push_str(s);
    true
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
