//! The in-memory [`StateStore`]: this container's memory, the default.
//!
//! It holds per container: a cold start loses it all (every series warms up again, 30 windows
//! before anything is judged; open windows' counts are gone; an episode under way is reported
//! again if it is still going on), and with several containers at once each sees only its share
//! of the traffic. `STATE_TABLE` gives a store every container shares instead.
//!
//! Several handlers may share one (`replay --containers`), so every operation takes the lock
//! once and keeps the contract the DynamoDB store keeps. Streams are held under the key the
//! protocol gives, the delivery stream and the window length (`streams::state_key`), as there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::rates::{Clock, RateState, WindowCounts};
use super::store::{Loaded, Saved, StateStore, StoreFuture};

/// Delivery streams whose state one container keeps; a function serves one stream in the
/// template, so this only bounds what odd events could make it hold.
const STREAMS_MAX: usize = 16;
/// Batches remembered per window to make adding counts idempotent.
const BATCHES_MAX: usize = 10_000;
/// Alert claims kept; past this the oldest are forgotten (their periods are long over).
const CLAIMS_MAX: usize = 1_024;

#[derive(Debug, Default)]
struct Stream {
    state: Option<(u64, RateState)>,
    clock: Clock,
    /// Windows not yet read by a scorer, with the batches added to each.
    windows: BTreeMap<i64, (WindowCounts, BTreeSet<String>)>,
}

/// Rate state in this container's memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    streams: Mutex<HashMap<String, Stream>>,
    /// Per source: the last alert claimed, when (ms) and at which severity.
    claims: Mutex<HashMap<String, (i64, u8)>>,
}

impl MemoryStore {
    fn with<T>(&self, stream: &str, f: impl FnOnce(&mut Stream) -> T) -> T {
        // A panic while holding the lock cannot leave the state worse than a cold start.
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !streams.contains_key(stream) && streams.len() >= STREAMS_MAX {
            streams.clear();
        }
        f(streams.entry(stream.to_owned()).or_default())
    }
}

impl StateStore for MemoryStore {
    fn clock<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Clock> {
        let clock = self.with(stream, |s| s.clock);
        Box::pin(async move { Ok(clock) })
    }

    fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded> {
        let loaded = self.with(stream, |s| {
            let (version, state) = match &s.state {
                Some((v, state)) => (Some(*v), state.clone()),
                None => (None, RateState::default()),
            };
            Loaded {
                state,
                version,
                clock: s.clock,
            }
        });
        Box::pin(async move { Ok(loaded) })
    }

    fn add_counts<'a>(
        &'a self,
        stream: &'a str,
        window: i64,
        batch: &'a str,
        counts: &'a WindowCounts,
    ) -> StoreFuture<'a, ()> {
        self.with(stream, |s| {
            // Windows already scored are never read again: forget them, as TTL does.
            if let Some(next) = s.state.as_ref().and_then(|(_, st)| st.next) {
                s.windows.retain(|w, _| *w >= next);
            }
            let (sum, batches) = s.windows.entry(window).or_default();
            if batches.contains(batch) {
                return;
            }
            if batches.len() < BATCHES_MAX {
                batches.insert(batch.to_owned());
            }
            sum.merge(counts);
        });
        Box::pin(async { Ok(()) })
    }

    fn advance<'a>(&'a self, stream: &'a str, clock: Clock) -> StoreFuture<'a, ()> {
        self.with(stream, |s| {
            s.clock = s.clock.merged(clock);
        });
        Box::pin(async { Ok(()) })
    }

    fn window<'a>(&'a self, stream: &'a str, window: i64) -> StoreFuture<'a, WindowCounts> {
        let counts = self.with(stream, |s| {
            s.windows
                .get(&window)
                .map(|(c, _)| c.clone())
                .unwrap_or_default()
        });
        Box::pin(async move { Ok(counts) })
    }

    fn save<'a>(
        &'a self,
        stream: &'a str,
        version: Option<u64>,
        state: &'a RateState,
    ) -> StoreFuture<'a, Saved> {
        let saved = self.with(stream, |s| {
            let current = s.state.as_ref().map(|(v, _)| *v);
            if current != version {
                return Saved::Conflict;
            }
            s.state = Some((version.map_or(1, |v| v + 1), state.clone()));
            Saved::Saved
        });
        Box::pin(async move { Ok(saved) })
    }

    fn claim_alert<'a>(
        &'a self,
        source: &'a str,
        at: i64,
        period: i64,
        severity: u8,
    ) -> StoreFuture<'a, bool> {
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let granted = claims
            .get(source)
            .is_none_or(|(last, last_severity)| *last <= at - period || *last_severity < severity);
        if granted {
            if claims.len() >= CLAIMS_MAX && !claims.contains_key(source) {
                let cutoff = at - period;
                claims.retain(|_, (last, _)| *last > cutoff);
                if claims.len() >= CLAIMS_MAX {
                    claims.clear();
                }
            }
            claims.insert(source.to_owned(), (at, severity));
        }
        Box::pin(async move { Ok(granted) })
    }

    fn release_alert<'a>(&'a self, source: &'a str, at: i64) -> StoreFuture<'a, ()> {
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if claims.get(source).is_some_and(|(last, _)| *last == at) {
            claims.remove(source);
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_store_contract() {
        super::super::store::contract::check(&MemoryStore::default(), "memory").await;
    }
}
