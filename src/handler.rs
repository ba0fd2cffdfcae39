//! The handler: what one invocation does, the same for the Lambda runtime and for `invoke`.
//!
//! It routes each kind of event, applies storm control, and decides what a failed alert means
//! for the records: data is never held hostage by alerting (a Firehose batch's results never
//! depend on SNS), while alert-only sources are answered failed so that they are retried.

use std::sync::Mutex;

use aws_lambda_events::event::kinesis::analytics::{
    KinesisAnalyticsOutputDeliveryResponse, KinesisAnalyticsOutputDeliveryResponseRecord,
};
use aws_lambda_events::event::streams::KinesisEventResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::alert::{self, DataLocation, Source, SourceKind};
use crate::anomaly::{Anomaly, NotAnAnomaly};
use crate::config::Config;
use crate::cooldown::{Cooldown, Decision};
use crate::dispatch::{Envelope, EventKind, RecordRef, UnrecognizedEvent};
use crate::firehose::{self, FlaggedClick, LAMBDA_RESPONSE_LIMIT, TransformSettings};
use crate::metrics::InvocationMetrics;
use crate::publisher::{AlertPublisher, PublishError};

/// Why an invocation failed as a whole.
#[derive(Debug)]
pub enum HandlerError {
    /// Not one of the accepted shapes.
    Unrecognized(UnrecognizedEvent),
    /// A direct event with items that are not anomalies; nothing was published.
    Rejected(String),
    /// A direct event whose alert could not be published.
    Publish(PublishError),
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unrecognized(e) => e.fmt(f),
            Self::Rejected(why) => f.write_str(why),
            Self::Publish(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for HandlerError {}

impl From<UnrecognizedEvent> for HandlerError {
    fn from(e: UnrecognizedEvent) -> Self {
        Self::Unrecognized(e)
    }
}

/// What one invocation produced: the answer, and the counts for the metrics line.
#[derive(Debug)]
pub struct Invocation {
    pub result: Result<Box<RawValue>, HandlerError>,
    pub metrics: InvocationMetrics,
    /// The event source, as the metrics dimension names it; `None` for an unrecognized event,
    /// which gets no metrics line (it is not one of ours, and `invoke` owes one error line).
    pub source: Option<&'static str>,
}

/// How a batch's alert went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AlertOutcome {
    Published(Option<String>),
    Suppressed,
    Failed,
}

/// A direct event's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DirectResponse {
    published: usize,
    suppressed: usize,
    message_id: Option<String>,
}

/// Everything built once at cold start and used by every invocation.
#[derive(Debug)]
pub struct Handler<P> {
    config: Config,
    publisher: P,
    cooldown: Mutex<Cooldown>,
}

impl<P: AlertPublisher> Handler<P> {
    pub fn new(config: Config, publisher: P) -> Self {
        Self {
            cooldown: Mutex::new(Cooldown::new(config.alert_cooldown)),
            config,
            publisher,
        }
    }

    /// Answers one event (JSON text) received at `now`.
    ///
    /// Only an unrecognizable event, a direct event with unreadable items, or a direct event
    /// whose alert fails is an error; anything wrong inside a batch is answered record by record.
    pub async fn handle(&self, event: &str, now: DateTime<Utc>) -> Invocation {
        let mut metrics = InvocationMetrics::default();
        let kind = Envelope::parse(event).and_then(|envelope| Ok((envelope.kind()?, envelope)));
        let (kind, envelope) = match kind {
            Ok(found) => found,
            Err(e) => {
                return Invocation {
                    result: Err(e.into()),
                    metrics,
                    source: None,
                };
            }
        };
        let (result, source) = match kind {
            EventKind::Firehose => (
                Ok(self.firehose(&envelope, now, &mut metrics).await),
                SourceKind::Firehose,
            ),
            EventKind::KinesisAnalytics => (
                self.analytics(&envelope, now, &mut metrics).await,
                SourceKind::KinesisAnalytics,
            ),
            EventKind::KinesisStream => (
                self.stream(&envelope, now, &mut metrics).await,
                SourceKind::KinesisStream,
            ),
            EventKind::Direct => (
                self.direct(&envelope, now, &mut metrics).await,
                SourceKind::Direct,
            ),
        };
        Invocation {
            result,
            metrics,
            source: Some(source.code()),
        }
    }

    async fn firehose(
        &self,
        event: &Envelope<'_>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Box<RawValue> {
        let records = event.records.as_deref().unwrap_or_default();
        let settings = TransformSettings {
            drop_event_types: &self.config.drop_event_types,
            now,
            response_limit: LAMBDA_RESPONSE_LIMIT,
        };
        let out = firehose::transform(records, &settings);
        let stream = Envelope::text(event.delivery_stream_arn);
        tracing::info!(
            delivery_stream = stream.as_deref().unwrap_or("-"),
            invocation_id = Envelope::text(event.invocation_id)
                .as_deref()
                .unwrap_or("-"),
            records = records.len(),
            ok = out.tally.ok,
            dropped = out.tally.dropped,
            processing_failed = out.tally.failed,
            failed_for_size = out.tally.failed_for_size,
            anomalies = out.anomalies.len(),
            "firehose batch transformed"
        );
        metrics.records_ok = out.tally.ok;
        metrics.records_dropped = out.tally.dropped;
        metrics.records_processing_failed = out.tally.failed;
        metrics.anomalies = out.anomalies.len();
        if !out.anomalies.is_empty() {
            let source = Source {
                kind: SourceKind::Firehose,
                name: stream.unwrap_or_else(|| "unknown delivery stream".into()),
                invocation_id: Envelope::text(event.invocation_id),
            };
            let location = DataLocation {
                processed_prefix: self.config.processed_data_uri.clone(),
                partitions: partitions(&out.anomalies),
            };
            let anomalies: Vec<Anomaly> = out.anomalies.iter().map(click_anomaly).collect();
            // The records' results are already decided: a failed alert is logged and counted only.
            self.alert(&source, &anomalies, Some(&location), now, metrics)
                .await;
        }
        out.body
    }

    async fn analytics(
        &self,
        event: &Envelope<'_>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, HandlerError> {
        let records = event.records.as_deref().unwrap_or_default();
        let read: Vec<Result<Anomaly, NotAnAnomaly>> = records
            .iter()
            .map(|r| read_record(r.data.as_deref()))
            .collect();
        for (record, result) in records.iter().zip(&read) {
            if let Err(reason) = result {
                tracing::warn!(record_id = %record.record_id, reason = %reason, "KDA record is not an anomaly: answered DeliveryFailed");
            }
        }
        let source = Source {
            kind: SourceKind::KinesisAnalytics,
            name: Envelope::text(event.application_arn)
                .unwrap_or_else(|| "unknown application".into()),
            invocation_id: Envelope::text(event.invocation_id),
        };
        let delivered = self.alert_readable(&source, read, now, metrics).await;
        let mut response = KinesisAnalyticsOutputDeliveryResponse::default();
        response.records = records
            .iter()
            .zip(delivered)
            .map(|(record, ok)| analytics_answer(record, ok))
            .collect();
        to_raw(&response)
    }

    async fn stream(
        &self,
        event: &Envelope<'_>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, HandlerError> {
        let records = event.kinesis_records()?;
        let mut read = Vec::with_capacity(records.len());
        let mut sequence_numbers = Vec::with_capacity(records.len());
        for record in &records {
            let payload = record.kinesis.as_ref();
            let sequence = payload
                .and_then(|k| k.sequence_number.as_deref())
                .unwrap_or_default();
            let result = read_record(payload.and_then(|k| k.data.as_deref()));
            if let Err(reason) = &result {
                tracing::warn!(sequence_number = sequence, reason = %reason, "Kinesis record is not an anomaly: reported as a batch item failure");
            }
            read.push(result);
            sequence_numbers.push(sequence.to_owned());
        }
        let source = Source {
            kind: SourceKind::KinesisStream,
            name: records
                .first()
                .and_then(|r| r.event_source_arn.as_deref())
                .unwrap_or("unknown stream")
                .to_owned(),
            invocation_id: None,
        };
        let delivered = self.alert_readable(&source, read, now, metrics).await;
        let mut response = KinesisEventResponse::default();
        response.set_failures(
            sequence_numbers
                .into_iter()
                .zip(delivered)
                .filter(|(_, ok)| !ok)
                .map(|(sequence, _)| sequence),
        );
        to_raw(&response)
    }

    async fn direct(
        &self,
        event: &Envelope<'_>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, HandlerError> {
        let items: Vec<serde_json::Value> = event
            .anomalies
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|e| HandlerError::Rejected(format!("`anomalies` cannot be read: {e}")))?
            .unwrap_or_default();
        let mut anomalies = Vec::with_capacity(items.len());
        let mut problems = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match Anomaly::from_json(item) {
                Ok(a) => anomalies.push(a),
                Err(reason) => problems.push(format!("anomalies[{i}]: {reason}")),
            }
        }
        if !problems.is_empty() {
            let shown: Vec<&str> = problems.iter().take(10).map(String::as_str).collect();
            let more = problems.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            return Err(HandlerError::Rejected(format!(
                "{} of {} anomalies cannot be read, so nothing was published: {}{tail}",
                problems.len(),
                items.len(),
                shown.join("; ")
            )));
        }
        let source = Source {
            kind: SourceKind::Direct,
            name: Envelope::text(event.source).unwrap_or_else(|| "direct".into()),
            invocation_id: None,
        };
        metrics.anomalies = anomalies.len();
        let response = if anomalies.is_empty() {
            DirectResponse {
                published: 0,
                suppressed: 0,
                message_id: None,
            }
        } else {
            match self.alert(&source, &anomalies, None, now, metrics).await {
                AlertOutcome::Published(message_id) => DirectResponse {
                    published: anomalies.len(),
                    suppressed: 0,
                    message_id,
                },
                AlertOutcome::Suppressed => DirectResponse {
                    published: 0,
                    suppressed: anomalies.len(),
                    message_id: None,
                },
                AlertOutcome::Failed => {
                    return Err(HandlerError::Publish(PublishError(format!(
                        "the alert for {} anomalies could not be published",
                        anomalies.len()
                    ))));
                }
            }
        };
        to_raw(&response)
    }

    /// Alerts on the readable records of an alert-only batch. Returns, per record, whether it
    /// was delivered: readable, and its alert published or held back by the cooldown.
    async fn alert_readable(
        &self,
        source: &Source,
        read: Vec<Result<Anomaly, NotAnAnomaly>>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Vec<bool> {
        let readable: Vec<bool> = read.iter().map(Result::is_ok).collect();
        let anomalies: Vec<Anomaly> = read.into_iter().filter_map(Result::ok).collect();
        metrics.records_ok = anomalies.len();
        metrics.records_processing_failed = readable.len() - anomalies.len();
        metrics.anomalies = anomalies.len();
        if !anomalies.is_empty()
            && self.alert(source, &anomalies, None, now, metrics).await == AlertOutcome::Failed
        {
            return vec![false; readable.len()];
        }
        readable
    }

    /// Storm control, then one publish.
    async fn alert(
        &self,
        source: &Source,
        anomalies: &[Anomaly],
        location: Option<&DataLocation>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> AlertOutcome {
        let decision = self.with_cooldown(|c| c.decide(&source.name, anomalies.len(), now));
        let carried = match decision {
            Decision::Suppress => {
                tracing::info!(source = %source.name, anomalies = anomalies.len(), "alert held back by the cooldown");
                metrics.alerts_suppressed += 1;
                return AlertOutcome::Suppressed;
            }
            Decision::Publish(carried) => carried,
        };
        let alert = alert::compose(source, anomalies, carried, location);
        match self.publisher.publish(&alert).await {
            Ok(message_id) => {
                self.with_cooldown(|c| c.published(&source.name, now));
                tracing::info!(
                    source = %source.name,
                    anomalies = alert.anomaly_count,
                    severity = alert.severity.as_str(),
                    message_id = message_id.as_deref().unwrap_or("-"),
                    "alert published"
                );
                metrics.alerts_published += 1;
                AlertOutcome::Published(message_id)
            }
            Err(e) => {
                tracing::error!(source = %source.name, anomalies = alert.anomaly_count, error = %e, "alert could not be published");
                metrics.alerts_failed += 1;
                AlertOutcome::Failed
            }
        }
    }

    fn with_cooldown<T>(&self, f: impl FnOnce(&mut Cooldown) -> T) -> T {
        // A panic while holding the lock cannot leave the cooldown inconsistent, so a
        // poisoned lock is still usable.
        let mut guard = self
            .cooldown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// Decodes and reads one KDA or Kinesis record's payload.
fn read_record(data: Option<&str>) -> Result<Anomaly, NotAnAnomaly> {
    let data = data.ok_or_else(|| NotAnAnomaly("record has no data string".into()))?;
    let bytes = STANDARD
        .decode(data)
        .map_err(|_| NotAnAnomaly("data is not valid base64".into()))?;
    Anomaly::from_bytes(&bytes)
}

fn analytics_answer(
    record: &RecordRef<'_>,
    ok: bool,
) -> KinesisAnalyticsOutputDeliveryResponseRecord {
    let mut answer = KinesisAnalyticsOutputDeliveryResponseRecord::default();
    answer.record_id = Some(record.record_id.to_string());
    answer.result = Some(if ok { "Ok" } else { "DeliveryFailed" }.to_owned());
    answer
}

/// An anomalous click as an anomaly of the common schema.
fn click_anomaly(click: &FlaggedClick) -> Anomaly {
    let mut details = serde_json::Map::new();
    details.insert("record_id".into(), click.record_id.clone().into());
    Anomaly {
        metric: Some("anomaly_detected".into()),
        page_url: Some(click.page_url.clone()),
        user_id: Some(click.user_id.clone()),
        detected_at: Some(click.event_time),
        details: Some(details),
        ..Anomaly::default()
    }
}

/// The distinct `dt=…/hour=…` partitions the anomalous clicks were written to, in time order.
fn partitions(clicks: &[FlaggedClick]) -> Vec<String> {
    let mut keys: Vec<String> = clicks
        .iter()
        .map(|c| c.event_time.format("dt=%Y-%m-%d/hour=%H").to_string())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn to_raw<T: Serialize>(value: &T) -> Result<Box<RawValue>, HandlerError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| HandlerError::Rejected(format!("cannot serialize the response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use serde_json::{Value, json};
    use std::time::Duration;

    /// Records every alert; fails every publish when `fail` is set.
    #[derive(Default)]
    struct Recorder {
        alerts: Mutex<Vec<Alert>>,
        fail: bool,
    }

    impl AlertPublisher for &Recorder {
        async fn publish(&self, alert: &Alert) -> Result<Option<String>, PublishError> {
            if self.fail {
                return Err(PublishError("topic does not exist".into()));
            }
            let mut alerts = self.alerts.lock().unwrap();
            alerts.push(alert.clone());
            Ok(Some(format!("msg-{}", alerts.len())))
        }
    }

    fn config(cooldown: u64) -> Config {
        Config {
            drop_event_types: vec![],
            alert_topic_arn: Some("arn:aws:sns:us-east-1:1:T".into()),
            alert_cooldown: Duration::from_secs(cooldown),
            processed_data_uri: Some("s3://processed/weblogs/".into()),
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

    async fn run(
        h: &Handler<&Recorder>,
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

        let (answer, _) = run(&bad_h, &kda(), at("10:00:00")).await;
        assert_eq!(
            answer.unwrap(),
            json!({"records": [{"recordId": "a", "result": "DeliveryFailed"}, {"recordId": "b", "result": "DeliveryFailed"}]})
        );
        let (answer, _) = run(&ok_h, &kda(), at("10:00:00")).await;
        assert_eq!(
            answer.unwrap(),
            json!({"records": [{"recordId": "a", "result": "Ok"}, {"recordId": "b", "result": "DeliveryFailed"}]})
        );

        let (answer, _) = run(&bad_h, &kinesis(), at("10:00:00")).await;
        assert_eq!(
            answer.unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]})
        );
        let (answer, _) = run(&ok_h, &kinesis(), at("10:00:00")).await;
        assert_eq!(
            answer.unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "2"}]})
        );

        let (answer, metrics) = run(&bad_h, &direct(json!([{"score": 1}])), at("10:00:00")).await;
        assert!(answer.unwrap_err().contains("could not be published"));
        assert_eq!(metrics.alerts_failed, 1);
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
        let (answer, _) = run(&h, &kinesis(), at("10:06:00")).await;
        assert_eq!(
            answer.unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "2"}]})
        );
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
}
