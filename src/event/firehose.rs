//! A Firehose data-transformation event: the data path.
//!
//! Wire format (see [`super::record`] for the records):
//! `{"invocationId": "...", "deliveryStreamArn": "arn:aws:firehose:...:deliverystream/S",
//! "sourceKinesisStreamArn": "...", "region": "us-east-1", "records": [...]}`.
//! The answer is `{"records": [{"recordId", "result", "data" | "kafkaRecordValue", "metadata"}]}`
//! (see [`crate::transform::answer`]).
//!
//! The records' results never depend on SNS: data is not held hostage by alerting.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::record::BatchRecord;
use crate::alert::anomaly::Anomaly;
use crate::alert::compose::DataLocation;
use crate::alert::publisher::AlertPublisher;
use crate::alert::source::{Source, SourceKind};
use crate::handler::{Handler, HandlerError};
use crate::metrics::InvocationMetrics;
use crate::transform::{self, FlaggedClick, TransformSettings, partition};

#[derive(Debug)]
pub(crate) struct FirehoseEvent<'a> {
    delivery_stream_arn: Option<Cow<'a, str>>,
    invocation_id: Option<Cow<'a, str>>,
    records: Vec<BatchRecord<'a>>,
}

impl<'a> FirehoseEvent<'a> {
    pub(crate) fn recognize(
        delivery_stream_arn: Option<Cow<'a, str>>,
        invocation_id: Option<Cow<'a, str>>,
        records: Vec<BatchRecord<'a>>,
    ) -> Self {
        Self {
            delivery_stream_arn,
            invocation_id,
            records,
        }
    }

    /// Transforms the batch, then alerts on the flagged clicks. Fails only when no answer can
    /// fit Lambda's limit.
    pub(crate) async fn handle<P: AlertPublisher>(
        self,
        handler: &Handler<P>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, HandlerError> {
        let settings = TransformSettings {
            drop_event_types: &handler.config().drop_event_types,
            now,
            response_limit: handler.response_limit(),
        };
        let out = transform::transform(&self.records, &settings)?;
        tracing::info!(
            delivery_stream = ?self.delivery_stream_arn.as_deref().unwrap_or("-"),
            invocation_id = ?self.invocation_id.as_deref().unwrap_or("-"),
            records = self.records.len(),
            ok = out.tally.ok,
            dropped = out.tally.dropped,
            processing_failed = out.tally.failed,
            failed_for_size = out.tally.failed_for_size,
            anomalies = out.flagged.len(),
            "firehose batch transformed"
        );
        metrics.records_ok = out.tally.ok;
        metrics.records_dropped = out.tally.dropped;
        metrics.records_processing_failed = out.tally.failed;
        metrics.anomalies = out.flagged.len();
        if !out.flagged.is_empty() {
            self.alert(handler, &out.flagged, now, metrics).await;
        }
        Ok(out.body)
    }

    /// One alert for the batch's flagged clicks; its outcome is logged and counted only.
    async fn alert<P: AlertPublisher>(
        &self,
        handler: &Handler<P>,
        flagged: &[FlaggedClick],
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) {
        let source = Source {
            kind: SourceKind::Firehose,
            name: self
                .delivery_stream_arn
                .as_deref()
                .unwrap_or("unknown delivery stream")
                .to_owned(),
            invocation_id: self.invocation_id.as_deref().map(str::to_owned),
        };
        let location = DataLocation {
            processed_prefix: handler.config().processed_data_uri.clone(),
            partitions: partitions(flagged),
        };
        let mut digest = handler.digest();
        for click in flagged {
            digest.add(click_anomaly(click));
        }
        handler
            .alerts()
            .send(&source, digest, Some(&location), now, metrics)
            .await;
    }
}

/// An anomalous click as an anomaly of the common schema.
fn click_anomaly(click: &FlaggedClick) -> Anomaly {
    Anomaly {
        metric: Some("anomaly_detected".into()),
        page_url: Some(click.page_url.clone()),
        user_id: Some(click.user_id.clone()),
        detected_at: Some(click.event_time),
        details: serde_json::value::to_raw_value(
            &serde_json::json!({"record_id": click.record_id}),
        )
        .ok(),
        ..Anomaly::default()
    }
}

/// The distinct `dt=…/hour=…` partitions the flagged clicks were written to, in time order.
fn partitions(clicks: &[FlaggedClick]) -> Vec<String> {
    let mut keys: Vec<String> = clicks
        .iter()
        .map(|c| partition::s3_path(&c.event_time_text))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
