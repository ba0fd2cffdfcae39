//! Making text that came from the data safe for each place an alert puts it.
//!
//! Anything a record carries (a page URL, a user id, a metric name) ends up in an e-mail, an SMS
//! and a subject line. Control characters could forge lines or break the JSON the SMS gateway
//! parses, a long value could push the message past SNS's 256 KB, and one non-GSM character
//! turns an SMS into UCS-2, which holds 70 characters instead of 160. Invisible format
//! characters (Unicode category Cf: soft hyphens, bidirectional marks, zero-width joiners, ...)
//! are removed everywhere, since they can make a line read differently from what it holds.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Characters that are printable ASCII but not in GSM 03.38's basic set (or cost two places,
/// via the escape table), so an SMS containing them is longer or re-encoded.
const NOT_GSM_BASIC: &[char] = &['{', '}', '[', ']', '\\', '^', '~', '|', '`'];

/// Unicode category Cf, plus U+200B (zero width space, category Zs-like in use but invisible).
fn is_invisible_format(c: char) -> bool {
    c == '\u{200B}' || c.general_category() == GeneralCategory::Format
}

/// A number as an alert shows it: at most three decimals, and scientific notation outside
/// 0.001-999,999, so a value of 309 digits takes ten characters.
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs();
    if magnitude != 0.0 && !(0.001..1_000_000.0).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let fixed = format!("{x:.3}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".into()
    } else {
        trimmed.to_owned()
    }
}

/// Text for the e-mail and default messages: Unicode kept, control and invisible formatting
/// characters removed (a line break or tab becomes a space), cut to `max` characters with `…`.
pub(crate) fn unicode_text(s: &str, max: usize) -> String {
    let cleaned = s
        .chars()
        .filter(|c| !is_invisible_format(*c))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control());
    truncate(cleaned, max, "…")
}

/// Printable ASCII only (other characters become `?`, control characters are removed), cut to
/// `max` characters with `...`: what an SNS `Subject` accepts.
pub(crate) fn ascii_text(s: &str, max: usize) -> String {
    let cleaned = s
        .chars()
        .filter(|c| !is_invisible_format(*c))
        .filter_map(|c| match c {
            ' '..='~' => Some(c),
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            _ => Some('?'),
        });
    truncate(cleaned, max, "...")
}

/// Printable ASCII within GSM-7's basic set (others become `?` or `(`/`)` for brackets), cut
/// to `max` characters with `...`: one SMS segment, whatever the data held.
pub(crate) fn gsm_text(s: &str, max: usize) -> String {
    let ascii = ascii_text(s, usize::MAX);
    let cleaned = ascii.chars().map(|c| match c {
        '{' | '[' => '(',
        '}' | ']' => ')',
        c if NOT_GSM_BASIC.contains(&c) => '?',
        c => c,
    });
    truncate(cleaned, max, "...")
}

/// True if `s` fits one GSM-7 SMS segment as this module writes them: at most `max` characters,
/// all printable ASCII in the basic set.
#[cfg(test)]
pub(crate) fn is_gsm_basic(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, ' '..='~') && !NOT_GSM_BASIC.contains(&c))
}

/// Cuts `chars` to at most `max` characters, ending with `ellipsis` when something was cut.
fn truncate(chars: impl Iterator<Item = char>, max: usize, ellipsis: &str) -> String {
    let keep = max.saturating_sub(ellipsis.chars().count());
    let mut out = String::new();
    let mut cut_at = None;
    for (count, c) in chars.enumerate() {
        if count == keep {
            cut_at = Some(out.len());
        }
        if count == max {
            if let Some(at) = cut_at {
                out.truncate(at);
            }
            let mut trimmed = out.trim_end().to_owned();
            trimmed.push_str(ellipsis);
            return trimmed;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_text_keeps_letters_and_drops_controls() {
        let cases = [
            ("/página-3", 50, "/página-3"),
            ("a\r\nb\tc\u{0}d\u{7f}e", 50, "a  b cde"),
            ("evil\u{202E}txt.exe\u{200B}", 50, "eviltxt.exe"),
            ("0123456789", 10, "0123456789"),
            ("0123456789A", 10, "012345678…"),
            ("ééééééééééé", 5, "éééé…"),
        ];
        for (input, max, want) in cases {
            assert_eq!(unicode_text(input, max), want, "{input:?}");
            assert!(unicode_text(input, max).chars().count() <= max);
        }
    }

    #[test]
    fn every_invisible_format_character_is_removed_everywhere() {
        for c in [
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{2060}',
            '\u{FFF9}',
            '\u{200D}',
            '\u{E0001}',
        ] {
            let s = format!("a{c}b");
            assert_eq!(unicode_text(&s, 50), "ab", "{:?}", c);
            assert_eq!(ascii_text(&s, 50), "ab", "{:?}", c);
            assert_eq!(gsm_text(&s, 50), "ab", "{:?}", c);
        }
    }

    #[test]
    fn numbers_are_shown_rounded() {
        let huge: f64 = format!("1{}", "0".repeat(308)).parse().unwrap();
        let cases = [
            (42.5, "42.5"),
            (10.0, "10"),
            (1.23456, "1.235"),
            (-0.0001, "-1.000e-4"),
            (0.0, "0"),
            (-0.0, "0"),
            (999_999.0, "999999"),
            (1_000_000.0, "1.000e6"),
            (huge, "1.000e308"),
        ];
        for (x, want) in cases {
            assert_eq!(number(x), want, "{x}");
        }
    }

    #[test]
    fn ascii_text_is_printable_ascii_within_the_limit() {
        let long = "x".repeat(120);
        let long_cut = format!("{}...", "x".repeat(97));
        let cases = [
            ("Anomaly on /página", 100, "Anomaly on /p?gina"),
            ("line\nbreak", 100, "line break"),
            (long.as_str(), 100, long_cut.as_str()),
            ("\u{0}\u{1b}[31mred", 100, "[31mred"),
        ];
        for (input, max, want) in cases {
            let got = ascii_text(input, max);
            assert_eq!(got, want, "{input:?}");
            assert!(got.chars().all(|c| (' '..='~').contains(&c)));
        }
    }

    #[test]
    fn gsm_text_fits_one_segment_from_the_basic_set() {
        let hostile = "{\"json\":[1]} \\ ^ ~ | ` € 😀 \u{0}\n über";
        let got = gsm_text(hostile, 140);
        assert!(is_gsm_basic(&got), "{got}");
        assert_eq!(got, "(\"json\":(1)) ? ? ? ? ? ? ?   ?ber");
        let long = gsm_text(&"word ".repeat(100), 140);
        assert!(
            long.chars().count() <= 140 && long.ends_with("..."),
            "{long}"
        );
        assert!(!is_gsm_basic("a{b"));
        assert!(!is_gsm_basic("é"));
        assert!(is_gsm_basic("ClickStream HIGH: 5 anomalies @ 10:00 (50%)"));
    }
}
