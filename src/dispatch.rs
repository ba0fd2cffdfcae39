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
pub const ACCEPTED: &str = "expected a Firehose transformation event \
    ({\"invocationId\", \"deliveryStreamArn\", \"records\": [{\"recordId\", \"data\", ...}]})";

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
    /// Firehose records.
    #[serde(borrow, default)]
    pub records: Option<Vec<RecordRef<'a>>>,
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
        if self.records.is_some()
            && (self.delivery_stream_arn.is_some() || self.invocation_id.is_some())
        {
            return Ok(EventKind::Firehose);
        }
        Err(UnrecognizedEvent(format!("unrecognized event: {ACCEPTED}")))
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
        let no = [
            r#"{"records":[]}"#,
            r#"{"invocationId":"i"}"#,
            r#"{"invocationId":"i","records":null}"#,
            r#"{}"#,
        ];
        for text in no {
            let err = Envelope::parse(text).and_then(|e| e.kind()).unwrap_err();
            assert!(err.0.contains("expected a Firehose"), "{text}: {err}");
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
            assert!(err.0.contains("expected a Firehose"), "{text}: {err}");
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
