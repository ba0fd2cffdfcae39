//! The rate model's constants, in one place below everything that reads them: the model
//! ([`super::model`]), its memory of rises ([`super::novelty`]), its rhythm ([`super::season`])
//! and its slow scale ([`super::drift`]) all take them from here, so none of those files needs
//! another to know what it is told.
//!
//! Two sets: [`ModelParams::DEFAULT`] for counts (clicks, requests, bytes, posts), what the
//! Lambda judges, and [`ModelParams::LEVEL`] for levels and prices (CPU, temperature, a road's
//! speed, a click's cost), which only `detect --kind level` uses. What an operator tunes is in
//! [`super::settings`] (`RATE_THRESHOLD`, `RATE_MIN_EXPECTED`, ...); these are the model's own,
//! chosen on NAB's tuning split (`scripts/evaluate_nab.py`) and checked on generated traffic
//! (`scripts/evaluate-generated`).

/// What a series' values are, which decides how their noise is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    /// Counts of events in a window: the spread is at least a count's Poisson noise, a fall is
    /// scored as a Poisson deviance residual, and a series expecting fewer than
    /// `RATE_MIN_EXPECTED` is not judged. The Lambda's click rates are counts.
    #[default]
    Count,
    /// Measurements on a scale of their own (a percentage, a price, degrees): no Poisson floor,
    /// no minimum expected value, the spread learned from the series alone and never below a
    /// fraction of its level, so a price of 0.3 and an occupancy of 50 are judged alike.
    Level,
}

/// The model's constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ModelParams {
    /// Counts or levels.
    pub(crate) kind: Kind,
    /// Levels only: the smallest spread, as a fraction of the series' typical size (its mean
    /// absolute value), so a series that was constant during its warm-up does not see every
    /// rounding step as an anomaly.
    pub(crate) level_floor: f64,
    /// Levels only: how many recent values the range keeps (see `range`); 0 keeps none, as
    /// for counts.
    pub(crate) range_window: usize,
    /// Levels only: the range's low quantile (its high one is one minus it).
    pub(crate) range_quantile: f64,
    /// Levels only: how far beyond its quantiles, in spans between them, a value is out of
    /// range.
    pub(crate) range_margin: f64,
    /// Levels only: values learned before the range judges any.
    pub(crate) range_warm_up: usize,
    /// Windows learned before any is judged.
    pub(crate) warm_up: u32,
    /// Weight of a new window in the level.
    pub(crate) level_rate: f64,
    /// Weight of a new window in the residual variance.
    pub(crate) spread_rate: f64,
    /// How many times `threshold` spreads a rise needs to be anomalous on a bursty series (a
    /// fall needs `threshold`).
    pub(crate) rise_factor: f64,
    /// Weight of a visit in its seasonal slot's factor (see `season`).
    pub(crate) slot_rate: f64,
    /// How much of a rise's ratio above 1 the novelty peak keeps per window.
    pub(crate) peak_decay: f64,
    /// The upper score quantile a rise must reach (novelty's tail).
    pub(crate) tail_quantile: f64,
    /// The tail's step up when a score exceeds it.
    pub(crate) tail_step: f64,
    /// Weight of a judged window in the slow scale's mean score (see `drift`).
    pub(crate) drift_rate: f64,
    /// A window's score is clipped to ± this before the slow scale averages it, so one burst
    /// alone cannot move it far: only a change that lasts does.
    pub(crate) drift_clip: f64,
    /// Weight of a judged window in the slow scale's own variance.
    pub(crate) drift_spread_rate: f64,
    /// Judged windows the slow scale averages before it may call anything anomalous.
    pub(crate) drift_warm_up: u32,
}

impl ModelParams {
    /// The defaults, as a constant so tests can start from them in `const` items.
    pub(crate) const DEFAULT: Self = Self {
        kind: Kind::Count,
        level_floor: 0.0,
        range_window: 0,
        range_quantile: 0.0,
        range_margin: 0.0,
        range_warm_up: 0,
        warm_up: 30,
        level_rate: 0.05,
        // The noise of a series is a slow property: learned over about two hundred windows, a
        // quiet spell does not shrink it until ordinary variation looks anomalous.
        spread_rate: 0.005,
        rise_factor: 2.0,
        slot_rate: 0.2,
        // Tuned on NAB's tuning split: a memory of about a hundred windows, and the score the
        // series exceeds once in a thousand windows, climbing 0.6 with each exceedance.
        peak_decay: 0.99,
        tail_quantile: 0.999,
        tail_step: 0.6,
        // About the last ten judged windows; scores clipped to ± 5 spreads; the slow scale's
        // own spread learned over some five hundred windows.
        drift_rate: 0.1,
        drift_clip: 5.0,
        drift_spread_rate: 0.002,
        drift_warm_up: 10,
    };
}

impl ModelParams {
    /// The constants for levels (`detect --kind level`), chosen on the level series of NAB's
    /// tuning split; the rest as for counts.
    pub(crate) const LEVEL: Self = Self {
        kind: Kind::Level,
        level_floor: 0.03,
        range_window: 2000,
        range_quantile: 0.003,
        range_margin: 0.2,
        range_warm_up: 200,
        ..Self::DEFAULT
    };
}

impl Default for ModelParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}
