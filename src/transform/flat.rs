//! The quick reading of the one shape nearly every click has: a flat JSON object whose keys and
//! strings hold no escapes and whose values are strings, numbers, `true`/`false`/`null` or
//! lists of those (the lab's producer writes exactly this).
//!
//! serde_json reads such a field through its deserializer, a visitor and a `RawValue` for some
//! 400 instructions a field, a quarter of a batch's work; this reads it for some 280, scan and
//! grammar included (the batch's instructions fell by 9 %). Another crate would bring another
//! JSON parser (sonic-rs, simd-json, which also needs a mutable copy and a tape), whose
//! acceptance would then have to match serde_json's on every hostile input; this subset does
//! by construction, being small and plainly valid JSON. Anything outside it (an escape, a
//! control character, a nested object, a malformed token) makes [`read`] give up, and the
//! caller hands the whole text to serde_json, which then decides alone: the quick path never
//! accepts what serde_json would refuse, and reads what it accepts into the same pairs.

/// Reads `text` as a flat object in the simple form, calling `each(key, raw value text)` for
/// every field in order; `None` when the text is not in that form (it may still be valid JSON),
/// in which case some fields may already have been passed to `each`.
pub(crate) fn read<'a>(text: &'a str, mut each: impl FnMut(&'a str, &'a str)) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_space(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_space(b, i + 1) == b.len()).then_some(());
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let close = string_close(b, i + 1)?;
        // Every index here sits next to an ASCII delimiter, so on a char boundary; `get`
        // rather than indexing all the same, so a mistake is a fallback, not a panic.
        let key = text.get(i + 1..close)?;
        i = skip_space(b, close + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_space(b, i + 1);
        let end = value_end(b, start)?;
        each(key, text.get(start..end)?);
        i = skip_space(b, end);
        match b.get(i) {
            Some(b',') => i = skip_space(b, i + 1),
            Some(b'}') => return (skip_space(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// JSON's four whitespace characters, and only those.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The index of the quote closing a string whose text starts at `i`; `None` at an escape or a
/// control character (which JSON forbids raw), so those go to serde_json.
///
/// Eight bytes at a time, as serde_json's own string scan does; byte by byte, this scan was
/// most of the reading.
fn string_close(b: &[u8], mut i: usize) -> Option<usize> {
    use crate::swar;
    while let Some(w) = swar::word(b, i) {
        let found = swar::equal(w, b'"') | swar::equal(w, b'\\') | swar::below(w, 0x20);
        if found != 0 {
            let at = i + swar::first(found);
            return (b.get(at) == Some(&b'"')).then_some(at);
        }
        i += 8;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// The end of a scalar or of a list of scalars starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return scalar_end(b, i);
    }
    let mut i = skip_space(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        i = skip_space(b, scalar_end(b, i)?);
        match b.get(i)? {
            b',' => i = skip_space(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
}

fn scalar_end(b: &[u8], i: usize) -> Option<usize> {
    let literal = |word: &[u8]| (b.get(i..i + word.len()) == Some(word)).then_some(i + word.len());
    match *b.get(i)? {
        b'"' => Some(string_close(b, i + 1)? + 1),
        b't' => literal(b"true"),
        b'f' => literal(b"false"),
        b'n' => literal(b"null"),
        b'-' | b'0'..=b'9' => number_end(b, i),
        _ => None,
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. A token
/// that runs on (`01`, `1x`) ends here and fails at the delimiter check that follows.
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match *b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i + 1),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        i = digits(i);
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Option<Vec<(String, String)>> {
        let mut got = Vec::new();
        read(text, |k, v| got.push((k.to_owned(), v.to_owned())))?;
        Some(got)
    }

    #[test]
    fn the_producers_record_is_read_field_by_field() {
        let text = r#"{"timestamp": "2026-11-27T10:00:00.192496", "user_id": 189, "page_url": "/pagina-7", "event_type": "click", "element_id": "boton-39", "x_coordinate": 1226, "y_coordinate": -1.5e3, "anomaly_detected": [false]}"#;
        let got = pairs(text).unwrap();
        let want = [
            ("timestamp", "\"2026-11-27T10:00:00.192496\""),
            ("user_id", "189"),
            ("page_url", "\"/pagina-7\""),
            ("event_type", "\"click\""),
            ("element_id", "\"boton-39\""),
            ("x_coordinate", "1226"),
            ("y_coordinate", "-1.5e3"),
            ("anomaly_detected", "[false]"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn anything_outside_the_simple_form_is_left_to_serde_json() {
        // Valid JSON the quick path does not take, and invalid JSON it must not accept.
        let declined = [
            r#"{"a":"\n"}"#,
            r#"{"a\u0062":1}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":{"b":1}}"#,
            r#"{"a":[[1]]}"#,
            r#"{"a":[{"b":1}]}"#,
            "",
            "[]",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":+1}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":NaN}"#,
            r#"{"a":1}x"#,
            r#"{"a":1}{}"#,
            "\u{feff}{}",
            "{\"a\":1}\u{a0}",
            r#"{"a":"x}"#,
            r#"{"long key, past eight bytes":"and a value with a \" quote"}"#,
            "{\"0123456789\u{1f}\":1}",
            "{\"a\":\"0123456789abcdef\u{0}\"}",
        ];
        for text in declined {
            assert_eq!(pairs(text), None, "{text:?}");
        }
    }
}
