//! The Firehose data-transformation contract over a whole batch: one answer per record, in
//! order, never a failed batch for a bad record, and an answer that fits Lambda's 6 MB limit
//! or a clear error when nothing can make it fit.
//!
//! The event and answer types are our own rather than `aws_lambda_events`' Firehose types on
//! purpose: those decode `data` while the event is deserialized (one bad record fails the whole
//! batch, which Firehose then retries and finally dumps whole) and re-encode it on the way out
//! (so a failed record's original text could not be returned byte for byte).

pub(crate) mod answer;
pub(crate) mod body;
pub(crate) mod click;
pub(crate) mod fields;
pub(crate) mod partition;
#[cfg(test)]
mod properties;
pub(crate) mod rejection;
pub(crate) mod response_limit;
pub(crate) mod timestamp;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::detect::burst::{self, Burst, UserClick};
use crate::detect::settings::DetectSettings;
use crate::event::record::{BatchRecord, EnvelopeFault};
use answer::{Answer, RecordResult};
use body::{Body, Patches};
use click::{Added, ClickFacts, Reason};
use fields::Fields;
use partition::PartitionKeys;
use rejection::Rejection;
pub(crate) use response_limit::LAMBDA_RESPONSE_LIMIT;

/// What the transform needs besides the records.
#[derive(Debug, Clone)]
pub(crate) struct TransformSettings<'a> {
    /// `event_type` values answered `Dropped`.
    pub(crate) drop_event_types: &'a [String],
    /// The invocation time, written as `processed_at`.
    pub(crate) now: DateTime<Utc>,
    /// The largest serialized answer allowed (Lambda's limit, smaller in tests).
    pub(crate) response_limit: usize,
    /// Which record-level detectors run, and how.
    pub(crate) detect: &'a DetectSettings,
}

/// Counts per result, for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) ok: usize,
    pub(crate) dropped: usize,
    pub(crate) failed: usize,
    /// Valid records turned `ProcessingFailed` only to keep the answer under the limit.
    pub(crate) failed_for_size: usize,
}

/// A valid click, for the detectors across batches and for the alert. A batch holds thousands
/// of these beside its body, so each is small: its user and page share one allocation, and the
/// text of its `event_time` is written again when needed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValidClick {
    /// The record's position in the batch.
    pub(crate) record: usize,
    /// The user's text, then the page's.
    user_and_page: Box<str>,
    /// Where the page starts in `user_and_page`.
    page_at: usize,
    pub(crate) event_time: DateTime<Utc>,
    /// The producer's flag counted (`producer_flag` among its reasons).
    pub(crate) flagged: bool,
}

impl ValidClick {
    pub(crate) fn new(
        record: usize,
        user_id: &str,
        page_url: &str,
        event_time: DateTime<Utc>,
        flagged: bool,
    ) -> Self {
        let mut user_and_page = String::with_capacity(user_id.len() + page_url.len());
        user_and_page.push_str(user_id);
        user_and_page.push_str(page_url);
        Self {
            record,
            user_and_page: user_and_page.into_boxed_str(),
            page_at: user_id.len(),
            event_time,
            flagged,
        }
    }

    pub(crate) fn user_id(&self) -> &str {
        self.user_and_page.get(..self.page_at).unwrap_or_default()
    }

    pub(crate) fn page_url(&self) -> &str {
        self.user_and_page.get(self.page_at..).unwrap_or_default()
    }

    /// `event_time` as the record's line has it, from which the record's partition follows.
    pub(crate) fn event_time_text(&self) -> String {
        timestamp::format_millis(&self.event_time)
    }
}

/// The transform's result: the serialized answer and what the rest of the function needs.
#[derive(Debug)]
pub(crate) struct Transformed {
    pub(crate) body: Box<RawValue>,
    pub(crate) tally: Tally,
    /// Every valid click, whatever the size guard then did with it.
    pub(crate) clicks: Vec<ValidClick>,
    /// Users who clicked faster than a person can.
    pub(crate) bursts: Vec<Burst>,
}

impl Transformed {
    /// The clicks the producer flagged.
    pub(crate) fn flagged(&self) -> impl Iterator<Item = &ValidClick> {
        self.clicks.iter().filter(|c| c.flagged)
    }
}

/// The batch cannot be answered within Lambda's limit, whatever is given up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "the answer to these {records} records needs at least {needed} bytes, even with every valid \
     record answered ProcessingFailed, over Lambda's response limit of {limit} bytes: the \
     invocation fails, so Firehose retries the batch and then writes it to the processing-failed \
     prefix; lower the stream's Lambda buffer size (BufferSizeInMBs)"
)]
pub struct TooLarge {
    records: usize,
    needed: usize,
    limit: usize,
}

/// Where a valid click's line is in the body, so that a burst found after the whole batch was
/// read can give the line its reason: where its base64 starts, the line's length, and the
/// length of the line but its verdict (what [`click::write_head`] wrote).
struct Line {
    data: usize,
    len: usize,
    head: usize,
}

/// Buffers reused across the records of a batch: the decoded payload, and the enriched line
/// being encoded.
#[derive(Default)]
struct Scratch {
    decoded: Vec<u8>,
    line: Vec<u8>,
}

/// Transforms a whole batch: every record gets exactly one answer, or, when no answer can fit
/// Lambda's limit, the batch gets a [`TooLarge`] error.
///
/// Each record is read, checked, enriched and encoded once, straight into the response body,
/// its verdict from what the record says (the producer's flag). The batch's record-level
/// detectors (bursts) then run on the valid clicks, and only the answers of clicks in a burst
/// are written again: their line decoded from the body, its verdict rewritten, encoded, and
/// spliced in. Bursts are rare, so the batch is not held twice in memory for them.
pub(crate) fn transform<'a>(
    records: &'a [BatchRecord<'a>],
    settings: &TransformSettings<'_>,
) -> Result<Transformed, TooLarge> {
    let processed_at = timestamp::format_millis(&settings.now);
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    let mut clicks = Vec::new();
    let mut lines = Vec::new();
    let mut body = Body::with_capacity(records.len(), body_estimate(records));
    for (index, record) in records.iter().enumerate() {
        match judge(record, settings, &processed_at, &mut scratch) {
            Judged::Ok { head, facts } => {
                tally.ok += 1;
                let flagged = facts.flagged && settings.detect.producer_flag;
                let reasons: &[Reason] = if flagged {
                    &[Reason::ProducerFlag]
                } else {
                    &[]
                };
                click::write_tail(reasons, &mut scratch.line);
                let keys = PartitionKeys {
                    is_anomaly: flagged,
                    event_time: &facts.event_time_text,
                };
                let data = body.push_ok(
                    &record.record_id,
                    record.payload_field,
                    &scratch.line,
                    &keys,
                );
                lines.push(Line {
                    data,
                    len: scratch.line.len(),
                    head,
                });
                clicks.push(ValidClick::new(
                    index,
                    &facts.user_id,
                    &facts.page_url,
                    facts.event_time,
                    flagged,
                ));
            }
            Judged::Dropped => {
                tally.dropped += 1;
                body.push(&Answer::unchanged(record, RecordResult::Dropped));
            }
            Judged::Failed(reason) => {
                tally.failed += 1;
                // Debug formatting escapes the id: a newline in it cannot start a forged line.
                tracing::warn!(
                    record_id = ?record.record_id,
                    reason = %reason,
                    code = reason.code(),
                    "record answered ProcessingFailed"
                );
                body.push(&Answer::unchanged(record, RecordResult::ProcessingFailed));
            }
        }
    }

    let bursts = if settings.detect.user_bursts {
        find_bursts(&clicks, settings.detect)
    } else {
        Vec::new()
    };
    if !bursts.is_empty() {
        relabel(
            &mut body,
            records,
            &clicks,
            &lines,
            &bursts,
            &mut scratch.line,
        );
    }

    if body.len() > settings.response_limit {
        let turned = fit_under_limit(&mut body, records, settings.response_limit)?;
        tally.ok -= turned;
        tally.failed += turned;
        tally.failed_for_size = turned;
        tracing::warn!(
            records = turned,
            limit = settings.response_limit,
            "answer would exceed Lambda's limit: dropped records answered without data, and \
             valid records answered ProcessingFailed with their original data"
        );
    }
    Ok(Transformed {
        body: to_raw(body.finish()),
        tally,
        clicks,
        bursts,
    })
}

/// About the body's length: an `Ok` answer's base64 is about its payload's length plus that of
/// the fields the line gains, and each answer adds its id and some 150 bytes of envelope.
fn body_estimate(records: &[BatchRecord<'_>]) -> usize {
    records
        .iter()
        .map(|r| r.payload.as_deref().map_or(0, str::len) + r.record_id.len() + 384)
        .sum()
}

/// Gives the lines of the clicks in a burst their reason: each is decoded from the body, cut
/// after its head, finished by [`click::write_tail`], encoded into a new answer, and the new
/// answers are spliced in together.
fn relabel(
    body: &mut Body,
    records: &[BatchRecord<'_>],
    clicks: &[ValidClick],
    lines: &[Line],
    bursts: &[Burst],
    line: &mut Vec<u8>,
) {
    let mut in_burst = vec![false; clicks.len()];
    for burst in bursts {
        for &i in &burst.records {
            in_burst[i] = true;
        }
    }
    let mut patches = Patches::default();
    let mut reasons = Vec::with_capacity(2);
    for ((click, at), _) in clicks.iter().zip(lines).zip(&in_burst).filter(|(_, b)| **b) {
        let Some(record) = records.get(click.record) else {
            continue;
        };
        reasons.clear();
        if click.flagged {
            reasons.push(Reason::ProducerFlag);
        }
        reasons.push(Reason::UserBurst);
        line.clear();
        // Our own base64 of a line at least `head` bytes long: neither check can fail.
        let encoded = body.bytes(at.data..at.data + answer::encoded_len(at.len));
        let decoded = STANDARD.decode_vec(encoded, line);
        debug_assert!(decoded.is_ok() && line.len() >= at.head);
        line.truncate(at.head);
        click::write_tail(&reasons, line);
        let event_time = click.event_time_text();
        let keys = PartitionKeys {
            is_anomaly: true,
            event_time: &event_time,
        };
        patches.add(click.record, RecordResult::Ok, |out| {
            answer::write_ok(out, &record.record_id, record.payload_field, line, &keys);
        });
    }
    body.splice(&patches);
}

/// The batch's bursts; their `records` index `clicks`.
fn find_bursts(clicks: &[ValidClick], detect: &DetectSettings) -> Vec<Burst> {
    let mut users: Vec<UserClick<'_>> = clicks
        .iter()
        .enumerate()
        .map(|(index, c)| UserClick::new(index, c.user_id(), c.event_time))
        .collect();
    burst::find(&mut users, detect.burst_min_clicks, detect.burst_span)
}

/// What reading a record made of it.
enum Judged {
    /// Valid: `scratch.line` holds its enriched line but the verdict, `head` bytes long.
    Ok {
        head: usize,
        facts: ClickFacts,
    },
    Dropped,
    Failed(Rejection),
}

fn judge(
    record: &BatchRecord<'_>,
    settings: &TransformSettings<'_>,
    processed_at: &str,
    scratch: &mut Scratch,
) -> Judged {
    match record.fault {
        Some(EnvelopeFault::Duplicate(field)) => {
            return Judged::Failed(Rejection::DuplicateEnvelopeField(field));
        }
        Some(EnvelopeFault::TwoPayloads) => return Judged::Failed(Rejection::TwoPayloads),
        None => {}
    }
    let Some(data) = &record.payload else {
        return Judged::Failed(Rejection::NoData);
    };
    scratch.decoded.clear();
    if STANDARD
        .decode_vec(data.as_bytes(), &mut scratch.decoded)
        .is_err()
    {
        return Judged::Failed(Rejection::InvalidBase64);
    }
    let Ok(text) = std::str::from_utf8(&scratch.decoded) else {
        return Judged::Failed(Rejection::NotUtf8);
    };
    if fields::has_lone_surrogate(text) {
        return Judged::Failed(Rejection::LoneSurrogate);
    }
    let Ok(fields) = Fields::parse(text) else {
        return Judged::Failed(Rejection::NotOneJsonObject);
    };
    let event_type = match click::string_field(&fields, "event_type") {
        Ok(event_type) => event_type,
        Err(reason) => return Judged::Failed(reason),
    };
    if settings.drop_event_types.iter().any(|t| *t == event_type) {
        return Judged::Dropped;
    }
    let facts = match click::check(&fields) {
        Ok(facts) => facts,
        Err(reason) => return Judged::Failed(reason),
    };
    let arrival_time =
        arrival_time(record.approximate_arrival_timestamp).map(|t| timestamp::format_millis(&t));
    let added = Added {
        event_time: &facts.event_time_text,
        arrival_time: arrival_time.as_deref(),
        processed_at,
    };
    scratch.line.clear();
    click::write_head(&fields, &added, &mut scratch.line);
    Judged::Ok {
        head: scratch.line.len(),
        facts,
    }
}

/// `approximateArrivalTimestamp` (epoch milliseconds), or `None` when missing or unusable:
/// Firehose's own metadata being odd is no reason to fail a good record.
pub(crate) fn arrival_time(raw: Option<&RawValue>) -> Option<DateTime<Utc>> {
    let ms: f64 = raw?.get().parse().ok()?;
    if !ms.is_finite() || ms.abs() > 9_007_199_254_740_992.0 {
        return None;
    }
    timestamp::from_epoch_millis(ms.floor() as i64)
}

/// The finished body as the handler returns it.
fn to_raw(body: Vec<u8>) -> Box<RawValue> {
    // Our own writing: UTF-8 and one JSON object, so neither check fails.
    String::from_utf8(body)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .unwrap_or_default()
}

/// Makes the answer fit `limit`, giving up as little as possible: first the data of `Dropped`
/// answers (nobody reads it), then as few `Ok` answers as possible, turned `ProcessingFailed`
/// with their original data. Returns how many records were turned.
fn fit_under_limit(
    body: &mut Body,
    records: &[BatchRecord<'_>],
    limit: usize,
) -> Result<usize, TooLarge> {
    let mut total = body.len();
    // (answer, bytes saved by shrinking it)
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    let mut failed: Vec<(usize, usize)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let shrunk = match body.result(i) {
            Some(RecordResult::Dropped) => Answer::blank(record),
            Some(RecordResult::Ok) => Answer::unchanged(record, RecordResult::ProcessingFailed),
            _ => continue,
        };
        let saving = body.answer_len(i).saturating_sub(shrunk.len());
        match shrunk.result {
            RecordResult::Dropped => dropped.push((i, saving)),
            _ => failed.push((i, saving)),
        }
    }
    let mut blanked = response_limit::choose(&mut dropped, &mut total, limit);
    let mut turned = response_limit::choose(&mut failed, &mut total, limit);
    if total > limit {
        return Err(TooLarge {
            records: records.len(),
            needed: total,
            limit,
        });
    }
    blanked.sort_unstable();
    turned.sort_unstable();
    let mut patches = Patches::default();
    let (mut to_blank, mut to_turn) = (blanked.iter().peekable(), turned.iter().peekable());
    for (i, record) in records.iter().enumerate() {
        let answer = if to_blank.next_if_eq(&&i).is_some() {
            Answer::blank(record)
        } else if to_turn.next_if_eq(&&i).is_some() {
            Answer::unchanged(record, RecordResult::ProcessingFailed)
        } else {
            continue;
        };
        patches.add(i, answer.result, |out| answer::write_json(out, &answer));
    }
    body.splice(&patches);
    debug_assert_eq!(body.len(), total);
    Ok(turned.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const CLICK: &str = r#"{"timestamp": "2026-11-27T10:15:30.123456", "user_id": 42, "page_url": "/pagina-3", "event_type": "click", "element_id": "boton-1", "x_coordinate": 10, "y_coordinate": 20, "anomaly_detected": [true]}"#;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    const DETECT: DetectSettings = DetectSettings {
        user_bursts: true,
        rates: false,
        ..DetectSettings::DEFAULT
    };

    fn settings(drop: &[String], limit: usize) -> TransformSettings<'_> {
        TransformSettings {
            drop_event_types: drop,
            now: "2026-11-27T12:00:00.5Z".parse().unwrap(),
            response_limit: limit,
            detect: &DETECT,
        }
    }

    fn run_with(event: &Value, drop: &[String], limit: usize) -> (Value, Transformed) {
        let text = event.to_string();
        let parsed = crate::event::envelope::Envelope::parse(&text).unwrap();
        let out = transform(parsed.records.as_deref().unwrap(), &settings(drop, limit)).unwrap();
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
            (b64(br#"{"a":"\ud800"}"#), "lone_surrogate"),
            (
                b64(fields(r#","extra":["\udc00"]"#).as_bytes()),
                "lone_surrogate",
            ),
            (
                b64(fields("").replace(":00\"", ":60\"").as_bytes()),
                "bad_timestamp",
            ),
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
        for (data, code) in cases {
            let record_text = one(&data)["records"][0].to_string();
            let record: BatchRecord<'_> = serde_json::from_str(&record_text).unwrap();
            let verdict = judge(&record, &settings(&[], 0), "now", &mut Scratch::default());
            assert!(
                matches!(&verdict, Judged::Failed(r) if r.code() == code),
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
    fn clicks_in_a_burst_get_the_reason_and_nothing_else_changes() {
        // A bot: 60 clicks of user 777 in 6 s, every tenth flagged by the producer; and a
        // person: one click of user 42 a second.
        let click = |user: u32, ms: u32, flag: bool| {
            let at = format!("2026-11-27T10:00:{:02}.{:03}", ms / 1000, ms % 1000);
            format!(
                r#"{{"timestamp":"{at}","user_id":{user},"page_url":"/p","event_type":"click","anomaly_detected":[{flag}]}}"#
            )
        };
        let mut payloads: Vec<(u32, bool)> = Vec::new();
        let mut records = Vec::new();
        for i in 0..60_u32 {
            for (user, ms, flag) in [(777, i * 100, i % 10 == 0), (42, i * 1000 % 60_000, false)] {
                records.push(json!({"recordId": format!("r{}", records.len()),
                    "approximateArrivalTimestamp": 1_764_238_531_000_i64,
                    "data": b64(click(user, ms, flag).as_bytes())}));
                payloads.push((user, flag));
            }
        }
        let event = json!({"invocationId": "i", "deliveryStreamArn": "a", "records": records});
        let text = event.to_string();
        let parsed = crate::event::envelope::Envelope::parse(&text).unwrap();
        let batch = parsed.records.as_deref().unwrap();
        let answer = |detect: &DetectSettings| -> Value {
            let settings = TransformSettings {
                detect,
                ..settings(&[], LAMBDA_RESPONSE_LIMIT)
            };
            serde_json::from_str(transform(batch, &settings).unwrap().body.get()).unwrap()
        };
        let with = answer(&DETECT);
        let without = answer(&DetectSettings {
            user_bursts: false,
            ..DETECT
        });
        for (i, (user, flag)) in payloads.iter().enumerate() {
            let (a, b) = (&with["records"][i], &without["records"][i]);
            let (mut line, plain) = (decoded(a), decoded(b));
            let want: Vec<&str> = match (*user == 777, *flag) {
                (true, true) => vec!["producer_flag", "user_burst"],
                (true, false) => vec!["user_burst"],
                (false, true) => vec!["producer_flag"],
                (false, false) => vec![],
            };
            assert_eq!(line["anomaly_reasons"], json!(want), "record {i}");
            assert_eq!(line["is_anomaly"], !want.is_empty(), "record {i}");
            let status = if want.is_empty() {
                "processed"
            } else {
                "anomaly"
            };
            assert_eq!(
                a["metadata"]["partitionKeys"]["status"], status,
                "record {i}"
            );
            // All else as it would have been without the detector, the field order included.
            line["anomaly_reasons"] = plain["anomaly_reasons"].clone();
            line["is_anomaly"] = plain["is_anomaly"].clone();
            assert_eq!(
                serde_json::to_string(&line).unwrap(),
                serde_json::to_string(&plain).unwrap()
            );
            assert_eq!(a["recordId"], b["recordId"]);
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
        assert_eq!(out.flagged().count(), 40);
    }
}
