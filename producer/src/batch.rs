//! The records waiting for their `PutRecordBatch` call, kept within its quotas: Firehose rejects
//! a whole call that breaks one, and no retry can make such a call succeed.

use std::time::Duration;

use tokio::time::Instant;

/// Records per `PutRecordBatch` call.
pub(crate) const MAX_BATCH_RECORDS: usize = 500;
/// Data bytes per `PutRecordBatch` call, all records together.
pub(crate) const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Data bytes per record.
pub(crate) const MAX_RECORD_BYTES: usize = 1000 * 1024;

/// How long a record may wait for others to share its call. Firehose buffers for a minute or
/// more before delivery, so holding records a second costs nothing visible and saves calls at
/// low rates.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// Whether Firehose would refuse `record` whatever the batch.
pub(crate) fn too_large(record: &[u8]) -> bool {
    record.len() > MAX_RECORD_BYTES
}

/// Records waiting for their call, in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    records: Vec<Vec<u8>>,
    bytes: usize,
    /// When the oldest record was added.
    opened: Option<Instant>,
}

impl Batch {
    /// Whether `record` can join without breaking a quota.
    pub(crate) fn fits(&self, record: &[u8]) -> bool {
        self.records.len() < MAX_BATCH_RECORDS && self.bytes + record.len() <= MAX_BATCH_BYTES
    }

    /// Adds `record`, which must [fit](Self::fits).
    pub(crate) fn push(&mut self, record: Vec<u8>, now: Instant) {
        debug_assert!(self.fits(&record) && !too_large(&record));
        self.opened.get_or_insert(now);
        self.bytes += record.len();
        self.records.push(record);
    }

    /// Whether no record can join: the call might as well go now.
    pub(crate) fn is_full(&self) -> bool {
        self.records.len() >= MAX_BATCH_RECORDS
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the batch must go so its oldest record waits no longer than `linger`; `None` when
    /// it is empty.
    pub(crate) fn deadline(&self, linger: Duration) -> Option<Instant> {
        self.opened.map(|opened| opened + linger)
    }

    /// Empties the batch, handing over its records.
    pub(crate) fn take(&mut self) -> Vec<Vec<u8>> {
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quotas_are_firehose_s() {
        // https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
        assert_eq!(MAX_BATCH_RECORDS, 500);
        assert_eq!(MAX_BATCH_BYTES, 4_194_304);
        assert_eq!(MAX_RECORD_BYTES, 1_024_000);
    }

    #[test]
    fn a_batch_holds_at_most_500_records() {
        let now = Instant::now();
        let mut batch = Batch::default();
        for _ in 0..MAX_BATCH_RECORDS {
            assert!(batch.fits(b"x") && !batch.is_full());
            batch.push(b"x".to_vec(), now);
        }
        assert!(!batch.fits(b"x"));
        assert!(batch.is_full());
        assert_eq!(batch.take().len(), MAX_BATCH_RECORDS);
        assert!(batch.is_empty() && batch.fits(b"x"));
    }

    #[test]
    fn a_batch_holds_at_most_4_mib() {
        let now = Instant::now();
        let mut batch = Batch::default();
        let largest = vec![b'x'; MAX_RECORD_BYTES];
        for _ in 0..4 {
            assert!(batch.fits(&largest));
            batch.push(largest.clone(), now);
        }
        // 4,096,000 bytes: room for 98,304 more, exactly.
        assert!(!batch.fits(&largest));
        assert!(batch.fits(&vec![b'x'; MAX_BATCH_BYTES - 4 * MAX_RECORD_BYTES]));
        assert!(!batch.fits(&vec![b'x'; MAX_BATCH_BYTES - 4 * MAX_RECORD_BYTES + 1]));
        assert!(
            !batch.is_full(),
            "full counts records; bytes are checked by fits"
        );
        batch.take();
        assert!(batch.fits(&largest), "taking empties the byte count too");
    }

    #[test]
    fn only_records_over_1000_kib_are_too_large() {
        assert!(!too_large(&vec![b'x'; MAX_RECORD_BYTES]));
        assert!(too_large(&vec![b'x'; MAX_RECORD_BYTES + 1]));
    }

    #[test]
    fn the_deadline_runs_from_the_oldest_record() {
        let start = Instant::now();
        let linger = Duration::from_millis(40);
        let mut batch = Batch::default();
        assert_eq!(batch.deadline(linger), None);
        batch.push(b"a".to_vec(), start);
        batch.push(b"b".to_vec(), start + Duration::from_millis(30));
        assert_eq!(batch.deadline(linger), Some(start + linger));
        batch.take();
        assert_eq!(batch.deadline(linger), None);
    }
}
