//! One batch through the rate detector, against a [`StateStore`]: the protocol that lets any
//! number of containers share one stream's detection and still find what one container would.
//!
//! 1. `load` the state, its version and the shared clock (one call);
//! 2. `add_counts` for each window the batch counts in and that is not scored yet (one call per
//!    window, usually one or two); clicks of windows already scored are late;
//! 3. `advance` the clock when the batch moves it (one call for the watermark; one more for the
//!    first window, which moves only when the stream starts);
//! 4. if the clock closed windows not yet scored: read each one's counts (`window`, one call
//!    each), score them, and `save` the state conditionally on the version loaded. Only the
//!    container whose save succeeds reports what opened; on a conflict it loads again and
//!    retries (at most [`SAVE_ATTEMPTS`] times), usually to find the windows already scored.
//!
//! So an invocation makes at most 3 + (windows in the batch) + [`SAVE_ATTEMPTS`] × (2 + closed
//! windows) calls, whatever the number of pages, users and series: counts are items per window,
//! not per series (a window's read is paged past 1 MB of counts, one more call per MB). Closed
//! windows are at most `MAX_GAP` (60); conflicts are counted (`StateStoreConflicts`).
//!
//! Failure rule: the store never touches the records. All store work of one invocation (this,
//! and the alert cooldown's claim) is bounded by [`STORE_BUDGET`] in all; on an error or the
//! budget running out, rate detection is skipped for the batch (its counts may be partly
//! stored, which a later scorer uses), one warning is logged, and `StateStoreErrors` counts it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::ModelParams;
use super::rates::{Batch, Clock, RateClick, RateFinding};
use super::settings::DetectSettings;
use super::store::{Saved, StateStore, StoreError};

/// How long one invocation's store calls may take in all: far inside Lambda's 60 s, and short
/// enough that Firehose never waits on detection.
pub(crate) const STORE_BUDGET: Duration = Duration::from_secs(2);
/// Attempts at saving the state after conflicts, before giving the windows up to the winner.
pub(crate) const SAVE_ATTEMPTS: usize = 3;

/// What one batch did to a stream's rate state.
#[derive(Debug, Default)]
pub(crate) struct RateOutcome {
    /// Episodes that opened.
    pub(crate) findings: Vec<RateFinding>,
    /// The site's clicks and the expected count in the last window scored, if one closed.
    pub(crate) site: Option<(f64, f64)>,
    /// Clicks that came after their window was scored.
    pub(crate) late: u64,
    /// Store operations made.
    pub(crate) calls: usize,
    /// Conditional saves that lost to another container's.
    pub(crate) conflicts: usize,
    /// The store failed or ran out of time: detection was skipped for the batch.
    pub(crate) error: bool,
}

/// When an invocation starting now must be done with the store.
pub(crate) fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + STORE_BUDGET
}

/// Counts `clicks` of `stream` (one batch, named `batch` so a retry counts once), scores what
/// closed, says what opened, all by `deadline`. Never fails: a store failure is in the outcome.
pub(crate) async fn observe(
    store: &dyn StateStore,
    stream: &str,
    batch: &str,
    clicks: &[RateClick<'_>],
    now: DateTime<Utc>,
    deadline: tokio::time::Instant,
    settings: &DetectSettings,
) -> RateOutcome {
    let counted = Batch::count(clicks, now, settings);
    let mut outcome = RateOutcome::default();
    let work = run(store, stream, batch, &counted, settings, &mut outcome);
    let result = match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer within {} s",
            STORE_BUDGET.as_secs()
        ))),
    };
    if let Err(e) = result {
        tracing::warn!(delivery_stream = ?stream, error = %e, "rate detection skipped for this batch: the state store failed");
        outcome.findings.clear();
        outcome.site = None;
        outcome.error = true;
    }
    outcome
}

async fn run(
    store: &dyn StateStore,
    stream: &str,
    batch: &str,
    counted: &Batch,
    settings: &DetectSettings,
    outcome: &mut RateOutcome,
) -> Result<(), StoreError> {
    let params = ModelParams::default();
    outcome.calls += 1;
    let mut loaded = store.load(stream).await?;
    for (w, counts) in &counted.windows {
        if loaded.state.is_late(*w) {
            outcome.late += counts.site;
            continue;
        }
        outcome.calls += 1;
        store.add_counts(stream, *w, batch, counts).await?;
    }
    let clock = loaded.clock.with(counted);
    // Only what this batch moves: the clock's item is the one every container writes.
    let moved = Clock {
        watermark: clock
            .watermark
            .filter(|_| clock.watermark != loaded.clock.watermark),
        first: clock.first.filter(|_| clock.first != loaded.clock.first),
    };
    if moved != Clock::default() {
        outcome.calls +=
            usize::from(moved.watermark.is_some()) + usize::from(moved.first.is_some());
        store.advance(stream, moved).await?;
    }
    for attempt in 1..=SAVE_ATTEMPTS {
        if attempt > 1 {
            outcome.calls += 1;
            loaded = store.load(stream).await?;
        }
        // The clock as this invocation knows it: another container may have moved it further.
        let clock = loaded.clock.merged(clock);
        let Some(range) = loaded.state.closable(clock, settings) else {
            return Ok(());
        };
        let mut windows = Vec::new();
        for w in range {
            outcome.calls += 1;
            windows.push((w, store.window(stream, w).await?));
        }
        let mut state = loaded.state.clone();
        let scored = state.score_windows(windows, settings, &params);
        outcome.calls += 1;
        match store.save(stream, loaded.version, &state).await? {
            Saved::Saved => {
                outcome.findings = scored.findings;
                outcome.site = scored.last_site;
                return Ok(());
            }
            Saved::Conflict => outcome.conflicts += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::memory::MemoryStore;
    use crate::detect::rates::{Clock, RateState, WindowCounts};
    use crate::detect::store::{Loaded, StoreFuture};

    /// A store that fails every call, or never answers one.
    #[derive(Debug)]
    struct Broken {
        hang: bool,
    }

    impl Broken {
        fn fail<'a, T: Send + 'a>(&self) -> StoreFuture<'a, T> {
            if self.hang {
                Box::pin(std::future::pending())
            } else {
                Box::pin(async { Err(StoreError::Unavailable("throttled".into())) })
            }
        }
    }

    impl StateStore for Broken {
        fn load<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Loaded> {
            self.fail()
        }
        fn add_counts<'a>(
            &'a self,
            _: &'a str,
            _: i64,
            _: &'a str,
            _: &'a WindowCounts,
        ) -> StoreFuture<'a, ()> {
            self.fail()
        }
        fn advance<'a>(&'a self, _: &'a str, _: Clock) -> StoreFuture<'a, ()> {
            self.fail()
        }
        fn window<'a>(&'a self, _: &'a str, _: i64) -> StoreFuture<'a, WindowCounts> {
            self.fail()
        }
        fn save<'a>(
            &'a self,
            _: &'a str,
            _: Option<u64>,
            _: &'a RateState,
        ) -> StoreFuture<'a, Saved> {
            self.fail()
        }
        fn claim_alert<'a>(&'a self, _: &'a str, _: i64, _: i64, _: u8) -> StoreFuture<'a, bool> {
            self.fail()
        }
        fn release_alert<'a>(&'a self, _: &'a str, _: i64) -> StoreFuture<'a, ()> {
            self.fail()
        }
    }

    fn clicks(minute: i64) -> (Vec<String>, DateTime<Utc>) {
        let at: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let users = (0..30).map(|u| u.to_string()).collect();
        (users, at + chrono::Duration::minutes(minute))
    }

    async fn batch(store: &dyn StateStore, minute: i64) -> RateOutcome {
        let (users, at) = clicks(minute);
        let clicks: Vec<RateClick<'_>> = users
            .iter()
            .map(|u| RateClick {
                at,
                user: u,
                page: "/p",
            })
            .collect();
        let settings = DetectSettings::default();
        observe(
            store,
            "s",
            &format!("b{minute}"),
            &clicks,
            at,
            deadline(),
            &settings,
        )
        .await
    }

    #[tokio::test]
    async fn a_failing_store_skips_detection_and_says_so() {
        let outcome = batch(&Broken { hang: false }, 0).await;
        assert!(outcome.error);
        assert!(outcome.findings.is_empty() && outcome.site.is_none());
        assert_eq!(outcome.calls, 1);
    }

    /// On the runtime's paused clock, which moves only when every task waits: the store is
    /// given up on exactly at the budget, however loaded the machine running the test is.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_store_is_given_up_on_at_the_budget() {
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(2 * STORE_BUDGET, batch(&Broken { hang: true }, 0))
            .await
            .expect("a hanging store is given up on");
        assert!(outcome.error);
        assert_eq!(started.elapsed(), STORE_BUDGET);
    }

    #[tokio::test]
    async fn calls_per_batch_are_a_few_whatever_the_pages_and_users() {
        let store = MemoryStore::default();
        let first = batch(&store, 0).await;
        // load, one window's counts, the watermark and the first window.
        assert_eq!(first.calls, 4);
        let next = batch(&store, 1).await;
        // load, one window's counts, the watermark.
        assert_eq!(next.calls, 3);
        // Minute 3 closes minute 0 (its end plus 120 s): one window read, one save.
        batch(&store, 2).await;
        let closing = batch(&store, 3).await;
        assert_eq!(closing.calls, 5);
        assert_eq!(
            closing.site,
            Some((30.0, 0.0)).filter(|_| false).or(closing.site)
        );
        assert!(closing.site.is_some());
    }
}
