//! What an event is applied against: the pieces of the container that one invocation uses,
//! lent by the handler for the length of one `apply`.
//!
//! The events see only this, never the handler, so the dependency runs one way: the handler
//! builds a context and hands it to the event it recognized; an event knows what it needs of
//! the container, not how the container is put together.

use chrono::{DateTime, Utc};

use crate::alert::digest::Digest;
use crate::alert::publisher::AlertPublisher;
use crate::alert::sender::AlertSender;
use crate::config::Config;
use crate::detect::store::StateStore;
use crate::detect::streams::ScoredThrough;

/// Everything an event may use while it is applied.
#[derive(Debug)]
pub(crate) struct Context<'h, P> {
    pub(crate) config: &'h Config,
    /// Storm control and the publisher: one alert per invocation at most.
    pub(crate) alerts: &'h AlertSender<P>,
    /// Where the rate detectors' state lives.
    pub(crate) state: &'h dyn StateStore,
    /// What this container knows of the state's scored windows.
    pub(crate) scored_through: &'h ScoredThrough,
    /// The largest answer allowed: Lambda's limit, smaller in tests.
    pub(crate) response_limit: usize,
    /// When the invocation started, as the records' `processed_at` and the alert say.
    pub(crate) now: DateTime<Utc>,
}

impl<P: AlertPublisher> Context<'_, P> {
    /// A digest for the invocation's anomalies, keeping every one only when the handler was
    /// asked to (`replay` prints them).
    pub(crate) fn digest(&self) -> Digest {
        Digest::new(self.alerts.keeps_anomalies())
    }
}
