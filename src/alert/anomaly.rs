//! The anomaly: one documented schema for everything a detector hands us, and the classic lab
//! application's output.
//!
//! Wire format, a JSON object where every field is optional but at least one of `metric`,
//! `value` and `score` is present:
//! `{"metric": "ctr_percent", "value": 42.5, "expected": 10, "score": 3.4, "page_url": "/p",
//! "user_id": 7, "window_start": "2026-11-27T10:00:00Z", "window_end": ..., "detected_at": ...,
//! "details": {...}}`. Numbers may come as strings (KDA's SQL output often stringifies them);
//! times take every form a click's `timestamp` takes. The classic lab output is also read:
//! `{"CTRPERCENT": 42.5, "ANOMALY_SCORE": 3.4}` in any case, or the CSV line
//! `CTRPERCENT,ANOMALY_SCORE`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::transform::fields::{Fields, RawJson, has_lone_surrogate, json_string};
use crate::transform::timestamp::{self, TimestampError};

/// One anomaly, from whatever source.
#[derive(Debug, Clone, Default)]
pub struct Anomaly {
    /// What was measured, such as `ctr_percent` or `anomaly_detected`.
    pub metric: Option<String>,
    /// The observed value.
    pub value: Option<f64>,
    /// The value the detector expected.
    pub expected: Option<f64>,
    /// The detector's anomaly score (for RANDOM_CUT_FOREST, higher is more anomalous).
    pub score: Option<f64>,
    pub page_url: Option<String>,
    pub user_id: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub detected_at: Option<DateTime<Utc>>,
    /// Anything else the detector wants to say: a JSON object, kept as its text.
    pub details: Option<Box<RawValue>>,
}

impl PartialEq for Anomaly {
    fn eq(&self, other: &Self) -> bool {
        let details = |a: &Self| a.details.as_ref().map(|d| d.get().to_owned());
        (&self.metric, self.value, self.expected, self.score)
            == (&other.metric, other.value, other.expected, other.score)
            && (&self.page_url, &self.user_id) == (&other.page_url, &other.user_id)
            && (self.window_start, self.window_end, self.detected_at)
                == (other.window_start, other.window_end, other.detected_at)
            && details(self) == details(other)
    }
}

/// Why a payload cannot be read as an anomaly. None of these can pass on a retry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotAnAnomaly {
    #[error("record has no data string")]
    NoData,
    #[error("data is not valid base64")]
    InvalidBase64,
    #[error("data is not UTF-8")]
    NotUtf8,
    #[error("data holds a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair)")]
    LoneSurrogate,
    #[error("an anomaly must be a JSON object")]
    NotAnObject,
    #[error("data is neither a JSON object nor a CSV line `CTRPERCENT,ANOMALY_SCORE`")]
    Neither,
    #[error("CSV {field} {text:?} is not a number")]
    CsvNotANumber { field: &'static str, text: String },
    #[error(
        "an anomaly needs at least one of `metric`, `value`, `score` (or the classic CTRPERCENT/ANOMALY_SCORE)"
    )]
    Empty,
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("`{field}`: {error}")]
    BadTime {
        field: &'static str,
        error: TimestampError,
    },
}

impl Anomaly {
    /// The time the anomaly is about: detection, else the window's end, else its start.
    pub(crate) fn time(&self) -> Option<DateTime<Utc>> {
        self.detected_at.or(self.window_end).or(self.window_start)
    }

    /// Reads a Kinesis or KDA record's base64 payload.
    pub(crate) fn from_payload(data: Option<&str>) -> Result<Self, NotAnAnomaly> {
        let data = data.ok_or(NotAnAnomaly::NoData)?;
        let bytes = STANDARD
            .decode(data)
            .map_err(|_| NotAnAnomaly::InvalidBase64)?;
        Self::from_bytes(&bytes)
    }

    /// Reads decoded bytes: a JSON object in the schema or the classic form, or the classic
    /// CSV line.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, NotAnAnomaly> {
        let text = std::str::from_utf8(bytes).map_err(|_| NotAnAnomaly::NotUtf8)?;
        let text = text.trim();
        if text.starts_with('{') {
            let raw: &RawValue =
                serde_json::from_str(text).map_err(|_| NotAnAnomaly::NotAnObject)?;
            Self::from_json(raw)
        } else {
            Self::from_csv(text)
        }
    }

    /// Reads one JSON value (a direct event's item, or a record's payload).
    pub(crate) fn from_json(raw: &RawValue) -> Result<Self, NotAnAnomaly> {
        if has_lone_surrogate(raw.get()) {
            return Err(NotAnAnomaly::LoneSurrogate);
        }
        let fields = Fields::parse(raw.get()).map_err(|_| NotAnAnomaly::NotAnObject)?;
        let has = |name| fields.get(name).is_some();
        if !has("metric") && !has("value") && !has("score") {
            let ctr = fields.get_ignore_case("CTRPERCENT");
            let score = fields.get_ignore_case("ANOMALY_SCORE");
            if ctr.is_none() && score.is_none() {
                return Err(NotAnAnomaly::Empty);
            }
            return Self {
                metric: Some("ctr_percent".into()),
                value: ctr.map(|v| number(v, "CTRPERCENT")).transpose()?.flatten(),
                score: score
                    .map(|v| number(v, "ANOMALY_SCORE"))
                    .transpose()?
                    .flatten(),
                ..Self::default()
            }
            .checked();
        }
        let num = |name: &'static str| {
            fields
                .get(name)
                .map(|v| number(v, name))
                .transpose()
                .map(Option::flatten)
        };
        let time = |name: &'static str| -> Result<Option<DateTime<Utc>>, NotAnAnomaly> {
            match fields.get(name) {
                None => Ok(None),
                Some(v) if v.get() == "null" => Ok(None),
                Some(v) => timestamp::parse_timestamp(v.get())
                    .map(Some)
                    .map_err(|error| NotAnAnomaly::BadTime { field: name, error }),
            }
        };
        let details = match fields.get("details") {
            None => None,
            Some(v) if v.get() == "null" => None,
            // A field's text is valid JSON, so this never fails; were it to, the anomaly would
            // be refused rather than sent without its details.
            Some(v) if v.get().starts_with('{') => Some(
                RawValue::from_string(v.get().to_owned()).map_err(|_| NotAnAnomaly::NotAnObject)?,
            ),
            Some(_) => {
                return Err(NotAnAnomaly::WrongType {
                    field: "details",
                    expected: "an object",
                });
            }
        };
        Self {
            metric: text(&fields, "metric")?,
            value: num("value")?,
            expected: num("expected")?,
            score: num("score")?,
            page_url: text(&fields, "page_url")?,
            user_id: user_id(&fields)?,
            window_start: time("window_start")?,
            window_end: time("window_end")?,
            detected_at: time("detected_at")?,
            details,
        }
        .checked()
    }

    /// The classic application's CSV output: `CTRPERCENT,ANOMALY_SCORE`.
    fn from_csv(line: &str) -> Result<Self, NotAnAnomaly> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [ctr, score] = fields.as_slice() else {
            return Err(NotAnAnomaly::Neither);
        };
        let parse = |s: &str, field| {
            s.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| NotAnAnomaly::CsvNotANumber {
                    field,
                    text: s.chars().take(40).collect(),
                })
        };
        Self {
            metric: Some("ctr_percent".into()),
            value: Some(parse(ctr, "CTRPERCENT")?),
            score: Some(parse(score, "ANOMALY_SCORE")?),
            ..Self::default()
        }
        .checked()
    }

    fn checked(self) -> Result<Self, NotAnAnomaly> {
        if self.metric.is_none() && self.value.is_none() && self.score.is_none() {
            return Err(NotAnAnomaly::Empty);
        }
        Ok(self)
    }
}

fn text(fields: &Fields<'_>, name: &'static str) -> Result<Option<String>, NotAnAnomaly> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) if v.get() == "null" => Ok(None),
        Some(v) => {
            json_string(v.get())
                .map(|s| Some(s.into_owned()))
                .ok_or(NotAnAnomaly::WrongType {
                    field: name,
                    expected: "a string",
                })
        }
    }
}

fn user_id(fields: &Fields<'_>) -> Result<Option<String>, NotAnAnomaly> {
    let wrong = NotAnAnomaly::WrongType {
        field: "user_id",
        expected: "an integer or a string",
    };
    match fields.get("user_id") {
        None => Ok(None),
        Some(v) if v.get() == "null" => Ok(None),
        Some(v) => {
            let t = v.get();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Some(t.to_owned()));
            }
            json_string(v.get())
                .map(|s| Some(s.into_owned()))
                .ok_or(wrong)
        }
    }
}

/// A finite number, or a string holding one.
fn number(v: RawJson<'_>, field: &'static str) -> Result<Option<f64>, NotAnAnomaly> {
    let t = v.get();
    if t == "null" {
        return Ok(None);
    }
    let n = match json_string(t) {
        Some(s) => s.trim().parse::<f64>().ok(),
        None => t.parse::<f64>().ok(),
    };
    n.filter(|f| f.is_finite())
        .map(Some)
        .ok_or(NotAnAnomaly::WrongType {
            field,
            expected: "a finite number",
        })
}

/// The documented schema, as `replay` prints it: absent fields left out, times as RFC 3339.
impl Serialize for Anomaly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let time = |t: &Option<DateTime<Utc>>| t.as_ref().map(timestamp::format_millis);
        let mut map = s.serialize_map(None)?;
        let texts = [
            ("metric", &self.metric),
            ("page_url", &self.page_url),
            ("user_id", &self.user_id),
        ];
        let numbers = [
            ("value", self.value),
            ("expected", self.expected),
            ("score", self.score),
        ];
        for (name, value) in &texts[..1] {
            if let Some(v) = value {
                map.serialize_entry(name, v)?;
            }
        }
        for (name, value) in numbers {
            if let Some(v) = value {
                map.serialize_entry(name, &v)?;
            }
        }
        for (name, value) in &texts[1..] {
            if let Some(v) = value {
                map.serialize_entry(name, v)?;
            }
        }
        for (name, value) in [
            ("window_start", time(&self.window_start)),
            ("window_end", time(&self.window_end)),
            ("detected_at", time(&self.detected_at)),
        ] {
            if let Some(v) = value {
                map.serialize_entry(name, &v)?;
            }
        }
        if let Some(details) = &self.details {
            map.serialize_entry("details", details)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn schema_objects() {
        let a = Anomaly::from_bytes(
            br#"{"metric":"ctr_percent","value":42.5,"expected":"10","score":3.4,"page_url":"/pagina-3",
                "user_id":7,"window_start":"2026-11-27T10:00:00Z","window_end":1795773900,"detected_at":null,
                "details":{"model":"rcf"},"unknown":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(a.metric.as_deref(), Some("ctr_percent"));
        assert_eq!(
            (a.value, a.expected, a.score),
            (Some(42.5), Some(10.0), Some(3.4))
        );
        assert_eq!(a.user_id.as_deref(), Some("7"));
        assert_eq!(a.time(), Some("2026-11-27T10:05:00Z".parse().unwrap()));
        assert_eq!(a.details.as_ref().unwrap().get(), r#"{"model":"rcf"}"#);
        assert!(Anomaly::from_json(&raw(r#"{"score": 1}"#)).is_ok());
        assert!(Anomaly::from_json(&raw(r#"{"metric": "m"}"#)).is_ok());
        // And written back in the documented schema.
        let written = serde_json::to_value(&a).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"metric": "ctr_percent", "value": 42.5, "expected": 10.0, "score": 3.4,
                "page_url": "/pagina-3", "user_id": "7", "window_start": "2026-11-27T10:00:00.000Z",
                "window_end": "2026-11-27T10:05:00.000Z", "details": {"model": "rcf"}})
        );
    }

    #[test]
    fn classic_lab_output_in_any_case_and_as_csv() {
        let want = Anomaly {
            metric: Some("ctr_percent".into()),
            value: Some(42.5),
            score: Some(3.4),
            ..Anomaly::default()
        };
        for payload in [
            &br#"{"CTRPERCENT": 42.5, "ANOMALY_SCORE": 3.4}"#[..],
            br#"{"ctrPercent": 42.5, "anomaly_score": "3.4"}"#,
            b"42.5,3.4",
            b" 42.5 , 3.4\n",
        ] {
            assert_eq!(
                Anomaly::from_bytes(payload).as_ref(),
                Ok(&want),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn unreadable_payloads_say_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "neither"),
            (b"hello", "neither"),
            (b"1,2,3", "neither"),
            (b"abc,3.4", "not a number"),
            (b"NaN,1", "not a number"),
            (b"{\"a\":1}", "at least one of"),
            (b"{}", "at least one of"),
            (b"{\"metric\":5}", "`metric` must be a string"),
            (b"{\"value\":\"high\"}", "finite number"),
            (b"{\"score\":1,\"details\":[1]}", "`details`"),
            (b"{\"score\":1,\"user_id\":1.5}", "`user_id`"),
            (b"{\"score\":1,\"window_start\":\"soon\"}", "`window_start`"),
            (
                b"{\"score\":1,\"window_start\":\"2026-11-27T10:00:60Z\"}",
                "second 60",
            ),
            (b"{\"score\":1", "JSON object"),
            (
                b"{\"score\":1,\"page_url\":\"\\ud800\"}",
                "lone UTF-16 surrogate",
            ),
            (
                b"{\"score\":1,\"x\":[\"\\udfff\"]}",
                "lone UTF-16 surrogate",
            ),
            (&[0xff, 0x00], "not UTF-8"),
        ];
        for (payload, needle) in cases {
            let err = Anomaly::from_bytes(payload).unwrap_err().to_string();
            assert!(
                err.contains(needle),
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
        assert!(Anomaly::from_json(&raw("[1]")).is_err());
        assert_eq!(Anomaly::from_payload(None), Err(NotAnAnomaly::NoData));
        assert_eq!(
            Anomaly::from_payload(Some("!!")),
            Err(NotAnAnomaly::InvalidBase64)
        );
    }
}
