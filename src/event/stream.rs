//! A Kinesis data stream event from an event source mapping: anomalies a detector upstream put
//! on a stream.
//!
//! Wire format: `{"Records": [{"eventSource": "aws:kinesis", "eventSourceARN":
//! "arn:aws:kinesis:...:stream/S", "kinesis": {"data": "<base64>", "sequenceNumber": "...",
//! "partitionKey": "..."}}]}`.
//! The answer is `{"batchItemFailures": [{"itemIdentifier": "<sequenceNumber>"}]}`, for event
//! source mappings with `ReportBatchItemFailures`: Lambda retries the batch from the lowest
//! failed sequence number, so only records whose alert failed to publish are listed; a record
//! that can never be read is acknowledged and counted, never listed (it would stall the shard
//! until it expires). A tumbling-window event (`window`, `state`) gets its `state` back, which
//! Lambda requires of such answers; this function keeps no window state of its own.

use std::borrow::Cow;

use aws_lambda_events::event::streams::KinesisBatchItemFailure;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Ack, Context, EventError, Unrecognized, alert_on_records, lenient};
use crate::alert::publisher::AlertPublisher;
use crate::alert::source::{Source, SourceKind};
use crate::metrics::InvocationMetrics;

#[derive(Debug)]
pub(crate) struct StreamEvent<'a> {
    /// The stream's ARN, from the first record.
    stream_arn: Option<Cow<'a, str>>,
    records: Vec<Item<'a>>,
    /// A tumbling window's state, handed back as it came.
    state: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamAnswer<'a> {
    batch_item_failures: Vec<KinesisBatchItemFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a RawValue>,
}

/// One record, once recognized: it has the sequence number it is reported by.
#[derive(Debug)]
struct Item<'a> {
    sequence_number: Cow<'a, str>,
    data: Option<Cow<'a, str>>,
}

/// One record, read leniently.
#[derive(Debug, Deserialize)]
struct StreamRecord<'a> {
    #[serde(
        rename = "eventSource",
        borrow,
        default,
        deserialize_with = "lenient::text"
    )]
    event_source: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventSourceARN",
        borrow,
        default,
        deserialize_with = "lenient::text"
    )]
    event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kinesis: Option<StreamPayload<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamPayload<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    sequence_number: Option<Cow<'a, str>>,
}

impl<'a> StreamEvent<'a> {
    /// Every record must come from `aws:kinesis` and carry a `kinesis.sequenceNumber` to be
    /// reported by; anything else is some other service's event.
    pub(crate) fn recognize(
        records: &'a RawValue,
        state: Option<&'a RawValue>,
    ) -> Result<Self, Unrecognized> {
        let records: Vec<StreamRecord<'a>> = serde_json::from_str(records.get())
            .map_err(|e| Unrecognized::Shape(format!("`Records` cannot be read: {e}")))?;
        if records.is_empty() {
            return Err(Unrecognized::shape(
                "`Records` is empty, so its source cannot be told",
            ));
        }
        let stream_arn = records.first().and_then(|r| r.event_source_arn.clone());
        let mut items = Vec::with_capacity(records.len());
        for (i, r) in records.into_iter().enumerate() {
            if r.event_source.as_deref() != Some("aws:kinesis") {
                return Err(Unrecognized::Shape(format!(
                    "`Records[{i}].eventSource` is not \"aws:kinesis\""
                )));
            }
            let kinesis = r.kinesis.unwrap_or(StreamPayload {
                data: None,
                sequence_number: None,
            });
            let Some(sequence_number) = kinesis.sequence_number else {
                return Err(Unrecognized::Shape(format!(
                    "`Records[{i}].kinesis.sequenceNumber` is missing"
                )));
            };
            items.push(Item {
                sequence_number,
                data: kinesis.data,
            });
        }
        Ok(Self {
            stream_arn,
            records: items,
            state,
        })
    }

    pub(crate) async fn apply<P: AlertPublisher>(
        self,
        cx: &Context<'_, P>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, EventError> {
        let source = Source {
            kind: SourceKind::KinesisStream,
            name: self
                .stream_arn
                .as_deref()
                .unwrap_or("unknown stream")
                .to_owned(),
            invocation_id: None,
        };
        let payloads = self
            .records
            .iter()
            .map(|r| (r.sequence_number.as_ref(), r.data.as_deref()));
        let acks = alert_on_records(cx, &source, payloads, metrics).await;
        self.answer(&acks)
    }

    fn answer(&self, acks: &[Ack]) -> Result<Box<RawValue>, EventError> {
        let batch_item_failures = self
            .records
            .iter()
            .zip(acks)
            .filter(|(_, ack)| **ack == Ack::Retry)
            .map(|(r, _)| {
                let mut failure = KinesisBatchItemFailure::default();
                failure.item_identifier = Some(r.sequence_number.to_string());
                failure
            })
            .collect();
        let answer = StreamAnswer {
            batch_item_failures,
            state: self.state,
        };
        Ok(serde_json::value::to_raw_value(&answer)?)
    }
}
