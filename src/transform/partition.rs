//! The partition keys, in one place: Firehose's dynamic partitioning reads them from the answer
//! (`!{partitionKeyFromLambda:status}`, `event_date`, `event_hour`), and alerts name the same
//! `status=…/dt=…/hour=…` prefixes. Date and hour are slices of the written `event_time`
//! (`2026-11-27T10:15:30.123Z`), so a record's partition always agrees with its own field.

use serde::{Serialize, Serializer};

use super::fields::write_json_string;

/// `YYYY-MM-DD` of an `event_time` as this function writes it.
pub(crate) fn date(event_time: &str) -> &str {
    event_time.get(..10).unwrap_or_default()
}

/// `HH` of an `event_time` as this function writes it.
pub(crate) fn hour(event_time: &str) -> &str {
    event_time.get(11..13).unwrap_or_default()
}

/// `status` of a record: where anomalies and the rest part ways.
pub(crate) fn status(is_anomaly: bool) -> &'static str {
    if is_anomaly { "anomaly" } else { "processed" }
}

/// The S3 path below the processed prefix that holds a record: `dt=…/hour=…` (the template's
/// prefix puts `status=…/` before it).
pub(crate) fn s3_path(event_time: &str) -> String {
    format!("dt={}/hour={}", date(event_time), hour(event_time))
}

/// Keys for Firehose dynamic partitioning, serialized as
/// `{"status": "anomaly"|"processed", "event_date": "YYYY-MM-DD", "event_hour": "HH"}`.
#[derive(Debug)]
pub(crate) struct PartitionKeys<'a> {
    pub(crate) is_anomaly: bool,
    /// The record's `event_time`; date and hour are slices of it.
    pub(crate) event_time: &'a str,
}

impl PartitionKeys<'_> {
    /// Appends the keys as JSON, as their [`Serialize`] writes them, without serde's
    /// per-field machinery (this runs once per record).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"status\":\"");
        out.extend_from_slice(status(self.is_anomaly).as_bytes());
        out.extend_from_slice(b"\",\"event_date\":");
        write_json_string(out, date(self.event_time));
        out.extend_from_slice(b",\"event_hour\":");
        write_json_string(out, hour(self.event_time));
        out.push(b'}');
    }
}

impl Serialize for PartitionKeys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PartitionKeys", 3)?;
        st.serialize_field("status", status(self.is_anomaly))?;
        st.serialize_field("event_date", date(self.event_time))?;
        st.serialize_field("event_hour", hour(self.event_time))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_slices_of_the_event_time() {
        let t = "2026-11-28T00:59:59.999Z";
        assert_eq!((date(t), hour(t)), ("2026-11-28", "00"));
        assert_eq!(s3_path(t), "dt=2026-11-28/hour=00");
        let keys = PartitionKeys {
            is_anomaly: true,
            event_time: t,
        };
        assert_eq!(
            serde_json::to_string(&keys).unwrap(),
            r#"{"status":"anomaly","event_date":"2026-11-28","event_hour":"00"}"#
        );
        assert_eq!(status(false), "processed");
    }

    #[test]
    fn written_by_hand_as_serde_writes_them() {
        for event_time in [
            "2026-11-28T00:59:59.999Z",
            "+10000-01-01T00:00:00.000Z",
            "",
            "2026",
            "2026-11-28T0",
        ] {
            for is_anomaly in [true, false] {
                let keys = PartitionKeys {
                    is_anomaly,
                    event_time,
                };
                let mut ours = Vec::new();
                keys.write(&mut ours);
                assert_eq!(ours, serde_json::to_vec(&keys).unwrap(), "{event_time}");
            }
        }
    }
}
