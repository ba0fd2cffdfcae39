//! One batch through the rate detector, against a [`StateStore`]: the protocol that lets any
//! number of containers share one stream's detection and still find what one container would.
//!
//! 1. read the shared `clock` (one small call), or `load` the whole state with its version and
//!    the clock when this container does not know the state's next window yet ([`ScoredThrough`]);
//! 2. `add_counts` for each window the batch counts in and that is not scored yet (one call per
//!    window, usually one or two); clicks of windows already scored are late;
//! 3. `advance` the clock when the batch moves it (one call for the watermark; one more for the
//!    first window, which moves only when the stream starts);
//! 4. if the clock closed windows not yet scored: `load` the whole state unless step 1 did (one
//!    call), read each closed window's counts (`window`, one call each), score them, and `save`
//!    the state conditionally on the version loaded. Only the container whose save succeeds
//!    reports what opened; on a conflict it loads again and retries (at most [`SAVE_ATTEMPTS`]
//!    times), usually to find the windows already scored.
//!
//! So an invocation makes at most 3 + (windows in the batch) + [`SAVE_ATTEMPTS`] × (2 + closed
//! windows) calls, whatever the number of pages, users and series: counts are items per window,
//! not per series (a window's read is paged past 1 MB of counts, one more call per MB). Closed
//! windows are at most `MAX_GAP` (60); conflicts are counted (`StateStoreConflicts`).
//!
//! State is kept per delivery stream *and window length* ([`state_key`]): windows are numbered
//! in units of the window length, and the models learned counts per window of that length, so
//! state of another length is of no use, and read as this length's would silence detection
//! until it expired (see [`state_key`]).
//!
//! Failure rule: the store never touches the records. All store work of one invocation (this,
//! and the alert cooldown's claim) is bounded by [`STORE_BUDGET`] in all; on an error or the
//! budget running out, rate detection is skipped for the batch (its counts may be partly
//! stored, which a later scorer uses), one warning is logged, and `StateStoreErrors` counts it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::params::ModelParams;
use super::rates::{Batch, Clock, RateFinding, closable, is_late};
use super::settings::DetectSettings;
use super::store::{Saved, StateStore, StoreError};

/// How long one invocation's store calls may take in all: far inside Lambda's 60 s, and short
/// enough that Firehose never waits on detection.
pub(crate) const STORE_BUDGET: Duration = Duration::from_secs(2);
/// Attempts at saving the state after conflicts, before giving the windows up to the winner.
pub(crate) const SAVE_ATTEMPTS: usize = 3;
/// Delivery streams a container remembers the scored windows of; a function serves one stream
/// in the template, so this only bounds what odd events could make it hold.
const STREAMS_MAX: usize = 16;

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
    /// Of which whole-state loads, the costly read (the rest are a small item each).
    pub(crate) loads: usize,
    /// Conditional saves that lost to another container's.
    pub(crate) conflicts: usize,
    /// The store failed or ran out of time: detection was skipped for the batch.
    pub(crate) error: bool,
}

/// The key a stream's rate state is kept under in a store: the delivery stream and the window
/// length, as `<stream>#<seconds>s`.
///
/// Why the window length: windows are numbered in units of it (`start / width`) and every model
/// learned counts per window of it. A stream's state shared across a change of
/// `RATE_WINDOW_SECONDS` would read the old numbers in the new units: from 60 s to 300 s, the
/// state's next window is five times any new one, so every click was late and nothing was
/// scored until the state expired, 30 days later; from 300 s to 60 s, the models expected five
/// times the clicks, and the windows in between were scored as silent. Under its own key a new
/// length starts empty and warms up (30 windows), as after a cold start, and logs that it does;
/// the other length's items are left alone and expire (`crate::adapter::dynamodb`). Going back
/// to a length used before within those 30 days picks its state up again, with the time in
/// between a gap in its traffic.
pub(crate) fn state_key(stream: &str, settings: &DetectSettings) -> String {
    format!("{stream}#{}s", super::rates::width(settings))
}

/// When an invocation starting now must be done with the store.
pub(crate) fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + STORE_BUDGET
}

/// Adds `counted`, one batch of `stream` (named `batch` so a retry counts once), to `store`,
/// scores what closed, says what opened, all by `deadline`; `known` is what this container
/// remembers of the store. Never fails: a store failure is in the outcome.
pub(crate) async fn observe(
    store: &dyn StateStore,
    known: &ScoredThrough,
    stream: &str,
    batch: &str,
    counted: &Batch,
    deadline: tokio::time::Instant,
    settings: &DetectSettings,
) -> RateOutcome {
    let mut outcome = RateOutcome::default();
    let key = state_key(stream, settings);
    let work = run(store, &key, batch, counted, settings, known, &mut outcome);
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

/// Per container: the next window each stream's shared state will score, as this container
/// last saw it. Windows are scored in order, so the state's next window only grows and what a
/// container saw is at most the truth: a window that is not closed for it is not closed at all.
/// A batch then reads the clock alone, and the whole state (up to a few hundred KB to read and
/// parse) only when a window may close: once a window, not once a batch, at 5 MB/s.
///
/// What it costs: a window another container has scored since may still look open here, so
/// this batch's clicks of it are stored for a scorer that has gone (they are late either way;
/// only `late_clicks` misses them). The truth goes back only if the state expires (30 days
/// without a change), and no container stays warm that long without batches that change it.
#[derive(Debug, Default)]
pub(crate) struct ScoredThrough {
    next: Mutex<HashMap<String, i64>>,
}

impl ScoredThrough {
    fn get(&self, stream: &str) -> Option<i64> {
        self.lock().get(stream).copied()
    }

    fn remember(&self, stream: &str, next: Option<i64>) {
        let Some(next) = next else { return };
        let mut known = self.lock();
        // Streams come from events: bound what odd ones can make it hold.
        if !known.contains_key(stream) && known.len() >= STREAMS_MAX {
            known.clear();
        }
        known.insert(stream.to_owned(), next);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A panic while holding the lock leaves a lower bound still, or nothing.
        self.next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The protocol for one batch; `stream` here is the state's key ([`state_key`]).
async fn run(
    store: &dyn StateStore,
    stream: &str,
    batch: &str,
    counted: &Batch,
    settings: &DetectSettings,
    known: &ScoredThrough,
    outcome: &mut RateOutcome,
) -> Result<(), StoreError> {
    let params = ModelParams::default();
    // The clock alone, with the state's next window as this container knows it, when this
    // batch closes no window by itself (another container may have moved the clock further,
    // which the clock says). Otherwise the whole state: this batch closes a window (at one batch
    // a window, each does), or the container knows nothing yet (a cold start, nothing scored).
    outcome.calls += 1;
    let mut full = None;
    let known_next = known
        .get(stream)
        .filter(|&next| closable(Some(next), Clock::default().with(counted), settings).is_none());
    let (mut seen, mut next) = match known_next {
        Some(next) => (store.clock(stream).await?, Some(next)),
        None => {
            outcome.loads += 1;
            let loaded = store.load(stream).await?;
            if loaded.version.is_none() && loaded.clock == Clock::default() {
                // Once per stream and window length (the first batch moves the clock): the
                // reason detection warms up, which also tells a changed RATE_WINDOW_SECONDS.
                tracing::info!(
                    state = ?stream,
                    window_seconds = super::rates::width(settings),
                    "rate state starts empty for this stream and window length: each series \
                     warms up first; state kept for another window length is not used"
                );
            }
            let seen = (loaded.clock, loaded.state.next);
            known.remember(stream, loaded.state.next);
            full = Some(loaded);
            seen
        }
    };
    for (w, counts) in &counted.windows {
        if is_late(next, *w) {
            outcome.late += counts.site;
            continue;
        }
        outcome.calls += 1;
        store.add_counts(stream, *w, batch, counts).await?;
    }
    let clock = seen.with(counted);
    // Only what this batch moves: the clock's item is the one every container writes.
    let moved = Clock {
        watermark: clock
            .watermark
            .filter(|_| clock.watermark != seen.watermark),
        first: clock.first.filter(|_| clock.first != seen.first),
    };
    if moved != Clock::default() {
        outcome.calls +=
            usize::from(moved.watermark.is_some()) + usize::from(moved.first.is_some());
        store.advance(stream, moved).await?;
    }
    for _ in 0..SAVE_ATTEMPTS {
        // The clock as this invocation knows it: another container may have moved it further.
        if closable(next, seen.merged(clock), settings).is_none() {
            return Ok(());
        }
        // A window may close: the whole state, fresh unless this batch just loaded it.
        let loaded = match full.take() {
            Some(loaded) => loaded,
            None => {
                outcome.calls += 1;
                outcome.loads += 1;
                store.load(stream).await?
            }
        };
        (seen, next) = (loaded.clock, loaded.state.next);
        known.remember(stream, next);
        let Some(range) = loaded.state.closable(seen.merged(clock), settings) else {
            return Ok(());
        };
        let mut windows = Vec::new();
        for w in range {
            outcome.calls += 1;
            windows.push((w, store.window(stream, w).await?));
        }
        let mut state = loaded.state;
        let scored = state.score_windows(windows, settings, &params);
        outcome.calls += 1;
        match store.save(stream, loaded.version, &state).await? {
            Saved::Saved => {
                known.remember(stream, state.next);
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
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::detect::memory::MemoryStore;
    use crate::detect::rates::{Clock, RateClick, RateState, WindowCounts};
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
        fn clock<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Clock> {
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

    /// One batch of 30 users' clicks on one page, `seconds` after 10:00.
    async fn batch(store: &dyn StateStore, known: &ScoredThrough, seconds: i64) -> RateOutcome {
        batch_with(store, known, seconds, 30, &DetectSettings::default()).await
    }

    /// One batch of `users` users' clicks on one page, `seconds` after 10:00, under `settings`.
    async fn batch_with(
        store: &dyn StateStore,
        known: &ScoredThrough,
        seconds: i64,
        users: u32,
        settings: &DetectSettings,
    ) -> RateOutcome {
        let at = "2026-11-27T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::seconds(seconds);
        let users: Vec<String> = (0..users).map(|u| u.to_string()).collect();
        let clicks: Vec<RateClick<'_>> = users
            .iter()
            .map(|u| RateClick {
                at,
                user: u,
                page: "/p",
            })
            .collect();
        let counted = Batch::count(clicks.iter().copied(), at, settings);
        observe(
            store,
            known,
            "s",
            &format!("b{seconds}"),
            &counted,
            deadline(),
            settings,
        )
        .await
    }

    /// A memory store that counts the whole-state loads made of it.
    #[derive(Debug, Default)]
    struct CountingLoads {
        inner: MemoryStore,
        loads: std::sync::atomic::AtomicUsize,
    }

    impl CountingLoads {
        fn loads(&self) -> usize {
            self.loads.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    impl StateStore for CountingLoads {
        fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded> {
            self.loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.load(stream)
        }
        fn clock<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Clock> {
            self.inner.clock(stream)
        }
        fn add_counts<'a>(
            &'a self,
            stream: &'a str,
            window: i64,
            batch: &'a str,
            counts: &'a WindowCounts,
        ) -> StoreFuture<'a, ()> {
            self.inner.add_counts(stream, window, batch, counts)
        }
        fn advance<'a>(&'a self, stream: &'a str, clock: Clock) -> StoreFuture<'a, ()> {
            self.inner.advance(stream, clock)
        }
        fn window<'a>(&'a self, stream: &'a str, window: i64) -> StoreFuture<'a, WindowCounts> {
            self.inner.window(stream, window)
        }
        fn save<'a>(
            &'a self,
            stream: &'a str,
            version: Option<u64>,
            state: &'a RateState,
        ) -> StoreFuture<'a, Saved> {
            self.inner.save(stream, version, state)
        }
        fn claim_alert<'a>(
            &'a self,
            source: &'a str,
            at: i64,
            period: i64,
            severity: u8,
        ) -> StoreFuture<'a, bool> {
            self.inner.claim_alert(source, at, period, severity)
        }
        fn release_alert<'a>(&'a self, source: &'a str, at: i64) -> StoreFuture<'a, ()> {
            self.inner.release_alert(source, at)
        }
    }

    #[tokio::test]
    async fn a_failing_store_skips_detection_and_says_so() {
        let outcome = batch(&Broken { hang: false }, &ScoredThrough::default(), 0).await;
        assert!(outcome.error);
        assert!(outcome.findings.is_empty() && outcome.site.is_none());
        assert_eq!(outcome.calls, 1);
    }

    /// On the runtime's paused clock, which moves only when every task waits: the store is
    /// given up on exactly at the budget, however loaded the machine running the test is.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_store_is_given_up_on_at_the_budget() {
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(
            2 * STORE_BUDGET,
            batch(&Broken { hang: true }, &ScoredThrough::default(), 0),
        )
        .await
        .expect("a hanging store is given up on");
        assert!(outcome.error);
        assert_eq!(started.elapsed(), STORE_BUDGET);
    }

    #[tokio::test]
    async fn calls_per_batch_are_a_few_whatever_the_pages_and_users() {
        let (store, known) = (CountingLoads::default(), ScoredThrough::default());
        let first = batch(&store, &known, 0).await;
        // load, one window's counts, the watermark and the first window.
        assert_eq!(first.calls, 4);
        let next = batch(&store, &known, 60).await;
        // load, one window's counts, the watermark.
        assert_eq!(next.calls, 3);
        // Minute 3 closes minute 0 (its end plus 120 s): one window read, one save.
        batch(&store, &known, 120).await;
        let closing = batch(&store, &known, 180).await;
        assert_eq!(closing.calls, 5);
        assert_eq!(closing.site.map(|(clicks, _)| clicks), Some(30.0));
        assert_eq!(
            store.loads(),
            4,
            "nothing scored yet: the whole state each time"
        );
    }

    /// Several batches a window (5 MB/s is some 300 a minute): once a window is scored, only
    /// the batch that closes the next one loads the whole state; the others read the clock.
    #[tokio::test]
    async fn batches_that_close_no_window_read_only_the_clock() {
        let (store, known) = (CountingLoads::default(), ScoredThrough::default());
        for seconds in [0, 60, 120, 180] {
            batch(&store, &known, seconds).await;
        }
        assert_eq!(store.loads(), 4);
        // Minute 0 is scored; 10:03:20 and 10:03:40 close nothing, 10:04:00 closes minute 1.
        let quiet = batch(&store, &known, 200).await;
        assert_eq!(
            (quiet.calls, store.loads()),
            (3, 4),
            "clock, counts, watermark"
        );
        assert_eq!(quiet.loads, 0);
        batch(&store, &known, 220).await;
        assert_eq!(store.loads(), 4);
        let closing = batch(&store, &known, 240).await;
        assert_eq!((closing.calls, store.loads()), (5, 5));
        assert_eq!(closing.site.map(|(clicks, _)| clicks), Some(30.0));
    }

    /// Another container moved the clock past a window and stopped there (its store calls ran
    /// out of time): a batch here that closes nothing by itself sees it in the clock and scores it.
    #[tokio::test]
    async fn a_window_the_shared_clock_closed_is_scored_by_a_batch_that_closes_none_itself() {
        let (store, known) = (CountingLoads::default(), ScoredThrough::default());
        for seconds in [0, 60, 120, 180] {
            batch(&store, &known, seconds).await;
        }
        let at_10_04 = "2026-11-27T10:04:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_millis();
        let moved = Clock {
            watermark: Some(at_10_04),
            first: None,
        };
        let key = state_key("s", &DetectSettings::default());
        store.advance(&key, moved).await.unwrap();
        let here = batch(&store, &known, 210).await;
        assert_eq!(here.site.map(|(clicks, _)| clicks), Some(30.0), "minute 1");
    }

    /// Another container moved the clock past a window: a batch that closes nothing by itself
    /// finds it in the clock, loads the state, and scores the window.
    #[tokio::test]
    async fn a_window_another_container_scored_is_not_scored_again() {
        let store = CountingLoads::default();
        let (here, there) = (ScoredThrough::default(), ScoredThrough::default());
        for seconds in [0, 60, 120, 180] {
            batch(&store, &here, seconds).await;
        }
        // There, a batch of 10:04:00 moves the clock past minute 1's end plus lateness, and
        // scores it; here, a batch of 10:03:30 closes nothing by itself.
        let there_closing = batch(&store, &there, 240).await;
        assert_eq!(there_closing.site.map(|(clicks, _)| clicks), Some(30.0));
        let loads = store.loads();
        let here_late = batch(&store, &here, 210).await;
        // Here still thinks minute 1 is open: the clock says a window may close, the whole
        // state says it was scored already. Nothing reported twice.
        assert_eq!(store.loads(), loads + 1);
        assert!(here_late.findings.is_empty() && here_late.site.is_none());
        // From then on, here knows: 10:04:30 closes nothing and reads only the clock.
        batch(&store, &here, 270).await;
        assert_eq!(store.loads(), loads + 1);
    }

    /// `RATE_WINDOW_SECONDS` changed on a live stream (new containers, one store): the new
    /// length's windows are scored from its own state, none counted late against the old one's
    /// window numbers, and the old length's state is left as it was.
    #[tokio::test]
    async fn a_changed_window_length_starts_its_own_state_and_scores() {
        let store = MemoryStore::default();
        let minute = DetectSettings::default();
        let five = DetectSettings {
            window: std::time::Duration::from_secs(300),
            ..DetectSettings::default()
        };
        let known = ScoredThrough::default();
        for m in 0..10 {
            batch_with(&store, &known, m * 60, 30, &minute).await;
        }
        let old = store.load(&state_key("s", &minute)).await.unwrap();
        assert!(old.version.is_some(), "the 1-minute windows were scored");
        // New containers with 5-minute windows, from 11:00: batches 10 s apart, 20 clicks each.
        let known = ScoredThrough::default();
        let (mut scored, mut late) = (Vec::new(), 0);
        for b in 0..120 {
            let outcome = batch_with(&store, &known, 3600 + b * 10, 20, &five).await;
            assert!(!outcome.error);
            late += outcome.late;
            scored.extend(outcome.site.map(|(clicks, _)| clicks));
        }
        assert_eq!(
            late, 0,
            "no click of the new windows is late against the old state"
        );
        // 20 minutes of 5-minute windows, each closed 2 minutes after its end: 11:00-11:05 to
        // 11:10-11:15 scored, 30 batches of 20 clicks each.
        assert_eq!(scored, vec![600.0, 600.0, 600.0], "{scored:?}");
        let new = store.load(&state_key("s", &five)).await.unwrap();
        assert!(new.version.is_some());
        let untouched = store.load(&state_key("s", &minute)).await.unwrap();
        assert_eq!(
            (untouched.version, untouched.state.next),
            (old.version, old.state.next)
        );
    }
}
