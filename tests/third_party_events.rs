//! Events written by others: every fixture under `tests/fixtures/third-party/` (our own
//! re-creations of other projects' sample events, listed in its `manifest.json`) is run through
//! the real binary with `invoke FILE`, and its answer is checked against the contract for the
//! fixture's `expect` kind. A fixture missing from the manifest fails the run, so none goes
//! unchecked. `tests/fixtures/third-party/README.md` says where each fixture comes from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value};

mod common;

use common::clickstream;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    file: String,
    origin: String,
    licence: String,
    expect: String,
}

/// The kinds a fixture can expect, as written in the manifest.
const KINDS: [&str; 6] = [
    "firehose",
    "firehose-msk",
    "kinesis-stream",
    "kda-output",
    "kda-preprocessing",
    "unrecognized",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/third-party")
}

fn manifest() -> Vec<Entry> {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid: {e}", path.display()))
}

/// Runs `check` on every fixture that expects `kind` (there is at least one), and fails after the
/// last one if any broke the contract, naming them all; each one's own message is printed above.
fn check_all(kind: &str, check: impl Fn(&Entry)) {
    let entries: Vec<Entry> = manifest()
        .into_iter()
        .filter(|e| e.expect == kind)
        .collect();
    assert!(!entries.is_empty(), "no fixture expects `{kind}`");
    let failed: Vec<&str> = entries
        .iter()
        .filter(|entry| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(entry))).is_err()
        })
        .map(|entry| entry.file.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} `{kind}` fixtures break the contract: {failed:#?}",
        failed.len(),
        entries.len()
    );
}

/// How many records of the `kind` fixtures carry one of our clicks in `payload_key`.
fn clicks_in(kind: &str, payload_key: &str) -> usize {
    manifest()
        .iter()
        .filter(|e| e.expect == kind)
        .flat_map(|e| event(e)["records"].as_array().cloned().unwrap_or_default())
        .filter(|r| is_click(r[payload_key].as_str().unwrap_or_default()))
        .count()
}

/// Every `.json` file under the fixtures folder but the manifest, relative to it, with `/`.
fn fixture_files(dir: &Path, out: &mut BTreeSet<String>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            let relative = path.strip_prefix(fixtures_dir()).unwrap();
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if name != "manifest.json" {
                out.insert(name);
            }
        }
    }
}

/// Runs `invoke FILE` with a clean configuration, whatever the calling shell has set.
fn invoke(entry: &Entry) -> Output {
    clickstream()
        .arg("invoke")
        .arg(fixtures_dir().join(&entry.file))
        .output()
        .unwrap_or_else(|e| panic!("{}: cannot run the binary: {e}", entry.file))
}

fn event(entry: &Entry) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(&entry.file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", entry.file))
}

/// Exit 0 and standard output one JSON object; returns it.
fn answered(entry: &Entry, out: &Output) -> Map<String, Value> {
    let name = &entry.file;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: expected exit 0; stderr:\n{stderr}"
    );
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "{name}: standard output is not one JSON object ({other:?}): {}",
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}

/// Exit 1, nothing on standard output, and exactly one line on standard error holding `needle`.
fn check_refused(entry: &Entry, needle: &str) {
    let name = &entry.file;
    let out = invoke(entry);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: expected exit 1; stdout: {stdout}; stderr:\n{stderr}"
    );
    assert!(
        stdout.is_empty(),
        "{name}: a refused event prints nothing on standard output, got: {stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{name}: a refused event prints exactly one line on standard error, got:\n{stderr}"
    );
    assert!(
        lines[0].contains(needle),
        "{name}: the error line should contain {needle:?}: {}",
        lines[0]
    );
}

/// The decoded payload if it is one of our clicks: a JSON object with a string `timestamp`, an
/// integer or string `user_id`, and string `page_url` and `event_type`.
fn is_click(payload: &str) -> bool {
    let Ok(bytes) = STANDARD.decode(payload) else {
        return false;
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    let string = |k: &str| fields.get(k).is_some_and(Value::is_string);
    let user = fields
        .get("user_id")
        .is_some_and(|u| u.is_string() || u.is_i64() || u.is_u64());
    string("timestamp") && user && string("page_url") && string("event_type")
}

/// Checks the Firehose transformation contract, the payload being carried in `payload_key`
/// (`data`, or `kafkaRecordValue` for an Amazon MSK source).
fn check_firehose(entry: &Entry, payload_key: &str) {
    let other_key = if payload_key == "data" {
        "kafkaRecordValue"
    } else {
        "data"
    };
    let name = &entry.file;
    let event = event(entry);
    let records = event["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: the fixture has no `records` list"));
    let out = invoke(entry);
    let response = answered(entry, &out);
    let keys: Vec<&String> = response.keys().collect();
    assert_eq!(
        keys,
        ["records"],
        "{name}: the response is {{\"records\": [...]}}"
    );
    let answers = response["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: `records` is not a list"));
    assert_eq!(
        answers.len(),
        records.len(),
        "{name}: one answer per record"
    );
    for (i, (record, answer)) in records.iter().zip(answers).enumerate() {
        let at = format!("{name}: records[{i}]");
        assert_eq!(
            answer["recordId"], record["recordId"],
            "{at}: same recordId, same order"
        );
        assert!(
            answer.get(other_key).is_none(),
            "{at}: the answer carries `{payload_key}`, never `{other_key}`: {answer}"
        );
        let input = record[payload_key].as_str().unwrap_or_default();
        let result = answer["result"].as_str().unwrap_or_default();
        if is_click(input) {
            assert_eq!(result, "Ok", "{at}: a valid click is answered Ok: {answer}");
        } else {
            assert_eq!(
                result, "ProcessingFailed",
                "{at}: a payload that is not a click is answered ProcessingFailed: {answer}"
            );
        }
        match result {
            "Ok" => check_enriched(&at, answer, payload_key),
            "Dropped" | "ProcessingFailed" => assert_eq!(
                answer.get(payload_key),
                record.get(payload_key),
                "{at}: a {result} answer returns the input's `{payload_key}` byte for byte"
            ),
            other => panic!("{at}: result {other:?} is none of Ok, Dropped, ProcessingFailed"),
        }
    }
}

/// An `Ok` answer: one JSON object line, enriched, with partition keys that agree with it.
fn check_enriched(at: &str, answer: &Value, payload_key: &str) {
    let encoded = answer[payload_key]
        .as_str()
        .unwrap_or_else(|| panic!("{at}: an Ok answer has a `{payload_key}` string: {answer}"));
    let bytes = STANDARD
        .decode(encoded)
        .unwrap_or_else(|e| panic!("{at}: `{payload_key}` is not base64: {e}"));
    let line = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{at}: not UTF-8: {e}"));
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{at}: the record is one line ending with one newline: {line:?}"
    );
    let object: Map<String, Value> = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{at}: the record is not one JSON object ({e}): {line:?}"));
    for field in ["event_time", "arrival_time", "processed_at", "is_anomaly"] {
        assert!(
            object.contains_key(field),
            "{at}: `{field}` missing in {line}"
        );
    }
    let event_time = object["event_time"]
        .as_str()
        .unwrap_or_else(|| panic!("{at}: `event_time` is not a string in {line}"));
    let keys = &answer["metadata"]["partitionKeys"];
    let status = if object["is_anomaly"] == true {
        "anomaly"
    } else {
        "processed"
    };
    assert_eq!(
        keys["status"], status,
        "{at}: status agrees with is_anomaly"
    );
    assert_eq!(
        keys["event_date"],
        event_time.get(..10).unwrap_or_default(),
        "{at}: event_date is event_time's date"
    );
    assert_eq!(
        keys["event_hour"],
        event_time.get(11..13).unwrap_or_default(),
        "{at}: event_hour is event_time's hour"
    );
}

/// Kinesis data stream: nothing handed back for retry.
fn check_kinesis_stream(entry: &Entry) {
    let name = &entry.file;
    let out = invoke(entry);
    let response = answered(entry, &out);
    assert_eq!(
        response.get("batchItemFailures"),
        Some(&Value::Array(vec![])),
        "{name}: every record is acknowledged (payloads that are not anomalies are not retried)"
    );
}

/// Kinesis Data Analytics output delivery: every record acknowledged, in order.
fn check_kda_output(entry: &Entry) {
    let name = &entry.file;
    let event = event(entry);
    let records = event["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: the fixture has no `records` list"));
    let out = invoke(entry);
    let response = answered(entry, &out);
    let answers = response
        .get("records")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{name}: the response has no `records` list: {response:?}"));
    assert_eq!(
        answers.len(),
        records.len(),
        "{name}: one answer per record"
    );
    for (i, (record, answer)) in records.iter().zip(answers).enumerate() {
        assert_eq!(
            answer["recordId"], record["recordId"],
            "{name}: records[{i}]: same recordId, same order"
        );
        assert_eq!(
            answer["result"], "Ok",
            "{name}: records[{i}]: acknowledged, not retried: {answer}"
        );
    }
}

#[test]
fn every_fixture_is_in_the_manifest_and_every_entry_is_complete() {
    let entries = manifest();
    let mut listed = BTreeSet::new();
    for entry in &entries {
        let name = &entry.file;
        assert!(listed.insert(name.clone()), "{name} is listed twice");
        assert!(
            KINDS.contains(&entry.expect.as_str()),
            "{name}: unknown expect kind {:?}, one of {KINDS:?}",
            entry.expect
        );
        assert!(!entry.origin.trim().is_empty(), "{name}: origin is empty");
        assert!(!entry.licence.trim().is_empty(), "{name}: licence is empty");
        assert!(
            fixtures_dir().join(name).is_file(),
            "{name} is listed but missing"
        );
    }
    let mut present = BTreeSet::new();
    fixture_files(&fixtures_dir(), &mut present);
    let unlisted: Vec<&String> = present.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "fixtures missing from manifest.json (so never checked): {unlisted:?}"
    );
}

#[test]
fn the_ok_path_is_exercised_on_third_party_envelopes() {
    assert!(
        clicks_in("firehose", "data") > 0,
        "no Firehose fixture carries a valid click"
    );
    assert!(
        clicks_in("firehose-msk", "kafkaRecordValue") > 0,
        "no MSK fixture carries a valid click"
    );
}

#[test]
fn firehose_events_are_answered_record_by_record() {
    check_all("firehose", |e| check_firehose(e, "data"));
}

#[test]
fn firehose_events_from_amazon_msk_are_answered_in_kafka_record_value() {
    check_all("firehose-msk", |e| check_firehose(e, "kafkaRecordValue"));
}

#[test]
fn kinesis_stream_events_hand_nothing_back_for_retry() {
    check_all("kinesis-stream", check_kinesis_stream);
}

#[test]
fn kinesis_analytics_output_events_are_all_acknowledged() {
    check_all("kda-output", check_kda_output);
}

#[test]
fn kinesis_analytics_input_preprocessing_events_are_refused_by_name() {
    check_all("kda-preprocessing", |e| {
        check_refused(e, "input-preprocessing")
    });
}

#[test]
fn events_of_other_services_are_refused() {
    check_all("unrecognized", |e| check_refused(e, "expected one of"));
}
