//! The alert path of one invocation: storm control, composing, one publish, and what each
//! outcome means for the logs, the metrics and the cooldown.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::compose::{DataLocation, compose};
use super::cooldown::{Cooldown, Decision, Found};
use super::digest::Digest;
use super::publisher::{AlertPublisher, Delivery, PublishError};
use super::source::Source;
use crate::metrics::InvocationMetrics;

/// How an invocation's alert went.
#[derive(Debug)]
pub(crate) enum Outcome {
    Published(Option<String>),
    DryRun,
    Suppressed,
    Failed(PublishError),
}

/// The publisher and the storm-control memory, shared by every invocation of a container.
#[derive(Debug)]
pub(crate) struct AlertSender<P> {
    publisher: P,
    cooldown: Mutex<Cooldown>,
    keep_anomalies: bool,
}

impl<P: AlertPublisher> AlertSender<P> {
    pub(crate) fn new(publisher: P, cooldown: Cooldown) -> Self {
        Self {
            publisher,
            cooldown: Mutex::new(cooldown),
            keep_anomalies: false,
        }
    }

    /// Alerts carry every anomaly (for `replay`, which prints them).
    pub(crate) fn keep_anomalies(&mut self) {
        self.keep_anomalies = true;
    }

    pub(crate) fn keeps_anomalies(&self) -> bool {
        self.keep_anomalies
    }

    /// Storm control, then one publish of what `digest` holds (never empty when called).
    pub(crate) async fn send(
        &self,
        source: &Source,
        digest: Digest,
        location: Option<&DataLocation>,
        now: DateTime<Utc>,
        metrics: &mut InvocationMetrics,
    ) -> Outcome {
        let key = source.key();
        let found = Found {
            count: digest.count(),
            max_score: digest.max_score(),
            findings: digest.findings(),
        };
        let count = found.count;
        let (carried, severity) = match self.with_cooldown(|c| c.decide(&key, found, now)) {
            Decision::Publish { carried, severity } => (carried, severity),
            Decision::Suppress => {
                tracing::info!(source = ?source.name, kind = source.kind.code(), anomalies = count, "alert held back by the cooldown");
                metrics.alerts_suppressed += 1;
                return Outcome::Suppressed;
            }
        };
        let alert = compose(source, digest, carried, severity, location, now);
        match self.publisher.publish(&alert).await {
            Ok(delivery) => {
                self.with_cooldown(|c| c.sent(&key, alert.severity, now));
                match delivery {
                    Delivery::Published { message_id } => {
                        tracing::info!(
                            source = ?source.name,
                            kind = source.kind.code(),
                            anomalies = alert.anomaly_count,
                            severity = alert.severity.as_str(),
                            message_id = message_id.as_deref().unwrap_or("-"),
                            "alert published"
                        );
                        metrics.alerts_published += 1;
                        Outcome::Published(message_id)
                    }
                    Delivery::DryRun => {
                        tracing::info!(
                            source = ?source.name,
                            kind = source.kind.code(),
                            anomalies = alert.anomaly_count,
                            severity = alert.severity.as_str(),
                            "alert not published: dry run (ALERT_TOPIC_ARN is not set)"
                        );
                        Outcome::DryRun
                    }
                }
            }
            Err(e) => {
                tracing::error!(source = ?source.name, kind = source.kind.code(), anomalies = alert.anomaly_count, error = %e, "alert could not be published");
                metrics.alerts_failed += 1;
                Outcome::Failed(e)
            }
        }
    }

    fn with_cooldown<T>(&self, f: impl FnOnce(&mut Cooldown) -> T) -> T {
        // A panic while holding the lock cannot leave the cooldown inconsistent, so a
        // poisoned lock is still usable.
        let mut guard = self
            .cooldown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}
