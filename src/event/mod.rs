//! The events this function answers, one module per shape, each with the same verbs in the
//! spirit of tokio's mini-redis commands:
//!
//! - `recognize`: build the typed event from what the envelope read (no second parse);
//! - `apply`: do the work (transform, detect, alert) against the [`Context`] it is given, and
//!   count it;
//! - `answer`: the response that event's caller expects.
//!
//! [`firehose`] is the data path; [`stream`] (Kinesis data streams), [`analytics`] (Kinesis
//! Data Analytics output) and [`direct`] (a detector calling us) only carry anomalies to alert on.
//!
//! The events know the context, never the handler that builds it (`crate::handler`), so the
//! dependency runs one way: handler → event → transform, detect, alert.

pub(crate) mod analytics;
pub(crate) mod context;
pub(crate) mod direct;
pub(crate) mod envelope;
pub(crate) mod error;
pub(crate) mod firehose;
pub(crate) mod lenient;
pub(crate) mod record;
pub(crate) mod stream;

use serde_json::value::RawValue;
use thiserror::Error;

use crate::alert::anomaly::{Anomaly, NotAnAnomaly};
use crate::alert::publisher::AlertPublisher;
use crate::alert::sender::Outcome;
use crate::alert::source::{Source, SourceKind};
use crate::metrics::InvocationMetrics;
pub(crate) use context::Context;
use envelope::Envelope;
pub use error::EventError;

/// What every error about an unrecognized event says it expected.
pub(crate) const ACCEPTED: &str = "expected one of: a Firehose transformation event \
    ({\"invocationId\", \"deliveryStreamArn\", \"records\": [{\"recordId\", \"data\" or \"kafkaRecordValue\", ...}]}); \
    a Kinesis Data Analytics output event ({\"applicationArn\", \"records\": [{\"recordId\", \"data\"}]}); \
    a Kinesis data stream event ({\"Records\": [{\"eventSource\": \"aws:kinesis\", \"kinesis\": {\"data\", \"sequenceNumber\"}}]}); \
    a direct anomaly event ({\"source\": \"...\", \"anomalies\": [...]})";

/// The event is none of the accepted shapes, or not JSON at all.
#[derive(Debug, Error)]
pub enum Unrecognized {
    #[error("event is not a JSON object; {ACCEPTED}")]
    NotAnObject,
    /// JSON, but not readable as any shape (a record without `recordId`, say); the parser's
    /// message says where.
    #[error("event cannot be read ({0}); {ACCEPTED}")]
    Unreadable(serde_json::Error),
    #[error("unrecognized event ({0}); {ACCEPTED}")]
    Shape(String),
    /// KDA input preprocessing wants the records transformed back, which is not this function's
    /// job; answering it like output delivery would silently drop the application's input.
    #[error(
        "this is a Kinesis Data Analytics input-preprocessing event (`streamArn` or \
         `kinesisStreamRecordMetadata`/`kinesisFirehoseRecordMetadata` beside `applicationArn`): \
         this function is not an input preprocessor; attach it to the application as an output \
         (Lambda destination) instead"
    )]
    KdaPreprocessing,
}

impl Unrecognized {
    pub(crate) fn shape(why: &str) -> Self {
        Self::Shape(why.to_owned())
    }
}

/// One event, typed by its shape, holding what was read of it.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    Firehose(firehose::FirehoseEvent<'a>),
    KinesisAnalytics(analytics::AnalyticsEvent<'a>),
    KinesisStream(stream::StreamEvent<'a>),
    Direct(direct::DirectEvent<'a>),
}

impl<'a> Event<'a> {
    /// Reads `text` once and tells which event it is.
    pub(crate) fn recognize(text: &'a str) -> Result<Self, Unrecognized> {
        Envelope::parse(text)?.into_event()
    }

    pub(crate) fn kind(&self) -> SourceKind {
        match self {
            Self::Firehose(_) => SourceKind::Firehose,
            Self::KinesisAnalytics(_) => SourceKind::KinesisAnalytics,
            Self::KinesisStream(_) => SourceKind::KinesisStream,
            Self::Direct(_) => SourceKind::Direct,
        }
    }

    /// Does the event's work against `cx` and gives its caller's answer.
    pub(crate) async fn apply<P: AlertPublisher>(
        self,
        cx: &Context<'_, P>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, EventError> {
        match self {
            Self::Firehose(e) => e.apply(cx, metrics).await,
            Self::KinesisAnalytics(e) => e.apply(cx, metrics).await,
            Self::KinesisStream(e) => e.apply(cx, metrics).await,
            Self::Direct(e) => e.apply(cx, metrics).await,
        }
    }
}

/// How one record of an alert-only batch (Kinesis, KDA) is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Done with: alerted, held back by the cooldown, or never readable (a poison record that
    /// no retry can fix: handing it back would stall a Kinesis shard for up to a week).
    Done,
    /// Hand back for retry: readable, but its alert could not be published.
    Retry,
}

/// Reads each record of an alert-only batch as an anomaly, alerts once on the readable ones,
/// and says per record whether it is done. `ids` name the records in the log.
pub(crate) async fn alert_on_records<'a, P: AlertPublisher>(
    cx: &Context<'_, P>,
    source: &Source,
    records: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    metrics: &mut InvocationMetrics,
) -> Vec<Ack> {
    let mut digest = cx.digest();
    let mut readable = Vec::new();
    for (id, payload) in records {
        match Anomaly::from_payload(payload) {
            Ok(anomaly) => {
                digest.add(anomaly);
                readable.push(true);
            }
            Err(reason) => {
                unreadable(source.kind, id, &reason);
                metrics.anomalies_unreadable += 1;
                readable.push(false);
            }
        }
    }
    metrics.records_ok = digest.count();
    metrics.anomalies = digest.count();
    let failed = !digest.is_empty()
        && matches!(
            cx.alerts
                .send(
                    source,
                    digest,
                    None,
                    cx.now,
                    crate::detect::streams::deadline(),
                    metrics,
                )
                .await,
            Outcome::Failed(_)
        );
    readable
        .into_iter()
        .map(|r| if r && failed { Ack::Retry } else { Ack::Done })
        .collect()
}

fn unreadable(kind: SourceKind, id: &str, reason: &NotAnAnomaly) {
    // Debug formatting escapes the id: data cannot forge a log line.
    tracing::warn!(
        source = kind.code(),
        record_id = ?id,
        reason = %reason,
        "record is not an anomaly and never will be: acknowledged, not retried (AnomaliesUnreadable)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recognized(text: &str) -> Result<SourceKind, String> {
        Event::recognize(text)
            .map(|e| e.kind())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn firehose_is_told_by_its_keys() {
        let yes = [
            r#"{"invocationId":"i","deliveryStreamArn":"a","records":[]}"#,
            r#"{"invocationId":"i","records":[]}"#,
            r#"{"deliveryStreamArn":"a","records":[{"recordId":"r"}],"other":1}"#,
            r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","kafkaRecordValue":"eA==","topic":"t"}]}"#,
        ];
        for text in yes {
            assert_eq!(recognized(text), Ok(SourceKind::Firehose), "{text}");
        }
        let unreadable = [
            "[]",
            "1",
            "nope",
            r#"{"invocationId":"i","records":[{"data":"x"}]}"#,
            r#"{"invocationId":"i","records":{}}"#,
        ];
        for text in unreadable {
            let err = recognized(text).unwrap_err();
            assert!(err.contains("expected one of: a Firehose"), "{text}: {err}");
        }
    }

    #[test]
    fn every_shape_and_its_near_misses() {
        let kinesis = |source: &str, seq: &str| {
            format!(
                r#"{{"Records":[{{"eventSource":"{source}","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","kinesis":{{"data":"eA==",{seq}"partitionKey":"p"}}}}]}}"#
            )
        };
        let cases: Vec<(String, Result<SourceKind, &str>)> = vec![
            (
                r#"{"applicationArn":"arn:aws:kinesisanalytics:us-east-1:1:application/a","invocationId":"i","records":[{"recordId":"r","data":"eA=="}]}"#.into(),
                Ok(SourceKind::KinesisAnalytics),
            ),
            (kinesis("aws:kinesis", r#""sequenceNumber":"1","#), Ok(SourceKind::KinesisStream)),
            (r#"{"source":"detector","anomalies":[]}"#.into(), Ok(SourceKind::Direct)),
            (r#"{"anomalies":[{"score":1}]}"#.into(), Ok(SourceKind::Direct)),
            // Near misses.
            (r#"{"records":[]}"#.into(), Err("without `deliveryStreamArn`")),
            (r#"{"invocationId":"i"}"#.into(), Err("none of")),
            (r#"{"invocationId":"i","records":null}"#.into(), Err("none of")),
            (r#"{}"#.into(), Err("none of")),
            (kinesis("aws:sqs", r#""sequenceNumber":"1","#), Err("eventSource")),
            (kinesis("aws:kinesis", ""), Err("sequenceNumber")),
            (r#"{"Records":[]}"#.into(), Err("empty")),
            (r#"{"Records":[{"eventSource":"aws:s3","s3":{}}]}"#.into(), Err("eventSource")),
            (r#"{"Records":{}}"#.into(), Err("cannot be read")),
            (r#"{"Records":[{"EventSource":"aws:sns","Sns":{}}]}"#.into(), Err("eventSource")),
            (r#"{"source":"d","anomalies":{"score":1}}"#.into(), Err("not a list")),
            (r#"{"source":7,"anomalies":[]}"#.into(), Err("`source` is not a string")),
            (r#"{"anomalies":[],"Records":[]}"#.into(), Err("more than one")),
            (r#"{"detail-type":"Scheduled Event","source":"aws.events"}"#.into(), Err("none of")),
        ];
        for (text, want) in cases {
            match (recognized(&text), want) {
                (Ok(kind), Ok(w)) => assert_eq!(kind, w, "{text}"),
                (Err(e), Err(needle)) => {
                    assert!(e.contains(needle), "{text}: {e}");
                    assert!(
                        e.contains("a direct anomaly event"),
                        "{text}: names the shapes"
                    );
                }
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn kda_input_preprocessing_is_refused_not_taken_for_output() {
        let cases = [
            r#"{"invocationId":"i","applicationArn":"arn:aws:kinesisanalytics:us-east-1:1:application/a","streamArn":"arn:aws:kinesis:us-east-1:1:stream/s","records":[{"recordId":"r","data":"eA=="}]}"#,
            r#"{"invocationId":"i","applicationArn":"arn:aws:kinesisanalytics:us-east-1:1:application/a","records":[{"recordId":"r","kinesisStreamRecordMetadata":{"shardId":"s"},"data":"eA=="}]}"#,
            r#"{"invocationId":"i","applicationArn":"arn:aws:kinesisanalytics:us-east-1:1:application/a","records":[{"recordId":"r","kinesisFirehoseRecordMetadata":{"approximateArrivalTimestamp":1},"data":"eA=="}]}"#,
        ];
        for text in cases {
            let err = recognized(text).unwrap_err();
            assert!(err.contains("input-preprocessing"), "{text}: {err}");
        }
    }
}
