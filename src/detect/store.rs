//! The state store: where the rate detector's state lives between invocations, behind
//! [`StateStore`], so that containers running at once can share one view of the stream.
//!
//! Two implementations: `memory` (this container only: the default, and what `invoke`, the
//! tests and a function without `STATE_TABLE` use) and the DynamoDB adapter
//! (`crate::adapter::dynamodb`, shared by every container). The operations are the few the
//! protocol in `streams` needs, each one atomic on its own:
//!
//! - [`load`](StateStore::load): the stream's [`RateState`] with its version, and the shared
//!   [`Clock`];
//! - [`add_counts`](StateStore::add_counts): one batch's counts of one window, idempotent per
//!   batch (Firehose retries a batch it got no answer for);
//! - [`advance`](StateStore::advance): the clock moves on (a maximum and a minimum, so
//!   containers that advance it in any order agree);
//! - [`window`](StateStore::window): every batch's counts of one window, merged;
//! - [`save`](StateStore::save): the state, if nobody saved another version since it was
//!   loaded (optimistic concurrency). Saving is what claims the windows it scored: of two
//!   containers scoring the same window, one saves and reports, the other finds a conflict.
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

/// Rate state per delivery stream.
pub(crate) trait StateStore: Debug + Send + Sync {
    fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded>;

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
}
