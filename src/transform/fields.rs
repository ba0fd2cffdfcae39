//! A JSON object read as an ordered list of `(key, raw JSON text)` pairs, and written back
//! compact without changing a single value.
//!
//! Kept as raw text rather than a `serde_json::Value` so that every value leaves exactly as it
//! came: a `Value` would round big integers and reformat decimals (`1.10` → `1.1`), and unknown
//! fields must pass through untouched. The same reader serves click records and anomalies.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::flat;

/// Objects with more keys than this get a hash index for the repeated-key check; below it a
/// scan of a few entries is cheaper than hashing (a click has eight).
const INDEX_FROM: usize = 16;

/// One JSON value's text exactly as it came, known to be valid JSON: what a field holds.
///
/// Not serde_json's `&RawValue`, which only serde_json's deserializer can hand out borrowed,
/// so the quick reading of [`flat`] could not produce one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawJson<'a>(&'a str);

impl<'a> RawJson<'a> {
    pub(crate) fn get(self) -> &'a str {
        self.0
    }
}

impl<'a> From<&'a RawValue> for RawJson<'a> {
    fn from(raw: &'a RawValue) -> Self {
        RawJson(raw.get())
    }
}

/// A JSON object as an ordered list of fields, each value still its raw text.
///
/// A repeated key keeps the position of its first occurrence and the value of its last, as
/// Python's `json.loads` and JavaScript's `JSON.parse` do, so downstream readers agree with us.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, RawJson<'a>)>,
    /// Built once the object outgrows a short scan, so the repeated-key check stays linear
    /// however many keys a hostile record holds.
    index: Option<HashMap<Cow<'a, str>, usize>>,
    /// One bit per [`key_bit`] of the keys so far: a key whose bit is clear is new without a
    /// scan. The eight keys of a click were 28 string comparisons a record, 6 % of a batch.
    seen: u64,
}

/// The text is not exactly one JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAnObject;

impl<'a> Fields<'a> {
    /// Parses `text` as exactly one JSON object (whitespace around it is fine).
    ///
    /// The common flat form is read by [`flat::read`]; anything else, valid or not, by
    /// serde_json, which alone decides what is refused.
    pub(crate) fn parse(text: &'a str) -> Result<Self, NotAnObject> {
        let mut fields = Fields::empty();
        if flat::read(text, |key, value| {
            fields.insert(Cow::Borrowed(key), RawJson(value));
        })
        .is_some()
        {
            return Ok(fields);
        }
        Self::parse_with_serde(text)
    }

    fn parse_with_serde(text: &'a str) -> Result<Self, NotAnObject> {
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = de.deserialize_map(FieldsVisitor).map_err(|_| NotAnObject)?;
        de.end().map_err(|_| NotAnObject)?;
        Ok(fields)
    }

    fn empty() -> Self {
        Fields {
            entries: Vec::with_capacity(12),
            index: None,
            seen: 0,
        }
    }

    /// Adds a field, or replaces the value of an earlier one with the same key.
    fn insert(&mut self, key: Cow<'a, str>, value: RawJson<'a>) {
        let bit = key_bit(&key);
        let seen = match &self.index {
            Some(index) => {
                probes::count(1);
                index.get(&key).copied()
            }
            None if self.seen & bit == 0 => None,
            None => {
                probes::count(self.entries.len());
                self.entries.iter().position(|(k, _)| *k == key)
            }
        };
        self.seen |= bit;
        if let Some(at) = seen {
            self.entries[at].1 = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_FROM {
            self.index = Some(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect(),
            );
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<RawJson<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The first field whose key equals `key` ignoring ASCII case.
    pub(crate) fn get_ignore_case(&self, key: &str) -> Option<RawJson<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, RawJson<'a>)> {
        self.entries.iter().map(|(k, v)| (k, *v))
    }
}

/// A key's bit in [`Fields::seen`], from its length and its first and last bytes: the eight
/// keys of a click get eight different bits (a test says so). Equal keys always share a bit;
/// a shared bit only costs a scan.
fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let first = b.first().copied().unwrap_or(0);
    let last = b.last().copied().unwrap_or(0);
    1 << ((b.len() + usize::from(first) + usize::from(last)) % 64)
}

/// A raw JSON value as a string, if it is one; borrowed unless it holds escapes.
pub(crate) fn json_string(text: &str) -> Option<Cow<'_, str>> {
    if !text.starts_with('"') {
        return None;
    }
    // A string without escapes is its own text between the quotes (a raw value is valid JSON,
    // so no quote can be inside): a click's page and event type, read without a parser, which
    // cost some 250 instructions each.
    if text.len() >= 2
        && text.ends_with('"')
        && let Some(inner) = text.get(1..text.len() - 1)
        && inner.bytes().all(|b| b != b'\\' && b >= 0x20)
    {
        return Some(Cow::Borrowed(inner));
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// True when `json` holds a `\u` escape of a UTF-16 surrogate that is not part of a pair.
///
/// serde_json refuses such a string only where it decodes it (a key, a field we read) and lets
/// it through where it merely skips (an unknown field), so one record would fail or pass
/// depending on where the escape sits; checking the whole text once treats it the same
/// everywhere. Linear in the text, and free for text without `\u`.
pub(crate) fn has_lone_surrogate(json: &str) -> bool {
    let bytes = json.as_bytes();
    // Most records hold no escape at all: memchr's SIMD search for a backslash says so in a
    // few dozen instructions, where std's `contains("\\u")` took some 160 and memchr's own
    // substring search 130, most of it setting up.
    if memchr::memchr(b'\\', bytes).is_none() {
        return false;
    }
    let hex = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2; // `\\`, `\"` and the like: the escaped character is not an escape itself
            continue;
        }
        let Some(unit) = hex(i + 2) else {
            return false; // not valid JSON; the parser will say so
        };
        i += 6;
        match unit {
            0xD800..=0xDBFF => {
                let low = (bytes.get(i..i + 2) == Some(b"\\u"))
                    .then(|| hex(i + 2))
                    .flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return true;
                }
                i += 6;
            }
            0xDC00..=0xDFFF => return true,
            _ => {}
        }
    }
    false
}

/// A JSON string (a map key, an id) borrowed from the input when it has no escapes.
///
/// Not `Cow<str>` itself: serde's `Deserialize` for `Cow` always allocates an owned copy.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields::empty();
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            fields.insert(key, value.into());
        }
        Ok(fields)
    }
}

/// How many existing keys the repeated-key check looked at, counted in tests only: the number
/// that shows the check is linear, where a timing would only show a slow machine.
mod probes {
    #[cfg(test)]
    thread_local! {
        pub(super) static PROBES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[cfg(test)]
    pub(super) fn count(n: usize) {
        PROBES.with(|p| p.set(p.get() + n));
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(super) fn count(_: usize) {}
}

/// Writes `s` as a JSON string, byte for byte as serde_json writes it.
///
/// serde_json escapes only control characters, `"` and `\\`; a string with none of them (every
/// record id and partition key seen so far) is copied between quotes, which costs a scan
/// instead of serde_json's table lookup and branch per byte (7 % of a batch's instructions
/// for the ids and keys of its answers). Anything else goes through serde_json.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // A fold without an early exit, so the compiler checks many bytes at a time.
    let needs_escape = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escape {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes a key as read: borrowed means it had no escapes in the input, so its text is valid
/// between quotes as is.
#[expect(
    clippy::ptr_arg,
    reason = "whether the key is borrowed tells whether it had escapes"
)]
pub(crate) fn write_key(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    match key {
        Cow::Borrowed(text) => {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(text) => write_json_string(out, text),
    }
}

/// Copies one valid JSON value, leaving out the whitespace between tokens.
///
/// serde_json can only re-serialize what it has parsed into its own types, which would change
/// numbers; this keeps every token's text and only drops the insignificant whitespace, which
/// appears only in arrays and objects written across several lines or with spaces.
pub(crate) fn write_compact(out: &mut Vec<u8>, json: &str) {
    let bytes = json.as_bytes();
    let container = matches!(bytes.first(), Some(b'[' | b'{'));
    if !container
        || !bytes
            .iter()
            .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            continue;
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut every_char: String = (0..=0x7f_u8).map(char::from).collect();
        every_char.push_str("é€😀\u{2028}\u{7f}");
        let cases = [
            "",
            "plain",
            "49654399385757399545541582452367416398113960186765279234",
            "a\"b",
            "a\\b",
            "tab\there",
            "line\n",
            "\u{1f}",
            "/slash/",
            every_char.as_str(),
        ];
        for case in cases {
            let mut ours = Vec::new();
            write_json_string(&mut ours, case);
            assert_eq!(ours, serde_json::to_vec(case).unwrap(), "{case:?}");
        }
    }

    #[test]
    fn strings_read_as_serde_json_reads_them_borrowed_when_they_can_be() {
        let cases = [
            r#""""#,
            r#""/pagina-3""#,
            r#""click""#,
            r#""p\u00e1gina""#,
            "\"p\u{e1}gina \u{1f600}\"",
            r#""a\"b""#,
            r#""a\\b""#,
            r#""\/x""#,
            r#""tab\there""#,
            "5",
            "null",
            r#"["x"]"#,
        ];
        for case in cases {
            let want: Option<String> = serde_json::from_str(case).ok();
            let got = json_string(case);
            assert_eq!(got.as_deref(), want.as_deref(), "{case}");
            if !case.contains('\\') {
                assert!(matches!(got, None | Some(Cow::Borrowed(_))), "{case}");
            }
        }
    }

    #[test]
    fn parses_objects_and_rejects_everything_else() {
        let ok = [
            "{}",
            r#"{"a":1}"#,
            "{\"a\":1}\n",
            "  {\"a\" : [1, 2]}\r\n",
            r#"{"a":1,"a":2}"#,
        ];
        for text in ok {
            assert!(Fields::parse(text).is_ok(), "{text:?}");
        }
        let bad = [
            "",
            "\n",
            "[]",
            "1",
            "\"s\"",
            "null",
            r#"{"a":1}{"b":2}"#,
            "{\"a\":1}\n{\"b\":2}\n",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            "\u{feff}{}",
            r#"{"a":1} x"#,
        ];
        for text in bad {
            assert_eq!(
                Fields::parse(text).map(|_| ()),
                Err(NotAnObject),
                "{text:?}"
            );
        }
    }

    fn pairs(f: &Fields<'_>) -> Vec<(String, String)> {
        f.iter()
            .map(|(k, v)| (k.to_string(), v.get().to_owned()))
            .collect()
    }

    /// A reading's fields as text, or `None` for a refusal.
    type Reading = Option<Vec<(String, String)>>;

    /// Both readings of a text: ours, and serde_json's alone.
    fn both(text: &str) -> (Reading, Reading) {
        let ours = Fields::parse(text).ok().map(|f| pairs(&f));
        let serde = Fields::parse_with_serde(text).ok().map(|f| pairs(&f));
        (ours, serde)
    }

    #[test]
    fn the_quick_reading_agrees_with_serde_json_on_every_mutation_of_a_click() {
        // Each seed, and every text one byte away from it (a byte from `alphabet` inserted or
        // put in place of another, or a byte deleted): the quick reading must give the same
        // fields as serde_json's, and refuse what it refuses.
        let seeds = [
            r#"{"timestamp": "2026-11-27T10:00:00.192496", "user_id": 189, "page_url": "/pagina-7", "event_type": "click", "element_id": "boton-39", "x_coordinate": 1226, "y_coordinate": 1063, "anomaly_detected": [false]}"#,
            "{\"a\":-0.5e+3,\"b\":[ true , null,\"x\" ],\n\"a\":\"p\u{e1}gina \u{1f600}\"}\r\n",
            r#"{"long key past eight":"0123456789abcdefghij","n":[],"z":false,"e":1E-2}"#,
            // Short strings near the end, read by the scan's byte-by-byte tail.
            r#"{"a":"bc","d":["ef"]}"#,
            "{}",
        ];
        let alphabet = b"\"\\,:{}[] \t01-.eE+tfnlux\x1f\x7f";
        let mut texts = Vec::new();
        for seed in seeds {
            let b = seed.as_bytes();
            texts.push(b.to_vec());
            for at in 0..=b.len() {
                for &c in alphabet {
                    let mut t = b.to_vec();
                    t.insert(at, c);
                    texts.push(t);
                    if at < b.len() {
                        let mut t = b.to_vec();
                        t[at] = c;
                        texts.push(t);
                    }
                }
                if at < b.len() {
                    let mut t = b.to_vec();
                    t.remove(at);
                    texts.push(t);
                }
            }
        }
        let (mut read, mut refused) = (0, 0);
        for t in &texts {
            let Ok(text) = std::str::from_utf8(t) else {
                continue;
            };
            let (ours, serde) = both(text);
            assert_eq!(ours, serde, "{text:?}");
            let mut quick = Vec::new();
            if flat::read(text, |k, v| quick.push((k, v))).is_some() {
                read += 1;
            } else {
                refused += 1;
            }
        }
        // Both paths were exercised, many times each.
        assert!(
            read > 1_000 && refused > 1_000,
            "{read} read, {refused} refused"
        );
    }

    #[test]
    fn a_clicks_keys_are_told_apart_without_a_scan() {
        let keys = [
            "timestamp",
            "user_id",
            "page_url",
            "event_type",
            "element_id",
            "x_coordinate",
            "y_coordinate",
            "anomaly_detected",
        ];
        let bits = keys.iter().fold(0_u64, |all, k| all | key_bit(k));
        assert_eq!(bits.count_ones(), 8);
        let text = format!("{{{}}}", keys.map(|k| format!("\"{k}\":1")).join(","));
        probes::PROBES.with(|p| p.set(0));
        assert_eq!(Fields::parse(&text).unwrap().iter().count(), 8);
        assert_eq!(probes::PROBES.with(std::cell::Cell::get), 0);
        // A repeated key is still found, by the scan its bit calls for.
        let f = Fields::parse(r#"{"page_url":1,"user_id":2,"page_url":3}"#).unwrap();
        assert_eq!(
            pairs(&f),
            [
                ("page_url".into(), "3".into()),
                ("user_id".into(), "2".into())
            ]
        );
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        let f = Fields::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(
            pairs(&f),
            [("a".into(), "3".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn repeated_keys_are_found_the_same_past_the_index_threshold() {
        // 40 distinct keys, then every one again: the later values win, order is first seen.
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let first: Vec<String> = keys.iter().map(|k| format!("\"{k}\":0")).collect();
        let again: Vec<String> = keys.iter().map(|k| format!("\"{k}\":1")).collect();
        let text = format!("{{{},{}}}", first.join(","), again.join(","));
        let f = Fields::parse(&text).unwrap();
        let got = pairs(&f);
        assert_eq!(got.len(), 40);
        assert!(
            got.iter()
                .zip(&keys)
                .all(|((k, v), want)| k == want && v == "1")
        );
        // An escaped spelling of a key is the same key.
        let escaped = format!("{{{},\"\\u006b3\":9}}", first.join(","));
        let f = Fields::parse(&escaped).unwrap();
        assert_eq!(f.get("k3").map(RawJson::get), Some("9"));
        assert_eq!(f.iter().count(), 40);
    }

    #[test]
    fn the_repeated_key_check_is_linear_in_the_number_of_keys() {
        // The issue's hostile record held 128,000 distinct keys (its CPU time is in the bench);
        // 20,000 keep this quick. A scan of every earlier key would look at 200 million; the
        // index keeps it to a few per key.
        let keys = 20_000;
        let body: Vec<String> = (0..keys).map(|i| format!("\"{i:x}\":0")).collect();
        let text = format!("{{{}}}", body.join(","));
        probes::PROBES.with(|p| p.set(0));
        let f = Fields::parse(&text).unwrap();
        let probes = probes::PROBES.with(std::cell::Cell::get);
        assert_eq!(f.iter().count(), keys);
        assert!(probes <= 2 * keys, "{probes} probes for {keys} keys");
    }

    #[test]
    fn lone_surrogates_are_found_wherever_they_are() {
        let lone = [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"x\uDBFFy"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":{"b":["\ud83d"]}}"#,
            r#"{"a":"\ud83d\u0041"}"#,
            r#"{"a":"\\\ud800"}"#,
        ];
        for text in lone {
            assert!(has_lone_surrogate(text), "{text}");
        }
        let fine = [
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\\ud800"}"#,
            r#"{"a":"plain"}"#,
            r#"{"a":"\\\\ud800"}"#,
        ];
        for text in fine {
            assert!(!has_lone_surrogate(text), "{text}");
        }
    }

    #[test]
    fn compact_copy_keeps_tokens_and_drops_whitespace() {
        let mut out = Vec::new();
        write_compact(&mut out, "[1, 2.50, \"s p\",\n {\"a\" : null}]");
        assert_eq!(out, b"[1,2.50,\"s p\",{\"a\":null}]");
    }
}
