//! One record of a Firehose or Kinesis Data Analytics batch: both events carry `records` of the
//! same envelope, read in one pass with the payload borrowed from the event text.
//!
//! Wire format:
//! - Firehose, Direct PUT or Kinesis source: `{"recordId": "49...", "approximateArrivalTimestamp":
//!   1764238531000, "data": "<base64>", "kinesisRecordMetadata": {...}}`;
//! - Firehose with an Amazon MSK source: `"kafkaRecordValue": "<base64>"` in place of `data`,
//!   beside `topic`, `kafkaPartition`, `kafkaOffset` and `kafkaRecordTimestamp`; the answer must
//!   use the same field;
//! - KDA output delivery: `{"recordId", "lambdaDeliveryRecordMetadata": {"retryHint": 0}, "data"}`;
//! - KDA input preprocessing (which this function refuses): `kinesisStreamRecordMetadata` or
//!   `kinesisFirehoseRecordMetadata` on each record.
//!
//! `recordId` is the only field without which a record cannot be answered, so only its absence
//! fails the event; everything else is read leniently, and a field given twice is remembered so
//! that the record, not the batch, fails.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::lenient::LenientText;
use crate::transform::fields::Key;

/// Which field carried the payload, and so which field the answer must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PayloadField {
    #[default]
    Data,
    KafkaRecordValue,
}

/// What is wrong with a record's envelope, found while reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeFault {
    /// `recordId`, `data` or `kafkaRecordValue` given twice.
    Duplicate(EnvelopeField),
    /// Both `data` and `kafkaRecordValue`.
    TwoPayloads,
}

/// An envelope field that may not be given twice: a byte rather than its name, since a batch
/// holds thousands of records and a `&'static str` here made each of them 24 bytes larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeField {
    RecordId,
    Data,
    KafkaRecordValue,
}

impl EnvelopeField {
    /// The field's name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::RecordId => "recordId",
            Self::Data => "data",
            Self::KafkaRecordValue => "kafkaRecordValue",
        }
    }
}

#[derive(Debug)]
pub(crate) struct BatchRecord<'a> {
    /// The first `recordId` when it was given twice.
    pub(crate) record_id: Cow<'a, str>,
    pub(crate) approximate_arrival_timestamp: Option<&'a RawValue>,
    /// The base64 payload; `None` when missing or not a string.
    pub(crate) payload: Option<Cow<'a, str>>,
    pub(crate) payload_field: PayloadField,
    pub(crate) fault: Option<EnvelopeFault>,
    /// `kinesisStreamRecordMetadata` or `kinesisFirehoseRecordMetadata`: KDA preprocessing.
    pub(crate) preprocessing_metadata: bool,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for BatchRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordVisitor(PhantomData))
    }
}

struct RecordVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RecordVisitor<'a> {
    type Value = BatchRecord<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object with a string `recordId`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record_id: Option<Cow<'a, str>> = None;
        let mut arrival: Option<&'a RawValue> = None;
        let mut data: Option<Option<Cow<'a, str>>> = None;
        let mut kafka: Option<Option<Cow<'a, str>>> = None;
        let mut fault = None;
        let mut preprocessing_metadata = false;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "recordId" => {
                    let Key(id) = map.next_value::<Key<'de>>()?;
                    if record_id.is_some() {
                        fault = Some(EnvelopeFault::Duplicate(EnvelopeField::RecordId));
                    } else {
                        record_id = Some(id);
                    }
                }
                "approximateArrivalTimestamp" => {
                    arrival = map.next_value::<Option<&'de RawValue>>()?;
                }
                "data" | "kafkaRecordValue" => {
                    let value = map.next_value_seed(LenientText)?;
                    let (slot, name) = if key == "data" {
                        (&mut data, EnvelopeField::Data)
                    } else {
                        (&mut kafka, EnvelopeField::KafkaRecordValue)
                    };
                    if slot.is_some() {
                        fault = Some(EnvelopeFault::Duplicate(name));
                    } else {
                        *slot = Some(value);
                    }
                }
                "kinesisStreamRecordMetadata" | "kinesisFirehoseRecordMetadata" => {
                    preprocessing_metadata = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let record_id = record_id.ok_or_else(|| de::Error::missing_field("recordId"))?;
        let (payload, payload_field) = match (data, kafka) {
            (Some(data), None) => (data, PayloadField::Data),
            (None, Some(kafka)) => (kafka, PayloadField::KafkaRecordValue),
            (None, None) => (None, PayloadField::Data),
            (Some(data), Some(_)) => {
                fault = fault.or(Some(EnvelopeFault::TwoPayloads));
                (data, PayloadField::Data)
            }
        };
        Ok(BatchRecord {
            record_id,
            approximate_arrival_timestamp: arrival,
            payload,
            payload_field,
            fault,
            preprocessing_metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<BatchRecord<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn payload_is_read_leniently_from_either_field() {
        let cases = [
            (
                r#"{"recordId":"a","data":"eA=="}"#,
                Some("eA=="),
                PayloadField::Data,
            ),
            (
                r#"{"recordId":"b","data":"e\/A="}"#,
                Some("e/A="),
                PayloadField::Data,
            ),
            (r#"{"recordId":"c","data":5}"#, None, PayloadField::Data),
            (
                r#"{"recordId":"d","data":{"x":[1]}}"#,
                None,
                PayloadField::Data,
            ),
            (r#"{"recordId":"e","data":null}"#, None, PayloadField::Data),
            (r#"{"recordId":"f"}"#, None, PayloadField::Data),
            (
                r#"{"recordId":"g","kafkaRecordValue":"eA==","topic":"t","kafkaOffset":"1"}"#,
                Some("eA=="),
                PayloadField::KafkaRecordValue,
            ),
        ];
        for (text, payload, field) in cases {
            let r = read(text).unwrap();
            assert_eq!(r.payload.as_deref(), payload, "{text}");
            assert_eq!(r.payload_field, field, "{text}");
            assert_eq!(r.fault, None, "{text}");
        }
    }

    #[test]
    fn envelope_duplicates_are_remembered_not_fatal() {
        let cases = [
            (
                r#"{"recordId":"a","data":"eA==","data":"eQ=="}"#,
                EnvelopeFault::Duplicate(EnvelopeField::Data),
            ),
            (
                r#"{"recordId":"a","recordId":"b","data":"eA=="}"#,
                EnvelopeFault::Duplicate(EnvelopeField::RecordId),
            ),
            (
                r#"{"recordId":"a","kafkaRecordValue":"eA==","kafkaRecordValue":"eA=="}"#,
                EnvelopeFault::Duplicate(EnvelopeField::KafkaRecordValue),
            ),
            (
                r#"{"recordId":"a","data":"eA==","kafkaRecordValue":"eA=="}"#,
                EnvelopeFault::TwoPayloads,
            ),
        ];
        for (text, fault) in cases {
            let r = read(text).unwrap();
            assert_eq!(r.fault, Some(fault), "{text}");
            assert_eq!(r.record_id, "a", "the first id answers: {text}");
        }
    }

    #[test]
    fn only_a_missing_or_unusable_record_id_is_fatal() {
        for text in [r#"{"data":"eA=="}"#, r#"{"recordId":7}"#, "[]"] {
            assert!(read(text).is_err(), "{text}");
        }
        let r = read(r#"{"recordId":"a","kinesisStreamRecordMetadata":{"shardId":"s"}}"#).unwrap();
        assert!(r.preprocessing_metadata);
    }
}
