//! Where batches go. Pacing, batching and retries talk to a [`RecordSink`] rather than to AWS,
//! so tests drive them against memory and only the Firehose adapter needs the network.

use std::fmt;

/// Why a whole `PutRecordBatch` call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SinkError {
    /// Worth another try: throttling, a dropped connection, a server error.
    Transient(String),
    /// Will fail the same way every time, for every record: unknown stream, no permission.
    Fatal(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(message) | Self::Fatal(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for SinkError {}

/// A Firehose stream, or memory in tests.
pub(crate) trait RecordSink {
    /// Puts `records` in one call. On success, per record and in order, `None` if it was
    /// accepted or its error if not.
    async fn put_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<String>>, SinkError>;
}
