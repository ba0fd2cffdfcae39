//! Reading an incoming event's top level in one pass, then telling which shape it is.
//!
//! Shapes are told apart by the keys present, not by trying each type in turn (serde's untagged
//! enums): AWS events share field names, and a lenient type would accept the wrong event. The
//! big `records` array is read here, once, with its payloads borrowed from the input, because
//! a 3.5 MB batch read twice costs more CPU than everything else the transform does but base64;
//! the typed event then takes what was read.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::analytics::AnalyticsEvent;
use super::direct::DirectEvent;
use super::firehose::FirehoseEvent;
use super::lenient;
use super::record::BatchRecord;
use super::stream::StreamEvent;
use super::{Event, Unrecognized};

/// The top level of any accepted event. Every field is optional here; [`Envelope::into_event`]
/// decides from which are present.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    pub(crate) invocation_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    pub(crate) delivery_stream_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    pub(crate) application_arn: Option<Cow<'a, str>>,
    /// Only KDA input-preprocessing events have it (beside `applicationArn`).
    #[serde(borrow, default)]
    stream_arn: Option<&'a RawValue>,
    /// Firehose and Kinesis Data Analytics records.
    #[serde(borrow, default)]
    pub(crate) records: Option<Vec<BatchRecord<'a>>>,
    /// Kinesis data stream records, read once the shape is known.
    #[serde(rename = "Records", borrow, default)]
    stream_records: Option<&'a RawValue>,
    /// A Kinesis tumbling window's state.
    #[serde(borrow, default)]
    state: Option<&'a RawValue>,
    /// A direct event's anomalies.
    #[serde(borrow, default)]
    anomalies: Option<&'a RawValue>,
    /// A direct event's source name.
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Reads the top level of `event` (JSON text).
    pub(crate) fn parse(event: &'a str) -> Result<Self, Unrecognized> {
        // serde would also build a struct from a JSON array; events are objects.
        if !event.trim_start().starts_with('{') {
            return Err(Unrecognized::NotAnObject);
        }
        serde_json::from_str(event).map_err(|e| {
            if e.is_data() {
                Unrecognized::Unreadable(e)
            } else {
                Unrecognized::NotAnObject
            }
        })
    }

    /// The typed event, from the keys present.
    pub(crate) fn into_event(self) -> Result<Event<'a>, Unrecognized> {
        let shapes = [
            self.records.is_some(),
            self.stream_records.is_some(),
            self.anomalies.is_some(),
        ];
        if shapes.iter().filter(|s| **s).count() > 1 {
            return Err(Unrecognized::shape(
                "it has more than one of `records`, `Records`, `anomalies`",
            ));
        }
        if let Some(records) = self.records {
            if let Some(application_arn) = self.application_arn {
                if self.stream_arn.is_some() || records.iter().any(|r| r.preprocessing_metadata) {
                    return Err(Unrecognized::KdaPreprocessing);
                }
                return Ok(Event::KinesisAnalytics(AnalyticsEvent::recognize(
                    application_arn,
                    self.invocation_id,
                    records,
                )));
            }
            if self.delivery_stream_arn.is_some() || self.invocation_id.is_some() {
                return Ok(Event::Firehose(FirehoseEvent::recognize(
                    self.delivery_stream_arn,
                    self.invocation_id,
                    records,
                )));
            }
            return Err(Unrecognized::shape(
                "`records` without `deliveryStreamArn`, `invocationId` or `applicationArn`",
            ));
        }
        if let Some(records) = self.stream_records {
            return StreamEvent::recognize(records, self.state).map(Event::KinesisStream);
        }
        if let Some(anomalies) = self.anomalies {
            return DirectEvent::recognize(self.source, anomalies).map(Event::Direct);
        }
        Err(Unrecognized::shape(
            "none of `records`, `Records`, `anomalies` is present",
        ))
    }
}
