//! The one thing the alert path needs from the outside world: something that delivers an
//! [`Alert`]. SNS, the dry run and `replay`'s printer implement it in `crate::adapter`.

use std::future::Future;

use thiserror::Error;

use super::compose::Alert;

/// What became of an alert handed to a publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent; the transport's message id when it gives one.
    Published { message_id: Option<String> },
    /// Shown, not sent: no topic is configured (`invoke` and `replay` without
    /// `ALERT_TOPIC_ARN`). Storm control counts it as sent, so replays behave as live.
    DryRun,
}

/// Why an alert could not be delivered; the cause is kept for whoever wants the chain, and
/// flattened into the message so that one log line or one Lambda error says it all.
#[derive(Debug, Error)]
#[error("{context}: {detail}")]
pub struct PublishError {
    context: String,
    detail: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PublishError {
    /// An error with its cause; `detail` is the cause's whole chain as one line.
    pub fn new(
        context: impl Into<String>,
        detail: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            context: context.into(),
            detail: detail.into(),
            source: Some(source.into()),
        }
    }

    /// An error with no underlying cause.
    pub fn plain(context: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            detail: detail.into(),
            source: None,
        }
    }
}

/// Something that delivers alerts.
pub trait AlertPublisher {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<Delivery, PublishError>>;
}
