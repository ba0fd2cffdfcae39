//! What the detectors are told: which run, and how sensitive they are. Read from the
//! environment in `crate::config`; the defaults suit the lab's traffic (about 10 clicks per
//! second over 10 pages) and much larger sites alike, because every rate threshold is relative
//! to what each series has learned, not an absolute count.

use std::time::Duration;

/// The detectors' settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DetectSettings {
    /// `DETECT_PRODUCER_FLAG`: a record whose `anomaly_detected` is true is an anomaly
    /// (`producer_flag`), as the lab's producer meant it.
    pub(crate) producer_flag: bool,
    /// `DETECT_USER_BURSTS`: users clicking faster than a person can (`user_burst`).
    pub(crate) user_bursts: bool,
    /// `BURST_MIN_CLICKS` within `BURST_SECONDS` of event time make a burst. The default, 50 in
    /// 10 s, is 5 clicks a second sustained for 10 s; a person manages 1 or 2 at most, and the
    /// lab's producer spreads 10 clicks a second over 1,000 users.
    pub(crate) burst_min_clicks: usize,
    pub(crate) burst_span: Duration,
    /// `DETECT_RATES`: click-rate, page and distinct-user series across batches.
    pub(crate) rates: bool,
    /// `RATE_WINDOW_SECONDS`: the event-time window each series counts in.
    pub(crate) window: Duration,
    /// `RATE_LATENESS_SECONDS`: how long after its end a window still takes clicks before it is
    /// scored (Firehose buffers up to 60 s, and producers retry).
    pub(crate) lateness: Duration,
    /// `RATE_THRESHOLD`: the score (deviations from what was expected) from which a fall is
    /// anomalous; a rise on a bursty series needs `ModelParams::rise_factor` times as much (see
    /// `model`). Lower finds more, and more false alarms.
    pub(crate) threshold: f64,
    /// `RATE_MIN_EXPECTED`: a page or site whose expected count per window is below this is not
    /// judged: too few clicks to tell a drop from chance.
    pub(crate) min_expected: f64,
    /// `RATE_TRACKED_PAGES`: how many of the most active pages get a series of their own; the
    /// rest are pooled, so memory stays bounded whatever producers send.
    pub(crate) tracked_pages: usize,
}

/// The most pages that may be tracked when the state lives in a DynamoDB table (`STATE_TABLE`):
/// the stream's learned state is one item, DynamoDB's items hold at most 400 KB, and a tracked
/// page's series (its level, spread and some 200 seasonal factors) is about 3 KB of it. The
/// in-memory store has no such bound (`RATE_TRACKED_PAGES` goes to 1,000).
pub(crate) const TRACKED_PAGES_SHARED_MAX: usize = 100;

impl DetectSettings {
    /// The defaults, as a constant so tests can start from them in `const` items.
    pub(crate) const DEFAULT: Self = Self {
        producer_flag: true,
        user_bursts: true,
        burst_min_clicks: 50,
        burst_span: Duration::from_secs(10),
        rates: true,
        window: Duration::from_secs(60),
        lateness: Duration::from_secs(120),
        threshold: 5.0,
        min_expected: 5.0,
        tracked_pages: 50,
    };
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}
