//! Tests of the whole-batch transform, case by case: each failure reason, drops, odd envelopes,
//! bursts, the size guard. [`properties`] checks the same contract on random batches.

mod properties;

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
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
        let mut scratch = Scratch::default();
        let verdict = judge(
            &record,
            &settings(&[], 0),
            "now",
            &mut scratch.decoded,
            &mut scratch.line,
        );
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
            {"recordId": "c2", "data": data, "approximateArrivalTimestamp": i64::MIN},
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
    assert_eq!(ids, ["a", "b", "c", "c2", "d", "e", "f"]);
    for answer in &answers[..5] {
        assert_eq!(answer["result"], "Ok");
        assert_eq!(decoded(answer)["arrival_time"], Value::Null);
    }
    for answer in &answers[5..] {
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
