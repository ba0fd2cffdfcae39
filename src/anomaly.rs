//! The anomaly: one documented schema for everything a detector hands us, and the classic lab
//! application's output (`CTRPERCENT`, `ANOMALY_SCORE`, as JSON or CSV).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::timestamp;

/// One anomaly, from whatever source. Every field is optional, but at least one of `metric`,
/// `value` and `score` is present.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Anything else the detector wants to say, shown as is (sanitized) in examples.
    pub details: Option<Map<String, Value>>,
}

/// Why a payload cannot be read as an anomaly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnAnomaly(pub String);

impl std::fmt::Display for NotAnAnomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Anomaly {
    /// The time the anomaly is about: detection, else the window's end, else its start.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.detected_at.or(self.window_end).or(self.window_start)
    }

    /// Reads a record's decoded bytes: a JSON object in the schema or the classic form, or the
    /// classic CSV line `CTRPERCENT,ANOMALY_SCORE`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, NotAnAnomaly> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| NotAnAnomaly("data is not UTF-8".into()))?;
        let text = text.trim();
        if text.starts_with('{') {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| NotAnAnomaly(format!("data is not one JSON object: {e}")))?;
            Self::from_json(&value)
        } else {
            Self::from_csv(text)
        }
    }

    /// Reads one JSON value (a direct event's item, or a record's payload).
    pub fn from_json(value: &Value) -> Result<Self, NotAnAnomaly> {
        let Value::Object(map) = value else {
            return Err(NotAnAnomaly("an anomaly must be a JSON object".into()));
        };
        let classic = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let (ctr, score) = (classic("CTRPERCENT"), classic("ANOMALY_SCORE"));
        if !map.contains_key("metric") && !map.contains_key("value") && !map.contains_key("score") {
            if ctr.is_some() || score.is_some() {
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
            return Err(NotAnAnomaly(
                "an anomaly needs at least one of `metric`, `value`, `score` (or the classic CTRPERCENT/ANOMALY_SCORE)".into(),
            ));
        }
        let text = |name: &str| -> Result<Option<String>, NotAnAnomaly> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(NotAnAnomaly(format!("`{name}` must be a string"))),
            }
        };
        let num = |name: &str| {
            map.get(name)
                .map(|v| number(v, name))
                .transpose()
                .map(Option::flatten)
        };
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, NotAnAnomaly> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let raw = serde_json::value::to_raw_value(v)
                        .map_err(|e| NotAnAnomaly(e.to_string()))?;
                    timestamp::parse_timestamp(&raw)
                        .map(Some)
                        .map_err(|e| NotAnAnomaly(format!("`{name}`: {e}")))
                }
            }
        };
        let user_id = match map.get("user_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Some(_) => {
                return Err(NotAnAnomaly(
                    "`user_id` must be an integer or a string".into(),
                ));
            }
        };
        let details = match map.get("details") {
            None | Some(Value::Null) => None,
            Some(Value::Object(d)) => Some(d.clone()),
            Some(_) => return Err(NotAnAnomaly("`details` must be an object".into())),
        };
        Self {
            metric: text("metric")?,
            value: num("value")?,
            expected: num("expected")?,
            score: num("score")?,
            page_url: text("page_url")?,
            user_id,
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
            return Err(NotAnAnomaly(
                "data is neither a JSON object nor a CSV line `CTRPERCENT,ANOMALY_SCORE`".into(),
            ));
        };
        let parse = |s: &str, name: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| NotAnAnomaly(format!("CSV {name} {s:?} is not a number")))
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
            return Err(NotAnAnomaly(
                "an anomaly needs at least one of `metric`, `value`, `score`".into(),
            ));
        }
        Ok(self)
    }
}

/// A finite number, or a string holding one (KDA's SQL output often stringifies numbers).
fn number(v: &Value, name: &str) -> Result<Option<f64>, NotAnAnomaly> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|f| f.is_finite())
        .map(Some)
        .ok_or_else(|| NotAnAnomaly(format!("`{name}` must be a finite number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(a.details.unwrap()["model"], "rcf");
        assert!(Anomaly::from_json(&json!({"score": 1})).is_ok());
        assert!(Anomaly::from_json(&json!({"metric": "m"})).is_ok());
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
            (b"{\"score\":1", "not one JSON object"),
            (&[0xff, 0x00], "not UTF-8"),
        ];
        for (payload, needle) in cases {
            let err = Anomaly::from_bytes(payload).unwrap_err();
            assert!(
                err.0.contains(needle),
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
        assert!(Anomaly::from_json(&json!([1])).is_err());
    }
}
