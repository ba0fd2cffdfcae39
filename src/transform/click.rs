//! One click event: checking the fields the pipeline relies on, and writing the record back on
//! one line with the fields we add.
//!
//! The wire format of a click (the record's decoded `data`) is one JSON object:
//! `{"timestamp": "2026-11-27T10:15:30.123456", "user_id": 42, "page_url": "/pagina-3",
//! "event_type": "click", ...}`. `timestamp`, `user_id`, `page_url` and `event_type` are
//! required; every other field passes through as it came.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::fields::{Fields, json_string, write_compact, write_key};
use super::rejection::Rejection;
use super::timestamp::{self, TimestampError};

/// The fields this function writes; an input field with one of these names is replaced.
pub(crate) const ADDED_FIELDS: [&str; 5] = [
    "event_time",
    "arrival_time",
    "processed_at",
    "is_anomaly",
    "anomaly_reasons",
];

/// Why a record is an anomaly: the codes `anomaly_reasons` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The producer's own `anomaly_detected` flag.
    ProducerFlag,
    /// The user clicked faster than a person can, in this batch.
    UserBurst,
}

impl Reason {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::ProducerFlag => "producer_flag",
            Self::UserBurst => "user_burst",
        }
    }
}

/// The value of `key` if it is a JSON string, unescaped.
pub(crate) fn string_field<'a>(
    fields: &Fields<'a>,
    key: &'static str,
) -> Result<Cow<'a, str>, Rejection> {
    let raw = fields.get(key).ok_or(Rejection::MissingField(key))?;
    json_string(raw.get()).ok_or(Rejection::WrongType {
        field: key,
        expected: "a string",
    })
}

/// What the pipeline needs to know of a valid click, besides its enriched line. User and page
/// are borrowed from the record's decoded text unless they hold escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClickFacts<'a> {
    pub(crate) event_time: DateTime<Utc>,
    /// `event_time` as written in the record, which also yields the partition keys.
    pub(crate) event_time_text: timestamp::Millis,
    /// The producer's `anomaly_detected` flag.
    pub(crate) flagged: bool,
    /// The user as text: an integer's digits or the string's contents.
    pub(crate) user_id: Cow<'a, str>,
    pub(crate) page_url: Cow<'a, str>,
}

/// Checks the fields the pipeline relies on. `event_type` is checked by the caller, since the
/// drop decision comes before everything else.
pub(crate) fn check<'a>(fields: &Fields<'a>) -> Result<ClickFacts<'a>, Rejection> {
    let timestamp = fields
        .get("timestamp")
        .ok_or(Rejection::MissingField("timestamp"))?;
    let user_id = user_id(fields)?;
    let page_url = string_field(fields, "page_url")?;
    let (event_time, event_time_text) = timestamp::parse_timestamp_millis(timestamp.get())
        .map_err(|e| match e {
            TimestampError::WrongType => Rejection::WrongType {
                field: "timestamp",
                expected: "a string or a number",
            },
            other => other.into(),
        })?;
    Ok(ClickFacts {
        event_time_text,
        event_time,
        flagged: fields
            .get("anomaly_detected")
            .is_some_and(|v| is_truthy(v.get())),
        user_id,
        page_url,
    })
}

fn user_id<'a>(fields: &Fields<'a>) -> Result<Cow<'a, str>, Rejection> {
    let raw = fields
        .get("user_id")
        .ok_or(Rejection::MissingField("user_id"))?;
    let text = raw.get();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Cow::Borrowed(text));
    }
    json_string(text).ok_or(Rejection::WrongType {
        field: "user_id",
        expected: "an integer or a string",
    })
}

/// The anomaly flag: `true`, `"true"` in any case, the number 1, or a list holding any of these.
/// The lab's producer sends a one-element list, `[true]` or `[false]`.
///
/// Read from the raw text, item by item, rather than through a `serde_json::Value`: a `Value`
/// refuses `1e400`, which would make `[true, 1e400]` read as not flagged, and rounds
/// `1.0000000000000000001` to 1.
pub(crate) fn is_truthy(text: &str) -> bool {
    // The two forms every seed record carries, without parsing.
    match text {
        "[true]" | "true" | "1" => return true,
        "[false]" | "false" | "0" | "null" | "[]" => return false,
        _ => {}
    }
    if text.starts_with('[') {
        return serde_json::from_str::<Vec<&RawValue>>(text)
            .is_ok_and(|items| items.iter().any(|item| scalar_truthy(item.get())));
    }
    scalar_truthy(text)
}

fn scalar_truthy(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(b't') => text == "true",
        Some(b'"') => json_string(text).is_some_and(|s| s.eq_ignore_ascii_case("true")),
        Some(b'0'..=b'9') => is_one(text),
        _ => false,
    }
}

/// The JSON number `text` is exactly one: `1`, `1.0`, `1.00`, `1e0`, `10e-1`...
fn is_one(text: &str) -> bool {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(i32::MAX)),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant != "1" {
        return false;
    }
    // Where the 1 stands: the power of ten it is worth, before the exponent.
    let leading_zeros = digits.len() - digits.trim_start_matches('0').len();
    let power = whole.len() as i64 - 1 - leading_zeros as i64;
    power + i64::from(exponent) == 0
}

/// The values of the added fields known when the record is read.
pub(crate) struct Added<'t> {
    pub(crate) event_time: &'t str,
    pub(crate) arrival_time: Option<&'t str>,
    pub(crate) processed_at: &'t str,
}

/// Appends the enriched record but its verdict to `out`: `{`, the input fields, and the added
/// fields up to `processed_at`, each followed by a comma. [`write_tail`] finishes it once the
/// batch's detectors have spoken.
///
/// Input fields keep their order and their exact text; those named like an added field are left
/// out, and the added fields follow at the end.
pub(crate) fn write_head(fields: &Fields<'_>, added: &Added<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (key, value) in fields.iter() {
        if ADDED_FIELDS.contains(&key.as_ref()) {
            continue;
        }
        write_key(out, key);
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
    out.extend_from_slice(b"\",");
}

/// Appends `"is_anomaly":…,"anomaly_reasons":[…]}` and the newline.
pub(crate) fn write_tail(reasons: &[Reason], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"is_anomaly\":");
    out.extend_from_slice(if reasons.is_empty() {
        b"false"
    } else {
        b"true"
    });
    out.extend_from_slice(b",\"anomaly_reasons\":[");
    for (i, reason) in reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(reason.code().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"]}\n");
}

/// The whole enriched line, for tests.
#[cfg(test)]
pub(crate) fn write_enriched(
    fields: &Fields<'_>,
    added: &Added<'_>,
    reasons: &[Reason],
    out: &mut Vec<u8>,
) {
    out.clear();
    write_head(fields, added, out);
    write_tail(reasons, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` checked to be one JSON value, as a field's raw text always is.
    fn raw(s: &str) -> String {
        RawValue::from_string(s.to_owned())
            .unwrap()
            .get()
            .to_owned()
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
            ("[true,1e400]", true),
            ("[1e400,\"TRUE\"]", true),
            ("1.0000000000000000001", false),
            ("1.00", true),
            ("10e-1", true),
            ("0.1e1", true),
            ("1e400", false),
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
        assert_eq!(facts.event_time_text.as_str(), "2026-11-28T00:59:59.999Z");
        assert_eq!(
            crate::transform::partition::s3_path(facts.event_time_text.as_str()),
            "dt=2026-11-28/hour=00"
        );
        assert!(facts.flagged);
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
        };
        write_enriched(
            &fields,
            &added,
            &[Reason::ProducerFlag, Reason::UserBurst],
            &mut out,
        );
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"big\":123456789012345678901234567890.000000000000000000001,\"nested\":{\"a\":[1,2.50,\"s p a c e\"],\"e\":\"\\u00e9\\\"\"},\"n\":-0.0,\"event_time\":\"2026-11-27T10:00:00.000Z\",\"arrival_time\":null,\"processed_at\":\"2026-11-27T10:00:01.000Z\",\"is_anomaly\":true,\"anomaly_reasons\":[\"producer_flag\",\"user_burst\"]}\n"
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
        };
        write_enriched(&fields, &added, &[], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["is_anomaly"], false);
        assert_eq!(v["anomaly_reasons"], serde_json::json!([]));
        assert_eq!(v["a\"b\u{1}"], 1);
        assert_eq!(v["arrival_time"], "a");
    }
}
