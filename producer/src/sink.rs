//! Where batches go. Pacing, batching and the resending of failed entries talk to a
//! [`RecordSink`] rather than to AWS, so tests drive them against memory and only the Firehose
//! adapter needs the network.
//!
//! A sink retries a whole call itself (the AWS SDK does, for Firehose) but never resends single
//! entries: it reports how many attempts it made, so the caller can count every resend and keep
//! a record's attempts within one budget.

use std::fmt;

/// What an error was caused by, kept so the whole chain can be shown; boxed so this trait
/// does not depend on the AWS SDK's types.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a whole `PutRecordBatch` call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// Throttling, a server error, a timeout or the network, on every attempt the sink made:
    /// this call's records are lost, but a later call may succeed.
    #[error(transparent)]
    Transient(Cause),
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

/// What one call made of its records.
#[derive(Debug)]
pub(crate) struct Called {
    /// Times the request was sent, the sink's own retries of the whole call included.
    pub(crate) attempts: u32,
    /// Per record and in order, `None` if the stream accepted it or why not; or why the whole
    /// call failed.
    pub(crate) result: Result<Vec<Option<EntryError>>, SinkError>,
}

/// A Firehose stream, or memory in tests.
pub(crate) trait RecordSink {
    /// Puts `records` in one call, sending it at most `max_attempts` times (at least once).
    async fn put_batch(&self, records: &[Vec<u8>], max_attempts: u32) -> Called;
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
