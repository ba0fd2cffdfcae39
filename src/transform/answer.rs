//! The answer Firehose expects for a batch, serialized as
//! `{"records": [{"recordId": "...", "result": "Ok", "data": "<base64>", "metadata":
//! {"partitionKeys": {...}}}, ...]}`; records from an Amazon MSK source answer in
//! `kafkaRecordValue` instead of `data`.
//!
//! An `Ok` answer is written by hand ([`write_ok`]) so that its line is base64-encoded straight
//! into the response body: base64 never needs escaping, and letting serde_json check its ~5.5 MB
//! byte by byte cost a quarter of a batch's CPU time in the profile. The answers that return the
//! record's data as it came ([`Answer`]) go through serde, which escapes what the event
//! unescaped.

use std::io::Write;

use serde::{Serialize, Serializer};

use super::encoding::{encode_into, encoded_len};
use super::fields::write_json_string;
use super::partition::PartitionKeys;
use crate::event::record::{BatchRecord, PayloadField};

/// The three answers Firehose understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

/// An answer that carries the record's own data back (or none, for a dropped record the size
/// guard shrank).
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    pub(crate) record_id: &'a str,
    pub(crate) result: RecordResult,
    pub(crate) field: PayloadField,
    pub(crate) data: &'a str,
}

impl<'a> Answer<'a> {
    /// An answer that returns the record's data as it came.
    pub(crate) fn unchanged(record: &'a BatchRecord<'a>, result: RecordResult) -> Self {
        Self {
            record_id: &record.record_id,
            result,
            field: record.payload_field,
            data: record.payload.as_deref().unwrap_or_default(),
        }
    }

    /// A `Dropped` answer without the data, which nobody reads.
    pub(crate) fn blank(record: &'a BatchRecord<'a>) -> Self {
        Self {
            data: "",
            ..Self::unchanged(record, RecordResult::Dropped)
        }
    }

    /// Its length once serialized, for the size guard.
    pub(crate) fn len(&self) -> usize {
        let mut counter = Counter(0);
        write_json(&mut counter, self);
        counter.0
    }
}

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Answer", 3)?;
        st.serialize_field("recordId", self.record_id)?;
        st.serialize_field("result", &self.result)?;
        st.serialize_field(payload_key(self.field), self.data)?;
        st.end()
    }
}

fn payload_key(field: PayloadField) -> &'static str {
    match field {
        PayloadField::Data => "data",
        PayloadField::KafkaRecordValue => "kafkaRecordValue",
    }
}

/// Appends the `Ok` answer to a record, its enriched `line` base64-encoded as the data, exactly
/// as serde would have written it. Returns where the base64 starts in `out`.
pub(crate) fn write_ok(
    out: &mut Vec<u8>,
    record_id: &str,
    field: PayloadField,
    line: &[u8],
    keys: &PartitionKeys<'_>,
) -> usize {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_string(out, record_id);
    out.extend_from_slice(b",\"result\":\"Ok\",\"");
    out.extend_from_slice(payload_key(field).as_bytes());
    out.extend_from_slice(b"\":\"");
    let data = out.len();
    out.resize(data + encoded_len(line.len()), 0);
    // The slice is exactly the encoded length, so encoding cannot run out of room.
    let written = encode_into(line, out.get_mut(data..).unwrap_or_default());
    out.truncate(data + written);
    out.extend_from_slice(b"\",\"metadata\":{\"partitionKeys\":");
    keys.write(out);
    out.extend_from_slice(b"}}");
    data
}

/// Appends `value` as JSON.
pub(crate) fn write_json<W: Write, T: Serialize + ?Sized>(out: &mut W, value: &T) {
    // Our own types serialize without fail (no maps with non-string keys), and neither a Vec
    // nor a Counter fails a write.
    let _ = serde_json::to_writer(out, value);
}

/// A writer that only counts, to size an answer without building it.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
