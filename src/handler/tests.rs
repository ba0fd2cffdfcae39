//! The handler end to end on every event shape, with a recording publisher: one alert per
//! invocation, what a failed publish changes and does not, storm control, the size guard.

use super::*;
use crate::alert::compose::Alert;
use crate::alert::publisher::{Delivery, PublishError};
use crate::alert::severity::Severity;
use crate::alert::source::SourceKind;
use crate::detect::settings::DetectSettings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;

/// Records every alert; fails every publish when `fail` is set, and answers a dry run when
/// `dry` is.
#[derive(Default)]
struct Recorder {
    alerts: Mutex<Vec<Alert>>,
    fail: bool,
    dry: bool,
}

impl AlertPublisher for &Recorder {
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        if self.fail {
            return Err(PublishError::plain(
                "SNS Publish to T failed",
                "NotFound: topic does not exist",
            ));
        }
        let mut alerts = self.alerts.lock().unwrap();
        alerts.push(alert.clone());
        if self.dry {
            return Ok(Delivery::DryRun);
        }
        Ok(Delivery::Published {
            message_id: Some(format!("msg-{}", alerts.len())),
        })
    }
}

fn config(cooldown: u64) -> Config {
    Config {
        drop_event_types: vec![],
        alert_topic_arn: Some("arn:aws:sns:us-east-1:1:T".into()),
        alert_cooldown: Duration::from_secs(cooldown),
        processed_data_uri: Some("s3://processed/weblogs/".into()),
        state_table: None,
        // These tests are about the alert path; the detectors have their own.
        detect: DetectSettings {
            user_bursts: false,
            rates: false,
            ..DetectSettings::default()
        },
    }
}

fn at(s: &str) -> DateTime<Utc> {
    format!("2026-11-27T{s}Z").parse().unwrap()
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn click(anomaly: bool) -> String {
    b64(&format!(
        r#"{{"timestamp":"2026-11-27T10:00:00","user_id":1,"page_url":"/p","event_type":"click","anomaly_detected":[{anomaly}]}}"#
    ))
}

fn firehose(flags: &[bool]) -> String {
    let records: Vec<Value> = flags
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"recordId": format!("r{i}"), "approximateArrivalTimestamp": 1, "data": click(*a)}))
        .collect();
    json!({"invocationId": "i", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/S", "records": records}).to_string()
}

fn kda() -> String {
    json!({"applicationArn": "arn:aws:kinesisanalytics:us-east-1:1:application/A", "records": [
        {"recordId": "a", "data": b64("42.5,3.4")},
        {"recordId": "b", "data": b64("nope")},
    ]})
    .to_string()
}

fn kinesis() -> String {
    let record = |seq: &str, data: &str| {
        json!({"eventSource": "aws:kinesis", "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/K",
               "kinesis": {"sequenceNumber": seq, "data": b64(data), "partitionKey": "p"}})
    };
    json!({"Records": [record("1", r#"{"score": 4}"#), record("2", "x,y,z")]}).to_string()
}

fn direct(items: Value) -> String {
    json!({"source": "detector", "anomalies": items}).to_string()
}

async fn run<P: AlertPublisher>(
    h: &Handler<P>,
    event: &str,
    now: DateTime<Utc>,
) -> (Result<Value, String>, InvocationMetrics) {
    let inv = h.handle(event, now).await;
    let result = inv
        .result
        .map(|raw| serde_json::from_str(raw.get()).unwrap())
        .map_err(|e| e.to_string());
    (result, inv.metrics)
}

#[tokio::test]
async fn one_alert_per_invocation_and_none_without_anomalies() {
    let rec = Recorder::default();
    let h = Handler::new(config(0), &rec);
    run(&h, &firehose(&[true, false, true, true]), at("10:00:00"))
        .await
        .0
        .unwrap();
    run(&h, &firehose(&[false, false]), at("10:00:01"))
        .await
        .0
        .unwrap();
    run(&h, &kda(), at("10:00:02")).await.0.unwrap();
    run(&h, &kinesis(), at("10:00:03")).await.0.unwrap();
    let (answer, _) = run(
        &h,
        &direct(json!([{"score": 1}, {"metric": "m"}])),
        at("10:00:04"),
    )
    .await;
    assert_eq!(
        answer.unwrap(),
        json!({"published": 2, "suppressed": 0, "messageId": "msg-4"})
    );
    let alerts = rec.alerts.lock().unwrap();
    let summary: Vec<(SourceKind, usize)> =
        alerts.iter().map(|a| (a.source, a.anomaly_count)).collect();
    assert_eq!(
        summary,
        [
            (SourceKind::Firehose, 3),
            (SourceKind::KinesisAnalytics, 1),
            (SourceKind::KinesisStream, 1),
            (SourceKind::Direct, 2)
        ]
    );
    assert!(
        alerts[0]
            .report
            .contains("s3://processed/weblogs/status=anomaly/dt=2026-11-27/hour=10/")
    );
}

#[tokio::test]
async fn a_failed_publish_never_changes_firehose_results_but_fails_alert_only_sources() {
    let (good, bad) = (
        Recorder::default(),
        Recorder {
            fail: true,
            ..Recorder::default()
        },
    );
    let (ok_h, bad_h) = (
        Handler::new(config(0), &good),
        Handler::new(config(0), &bad),
    );
    let event = firehose(&[true, false]);
    let (with_sns, m_ok) = run(&ok_h, &event, at("10:00:00")).await;
    let (without_sns, m_bad) = run(&bad_h, &event, at("10:00:00")).await;
    assert_eq!(with_sns.unwrap(), without_sns.unwrap());
    assert_eq!((m_ok.alerts_published, m_ok.alerts_failed), (1, 0));
    assert_eq!((m_bad.alerts_published, m_bad.alerts_failed), (0, 1));

    // Only what can pass on a retry is handed back: the readable record whose alert failed.
    // The unreadable one is acknowledged whatever SNS does, and counted.
    let (answer, m) = run(&bad_h, &kda(), at("10:00:00")).await;
    assert_eq!(
        answer.unwrap(),
        json!({"records": [{"recordId": "a", "result": "DeliveryFailed"}, {"recordId": "b", "result": "Ok"}]})
    );
    assert_eq!(m.anomalies_unreadable, 1);
    let (answer, _) = run(&ok_h, &kda(), at("10:00:00")).await;
    assert_eq!(
        answer.unwrap(),
        json!({"records": [{"recordId": "a", "result": "Ok"}, {"recordId": "b", "result": "Ok"}]})
    );

    let (answer, m) = run(&bad_h, &kinesis(), at("10:00:00")).await;
    assert_eq!(
        answer.unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "1"}]})
    );
    assert_eq!(m.anomalies_unreadable, 1);
    let (answer, m) = run(&ok_h, &kinesis(), at("10:00:00")).await;
    assert_eq!(answer.unwrap(), json!({"batchItemFailures": []}));
    assert_eq!((m.anomalies_unreadable, m.records_ok), (1, 1));

    // The direct caller hears SNS's reason.
    let (answer, metrics) = run(&bad_h, &direct(json!([{"score": 1}])), at("10:00:00")).await;
    let err = answer.unwrap_err();
    assert!(err.contains("could not be published"), "{err}");
    assert!(err.contains("NotFound: topic does not exist"), "{err}");
    assert_eq!(metrics.alerts_failed, 1);
}

/// Fails its first publish, then publishes.
#[derive(Default)]
struct FailsOnce {
    calls: Mutex<usize>,
}

impl AlertPublisher for &FailsOnce {
    async fn publish(&self, _: &Alert) -> Result<Delivery, PublishError> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == 1 {
            return Err(PublishError::plain("SNS Publish to T failed", "throttled"));
        }
        Ok(Delivery::Published { message_id: None })
    }
}

#[tokio::test]
async fn a_failed_publish_gives_its_claim_back_so_the_next_finding_goes_out() {
    // Two handlers sharing one store, as two containers sharing a table.
    let sns = FailsOnce::default();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let a = Handler::new(config(300), &sns).with_state(store.clone());
    let b = Handler::new(config(300), &sns).with_state(store);
    let event = firehose(&[true]);
    let (_, m) = run(&a, &event, at("10:00:00")).await;
    assert_eq!(
        (m.alerts_failed, m.state_store_calls),
        (1, 2),
        "claim, release"
    );
    let (_, m) = run(&b, &event, at("10:00:30")).await;
    assert_eq!((m.alerts_published, m.alerts_suppressed), (1, 0));
    // Now the source is quiet for every container sharing the store.
    let (_, m) = run(&a, &event, at("10:01:00")).await;
    assert_eq!((m.alerts_published, m.alerts_suppressed), (0, 1));
}

#[tokio::test]
async fn cooldown_folds_and_suppression_is_not_failure() {
    let rec = Recorder::default();
    let h = Handler::new(config(300), &rec);
    let (_, m) = run(&h, &firehose(&[true]), at("10:00:00")).await;
    assert_eq!(m.alerts_published, 1);
    let (_, m) = run(&h, &firehose(&[true, true]), at("10:01:00")).await;
    assert_eq!((m.alerts_published, m.alerts_suppressed), (0, 1));
    let (_, m) = run(&h, &firehose(&[true]), at("10:05:00")).await;
    assert_eq!(m.alerts_published, 1);
    {
        let alerts = rec.alerts.lock().unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[1].anomaly_count, 3);
        assert!(
            alerts[1].sms.contains("+2 more since 10:01Z"),
            "{}",
            alerts[1].sms
        );
    }
    // Each source has its own quiet period; inside it, suppression answers success.
    run(&h, &kda(), at("10:05:00")).await.0.unwrap();
    let (answer, _) = run(&h, &kda(), at("10:06:00")).await;
    assert_eq!(answer.unwrap()["records"][0]["result"], "Ok");
    run(&h, &kinesis(), at("10:05:00")).await.0.unwrap();
    let (answer, m) = run(&h, &kinesis(), at("10:06:00")).await;
    assert_eq!(answer.unwrap(), json!({"batchItemFailures": []}));
    assert_eq!(m.alerts_suppressed, 1);
    run(&h, &direct(json!([{"score": 1}])), at("10:05:00"))
        .await
        .0
        .unwrap();
    let (answer, m) = run(
        &h,
        &direct(json!([{"score": 1}, {"score": 2}])),
        at("10:06:00"),
    )
    .await;
    assert_eq!(
        answer.unwrap(),
        json!({"published": 0, "suppressed": 2, "messageId": null})
    );
    assert_eq!(m.alerts_suppressed, 1);
    assert_eq!(rec.alerts.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_direct_event_with_unreadable_items_fails_whole_and_publishes_nothing() {
    let rec = Recorder::default();
    let h = Handler::new(config(0), &rec);
    let (answer, _) = run(
        &h,
        &direct(json!([{"score": 1}, {"a": 1}, "x", {"value": "high"}])),
        at("10:00:00"),
    )
    .await;
    let err = answer.unwrap_err();
    assert!(err.starts_with("3 of 4 anomalies cannot be read"), "{err}");
    assert!(
        err.contains("anomalies[2]: an anomaly must be a JSON object"),
        "{err}"
    );
    for item in ["anomalies[1]", "anomalies[2]", "anomalies[3]"] {
        assert!(err.contains(item), "{err}");
    }
    assert!(!err.contains("anomalies[0]"));
    assert!(rec.alerts.lock().unwrap().is_empty());
    let (answer, _) = run(&h, &direct(json!([])), at("10:00:00")).await;
    assert_eq!(
        answer.unwrap(),
        json!({"published": 0, "suppressed": 0, "messageId": null})
    );
}

#[tokio::test]
async fn unrecognized_events_fail_without_metrics() {
    let rec = Recorder::default();
    let h = Handler::new(config(0), &rec);
    let inv = h
        .handle(
            r#"{"Records":[{"eventSource":"aws:sqs","body":"x"}]}"#,
            at("10:00:00"),
        )
        .await;
    assert!(matches!(inv.result, Err(HandlerError::Unrecognized(_))));
    assert_eq!(inv.source, None);
}

#[tokio::test]
async fn a_tumbling_window_gets_its_state_back() {
    let rec = Recorder::default();
    let h = Handler::new(config(0), &rec);
    let mut event: Value = serde_json::from_str(&kinesis()).unwrap();
    event["window"] = json!({"start": "2026-11-27T10:00:00Z", "end": "2026-11-27T10:01:00Z"});
    event["state"] = json!({"seen": 3});
    let (answer, _) = run(&h, &event.to_string(), at("10:00:00")).await;
    assert_eq!(
        answer.unwrap(),
        json!({"batchItemFailures": [], "state": {"seen": 3}})
    );
}

#[tokio::test]
async fn a_dry_run_is_not_counted_as_published_but_starts_the_cooldown() {
    let rec = Recorder {
        dry: true,
        ..Recorder::default()
    };
    let h = Handler::new(config(300), &rec);
    let (answer, m) = run(
        &h,
        &direct(json!([{"score": 1}, {"score": 2}])),
        at("10:00:00"),
    )
    .await;
    assert_eq!(
        answer.unwrap(),
        json!({"published": 0, "suppressed": 0, "dryRun": 2, "messageId": null})
    );
    assert_eq!((m.alerts_published, m.alerts_failed), (0, 0));
    let (_, m) = run(&h, &direct(json!([{"score": 1}])), at("10:01:00")).await;
    assert_eq!(m.alerts_suppressed, 1);
}

#[tokio::test]
async fn a_direct_source_named_like_a_stream_cannot_mute_it_and_critical_breaks_through() {
    let rec = Recorder::default();
    let h = Handler::new(config(300), &rec);
    let stream = "arn:aws:firehose:us-east-1:1:deliverystream/S";
    let spoof = json!({"source": stream, "anomalies": [{"score": 1}]}).to_string();
    run(&h, &spoof, at("10:00:00")).await.0.unwrap();
    let (_, m) = run(&h, &firehose(&[true]), at("10:00:30")).await;
    assert_eq!(m.alerts_published, 1, "the stream's own alert went out");
    // Inside the stream's quiet period, an info batch is held, a critical one is not.
    let (_, m) = run(&h, &firehose(&[true]), at("10:01:00")).await;
    assert_eq!(m.alerts_suppressed, 1);
    let (_, m) = run(&h, &firehose(&[true; 120]), at("10:02:00")).await;
    assert_eq!(m.alerts_published, 1);
    let alerts = rec.alerts.lock().unwrap();
    let last = alerts.last().unwrap();
    assert_eq!(last.severity, Severity::Critical);
    assert_eq!(
        last.anomaly_count, 121,
        "the held anomaly is reported with it"
    );
}

#[tokio::test]
async fn envelope_duplicates_fail_their_record_not_the_batch_and_msk_answers_in_kind() {
    let rec = Recorder::default();
    let h = Handler::new(config(0), &rec);
    let good = click(false);
    let event = format!(
        r#"{{"invocationId":"i","deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/S","records":[
            {{"recordId":"dup-data","data":"{good}","data":"{good}"}},
            {{"recordId":"dup-id","recordId":"other","data":"{good}"}},
            {{"recordId":"msk","kafkaRecordValue":"{good}","topic":"t","kafkaPartition":0,"kafkaOffset":"1"}},
            {{"recordId":"fine","data":"{good}"}}]}}"#
    );
    let (answer, m) = run(&h, &event, at("10:00:00")).await;
    let answer = answer.unwrap();
    let results: Vec<(&str, &str)> = answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["recordId"].as_str().unwrap(),
                a["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("dup-data", "ProcessingFailed"),
            ("dup-id", "ProcessingFailed"),
            ("msk", "Ok"),
            ("fine", "Ok")
        ]
    );
    let msk = &answer["records"][2];
    assert!(msk.get("data").is_none(), "{msk}");
    assert!(
        msk["kafkaRecordValue"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert_eq!((m.records_ok, m.records_processing_failed), (2, 2));
}

#[tokio::test]
async fn an_answer_that_cannot_fit_fails_the_invocation_with_a_clear_error() {
    let rec = Recorder::default();
    // Tiny failing records: their answers outgrow the request.
    let records: Vec<Value> = (0..200)
        .map(|i| json!({"recordId": format!("{i}"), "data": "x"}))
        .collect();
    let event = json!({"invocationId": "i", "records": records}).to_string();
    let h = Handler::new(config(0), &rec).with_response_limit(event.len());
    let inv = h.handle(&event, at("10:00:00")).await;
    let err = inv.result.unwrap_err().to_string();
    assert!(err.contains("over Lambda's response limit"), "{err}");
    // With room, the same batch is answered record by record.
    let h = Handler::new(config(0), &rec);
    assert!(h.handle(&event, at("10:00:00")).await.result.is_ok());
}

#[tokio::test]
async fn a_bot_in_a_batch_is_named_in_the_alert_and_its_records_say_why() {
    let rec = Recorder::default();
    let mut cfg = config(0);
    cfg.detect = DetectSettings {
        rates: false,
        ..DetectSettings::default()
    };
    let h = Handler::new(cfg, &rec);
    let t0: DateTime<Utc> = at("10:00:00");
    let mut records = Vec::new();
    // User 777 clicks 8 times a second for 20 s; user 1 once, flagged by the producer.
    for i in 0..160 {
        let t = t0 + chrono::Duration::milliseconds(i * 125);
        let click = json!({"timestamp": t.to_rfc3339(), "user_id": 777, "page_url": "/p?x=1",
            "event_type": "click", "anomaly_detected": [false]});
        records.push(json!({"recordId": format!("b{i}"), "data": b64(&click.to_string())}));
    }
    records.push(json!({"recordId": "flag", "data": click(true)}));
    let event = json!({"invocationId": "i", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/S",
        "records": records}).to_string();
    let (answer, m) = run(&h, &event, at("10:01:00")).await;
    let answer = answer.unwrap();
    assert_eq!((m.user_bursts, m.producer_flags, m.anomalies), (1, 1, 2));
    let reasons = |i: usize| -> Value {
        let data = answer["records"][i]["data"].as_str().unwrap();
        let line: Value = serde_json::from_slice(&STANDARD.decode(data).unwrap()).unwrap();
        assert_eq!(
            line["is_anomaly"],
            !line["anomaly_reasons"].as_array().unwrap().is_empty()
        );
        line["anomaly_reasons"].clone()
    };
    assert_eq!(reasons(0), json!(["user_burst"]));
    assert_eq!(reasons(160), json!(["producer_flag"]));
    assert_eq!(
        answer["records"][0]["metadata"]["partitionKeys"]["status"],
        "anomaly"
    );
    let alerts = rec.alerts.lock().unwrap();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert!(
        alert.subject.contains("user 777: 160 clicks in 20 s"),
        "{}",
        alert.subject
    );
    assert!(
        alert.sms.contains("user 777: 160 clicks in 20 s"),
        "{}",
        alert.sms
    );
    assert!(
        !alert.sms.contains("flag") && !alert.subject.contains('{'),
        "{}",
        alert.sms
    );
    assert!(
        alert
            .report
            .contains("What happened:\n  - user 777: 160 clicks in 20 s"),
        "{}",
        alert.report
    );
    // 8 a second is 1.6 times the threshold's 5: a warning (score 3 at the threshold, 5 and
    // critical from 5/3 of it).
    assert_eq!(alert.severity, Severity::Warning);
}

#[tokio::test]
async fn a_bots_clicks_are_left_out_of_the_rates_whatever_precedes_them_in_the_batch() {
    let rec = Recorder::default();
    let mut cfg = config(0);
    cfg.detect = DetectSettings::default();
    let h = Handler::new(cfg, &rec);
    let line = |user: u32, t: DateTime<Utc>| {
        let click = json!({"timestamp": t.to_rfc3339(), "user_id": user, "page_url": "/p",
            "event_type": "click", "anomaly_detected": [false]});
        b64(&click.to_string())
    };
    let t0 = at("10:00:00");
    let mut records = Vec::new();
    // Records that fail come first, so a click's place among the valid clicks is not its
    // place in the batch.
    for i in 0..5 {
        records.push(json!({"recordId": format!("bad{i}"), "data": "not base64!"}));
    }
    // A bot: 60 clicks in 6 s; and 10 clicks of people.
    for i in 0..60 {
        let data = line(777, t0 + chrono::Duration::milliseconds(i * 100));
        records.push(json!({"recordId": format!("bot{i}"), "data": data}));
    }
    for i in 0..10 {
        let data = line(i + 1, t0 + chrono::Duration::seconds(i64::from(i) * 5));
        records.push(json!({"recordId": format!("person{i}"), "data": data}));
    }
    let batch = |records: &[Value], id: &str| {
        json!({"invocationId": id, "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/S",
            "records": records})
        .to_string()
    };
    let (_, m) = run(&h, &batch(&records, "one"), at("10:00:30")).await;
    assert_eq!((m.user_bursts, m.records_processing_failed), (1, 5));
    // A later click closes that minute alone: the site counted the people's clicks only.
    let later = [json!({"recordId": "later", "data": line(1, at("10:03:05"))})];
    let (_, m) = run(&h, &batch(&later, "two"), at("10:03:06")).await;
    assert_eq!(m.site_clicks.map(|(clicks, _)| clicks), Some(10.0));
}
