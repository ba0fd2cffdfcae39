//! Why an event failed as a whole. Lambda shows the caller only the message, so each one
//! carries its cause's text. Everything wrong inside a batch is answered record by record
//! instead, and is no error.

use thiserror::Error;

use super::Unrecognized;
use crate::alert::publisher::PublishError;
use crate::transform::TooLarge;

#[derive(Debug, Error)]
pub enum EventError {
    /// Not one of the accepted shapes.
    #[error(transparent)]
    Unrecognized(#[from] Unrecognized),
    /// A Firehose batch whose answer cannot fit Lambda's limit.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// A direct event with items that are not anomalies; nothing was published.
    #[error("{unreadable} of {total} anomalies cannot be read, so nothing was published: {shown}")]
    UnreadableAnomalies {
        unreadable: usize,
        total: usize,
        shown: String,
    },
    /// A direct event whose alert could not be published.
    #[error("the alert for {count} anomalies could not be published: {source}")]
    Publish {
        count: usize,
        #[source]
        source: PublishError,
    },
    /// Our own answer could not be serialized (never expected).
    #[error("cannot serialize the answer: {0}")]
    Serialize(#[from] serde_json::Error),
}
