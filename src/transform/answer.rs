//! The answer Firehose expects for a batch, serialized as
//! `{"records": [{"recordId": "...", "result": "Ok", "data": "<base64>", "metadata":
//! {"partitionKeys": {...}}}, ...]}`; records from an Amazon MSK source answer in
//! `kafkaRecordValue` instead of `data`.
//!
//! The enriched data is carried as a ready JSON string ([`Data::Encoded`]) because base64 never
//! needs escaping: letting serde_json check its ~5.5 MB byte by byte cost a quarter of a batch's
//! CPU time in the profile.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::partition::PartitionKeys;
use crate::event::record::{BatchRecord, PayloadField};

/// The three answers Firehose understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

/// The response: one answer per record, in order.
#[derive(Debug, Serialize)]
pub(crate) struct FirehoseResponse<'a> {
    pub(crate) records: Vec<Answer<'a>>,
}

#[derive(Debug)]
pub(crate) struct Answer<'a> {
    pub(crate) record_id: Cow<'a, str>,
    pub(crate) result: RecordResult,
    pub(crate) field: PayloadField,
    pub(crate) data: Data<'a>,
    pub(crate) partition_keys: Option<PartitionKeys>,
}

impl<'a> Answer<'a> {
    /// An answer that returns the record's data as it came.
    pub(crate) fn unchanged(record: &'a BatchRecord<'a>, result: RecordResult) -> Self {
        Self {
            record_id: Cow::Borrowed(&record.record_id),
            result,
            field: record.payload_field,
            data: Data::Original(Cow::Borrowed(record.payload.as_deref().unwrap_or_default())),
            partition_keys: None,
        }
    }

    /// Bytes of the data text, which a `Dropped` answer can give up.
    pub(crate) fn data_len(&self) -> usize {
        match &self.data {
            Data::Encoded(raw) => raw.get().len().saturating_sub(2),
            Data::Original(text) => text.len(),
        }
    }

    /// Its length once serialized, for the size guard.
    pub(crate) fn len(&self) -> usize {
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }
}

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Metadata<'k> {
            partition_keys: &'k PartitionKeys,
        }
        let fields = 3 + usize::from(self.partition_keys.is_some());
        let mut st = s.serialize_struct("Answer", fields)?;
        st.serialize_field("recordId", &self.record_id)?;
        st.serialize_field("result", &self.result)?;
        match self.field {
            PayloadField::Data => st.serialize_field("data", &self.data)?,
            PayloadField::KafkaRecordValue => st.serialize_field("kafkaRecordValue", &self.data)?,
        }
        if let Some(partition_keys) = &self.partition_keys {
            st.serialize_field("metadata", &Metadata { partition_keys })?;
        }
        st.end()
    }
}

/// A record's base64 payload in the answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Data<'a> {
    /// The enriched line, base64, already a JSON string (quotes included).
    Encoded(Box<RawValue>),
    /// The original text, as it came (or empty, for a dropped record the size guard shrank).
    Original(Cow<'a, str>),
}

impl Data<'_> {
    pub(crate) fn encoded(line: &[u8]) -> Self {
        let mut quoted = String::with_capacity(line.len().div_ceil(3) * 4 + 2);
        quoted.push('"');
        STANDARD.encode_string(line, &mut quoted);
        quoted.push('"');
        // Base64 between quotes is always a valid JSON string; the check is a fast scan.
        match RawValue::from_string(quoted) {
            Ok(raw) => Self::Encoded(raw),
            Err(_) => Self::Original(Cow::Owned(STANDARD.encode(line))),
        }
    }
}
