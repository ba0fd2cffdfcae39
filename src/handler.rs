//! The handler: what one invocation does, the same for the Lambda runtime, `invoke` and
//! `replay`. It holds what a container builds once (configuration, storm control, the state
//! store), recognizes each event, lends the event a [`Context`] to apply itself against, and
//! hands back the answer with the invocation's counts.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::alert::cooldown::Cooldown;
use crate::alert::publisher::AlertPublisher;
use crate::alert::sender::AlertSender;
use crate::config::Config;
use crate::detect::memory::MemoryStore;
use crate::detect::store::StateStore;
use crate::detect::streams::ScoredThrough;
use crate::event::{Context, Event, EventError};
use crate::metrics::InvocationMetrics;
use crate::transform::LAMBDA_RESPONSE_LIMIT;

#[cfg(test)]
mod tests;

/// Why an invocation failed as a whole: the event's own error (see [`EventError`]).
pub type HandlerError = EventError;

/// What one invocation produced: the answer, and the counts for the metrics line.
#[derive(Debug)]
pub struct Invocation {
    pub result: Result<Box<RawValue>, HandlerError>,
    pub metrics: InvocationMetrics,
    /// The event source, as the metrics dimension names it; `None` for an unrecognized event,
    /// which gets no metrics line (it is not one of ours, and `invoke` owes one error line).
    pub source: Option<&'static str>,
}

/// Everything built once at cold start and used by every invocation.
#[derive(Debug)]
pub struct Handler<P> {
    config: Config,
    alerts: AlertSender<P>,
    /// Where the rate detectors' state lives: this container's memory unless a shared store
    /// was given.
    state: Arc<dyn StateStore>,
    /// What this container knows of the state's scored windows, so most batches read only the
    /// clock. Never shared: in `replay --containers` each handler is a container.
    scored_through: ScoredThrough,
    response_limit: usize,
}

impl<P: AlertPublisher> Handler<P> {
    pub fn new(config: Config, publisher: P) -> Self {
        let state: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let mut alerts = AlertSender::new(publisher, Cooldown::new(config.alert_cooldown));
        alerts.share_cooldown(state.clone());
        Self {
            alerts,
            config,
            state,
            scored_through: ScoredThrough::default(),
            response_limit: LAMBDA_RESPONSE_LIMIT,
        }
    }

    /// Alerts carry every anomaly they report, for `replay` to print; Lambda never needs them.
    pub fn keeping_anomalies(mut self) -> Self {
        self.alerts.keep_anomalies();
        self
    }

    /// A smaller answer limit than Lambda's, so tests can reach the size guard.
    #[cfg(test)]
    pub(crate) fn with_response_limit(mut self, limit: usize) -> Self {
        self.response_limit = limit;
        self
    }

    /// Keeps the rate state, and claims the alert cooldown's quiet periods, in `store` instead
    /// of this container's memory (a shared store, or one that several handlers share in
    /// `replay --containers`).
    pub(crate) fn with_state(mut self, store: Arc<dyn StateStore>) -> Self {
        self.alerts.share_cooldown(store.clone());
        self.state = store;
        self
    }

    /// Answers one event (JSON text) received at `now`.
    ///
    /// Only an unrecognizable event, a Firehose batch no answer can fit, a direct event with
    /// unreadable items, or a direct event whose alert fails is an error; anything wrong inside
    /// a batch is answered record by record.
    pub async fn handle(&self, event: &str, now: DateTime<Utc>) -> Invocation {
        let mut metrics = InvocationMetrics::default();
        let event = match Event::recognize(event) {
            Ok(event) => event,
            Err(e) => {
                return Invocation {
                    result: Err(e.into()),
                    metrics,
                    source: None,
                };
            }
        };
        let source = event.kind().code();
        let cx = Context {
            config: &self.config,
            alerts: &self.alerts,
            state: &*self.state,
            scored_through: &self.scored_through,
            response_limit: self.response_limit,
            now,
        };
        let result = event.apply(&cx, &mut metrics).await;
        Invocation {
            result,
            metrics,
            source: Some(source),
        }
    }
}
