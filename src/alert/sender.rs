//! The alert path of one invocation: storm control, composing, one publish, and what each
//! outcome means for the logs, the metrics and the cooldown.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::compose::{DataLocation, compose};
use super::cooldown::{Cooldown, Decision, Found};
use super::digest::Digest;
use super::publisher::{AlertPublisher, Delivery, PublishError};
use super::severity::Severity;
use super::source::{Source, SourceKey};
use crate::detect::store::StateStore;
use crate::metrics::InvocationMetrics;

/// Longest source key claimed in the store as is; longer ones are cut and told apart by a hash
/// (a DynamoDB partition key is at most 2,048 bytes, and a direct caller names its source).
const CLAIM_KEY_MAX: usize = 512;

/// How an invocation's alert went.
#[derive(Debug)]
pub(crate) enum Outcome {
    Published(Option<String>),
    DryRun,
    Suppressed,
    Failed(PublishError),
}

/// The publisher and the storm-control memory, shared by every invocation of a container, and
/// the state store where quiet periods are claimed across containers.
#[derive(Debug)]
pub(crate) struct AlertSender<P> {
    publisher: P,
    cooldown: Mutex<Cooldown>,
    shared: Option<Arc<dyn StateStore>>,
    keep_anomalies: bool,
}

impl<P: AlertPublisher> AlertSender<P> {
    pub(crate) fn new(publisher: P, cooldown: Cooldown) -> Self {
        Self {
            publisher,
            cooldown: Mutex::new(cooldown),
            shared: None,
            keep_anomalies: false,
        }
    }

    /// Claims quiet periods in `store` before publishing, so that containers sharing it send at
    /// most one alert per source and period together.
    pub(crate) fn share_cooldown(&mut self, store: Arc<dyn StateStore>) {
        self.shared = Some(store);
    }

    /// Alerts carry every anomaly (for `replay`, which prints them).
    pub(crate) fn keep_anomalies(&mut self) {
        self.keep_anomalies = true;
    }

    pub(crate) fn keeps_anomalies(&self) -> bool {
        self.keep_anomalies
    }

    /// Storm control, then one publish of what `digest` holds (never empty when called). The
    /// shared claim must be answered by `deadline`, the end of the invocation's store budget.
    pub(crate) async fn send(
        &self,
        source: &Source,
        digest: Digest,
        location: Option<&DataLocation>,
        now: DateTime<Utc>,
        deadline: Instant,
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
        if !self.claim(&key, severity, now, deadline, metrics).await {
            self.with_cooldown(|c| c.hold(&key, found, now));
            tracing::info!(source = ?source.name, kind = source.kind.code(), anomalies = count, "alert held back by the cooldown: another container alerted for this source");
            metrics.alerts_suppressed += 1;
            return Outcome::Suppressed;
        }
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
                self.release(&key, now, deadline, metrics).await;
                Outcome::Failed(e)
            }
        }
    }

    /// Claims the source's quiet period in the shared store; true when this alert may go out.
    /// A store that fails or does not answer in time grants it: alerts fall back to this
    /// container's own cooldown rather than go missing.
    async fn claim(
        &self,
        key: &SourceKey,
        severity: Severity,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut InvocationMetrics,
    ) -> bool {
        let Some(store) = &self.shared else {
            return true;
        };
        let period = self.with_cooldown(|c| c.period());
        // Storm control off, or the store already failed this invocation (warned and counted
        // once): this container's own cooldown decides.
        if period.is_zero() || metrics.state_store_errors > 0 {
            return true;
        }
        let period = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        let name = claim_key(key);
        metrics.state_store_calls += 1;
        let claim = store.claim_alert(&name, now.timestamp_millis(), period, severity as u8);
        match tokio::time::timeout_at(deadline, claim).await {
            Ok(Ok(granted)) => granted,
            Ok(Err(e)) => {
                tracing::warn!(source = ?key.name, error = %e, "alert cooldown not shared for this alert: the state store failed");
                metrics.state_store_errors += 1;
                true
            }
            Err(_) => {
                tracing::warn!(source = ?key.name, "alert cooldown not shared for this alert: the state store did not answer in time");
                metrics.state_store_errors += 1;
                true
            }
        }
    }

    /// Gives the claim back after a failed publish, so the next finding tries again; best
    /// effort, within the invocation's store budget.
    async fn release(
        &self,
        key: &SourceKey,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut InvocationMetrics,
    ) {
        let Some(store) = &self.shared else {
            return;
        };
        if self.with_cooldown(|c| c.period()).is_zero() || metrics.state_store_errors > 0 {
            return;
        }
        let name = claim_key(key);
        metrics.state_store_calls += 1;
        let release = store.release_alert(&name, now.timestamp_millis());
        match tokio::time::timeout_at(deadline, release).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(source = ?key.name, error = %e, "the alert's claim could not be given back: the state store failed");
                metrics.state_store_errors += 1;
            }
            Err(_) => {
                tracing::warn!(source = ?key.name, "the alert's claim could not be given back: the state store did not answer in time");
                metrics.state_store_errors += 1;
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

/// The source's name in the store: kind and name, cut to [`CLAIM_KEY_MAX`] bytes with a hash of
/// the whole when longer.
fn claim_key(key: &SourceKey) -> String {
    use std::hash::{Hash, Hasher};
    let full = format!("{}#{}", key.kind.code(), key.name);
    if full.len() <= CLAIM_KEY_MAX {
        return full;
    }
    let mut cut = CLAIM_KEY_MAX;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    full.hash(&mut h);
    format!("{}#{:016x}", &full[..cut], h.finish())
}
