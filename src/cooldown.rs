//! Storm control: after an alert, a source stays quiet for a while and further anomalies are
//! folded into a count that the next alert reports.
//!
//! The memory lives in the function's container, so it holds per warm container: Lambda may run
//! several containers at once and starts new ones at will, each with its own quiet period. That
//! bounds the storm (one alert per container and source per period) without a shared store.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::Carried;

/// What to do with the anomalies of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Publish now, reporting these earlier anomalies too.
    Publish(Option<Carried>),
    /// Within the quiet period: counted for the next alert.
    Suppress,
}

#[derive(Debug, Default, Clone, Copy)]
struct SourceState {
    last_alert: Option<DateTime<Utc>>,
    held: Option<Carried>,
}

/// Per-source memory of the last alert and of what was held back since.
#[derive(Debug, Default)]
pub struct Cooldown {
    period: Duration,
    sources: HashMap<String, SourceState>,
}

impl Cooldown {
    /// A period of zero turns storm control off.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            sources: HashMap::new(),
        }
    }

    /// Decides for `count` anomalies from `source` at `now`; a suppressed count is held.
    pub fn decide(&mut self, source: &str, count: usize, now: DateTime<Utc>) -> Decision {
        let state = self.sources.entry(source.to_owned()).or_default();
        let quiet = state.last_alert.is_some_and(|last| {
            let elapsed = now
                .signed_duration_since(last)
                .to_std()
                .unwrap_or(Duration::ZERO);
            elapsed < self.period
        });
        if quiet {
            let held = state.held.get_or_insert(Carried {
                count: 0,
                since: now,
            });
            held.count += count;
            Decision::Suppress
        } else {
            Decision::Publish(state.held)
        }
    }

    /// Records a published alert: the quiet period starts and the held count is cleared.
    pub fn published(&mut self, source: &str, now: DateTime<Utc>) {
        let state = self.sources.entry(source.to_owned()).or_default();
        state.last_alert = Some(now);
        state.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-11-27T{s}Z").parse().unwrap()
    }

    #[test]
    fn quiet_period_folds_anomalies_into_the_next_alert() {
        let mut c = Cooldown::new(Duration::from_secs(300));
        assert_eq!(c.decide("s", 3, at("10:00:00")), Decision::Publish(None));
        c.published("s", at("10:00:00"));
        assert_eq!(c.decide("s", 4, at("10:01:00")), Decision::Suppress);
        assert_eq!(c.decide("s", 5, at("10:04:59")), Decision::Suppress);
        // Other sources have their own period.
        assert_eq!(
            c.decide("other", 1, at("10:02:00")),
            Decision::Publish(None)
        );
        let carried = Carried {
            count: 9,
            since: at("10:01:00"),
        };
        assert_eq!(
            c.decide("s", 1, at("10:05:00")),
            Decision::Publish(Some(carried))
        );
        c.published("s", at("10:05:00"));
        assert_eq!(c.decide("s", 1, at("10:06:00")), Decision::Suppress);
    }

    #[test]
    fn a_failed_publish_keeps_the_held_count_and_the_source_open() {
        let mut c = Cooldown::new(Duration::from_secs(60));
        c.published("s", at("10:00:00"));
        assert_eq!(c.decide("s", 2, at("10:00:30")), Decision::Suppress);
        let carried = Some(Carried {
            count: 2,
            since: at("10:00:30"),
        });
        // Publishing failed: nothing recorded, so the next invocation tries again with the count.
        assert_eq!(c.decide("s", 1, at("10:01:10")), Decision::Publish(carried));
        assert_eq!(c.decide("s", 1, at("10:01:11")), Decision::Publish(carried));
    }

    #[test]
    fn zero_turns_it_off_and_clock_steps_back_do_not_silence_forever() {
        let mut c = Cooldown::new(Duration::ZERO);
        c.published("s", at("10:00:00"));
        assert_eq!(c.decide("s", 1, at("10:00:00")), Decision::Publish(None));
        let mut c = Cooldown::new(Duration::from_secs(60));
        c.published("s", at("10:00:00"));
        assert_eq!(c.decide("s", 1, at("09:59:00")), Decision::Suppress);
        assert!(matches!(
            c.decide("s", 1, at("10:01:00")),
            Decision::Publish(Some(_))
        ));
    }
}
