//! Reading an incoming event's envelope in one pass and telling which kind of event it is.
//!
//! Shapes are told apart by the keys present, not by trying each type in turn (serde's untagged
//! enums): AWS events share field names, and a lenient type would accept the wrong event. The
//! envelope is read once, with the big `records` array borrowed from the input, because a 3.5 MB
//! batch read twice costs more CPU than everything else the transform does but base64.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The kinds of event this function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A Firehose data-transformation event.
    Firehose,
    /// A Kinesis Data Analytics output-delivery event (the lab's RANDOM_CUT_FOREST results).
    KinesisAnalytics,
    /// A Kinesis data stream event from an event source mapping.
    KinesisStream,
    /// `{"source": "...", "anomalies": [...]}` from a detector calling the function directly.
    Direct,
}

/// The event is none of the accepted shapes, or not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecognizedEvent(pub String);

impl fmt::Display for UnrecognizedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnrecognizedEvent {}

/// What every error about an unrecognized event says it expected.
pub const ACCEPTED: &str = "expected one of: a Firehose transformation event \
    ({\"invocationId\", \"deliveryStreamArn\", \"records\": [{\"recordId\", \"data\", ...}]}); \
    a Kinesis Data Analytics output event ({\"applicationArn\", \"records\": [{\"recordId\", \"data\"}]}); \
    a Kinesis data stream event ({\"Records\": [{\"eventSource\": \"aws:kinesis\", \"kinesis\": {\"data\", \"sequenceNumber\"}}]}); \
    a direct anomaly event ({\"source\": \"...\", \"anomalies\": [...]})";

/// The top level of any accepted event. Every field is optional here; [`Envelope::kind`]
/// decides from which are present.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub invocation_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub delivery_stream_arn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub source_kinesis_stream_arn: Option<&'a RawValue>,
    /// Firehose and Kinesis Data Analytics records.
    #[serde(borrow, default)]
    pub records: Option<Vec<RecordRef<'a>>>,
    #[serde(borrow, default)]
    pub application_arn: Option<&'a RawValue>,
    /// Kinesis data stream records, read by [`Envelope::kinesis_records`] once the kind is known.
    #[serde(rename = "Records", borrow, default)]
    pub stream_records: Option<&'a RawValue>,
    /// A direct event's anomalies.
    #[serde(borrow, default)]
    pub anomalies: Option<&'a RawValue>,
    /// A direct event's source name.
    #[serde(borrow, default)]
    pub source: Option<&'a RawValue>,
}

/// One record of a Kinesis data stream event, read leniently.
#[derive(Debug, Deserialize)]
pub struct KinesisRecordRef<'a> {
    #[serde(
        rename = "eventSource",
        borrow,
        default,
        deserialize_with = "lenient_text"
    )]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventSourceARN",
        borrow,
        default,
        deserialize_with = "lenient_text"
    )]
    pub event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kinesis: Option<KinesisPayload<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisPayload<'a> {
    #[serde(borrow, default, deserialize_with = "lenient_text")]
    pub data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_text")]
    pub sequence_number: Option<Cow<'a, str>>,
}

/// One record of a batch, as Firehose sends it. `recordId` is the only field without which we
/// could not answer; everything else is read leniently.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef<'a> {
    #[serde(borrow)]
    pub record_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub approximate_arrival_timestamp: Option<&'a RawValue>,
    /// The base64 payload; `None` when missing or not a string.
    #[serde(borrow, default, deserialize_with = "lenient_text")]
    pub data: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// Reads the envelope of `event` (JSON text).
    pub fn parse(event: &'a str) -> Result<Self, UnrecognizedEvent> {
        // serde would also build a struct from a JSON array; events are objects.
        if !event.trim_start().starts_with('{') {
            return Err(UnrecognizedEvent(format!(
                "event is not a JSON object; {ACCEPTED}"
            )));
        }
        serde_json::from_str(event).map_err(|e| {
            let what = if e.is_data() {
                "event cannot be read"
            } else {
                "event is not a JSON object"
            };
            UnrecognizedEvent(format!("{what} ({e}); {ACCEPTED}"))
        })
    }

    /// Which kind of event this is, from the keys present.
    pub fn kind(&self) -> Result<EventKind, UnrecognizedEvent> {
        let unrecognized = |why: &str| {
            Err(UnrecognizedEvent(format!(
                "unrecognized event ({why}); {ACCEPTED}"
            )))
        };
        let shapes = [
            self.records.is_some(),
            self.stream_records.is_some(),
            self.anomalies.is_some(),
        ];
        if shapes.iter().filter(|s| **s).count() > 1 {
            return unrecognized("it has more than one of `records`, `Records`, `anomalies`");
        }
        if self.records.is_some() {
            if self.application_arn.is_some() {
                return Ok(EventKind::KinesisAnalytics);
            }
            if self.delivery_stream_arn.is_some() || self.invocation_id.is_some() {
                return Ok(EventKind::Firehose);
            }
            return unrecognized(
                "`records` without `deliveryStreamArn`, `invocationId` or `applicationArn`",
            );
        }
        if self.stream_records.is_some() {
            return self.kinesis_records().map(|_| EventKind::KinesisStream);
        }
        if let Some(anomalies) = self.anomalies {
            if !anomalies.get().starts_with('[') {
                return unrecognized("`anomalies` is not a list");
            }
            if self
                .source
                .is_some_and(|s| crate::click::json_string(s).is_none())
            {
                return unrecognized("`source` is not a string");
            }
            return Ok(EventKind::Direct);
        }
        unrecognized("none of `records`, `Records`, `anomalies` is present")
    }

    /// The records of a Kinesis data stream event: every one from `aws:kinesis`, with a
    /// `kinesis.sequenceNumber` to report it by.
    pub fn kinesis_records(&self) -> Result<Vec<KinesisRecordRef<'a>>, UnrecognizedEvent> {
        let unrecognized =
            |why: String| UnrecognizedEvent(format!("unrecognized event ({why}); {ACCEPTED}"));
        let raw = self
            .stream_records
            .ok_or_else(|| unrecognized("no `Records`".into()))?;
        let records: Vec<KinesisRecordRef<'a>> = serde_json::from_str(raw.get())
            .map_err(|e| unrecognized(format!("`Records` cannot be read: {e}")))?;
        if records.is_empty() {
            return Err(unrecognized(
                "`Records` is empty, so its source cannot be told".into(),
            ));
        }
        for (i, r) in records.iter().enumerate() {
            if r.event_source.as_deref() != Some("aws:kinesis") {
                return Err(unrecognized(format!(
                    "`Records[{i}].eventSource` is not \"aws:kinesis\""
                )));
            }
            if r.kinesis
                .as_ref()
                .and_then(|k| k.sequence_number.as_ref())
                .is_none()
            {
                return Err(unrecognized(format!(
                    "`Records[{i}].kinesis.sequenceNumber` is missing"
                )));
            }
        }
        Ok(records)
    }

    /// The text of a string field, if it is one.
    pub fn text(field: Option<&RawValue>) -> Option<String> {
        field
            .and_then(crate::click::json_string)
            .map(Cow::into_owned)
    }
}

/// A string, borrowed where it has no escapes; any other JSON value gives `None`.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(LenientText)
}

struct LenientText;

impl<'de> Visitor<'de> for LenientText {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firehose_is_told_by_its_keys() {
        let yes = [
            r#"{"invocationId":"i","deliveryStreamArn":"a","records":[]}"#,
            r#"{"invocationId":"i","records":[]}"#,
            r#"{"deliveryStreamArn":"a","records":[{"recordId":"r"}],"other":1}"#,
        ];
        for text in yes {
            assert_eq!(
                Envelope::parse(text).and_then(|e| e.kind()),
                Ok(EventKind::Firehose),
                "{text}"
            );
        }
        let unreadable = [
            "[]",
            "1",
            "nope",
            r#"{"invocationId":"i","records":[{"data":"x"}]}"#,
            r#"{"invocationId":"i","records":{}}"#,
        ];
        for text in unreadable {
            let err = Envelope::parse(text).unwrap_err();
            assert!(
                err.0.contains("expected one of: a Firehose"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn every_shape_and_its_near_misses() {
        let kinesis = |source: &str, seq: &str| {
            format!(
                r#"{{"Records":[{{"eventSource":"{source}","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","kinesis":{{"data":"eA==",{seq}"partitionKey":"p"}}}}]}}"#
            )
        };
        let cases: Vec<(String, Result<EventKind, &str>)> = vec![
            (
                r#"{"applicationArn":"arn:aws:kinesisanalytics:us-east-1:1:application/a","invocationId":"i","records":[{"recordId":"r","data":"eA=="}]}"#.into(),
                Ok(EventKind::KinesisAnalytics),
            ),
            (kinesis("aws:kinesis", r#""sequenceNumber":"1","#), Ok(EventKind::KinesisStream)),
            (r#"{"source":"detector","anomalies":[]}"#.into(), Ok(EventKind::Direct)),
            (r#"{"anomalies":[{"score":1}]}"#.into(), Ok(EventKind::Direct)),
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
            let got = Envelope::parse(&text).and_then(|e| e.kind());
            match (got, want) {
                (Ok(kind), Ok(w)) => assert_eq!(kind, w, "{text}"),
                (Err(e), Err(needle)) => {
                    assert!(e.0.contains(needle), "{text}: {e}");
                    assert!(
                        e.0.contains("a direct anomaly event"),
                        "{text}: names the shapes"
                    );
                }
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn record_data_is_read_leniently() {
        let text = r#"{"invocationId":"i","records":[
            {"recordId":"a","data":"eA=="},{"recordId":"b","data":"e\/A="},{"recordId":"c","data":5},
            {"recordId":"d","data":{"x":[1]}},{"recordId":"e","data":[1,{}]},{"recordId":"f","data":null},{"recordId":"g"}]}"#;
        let envelope = Envelope::parse(text).unwrap();
        let data: Vec<Option<&str>> = envelope
            .records
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r.data.as_deref())
            .collect();
        assert_eq!(
            data,
            [Some("eA=="), Some("e/A="), None, None, None, None, None]
        );
    }
}
