//! The Firehose data-transformation contract: one answer per record, in order, never a failed
//! batch for a bad record, and a response that always fits Lambda's 6 MB limit.
//!
//! The event and response types are our own rather than `aws_lambda_events`' Firehose types on
//! purpose: those decode `data` while the event is deserialized (one bad record fails the whole
//! batch, which Firehose then retries and finally dumps whole) and re-encode it on the way out
//! (so a failed record's original text could not be returned byte for byte).
//!
//! The enriched data is carried as a ready JSON string ([`Data::Encoded`]) because base64 never
//! needs escaping: letting serde_json check its ~5.5 MB byte by byte cost a quarter of a batch's
//! CPU time in the profile.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::click::{self, Added, ClickFacts, Fields, Rejection};
use crate::dispatch::RecordRef;
use crate::response_limit;
use crate::timestamp;

/// The three answers Firehose understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

/// The response Firehose expects: `{"records": [...]}`.
#[derive(Debug, Serialize)]
pub struct FirehoseResponse<'a> {
    pub records: Vec<ResponseRecord<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRecord<'a> {
    pub record_id: Cow<'a, str>,
    pub result: RecordResult,
    pub data: Data<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// A record's base64 `data` in the response.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Data<'a> {
    /// The enriched line, base64, already a JSON string (quotes included).
    Encoded(Box<RawValue>),
    /// The original text, as it came.
    Original(Cow<'a, str>),
}

impl Data<'_> {
    fn encoded(line: &[u8]) -> Self {
        let mut quoted = String::with_capacity(line.len().div_ceil(3) * 4 + 2);
        quoted.push('"');
        STANDARD.encode_string(line, &mut quoted);
        quoted.push('"');
        // Base64 between quotes is always a valid JSON string; the check is a fast scan.
        match RawValue::from_string(quoted) {
            Ok(raw) => Self::Encoded(raw),
            Err(_) => Self::Original(Cow::Owned(STANDARD.encode(line))),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub partition_keys: PartitionKeys,
}

/// Keys for Firehose dynamic partitioning, read by the template's S3 prefix as
/// `!{partitionKeyFromLambda:status}` and so on.
#[derive(Debug)]
pub struct PartitionKeys {
    pub is_anomaly: bool,
    /// The record's `event_time`; date and hour are slices of it.
    pub event_time: String,
}

impl PartitionKeys {
    pub fn status(&self) -> &'static str {
        if self.is_anomaly {
            "anomaly"
        } else {
            "processed"
        }
    }
}

impl Serialize for PartitionKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PartitionKeys", 3)?;
        st.serialize_field("status", self.status())?;
        st.serialize_field("event_date", self.event_time.get(..10).unwrap_or_default())?;
        st.serialize_field(
            "event_hour",
            self.event_time.get(11..13).unwrap_or_default(),
        )?;
        st.end()
    }
}

/// What the transform needs besides the event.
#[derive(Debug, Clone)]
pub struct TransformSettings<'a> {
    /// `event_type` values answered `Dropped`.
    pub drop_event_types: &'a [String],
    /// The invocation time, written as `processed_at`.
    pub now: DateTime<Utc>,
    /// The largest serialized response allowed (Lambda's limit, smaller in tests).
    pub response_limit: usize,
}

/// Lambda's limit on a synchronous invocation's response payload.
pub const LAMBDA_RESPONSE_LIMIT: usize = 6_291_456;

/// Counts per result, for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub dropped: usize,
    pub failed: usize,
    /// Valid records turned `ProcessingFailed` only to keep the response under the limit.
    pub failed_for_size: usize,
}

/// An anomalous click the alert will describe.
#[derive(Debug, Clone, PartialEq)]
pub struct FlaggedClick {
    pub record_id: String,
    pub user_id: String,
    pub page_url: String,
    pub event_time: DateTime<Utc>,
}

/// The transform's result: the serialized response and what the rest of the function needs.
#[derive(Debug)]
pub struct Transformed {
    pub body: Box<RawValue>,
    pub tally: Tally,
    /// Valid records flagged anomalous, whatever the size guard then did with them.
    pub anomalies: Vec<FlaggedClick>,
}

enum Verdict {
    Ok {
        data: Data<'static>,
        facts: ClickFacts,
    },
    Dropped,
    Failed(Rejection),
}

/// Scratch buffers reused across the records of a batch.
#[derive(Default)]
struct Scratch {
    decoded: Vec<u8>,
    line: Vec<u8>,
}

/// Transforms a whole batch. Never fails: every record gets exactly one answer.
pub fn transform<'a>(
    records: &'a [RecordRef<'a>],
    settings: &TransformSettings<'_>,
) -> Transformed {
    let processed_at = timestamp::format_millis(&settings.now);
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    let mut anomalies = Vec::new();
    let mut answers = Vec::with_capacity(records.len());

    for record in records {
        let verdict = match &record.data {
            Some(data) => judge(data, record, settings, &processed_at, &mut scratch),
            None => Verdict::Failed(Rejection::NoData),
        };
        let answer = match verdict {
            Verdict::Ok { data, facts } => {
                tally.ok += 1;
                if facts.is_anomaly {
                    anomalies.push(FlaggedClick {
                        record_id: record.record_id.to_string(),
                        user_id: facts.user_id,
                        page_url: facts.page_url,
                        event_time: facts.event_time,
                    });
                }
                ResponseRecord {
                    record_id: Cow::Borrowed(&record.record_id),
                    result: RecordResult::Ok,
                    data,
                    metadata: Some(Metadata {
                        partition_keys: PartitionKeys {
                            is_anomaly: facts.is_anomaly,
                            event_time: facts.event_time_text,
                        },
                    }),
                }
            }
            Verdict::Dropped => {
                tally.dropped += 1;
                unchanged(record, RecordResult::Dropped)
            }
            Verdict::Failed(reason) => {
                tally.failed += 1;
                tracing::warn!(
                    record_id = %record.record_id,
                    reason = %reason,
                    code = reason.code(),
                    "record answered ProcessingFailed"
                );
                unchanged(record, RecordResult::ProcessingFailed)
            }
        };
        answers.push(answer);
    }

    let mut response = FirehoseResponse { records: answers };
    let mut body = to_raw(&response);
    if body.get().len() > settings.response_limit {
        let flipped = fit_under_limit(&mut response, records, settings.response_limit);
        tally.ok -= flipped;
        tally.failed += flipped;
        tally.failed_for_size = flipped;
        tracing::warn!(
            records = flipped,
            limit = settings.response_limit,
            "response would exceed Lambda's limit: valid records answered ProcessingFailed with their original data"
        );
        body = to_raw(&response);
    }
    Transformed {
        body,
        tally,
        anomalies,
    }
}

/// An answer that returns the record's data as it came.
fn unchanged<'a>(record: &'a RecordRef<'a>, result: RecordResult) -> ResponseRecord<'a> {
    ResponseRecord {
        record_id: Cow::Borrowed(&record.record_id),
        result,
        data: Data::Original(Cow::Borrowed(record.data.as_deref().unwrap_or_default())),
        metadata: None,
    }
}

fn judge(
    data: &str,
    record: &RecordRef<'_>,
    settings: &TransformSettings<'_>,
    processed_at: &str,
    scratch: &mut Scratch,
) -> Verdict {
    scratch.decoded.clear();
    if STANDARD.decode_vec(data, &mut scratch.decoded).is_err() {
        return Verdict::Failed(Rejection::InvalidBase64);
    }
    let Ok(text) = std::str::from_utf8(&scratch.decoded) else {
        return Verdict::Failed(Rejection::NotUtf8);
    };
    let fields = match Fields::parse(text) {
        Ok(fields) => fields,
        Err(reason) => return Verdict::Failed(reason),
    };
    let event_type = match fields.string("event_type") {
        Ok(event_type) => event_type,
        Err(reason) => return Verdict::Failed(reason),
    };
    if settings.drop_event_types.iter().any(|t| *t == event_type) {
        return Verdict::Dropped;
    }
    let facts = match click::check(&fields) {
        Ok(facts) => facts,
        Err(reason) => return Verdict::Failed(reason),
    };
    let arrival_time = arrival_time(record.approximate_arrival_timestamp);
    let added = Added {
        event_time: &facts.event_time_text,
        arrival_time: arrival_time.as_deref(),
        processed_at,
        is_anomaly: facts.is_anomaly,
    };
    click::write_enriched(&fields, &added, &mut scratch.line);
    Verdict::Ok {
        data: Data::encoded(&scratch.line),
        facts,
    }
}

/// `approximateArrivalTimestamp` as RFC 3339, or `None` when missing or unusable: Firehose's own
/// metadata being odd is no reason to fail a good record.
fn arrival_time(raw: Option<&RawValue>) -> Option<String> {
    let ms: f64 = raw?.get().parse().ok()?;
    if !ms.is_finite() || ms.abs() > 9_007_199_254_740_992.0 {
        return None;
    }
    timestamp::from_epoch_millis(ms.floor() as i64).map(|t| timestamp::format_millis(&t))
}

fn to_raw(response: &FirehoseResponse<'_>) -> Box<RawValue> {
    // Serializing our own types into a String cannot fail: no maps with non-string keys.
    serde_json::value::to_raw_value(response).unwrap_or_default()
}

/// Turns as few `Ok` answers as possible into `ProcessingFailed` (with the original data) until
/// the response fits `limit`. Returns how many were turned.
fn fit_under_limit<'a>(
    response: &mut FirehoseResponse<'a>,
    records: &'a [RecordRef<'a>],
    limit: usize,
) -> usize {
    let record_len = |r: &ResponseRecord<'_>| serde_json::to_vec(r).map_or(0, |v| v.len());
    let mut lengths = Vec::with_capacity(response.records.len());
    let mut savings = Vec::new();
    for (i, (answer, record)) in response.records.iter().zip(records).enumerate() {
        let len = record_len(answer);
        lengths.push(len);
        if answer.result == RecordResult::Ok {
            let failed = unchanged(record, RecordResult::ProcessingFailed);
            savings.push((i, len.saturating_sub(record_len(&failed)), failed));
        }
    }
    let savings_view: Vec<(usize, usize)> = savings.iter().map(|(i, s, _)| (*i, *s)).collect();
    let chosen = response_limit::choose_to_shrink(&lengths, &savings_view, limit);
    let mut turned = 0;
    for (i, _, failed) in savings {
        if chosen[i] {
            response.records[i] = failed;
            turned += 1;
        }
    }
    turned
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const CLICK: &str = r#"{"timestamp": "2026-11-27T10:15:30.123456", "user_id": 42, "page_url": "/pagina-3", "event_type": "click", "element_id": "boton-1", "x_coordinate": 10, "y_coordinate": 20, "anomaly_detected": [true]}"#;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    fn settings(drop: &[String], limit: usize) -> TransformSettings<'_> {
        TransformSettings {
            drop_event_types: drop,
            now: "2026-11-27T12:00:00.5Z".parse().unwrap(),
            response_limit: limit,
        }
    }

    fn run_with(event: &Value, drop: &[String], limit: usize) -> (Value, Transformed) {
        let text = event.to_string();
        let parsed = crate::dispatch::Envelope::parse(&text).unwrap();
        let out = transform(parsed.records.as_deref().unwrap(), &settings(drop, limit));
        (serde_json::from_str(out.body.get()).unwrap(), out)
    }

    fn run(event: &Value) -> Value {
        run_with(event, &[], LAMBDA_RESPONSE_LIMIT).0
    }

    fn one(data: &str) -> Value {
        json!({"invocationId": "i", "deliveryStreamArn": "arn", "region": "us-east-1",
               "records": [{"recordId": "r1", "approximateArrivalTimestamp": 1_764_238_531_000_i64, "data": data}]})
    }

    fn decoded(answer: &Value) -> Value {
        let bytes = STANDARD.decode(answer["data"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text:?}"
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_valid_click_is_ok_enriched_and_partitioned() {
        let response = run(&one(&b64(CLICK.as_bytes())));
        let answer = &response["records"][0];
        assert_eq!(answer["recordId"], "r1");
        assert_eq!(answer["result"], "Ok");
        let record = decoded(answer);
        assert_eq!(record["user_id"], 42);
        assert_eq!(record["anomaly_detected"], json!([true]));
        assert_eq!(record["event_time"], "2026-11-27T10:15:30.123Z");
        assert_eq!(record["arrival_time"], "2025-11-27T10:15:31.000Z");
        assert_eq!(record["processed_at"], "2026-11-27T12:00:00.500Z");
        assert_eq!(record["is_anomaly"], true);
        assert_eq!(
            answer["metadata"]["partitionKeys"],
            json!({"status": "anomaly", "event_date": "2026-11-27", "event_hour": "10"})
        );
    }

    #[test]
    fn every_failure_reason_answers_processing_failed_with_the_original_text() {
        let fields = |extra: &str| {
            format!(
                r#"{{"timestamp":"2026-11-27T10:00:00","user_id":1,"page_url":"/p","event_type":"click"{extra}}}"#
            )
        };
        let without = |name: &str| {
            let mut v: Value = serde_json::from_str(&fields("")).unwrap();
            v.as_object_mut().unwrap().remove(name);
            v.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            ("not base64!".into(), "invalid_base64"),
            ("eyJhIjo".into(), "invalid_base64"), // a length no padding explains
            (b64(&[0xff, 0xfe, b'{', b'}']), "not_utf8"),
            (b64(b"[1,2]"), "not_one_json_object"),
            (b64(b"{\"a\":1}{\"a\":2}"), "not_one_json_object"),
            (b64(b"{\"a\":1}\n{\"a\":2}\n"), "not_one_json_object"),
            (b64(b""), "not_one_json_object"),
            (b64(without("timestamp").as_bytes()), "missing_field"),
            (b64(without("user_id").as_bytes()), "missing_field"),
            (b64(without("page_url").as_bytes()), "missing_field"),
            (b64(without("event_type").as_bytes()), "missing_field"),
            (
                b64(fields("").replace("\"/p\"", "[]").as_bytes()),
                "wrong_type",
            ),
            (
                b64(fields("").replace("\"click\"", "1").as_bytes()),
                "wrong_type",
            ),
            (
                b64(fields("").replace(":1,", ":true,").as_bytes()),
                "wrong_type",
            ),
            (
                b64(fields("")
                    .replace("2026-11-27T10:00:00", "later")
                    .as_bytes()),
                "bad_timestamp",
            ),
        ];
        let record_text = one("")["records"][0].to_string();
        let record: RecordRef<'_> = serde_json::from_str(&record_text).unwrap();
        for (data, code) in cases {
            let verdict = judge(
                &data,
                &record,
                &settings(&[], 0),
                "now",
                &mut Scratch::default(),
            );
            assert!(
                matches!(&verdict, Verdict::Failed(r) if r.code() == code),
                "{code}: {data}"
            );
            let response = run(&one(&data));
            let answer = &response["records"][0];
            assert_eq!(answer["result"], "ProcessingFailed", "{code}: {data}");
            assert_eq!(answer["data"], data.as_str(), "{code}");
            assert!(answer.get("metadata").is_none());
        }
    }

    #[test]
    fn one_trailing_newline_is_fine_and_multiline_input_becomes_one_line() {
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(CLICK).unwrap()).unwrap();
        for data in [format!("{CLICK}\n"), pretty] {
            let response = run(&one(&b64(data.as_bytes())));
            assert_eq!(response["records"][0]["result"], "Ok", "{data}");
            decoded(&response["records"][0]);
        }
    }

    #[test]
    fn dropped_types_are_decided_before_other_checks() {
        let drop = vec!["scroll".to_owned(), "hover".to_owned()];
        let cases = [
            (r#"{"event_type":"scroll"}"#, "Dropped"),
            (r#"{"event_type":"hover","timestamp":"never"}"#, "Dropped"),
            (r#"{"event_type":"Scroll"}"#, "ProcessingFailed"),
            (CLICK, "Ok"),
        ];
        for (payload, want) in cases {
            let data = b64(payload.as_bytes());
            let (response, out) = run_with(&one(&data), &drop, LAMBDA_RESPONSE_LIMIT);
            let answer = &response["records"][0];
            assert_eq!(answer["result"], want, "{payload}");
            if want == "Dropped" {
                assert_eq!(answer["data"], data.as_str());
                assert_eq!(out.tally.dropped, 1);
            }
        }
    }

    #[test]
    fn odd_envelopes_never_fail_the_batch() {
        let data = b64(CLICK.as_bytes());
        let event = json!({
            "invocationId": 7, "deliveryStreamArn": null, "region": ["x"], "extra": {"a": 1},
            "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:1:stream/s",
            "records": [
                {"recordId": "a", "data": data, "kinesisRecordMetadata": "odd", "more": [1]},
                {"recordId": "b", "data": data, "approximateArrivalTimestamp": "soon"},
                {"recordId": "c", "data": data, "approximateArrivalTimestamp": 1e30},
                {"recordId": "d", "data": data, "approximateArrivalTimestamp": null,
                 "kinesisRecordMetadata": {"shardId": 1, "partitionKey": null, "approximateArrivalTimestamp": "x"}},
                {"recordId": "e"},
                {"recordId": "f", "data": 12},
            ]
        });
        let response = run(&event);
        let answers = response["records"].as_array().unwrap();
        let ids: Vec<_> = answers
            .iter()
            .map(|a| a["recordId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
        for answer in &answers[..4] {
            assert_eq!(answer["result"], "Ok");
            assert_eq!(decoded(answer)["arrival_time"], Value::Null);
        }
        for answer in &answers[4..] {
            assert_eq!(answer["result"], "ProcessingFailed");
            assert_eq!(answer["data"], "");
        }
    }

    #[test]
    fn an_empty_batch_answers_an_empty_list() {
        let response = run(&json!({"invocationId": "i", "deliveryStreamArn": "a", "records": []}));
        assert_eq!(response, json!({"records": []}));
    }

    #[test]
    fn the_size_guard_keeps_the_response_under_the_limit_and_as_many_records_ok_as_fit() {
        let data = b64(CLICK.as_bytes());
        let records: Vec<Value> = (0..40)
            .map(|i| json!({"recordId": format!("r{i}"), "approximateArrivalTimestamp": 1_764_238_531_000_i64, "data": data}))
            .collect();
        let event = json!({"invocationId": "i", "deliveryStreamArn": "a", "records": records});
        let (full, _) = run_with(&event, &[], LAMBDA_RESPONSE_LIMIT);
        let full_len = full.to_string().len();
        let limit = full_len * 3 / 4;
        let (response, out) = run_with(&event, &[], limit);
        assert!(
            out.body.get().len() <= limit,
            "{} > {limit}",
            out.body.get().len()
        );
        let answers = response["records"].as_array().unwrap();
        assert_eq!(answers.len(), 40);
        let failed: Vec<&Value> = answers
            .iter()
            .filter(|a| a["result"] == "ProcessingFailed")
            .collect();
        assert!(!failed.is_empty());
        assert!(failed.iter().all(|a| a["data"] == data.as_str()));
        assert_eq!(out.tally.failed_for_size, failed.len());
        assert_eq!(out.tally.ok, 40 - failed.len());
        // One record fewer turned would not have fitted: as many as possible stayed Ok.
        let ok_len = (full_len - "{\"records\":[]}".len() - 39) / 40; // all records are alike
        let one_less =
            out.body.get().len() + (ok_len - serde_json::to_string(failed[0]).unwrap().len());
        assert!(
            one_less > limit,
            "turning {} was more than needed",
            failed.len()
        );
        // The anomalies are still reported: they were valid records.
        assert_eq!(out.anomalies.len(), 40);
    }
}
