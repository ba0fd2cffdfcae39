//! Where the rate detectors' state lives: behind [`RateStore`], so that a store shared by
//! concurrent containers can replace the in-memory one.
//!
//! [`MemoryRates`] keeps one [`RateDetector`] per delivery stream in the warm container. A cold
//! start loses it all: every series warms up again (30 windows before anything is judged), open
//! windows' counts are gone, and an episode under way is reported again if it is still going on.
//! With several containers at once, each sees only its share of the traffic.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::model::ModelParams;
use super::rates::{RateClick, RateDetector, RateFinding};
use super::settings::DetectSettings;

/// Delivery streams whose state one container keeps; a function serves one stream in the
/// template, so this only bounds what odd events could make it hold.
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
}

/// Rate state per delivery stream.
pub(crate) trait RateStore {
    /// Counts `clicks` of `stream`, scores what closed, says what opened.
    fn observe(
        &self,
        stream: &str,
        clicks: &[RateClick<'_>],
        now: DateTime<Utc>,
        settings: &DetectSettings,
    ) -> RateOutcome;
}

/// The warm container's memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryRates {
    streams: Mutex<HashMap<String, RateDetector>>,
    params: ModelParams,
}

impl RateStore for MemoryRates {
    fn observe(
        &self,
        stream: &str,
        clicks: &[RateClick<'_>],
        now: DateTime<Utc>,
        settings: &DetectSettings,
    ) -> RateOutcome {
        // A panic while holding the lock cannot leave the state worse than a cold start.
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !streams.contains_key(stream) && streams.len() >= STREAMS_MAX {
            streams.clear();
        }
        let detector = streams.entry(stream.to_owned()).or_default();
        let late = detector.late;
        detector.last_site = None;
        let findings = detector.observe(clicks, now, settings, &self.params);
        RateOutcome {
            findings,
            site: detector.last_site,
            late: detector.late - late,
        }
    }
}
