//! Where batches go. Pacing, batching and retries talk to a [`RecordSink`] rather than to AWS,
//! so tests drive them against memory and only the Firehose adapter needs the network.

use std::fmt;

/// What an error was caused by, kept so the whole chain can be shown; boxed so this trait
/// does not depend on the AWS SDK's types.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a whole `PutRecordBatch` call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// Throttling, a server error, a timeout or the network: another try may succeed.
    #[error("PutRecordBatch failed")]
    Transient(#[source] Cause),
    /// No record can ever reach a stream that does not exist.
    #[error("Firehose stream {stream:?} not found in {region}")]
    StreamNotFound {
        stream: String,
        region: String,
        #[source]
        cause: Cause,
    },
    /// Refused for a reason another try cannot change: a permission, an invalid argument.
    #[error("Firehose refused records for stream {stream:?} in {region}")]
    Refused {
        stream: String,
        region: String,
        #[source]
        cause: Cause,
    },
    /// The call could not be made at all, for a reason on this side.
    #[error("cannot call PutRecordBatch")]
    Call(#[source] Cause),
}

impl SinkError {
    /// Whether every later call would fail the same way, so the run must stop.
    pub(crate) fn is_fatal(&self) -> bool {
        !matches!(self, Self::Transient(_))
    }
}

/// Why the stream refused one entry of a call that succeeded as a whole: the entry's
/// `ErrorCode` and `ErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) struct EntryError {
    pub(crate) code: String,
    pub(crate) message: Option<String>,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {message}", self.code),
            None => f.write_str(&self.code),
        }
    }
}

/// A Firehose stream, or memory in tests.
pub(crate) trait RecordSink {
    /// Puts `records` in one call. On success, per record and in order, `None` if it was
    /// accepted or why not.
    async fn put_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<EntryError>>, SinkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_errors_read_as_code_and_message() {
        let error = EntryError {
            code: "ServiceUnavailableException".into(),
            message: Some("Slow down.".into()),
        };
        assert_eq!(error.to_string(), "ServiceUnavailableException: Slow down.");
        let bare = EntryError {
            message: None,
            ..error
        };
        assert_eq!(bare.to_string(), "ServiceUnavailableException");
    }

    #[test]
    fn only_transient_errors_let_the_run_go_on() {
        let cause = || -> Cause { Box::new(std::io::Error::other("x")) };
        assert!(!SinkError::Transient(cause()).is_fatal());
        assert!(SinkError::Call(cause()).is_fatal());
        for error in [
            SinkError::StreamNotFound {
                stream: "S".into(),
                region: "r".into(),
                cause: cause(),
            },
            SinkError::Refused {
                stream: "S".into(),
                region: "r".into(),
                cause: cause(),
            },
        ] {
            assert!(error.is_fatal(), "{error}");
        }
    }
}
