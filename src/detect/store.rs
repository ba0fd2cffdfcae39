//! The state store: where the rate detector's state lives between invocations, behind
//! [`StateStore`], so that containers running at once can share one view of the stream.
//!
//! Two implementations: `memory` (this container only: the default, and what `invoke`, the
//! tests and a function without `STATE_TABLE` use) and the DynamoDB adapter
//! (`crate::adapter::dynamodb`, shared by every container). The operations are the few the
//! protocol in `streams` needs, each one atomic on its own:
//!
//! - [`load`](StateStore::load): the stream's [`RateState`] with its version, and the shared
//!   [`Clock`]; [`clock`](StateStore::clock): the clock alone;
//! - [`add_counts`](StateStore::add_counts): one batch's counts of one window, idempotent per
//!   batch (Firehose retries a batch it got no answer for);
//! - [`advance`](StateStore::advance): the clock moves on (a maximum and a minimum, so
//!   containers that advance it in any order agree);
//! - [`window`](StateStore::window): every batch's counts of one window, merged;
//! - [`save`](StateStore::save): the state, if nobody saved another version since it was
//!   loaded (optimistic concurrency). Saving is what claims the windows it scored: of two
//!   containers scoring the same window, one saves and reports, the other finds a conflict.
//!
//! - [`claim_alert`](StateStore::claim_alert): the alert cooldown's quiet period for one
//!   source, claimed by a conditional write, so that containers alerting at once send one.
//!
//! The `stream` the methods take is the state's key, the delivery stream and the window length
//! (`streams::state_key`), so state of one window length is never read as another's.
//!
//! The methods return boxed futures so the store can be a trait object chosen at cold start.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use thiserror::Error;

use super::rates::{Clock, RateState, WindowCounts};

/// A store operation in flight.
pub(crate) type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed. A conflict on a conditional write is not an error: `save`
/// answers it with [`Saved::Conflict`].
#[derive(Debug, Error)]
pub(crate) enum StoreError {
    /// The store could not be reached, refused, throttled or timed out.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// An item the store holds could not be read back.
    #[error("state store item unreadable: {0}")]
    Corrupt(String),
}

/// The stream's state as loaded, with the version a save must find.
#[derive(Debug, Default, Clone)]
pub(crate) struct Loaded {
    pub(crate) state: RateState,
    /// `None` when the stream has no saved state yet.
    pub(crate) version: Option<u64>,
    pub(crate) clock: Clock,
}

/// What a conditional save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saved {
    Saved,
    /// Another container saved a newer version first.
    Conflict,
}

/// Rate state per delivery stream and window length.
pub(crate) trait StateStore: Debug + Send + Sync {
    fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded>;

    /// The shared clock alone, as `load` would give it: one small read, where `load` reads the
    /// whole state (up to a few hundred KB) for a batch that usually closes no window.
    fn clock<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Clock>;

    /// Adds `counts`, one batch's share of `window`; the same `batch` twice counts once.
    fn add_counts<'a>(
        &'a self,
        stream: &'a str,
        window: i64,
        batch: &'a str,
        counts: &'a WindowCounts,
    ) -> StoreFuture<'a, ()>;

    /// Raises the watermark to `clock.watermark` and lowers the first window to `clock.first`,
    /// each only if that moves it in its direction; a field that is `None` is left alone.
    fn advance<'a>(&'a self, stream: &'a str, clock: Clock) -> StoreFuture<'a, ()>;

    /// The counts of `window`, every batch's merged (empty when none came).
    fn window<'a>(&'a self, stream: &'a str, window: i64) -> StoreFuture<'a, WindowCounts>;

    /// Saves `state` as the version after `version` (`None`: the first), unless another
    /// version was saved since.
    fn save<'a>(
        &'a self,
        stream: &'a str,
        version: Option<u64>,
        state: &'a RateState,
    ) -> StoreFuture<'a, Saved>;

    /// Claims the alert of `source` at `at` (ms since the epoch) at `severity` (0 info, 1
    /// warning, 2 critical): granted unless another alert of the source was claimed less than
    /// `period` ms before at the same or a higher severity. Claims are what every container
    /// sees, so at most one alert per source and period goes out from all of them together.
    fn claim_alert<'a>(
        &'a self,
        source: &'a str,
        at: i64,
        period: i64,
        severity: u8,
    ) -> StoreFuture<'a, bool>;

    /// Gives back the claim made at `at` for an alert that could not be published, so the
    /// next finding tries again (a failed publish starts no quiet period); a later claim of
    /// another container is left alone.
    fn release_alert<'a>(&'a self, source: &'a str, at: i64) -> StoreFuture<'a, ()>;
}

/// The contract every store keeps, run against each implementation: the memory store here, the
/// DynamoDB one against `moto_server` (`crate::adapter::dynamodb`).
#[cfg(test)]
pub(crate) mod contract {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::detect::rates::{Batch, RateClick};
    use crate::detect::settings::DetectSettings;

    /// One window's counts of `users` clicks, one per user, on `/p`.
    fn counts(users: std::ops::Range<u32>) -> WindowCounts {
        let names: Vec<String> = users.map(|u| u.to_string()).collect();
        let at: DateTime<Utc> = "2026-11-27T10:00:10Z".parse().unwrap();
        let clicks: Vec<RateClick<'_>> = names
            .iter()
            .map(|u| RateClick {
                at,
                user: u,
                page: "/p",
            })
            .collect();
        let mut batch = Batch::count(clicks.iter().copied(), at, &DetectSettings::default());
        batch
            .windows
            .pop_first()
            .map(|(_, c)| c)
            .unwrap_or_default()
    }

    fn state(next: i64) -> RateState {
        let mut state = RateState::default();
        state.next = Some(next);
        state
    }

    /// Runs the whole contract on `store`, under stream names starting with `prefix` (so runs
    /// against one table do not meet).
    pub(crate) async fn check(store: &dyn StateStore, prefix: &str) {
        let stream = format!("{prefix}-a");
        let other = format!("{prefix}-b");

        // Nothing yet.
        let loaded = store.load(&stream).await.unwrap();
        assert_eq!(loaded.version, None);
        assert_eq!(loaded.clock, Clock::default());
        assert_eq!(loaded.state.next, None);
        assert_eq!(store.clock(&stream).await.unwrap(), Clock::default());

        // Counts add up across batches, a batch twice counts once, users merge as a union.
        store
            .add_counts(&stream, 10, "a", &counts(0..40))
            .await
            .unwrap();
        store
            .add_counts(&stream, 10, "b", &counts(20..50))
            .await
            .unwrap();
        store
            .add_counts(&stream, 10, "a", &counts(0..40))
            .await
            .unwrap();
        store
            .add_counts(&stream, 11, "a", &counts(0..1))
            .await
            .unwrap();
        let w = store.window(&stream, 10).await.unwrap();
        assert_eq!(w.site, 70);
        assert_eq!(w.distinct_users(), 50);
        assert_eq!(store.window(&stream, 11).await.unwrap().site, 1);
        assert_eq!(store.window(&stream, 12).await.unwrap().site, 0);
        assert_eq!(store.window(&other, 10).await.unwrap().site, 0);

        // The clock only moves forward (watermark) and back (first window).
        let clock = |watermark, first| Clock { watermark, first };
        store
            .advance(&stream, clock(Some(1_000), Some(10)))
            .await
            .unwrap();
        store
            .advance(&stream, clock(Some(500), Some(12)))
            .await
            .unwrap();
        assert_eq!(
            store.load(&stream).await.unwrap().clock,
            clock(Some(1_000), Some(10))
        );
        store
            .advance(&stream, clock(Some(2_000), None))
            .await
            .unwrap();
        store.advance(&stream, clock(None, Some(9))).await.unwrap();
        assert_eq!(
            store.load(&stream).await.unwrap().clock,
            clock(Some(2_000), Some(9))
        );
        assert_eq!(
            store.clock(&stream).await.unwrap(),
            clock(Some(2_000), Some(9))
        );
        assert_eq!(store.load(&other).await.unwrap().clock, Clock::default());
        assert_eq!(store.clock(&other).await.unwrap(), Clock::default());

        // Saves are conditional on the version loaded.
        assert_eq!(
            store.save(&stream, None, &state(11)).await.unwrap(),
            Saved::Saved
        );
        assert_eq!(
            store.save(&stream, None, &state(12)).await.unwrap(),
            Saved::Conflict
        );
        let loaded = store.load(&stream).await.unwrap();
        assert_eq!((loaded.version, loaded.state.next), (Some(1), Some(11)));
        assert_eq!(
            store.save(&stream, Some(1), &state(12)).await.unwrap(),
            Saved::Saved
        );
        assert_eq!(
            store.save(&stream, Some(1), &state(13)).await.unwrap(),
            Saved::Conflict
        );
        let loaded = store.load(&stream).await.unwrap();
        assert_eq!((loaded.version, loaded.state.next), (Some(2), Some(12)));
        assert_eq!(store.load(&other).await.unwrap().version, None);
        // The clock alone is the clock still, beside a saved state.
        assert_eq!(store.clock(&stream).await.unwrap(), loaded.clock);

        // A race: two containers save on the same version at once; exactly one wins.
        let (s13, s14) = (state(13), state(14));
        let (a, b) = tokio::join!(
            store.save(&stream, Some(2), &s13),
            store.save(&stream, Some(2), &s14),
        );
        let results = [a.unwrap(), b.unwrap()];
        assert_eq!(
            results.iter().filter(|r| **r == Saved::Saved).count(),
            1,
            "{results:?}"
        );
        let loaded = store.load(&stream).await.unwrap();
        assert_eq!(loaded.version, Some(3));
        let winner = if results[0] == Saved::Saved { 13 } else { 14 };
        assert_eq!(loaded.state.next, Some(winner));

        // Alert claims: one per source and period, unless more severe; sources apart.
        let source = format!("{prefix}#firehose#s");
        let minute = 60_000;
        assert!(
            store
                .claim_alert(&source, 1_000_000, 5 * minute, 0)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_alert(&source, 1_000_000 + minute, 5 * minute, 0)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_alert(&source, 1_000_000 + minute, 5 * minute, 2)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_alert(&source, 1_000_000 + 2 * minute, 5 * minute, 1)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_alert(&source, 1_000_000 + 6 * minute, 5 * minute, 0)
                .await
                .unwrap()
        );
        let elsewhere = format!("{prefix}#direct#s");
        assert!(
            store
                .claim_alert(&elsewhere, 1_000_000 + 6 * minute, 5 * minute, 0)
                .await
                .unwrap()
        );
        // Two containers claim at once: one alert.
        let (a, b) = tokio::join!(
            store.claim_alert(&source, 1_000_000 + 20 * minute, 5 * minute, 0),
            store.claim_alert(&source, 1_000_000 + 20 * minute, 5 * minute, 0),
        );
        assert!(a.unwrap() ^ b.unwrap(), "exactly one claim is granted");
        // A claim given back (its alert failed) lets the next one through; releasing a claim
        // that is not the latest changes nothing.
        let t = 1_000_000 + 40 * minute;
        assert!(store.claim_alert(&source, t, 5 * minute, 0).await.unwrap());
        store.release_alert(&source, t - minute).await.unwrap();
        assert!(
            !store
                .claim_alert(&source, t + 1, 5 * minute, 0)
                .await
                .unwrap()
        );
        store.release_alert(&source, t).await.unwrap();
        assert!(
            store
                .claim_alert(&source, t + 2, 5 * minute, 0)
                .await
                .unwrap()
        );
    }
}
