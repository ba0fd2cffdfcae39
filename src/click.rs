//! One click event: reading its JSON object without losing anything, checking the fields the
//! pipeline relies on, and writing it back on one line with the four fields we add.
//!
//! The object is kept as a list of `(key, raw JSON text)` pairs rather than a `serde_json::Value`
//! so that every value leaves exactly as it came: a `Value` would round big integers and
//! reformat decimals (`1.10` → `1.1`), and unknown fields must pass through untouched.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::timestamp::{self, TimestampError};

/// The fields this function writes; an input field with one of these names is replaced.
pub const ADDED_FIELDS: [&str; 4] = ["event_time", "arrival_time", "processed_at", "is_anomaly"];

/// Why a record's payload is not a usable click (the record is then answered `ProcessingFailed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The record carried no `data` string at all.
    NoData,
    InvalidBase64,
    NotUtf8,
    /// Not exactly one JSON object (whitespace around it is fine).
    NotOneJsonObject,
    MissingField(&'static str),
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    BadTimestamp(TimestampError),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoData => f.write_str("record has no data string"),
            Self::InvalidBase64 => f.write_str("data is not valid base64"),
            Self::NotUtf8 => f.write_str("decoded data is not UTF-8"),
            Self::NotOneJsonObject => f.write_str("decoded data is not exactly one JSON object"),
            Self::MissingField(name) => write!(f, "required field `{name}` is missing"),
            Self::WrongType { field, expected } => write!(f, "field `{field}` must be {expected}"),
            Self::BadTimestamp(e) => e.fmt(f),
        }
    }
}

impl Rejection {
    /// A short stable code for logs and metrics dimensions.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoData => "no_data",
            Self::InvalidBase64 => "invalid_base64",
            Self::NotUtf8 => "not_utf8",
            Self::NotOneJsonObject => "not_one_json_object",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::BadTimestamp(_) => "bad_timestamp",
        }
    }
}

/// A JSON object as an ordered list of fields, each value still its raw text.
///
/// A repeated key keeps the position of its first occurrence and the value of its last, as
/// Python's `json.loads` and JavaScript's `JSON.parse` do, so downstream readers agree with us.
#[derive(Debug)]
pub struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Fields<'a> {
    /// Parses `text` as exactly one JSON object.
    pub fn parse(text: &'a str) -> Result<Self, Rejection> {
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = de
            .deserialize_map(FieldsVisitor)
            .map_err(|_| Rejection::NotOneJsonObject)?;
        de.end().map_err(|_| Rejection::NotOneJsonObject)?;
        Ok(fields)
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The value of `key` if it is a JSON string, unescaped.
    pub fn string(&self, key: &'static str) -> Result<Cow<'a, str>, Rejection> {
        let raw = self.get(key).ok_or(Rejection::MissingField(key))?;
        json_string(raw).ok_or(Rejection::WrongType {
            field: key,
            expected: "a string",
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

/// A raw JSON value as a string, if it is one; borrowed unless it holds escapes.
pub fn json_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

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
        let mut entries: Vec<(Cow<'de, str>, &'de RawValue)> =
            Vec::with_capacity(map.size_hint().unwrap_or(12));
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(Fields { entries })
    }
}

/// What the pipeline needs to know of a valid click, besides its enriched line.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickFacts {
    pub event_time: DateTime<Utc>,
    /// `event_time` as written in the record, which also yields the partition keys.
    pub event_time_text: String,
    pub is_anomaly: bool,
    /// The user as text: an integer's digits or the string's contents.
    pub user_id: String,
    pub page_url: String,
}

impl ClickFacts {
    /// `YYYY-MM-DD` of the event time.
    pub fn event_date(&self) -> &str {
        self.event_time_text.get(..10).unwrap_or_default()
    }

    /// `HH` of the event time.
    pub fn event_hour(&self) -> &str {
        self.event_time_text.get(11..13).unwrap_or_default()
    }
}

/// Checks the fields the pipeline relies on. `event_type` is checked by the caller, since the
/// drop decision comes before everything else.
pub fn check(fields: &Fields<'_>) -> Result<ClickFacts, Rejection> {
    let timestamp = fields
        .get("timestamp")
        .ok_or(Rejection::MissingField("timestamp"))?;
    let user_id = user_id(fields)?;
    let page_url = fields.string("page_url")?.into_owned();
    let event_time = timestamp::parse_timestamp(timestamp).map_err(|e| match e {
        TimestampError::WrongType => Rejection::WrongType {
            field: "timestamp",
            expected: "a string or a number",
        },
        other => Rejection::BadTimestamp(other),
    })?;
    Ok(ClickFacts {
        event_time_text: timestamp::format_millis(&event_time),
        event_time,
        is_anomaly: fields.get("anomaly_detected").is_some_and(is_truthy),
        user_id,
        page_url,
    })
}

fn user_id(fields: &Fields<'_>) -> Result<String, Rejection> {
    let raw = fields
        .get("user_id")
        .ok_or(Rejection::MissingField("user_id"))?;
    let text = raw.get();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.to_owned());
    }
    json_string(raw)
        .map(Cow::into_owned)
        .ok_or(Rejection::WrongType {
            field: "user_id",
            expected: "an integer or a string",
        })
}

/// The anomaly flag: `true`, `"true"` in any case, `1`, or a list holding any of these.
/// The lab's producer sends a one-element list, `[true]` or `[false]`.
pub fn is_truthy(raw: &RawValue) -> bool {
    // The two forms every seed record carries, without building a Value.
    match raw.get() {
        "[true]" | "true" | "1" => return true,
        "[false]" | "false" | "0" | "null" | "[]" => return false,
        _ => {}
    }
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::Array(items)) => items.iter().any(scalar_truthy),
        Ok(value) => scalar_truthy(&value),
        Err(_) => false,
    }
}

fn scalar_truthy(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("true"),
        serde_json::Value::Number(n) => n.as_f64() == Some(1.0),
        _ => false,
    }
}

/// The values of the added fields, formatted once per batch or per record.
pub struct Added<'t> {
    pub event_time: &'t str,
    pub arrival_time: Option<&'t str>,
    pub processed_at: &'t str,
    pub is_anomaly: bool,
}

/// Writes the enriched record into `out` (cleared first): one compact JSON object and `\n`.
///
/// Input fields keep their order and their exact text; those named like an added field are left
/// out, and the four added fields follow at the end.
pub fn write_enriched(fields: &Fields<'_>, added: &Added<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.push(b'{');
    for (key, value) in &fields.entries {
        if ADDED_FIELDS.contains(&key.as_ref()) {
            continue;
        }
        match key {
            // Borrowed means the key had no escapes in the input, so its text is valid as is.
            Cow::Borrowed(text) => {
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
            Cow::Owned(text) => write_json_string(out, text),
        }
        out.push(b':');
        write_compact(out, value.get());
        out.push(b',');
    }
    out.extend_from_slice(b"\"event_time\":\"");
    out.extend_from_slice(added.event_time.as_bytes());
    out.extend_from_slice(b"\",\"arrival_time\":");
    match added.arrival_time {
        Some(t) => {
            out.push(b'"');
            out.extend_from_slice(t.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"processed_at\":\"");
    out.extend_from_slice(added.processed_at.as_bytes());
    out.extend_from_slice(b"\",\"is_anomaly\":");
    out.extend_from_slice(if added.is_anomaly { b"true" } else { b"false" });
    out.extend_from_slice(b"}\n");
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Copies one valid JSON value, leaving out the whitespace between tokens.
///
/// serde_json can only re-serialize what it has parsed into its own types, which would change
/// numbers; this keeps every token's text and only drops the insignificant whitespace, which
/// appears only in arrays and objects written across several lines or with spaces.
pub fn write_compact(out: &mut Vec<u8>, json: &str) {
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

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
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
                Err(Rejection::NotOneJsonObject),
                "{text:?}"
            );
        }
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        let f = Fields::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        let got: Vec<_> = f
            .iter()
            .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
            .collect();
        assert_eq!(got, [("a".into(), "3".into()), ("b".into(), "2".into())]);
    }

    #[test]
    fn truthiness_of_the_anomaly_flag() {
        let cases = [
            ("true", true),
            ("[true]", true),
            ("[ true ]", true),
            ("\"true\"", true),
            ("\"TRUE\"", true),
            ("[\"True\"]", true),
            ("1", true),
            ("1.0", true),
            ("[1]", true),
            ("[false, true]", true),
            ("false", false),
            ("[false]", false),
            ("[]", false),
            ("0", false),
            ("2", false),
            ("\"yes\"", false),
            ("\"false\"", false),
            ("null", false),
            ("{}", false),
            ("{\"a\":true}", false),
            ("[[true]]", false),
        ];
        for (input, want) in cases {
            assert_eq!(is_truthy(&raw(input)), want, "{input}");
        }
    }

    #[test]
    fn field_checks() {
        let base = r#""timestamp":"2026-11-27T10:00:00","page_url":"/p","event_type":"click""#;
        let cases: &[(String, Result<&str, Rejection>)] = &[
            (format!(r#"{{{base},"user_id":42}}"#), Ok("42")),
            (format!(r#"{{{base},"user_id":-7}}"#), Ok("-7")),
            (
                format!(r#"{{{base},"user_id":123456789012345678901234567890}}"#),
                Ok("123456789012345678901234567890"),
            ),
            (format!(r#"{{{base},"user_id":"u-9"}}"#), Ok("u-9")),
            (format!(r#"{{{base},"user_id":"\u0041"}}"#), Ok("A")),
            (
                format!(r#"{{{base},"user_id":4.5}}"#),
                Err(Rejection::WrongType {
                    field: "user_id",
                    expected: "an integer or a string",
                }),
            ),
            (
                format!(r#"{{{base},"user_id":1e3}}"#),
                Err(Rejection::WrongType {
                    field: "user_id",
                    expected: "an integer or a string",
                }),
            ),
            (
                format!(r#"{{{base},"user_id":null}}"#),
                Err(Rejection::WrongType {
                    field: "user_id",
                    expected: "an integer or a string",
                }),
            ),
            (
                format!(r#"{{{base}}}"#),
                Err(Rejection::MissingField("user_id")),
            ),
            (
                r#"{"user_id":1,"page_url":"/p","event_type":"click"}"#.into(),
                Err(Rejection::MissingField("timestamp")),
            ),
            (
                r#"{"timestamp":"2026-11-27T10:00:00","user_id":1,"event_type":"click"}"#.into(),
                Err(Rejection::MissingField("page_url")),
            ),
            (
                r#"{"timestamp":"2026-11-27T10:00:00","user_id":1,"page_url":7}"#.into(),
                Err(Rejection::WrongType {
                    field: "page_url",
                    expected: "a string",
                }),
            ),
            (
                r#"{"timestamp":"soon","user_id":1,"page_url":"/p"}"#.into(),
                Err(Rejection::BadTimestamp(TimestampError::Unparseable)),
            ),
            (
                r#"{"timestamp":false,"user_id":1,"page_url":"/p"}"#.into(),
                Err(Rejection::WrongType {
                    field: "timestamp",
                    expected: "a string or a number",
                }),
            ),
        ];
        for (text, want) in cases {
            let fields = Fields::parse(text).unwrap();
            let got = check(&fields).map(|facts| facts.user_id);
            assert_eq!(got.as_deref().map_err(Clone::clone), want.clone(), "{text}");
        }
    }

    #[test]
    fn facts_carry_partition_keys() {
        let fields = Fields::parse(
            r#"{"timestamp":"2026-11-27T23:59:59.9999-01:00","user_id":1,"page_url":"/p","anomaly_detected":[true]}"#,
        )
        .unwrap();
        let facts = check(&fields).unwrap();
        assert_eq!(facts.event_time_text, "2026-11-28T00:59:59.999Z");
        assert_eq!(
            (facts.event_date(), facts.event_hour()),
            ("2026-11-28", "00")
        );
        assert!(facts.is_anomaly);
        assert_eq!(facts.page_url, "/p");
    }

    #[test]
    fn enriched_line_keeps_input_text_and_replaces_added_names() {
        let input = "{\"big\": 123456789012345678901234567890.000000000000000000001,\n \"event_time\": \"x\",\n \"nested\": {\"a\": [1, 2.50, \"s p a c e\"],\n \"e\": \"\\u00e9\\\"\"},\n \"is_anomaly\": 5, \"n\": -0.0}";
        let fields = Fields::parse(input).unwrap();
        let mut out = Vec::new();
        let added = Added {
            event_time: "2026-11-27T10:00:00.000Z",
            arrival_time: None,
            processed_at: "2026-11-27T10:00:01.000Z",
            is_anomaly: true,
        };
        write_enriched(&fields, &added, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"big\":123456789012345678901234567890.000000000000000000001,\"nested\":{\"a\":[1,2.50,\"s p a c e\"],\"e\":\"\\u00e9\\\"\"},\"n\":-0.0,\"event_time\":\"2026-11-27T10:00:00.000Z\",\"arrival_time\":null,\"processed_at\":\"2026-11-27T10:00:01.000Z\",\"is_anomaly\":true}\n"
        );
        // And the result is valid JSON with the same nested content.
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["nested"]["e"], "é\"");
    }

    #[test]
    fn keys_with_escapes_are_written_back_valid() {
        let fields = Fields::parse(r#"{"a\"b\u0001":1}"#).unwrap();
        let mut out = Vec::new();
        let added = Added {
            event_time: "t",
            arrival_time: Some("a"),
            processed_at: "p",
            is_anomaly: false,
        };
        write_enriched(&fields, &added, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["a\"b\u{1}"], 1);
        assert_eq!(v["arrival_time"], "a");
    }
}
