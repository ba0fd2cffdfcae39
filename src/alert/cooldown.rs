//! Storm control: after an alert, a source stays quiet for a while and further anomalies are
//! folded into what the next alert reports, unless they are more severe than what was last sent.
//!
//! Sources are keyed by kind and name, so a direct caller cannot mute a delivery stream by
//! naming itself after its ARN. What is held carries the highest score and severity, so the
//! alert that finally goes out reports them truly; and an alert that would be more severe than
//! the last one sent goes out at once, so a subscription filtered on `critical` never loses a
//! critical alert behind an earlier `info` one.
//!
//! The memory lives in the function's container. Across containers, the quiet period is shared
//! through the state store: before an alert goes out, its source's period is claimed there
//! (`crate::alert::sender`), so at most one alert per source and period goes out from all
//! containers together (a more severe one still breaks through). What a container held back
//! stays in that container, and goes out with its next alert.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::anomaly::Anomaly;
use super::severity::{Severity, max_score};
use super::source::SourceKey;

/// Past this many sources, those neither quiet nor holding anything are forgotten, so that
/// callers inventing `source` names cannot grow the map without bound.
const SOURCES_KEPT: usize = 1_024;

/// Detector findings held back that the next alert lists in full; the rest are counted only.
pub(crate) const FINDINGS_HELD: usize = 10;

/// Anomalies folded into an alert from invocations the cooldown held back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Carried {
    pub(crate) count: usize,
    pub(crate) since: DateTime<Utc>,
    pub(crate) max_score: Option<f64>,
    pub(crate) severity: Severity,
    /// The detectors' own findings among them (episodes, bursts), so the alert that goes out
    /// still says what happened; at most [`FINDINGS_HELD`].
    pub(crate) findings: Vec<Anomaly>,
}

/// What one invocation found for a source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Found<'a> {
    pub(crate) count: usize,
    pub(crate) max_score: Option<f64>,
    /// The detectors' findings among them.
    pub(crate) findings: &'a [Anomaly],
}

/// What to do with the anomalies of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Publish now, at this severity, reporting these held anomalies too.
    Publish {
        carried: Option<Carried>,
        severity: Severity,
    },
    /// Within the quiet period and no more severe: held for the next alert.
    Suppress,
}

#[derive(Debug, Default, Clone)]
struct SourceState {
    last_alert: Option<(DateTime<Utc>, Severity)>,
    held: Option<Carried>,
}

/// The severity of an alert reporting `found` and what was held.
pub(crate) fn severity_of(found: Found<'_>, carried: Option<&Carried>) -> Severity {
    let count = found.count + carried.map_or(0, |c| c.count);
    let score = max_score(found.max_score, carried.and_then(|c| c.max_score));
    let rated = Severity::rate(count, score);
    carried.map_or(rated, |c| rated.max(c.severity))
}

/// Per-source memory of the last alert and of what was held back since.
#[derive(Debug, Default)]
pub(crate) struct Cooldown {
    period: Duration,
    sources: HashMap<SourceKey, SourceState>,
}

impl Cooldown {
    /// A period of zero turns storm control off.
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            period,
            sources: HashMap::new(),
        }
    }

    /// Decides for what `key` found at `now`; what is held back is remembered.
    pub(crate) fn decide(
        &mut self,
        key: &SourceKey,
        found: Found<'_>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.forget_idle(now);
        let period = self.period;
        let state = self.sources.entry(key.clone()).or_default();
        let severity = severity_of(found, state.held.as_ref());
        let hold = state.last_alert.is_some_and(|(last, last_severity)| {
            quiet(period, last, now) && severity <= last_severity
        });
        if !hold {
            return Decision::Publish {
                carried: state.held.clone(),
                severity,
            };
        }
        hold_in(state, found, now);
        Decision::Suppress
    }

    /// Holds what `key` found at `now` for its next alert, without starting a quiet period:
    /// another container alerted for the source (the shared claim was lost), and this one
    /// tries again with these at its next finding.
    pub(crate) fn hold(&mut self, key: &SourceKey, found: Found<'_>, now: DateTime<Utc>) {
        hold_in(self.sources.entry(key.clone()).or_default(), found, now);
    }

    /// The quiet period (zero: storm control is off).
    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// Records an alert that went out: the quiet period starts and the held anomalies are
    /// cleared. A failed publish records nothing, so the next invocation tries again with them.
    pub(crate) fn sent(&mut self, key: &SourceKey, severity: Severity, now: DateTime<Utc>) {
        let state = self.sources.entry(key.clone()).or_default();
        state.last_alert = Some((now, severity));
        state.held = None;
    }

    fn forget_idle(&mut self, now: DateTime<Utc>) {
        if self.sources.len() < SOURCES_KEPT {
            return;
        }
        let period = self.period;
        self.sources.retain(|_, s| {
            s.held.is_some()
                || s.last_alert
                    .is_some_and(|(last, _)| quiet(period, last, now))
        });
    }
}

fn hold_in(state: &mut SourceState, found: Found<'_>, now: DateTime<Utc>) {
    let found_severity = Severity::rate(found.count, found.max_score);
    let held = state.held.get_or_insert(Carried {
        count: 0,
        since: now,
        max_score: None,
        severity: found_severity,
        findings: Vec::new(),
    });
    held.count += found.count;
    let room = FINDINGS_HELD.saturating_sub(held.findings.len());
    held.findings
        .extend(found.findings.iter().take(room).cloned());
    held.max_score = max_score(held.max_score, found.max_score);
    held.severity = held.severity.max(found_severity);
}

/// Within `period` after `last`; a clock that stepped back counts as no time elapsed.
fn quiet(period: Duration, last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let elapsed = now
        .signed_duration_since(last)
        .to_std()
        .unwrap_or(Duration::ZERO);
    elapsed < period
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::source::SourceKind;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-11-27T{s}Z").parse().unwrap()
    }

    fn key(kind: SourceKind, name: &str) -> SourceKey {
        SourceKey {
            kind,
            name: name.into(),
        }
    }

    fn found(count: usize, score: Option<f64>) -> Found<'static> {
        Found {
            count,
            max_score: score,
            findings: &[],
        }
    }

    fn publish(carried: Option<Carried>, severity: Severity) -> Decision {
        Decision::Publish { carried, severity }
    }

    #[test]
    fn quiet_period_folds_anomalies_into_the_next_alert() {
        let s = key(SourceKind::Firehose, "s");
        let mut c = Cooldown::new(Duration::from_secs(300));
        assert_eq!(
            c.decide(&s, found(3, None), at("10:00:00")),
            publish(None, Severity::Info)
        );
        c.sent(&s, Severity::Info, at("10:00:00"));
        assert_eq!(
            c.decide(&s, found(4, Some(1.5)), at("10:01:00")),
            Decision::Suppress
        );
        assert_eq!(
            c.decide(&s, found(5, None), at("10:04:59")),
            Decision::Suppress
        );
        // Other sources have their own period.
        let other = key(SourceKind::Firehose, "other");
        assert!(matches!(
            c.decide(&other, found(1, None), at("10:02:00")),
            Decision::Publish { carried: None, .. }
        ));
        let carried = Carried {
            count: 9,
            since: at("10:01:00"),
            max_score: Some(1.5),
            severity: Severity::Info,
            findings: Vec::new(),
        };
        // 9 held + 1 found = 10 anomalies: the alert that goes out is a warning.
        assert_eq!(
            c.decide(&s, found(1, None), at("10:05:00")),
            publish(Some(carried), Severity::Warning)
        );
        c.sent(&s, Severity::Warning, at("10:05:00"));
        assert_eq!(
            c.decide(&s, found(1, None), at("10:06:00")),
            Decision::Suppress
        );
    }

    #[test]
    fn the_key_includes_the_kind_so_a_direct_caller_cannot_mute_a_stream() {
        let arn = "arn:aws:firehose:us-east-1:1:deliverystream/S";
        let mut c = Cooldown::new(Duration::from_secs(300));
        let direct = key(SourceKind::Direct, arn);
        c.sent(&direct, Severity::Critical, at("10:00:00"));
        assert!(matches!(
            c.decide(
                &key(SourceKind::Firehose, arn),
                found(1, None),
                at("10:00:30")
            ),
            Decision::Publish { .. }
        ));
    }

    #[test]
    fn a_more_severe_alert_breaks_through_and_held_ones_keep_their_highest_score() {
        let s = key(SourceKind::KinesisStream, "s");
        let mut c = Cooldown::new(Duration::from_secs(300));
        c.sent(&s, Severity::Info, at("10:00:00"));
        assert_eq!(
            c.decide(&s, found(1, Some(2.0)), at("10:00:10")),
            Decision::Suppress
        );
        // A critical score inside the quiet period: published at once, with what was held.
        let carried = Carried {
            count: 1,
            since: at("10:00:10"),
            max_score: Some(2.0),
            severity: Severity::Info,
            findings: Vec::new(),
        };
        assert_eq!(
            c.decide(&s, found(1, Some(7.5)), at("10:00:20")),
            publish(Some(carried), Severity::Critical)
        );
        c.sent(&s, Severity::Critical, at("10:00:20"));
        // Now a warning is not more severe than the last alert: held, keeping the highest.
        assert_eq!(
            c.decide(&s, found(1, Some(3.5)), at("10:00:30")),
            Decision::Suppress
        );
        assert_eq!(
            c.decide(&s, found(2, Some(1.0)), at("10:00:40")),
            Decision::Suppress
        );
        let Decision::Publish { carried, severity } = c.decide(&s, found(1, None), at("10:05:30"))
        else {
            panic!("the period is over");
        };
        let carried = carried.unwrap();
        assert_eq!((carried.count, carried.max_score), (3, Some(3.5)));
        assert_eq!(carried.severity, Severity::Warning);
        assert_eq!(severity, Severity::Warning);
    }

    #[test]
    fn a_failed_publish_keeps_the_held_anomalies_and_the_source_open() {
        let s = key(SourceKind::Firehose, "s");
        let mut c = Cooldown::new(Duration::from_secs(60));
        c.sent(&s, Severity::Info, at("10:00:00"));
        assert_eq!(
            c.decide(&s, found(2, None), at("10:00:30")),
            Decision::Suppress
        );
        let first = c.decide(&s, found(1, None), at("10:01:10"));
        assert!(matches!(
            first,
            Decision::Publish {
                carried: Some(Carried { count: 2, .. }),
                ..
            }
        ));
        // Publishing failed: nothing recorded, so the next invocation tries again with them.
        assert_eq!(c.decide(&s, found(1, None), at("10:01:11")), first);
    }

    #[test]
    fn zero_turns_it_off_and_clock_steps_back_do_not_silence_forever() {
        let s = key(SourceKind::Firehose, "s");
        let mut c = Cooldown::new(Duration::ZERO);
        c.sent(&s, Severity::Info, at("10:00:00"));
        assert!(matches!(
            c.decide(&s, found(1, None), at("10:00:00")),
            Decision::Publish { .. }
        ));
        let mut c = Cooldown::new(Duration::from_secs(60));
        c.sent(&s, Severity::Info, at("10:00:00"));
        assert_eq!(
            c.decide(&s, found(1, None), at("09:59:00")),
            Decision::Suppress
        );
        assert!(matches!(
            c.decide(&s, found(1, None), at("10:01:00")),
            Decision::Publish {
                carried: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn invented_source_names_do_not_grow_memory_without_bound() {
        let mut c = Cooldown::new(Duration::from_secs(60));
        for i in 0..5_000 {
            let s = key(SourceKind::Direct, &format!("caller-{i}"));
            c.sent(&s, Severity::Info, at("10:00:00"));
        }
        let later = key(SourceKind::Direct, "late");
        c.decide(&later, found(1, None), at("10:05:00"));
        assert!(c.sources.len() <= SOURCES_KEPT, "{}", c.sources.len());
    }
}
