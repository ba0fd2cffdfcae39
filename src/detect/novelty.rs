//! What a series has done before: a rise it makes again and again is its nature, not an anomaly.
//!
//! The rate model's spread is learned from clipped values (so an anomaly does not teach it that
//! anomalies are normal), which leaves it blind to series whose normal includes bursts: a
//! machine that writes 20 MB to disk every few hours, a brand mentioned in a retweeted post.
//! Those bursts score far beyond any threshold each time. Two memories, a few bytes each, tell
//! such a rise from a new one:
//!
//! - the **peak**: the largest ratio of value to expected value of recent windows, decaying
//!   towards 1 by [`ModelParams::peak_decay`] per window. A rise is new only if its ratio
//!   reaches the peak: higher than what the series did lately, once decay is accounted for;
//! - the **tail**: a streaming estimate of the series' own upper score quantile
//!   [`ModelParams::tail_quantile`] (one step up on each window above it, a
//!   `(1 - q) / q`-sized step down on each below, the frugal estimator of Ma, Muthukrishnan and
//!   Sandler; one number, no sample kept). A rise is new only if its score reaches it.
//!
//! On traffic as steady as Poisson counts both stay far below the threshold (the peak near the
//! largest chance fluctuation, 1.5 times a busy page's expected count; the tail near a score of
//! 3), so they take nothing from the clickstream targets; on bursty series they take most of the
//! false alarms. Falls are not guarded: a series that often falls silent is rare in clicks, and a
//! drop is what the people on call most need to hear about.
//!
//! Warm-up: the peak starts at the last warm-up window (at least 1); the tail starts at 0 and
//! climbs within a few dozen judged windows.

use serde::{Deserialize, Serialize};

use super::params::ModelParams;

/// A series' memory of its rises.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Novelty {
    /// Decaying largest ratio of value to expected value; `None` until the warm-up ends.
    peak: Option<f64>,
    /// Estimate of the upper score quantile.
    tail: f64,
}

impl Novelty {
    /// Whether a rise of `ratio` times the expected value, scored `score`, is new for this
    /// series.
    pub(crate) fn is_new_rise(&self, ratio: Option<f64>, score: f64) -> bool {
        let above_peak = match (self.peak, ratio) {
            (Some(peak), Some(ratio)) => ratio >= peak,
            _ => true,
        };
        above_peak && score >= self.tail
    }

    /// Learns one window: its ratio of value to expected value (`None` when nothing was
    /// expected), its score if it was judged, and whether the model has finished its warm-up.
    pub(crate) fn learn(
        &mut self,
        ratio: Option<f64>,
        score: Option<f64>,
        warm: bool,
        params: &ModelParams,
    ) {
        if let Some(ratio) = ratio {
            match self.peak {
                Some(peak) => {
                    self.peak = Some((1.0 + (peak - 1.0) * params.peak_decay).max(ratio));
                }
                None if warm => self.peak = Some(ratio.max(1.0)),
                None => {}
            }
        }
        if let Some(score) = score {
            let q = params.tail_quantile;
            if score > self.tail {
                self.tail += params.tail_step * q;
            } else {
                self.tail = (self.tail - params.tail_step * (1.0 - q)).max(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rise_must_reach_the_decayed_peak_and_the_tail() {
        let p = ModelParams::default();
        let mut n = Novelty::default();
        // Before the warm-up ends nothing is remembered.
        n.learn(Some(9.0), None, false, &p);
        assert!(n.is_new_rise(Some(1.1), 0.0));
        n.learn(Some(0.9), None, true, &p);
        assert_eq!(n.peak, Some(1.0));
        n.learn(Some(4.0), None, true, &p);
        assert!(!n.is_new_rise(Some(3.9), 10.0));
        assert!(n.is_new_rise(Some(4.0), 10.0));
        // Fifty quiet windows later the peak has decayed most of the way back to 1.
        for _ in 0..50 {
            n.learn(Some(1.0), None, true, &p);
        }
        let decayed = 1.0 + 3.0 * p.peak_decay.powi(50);
        assert!((n.peak.unwrap_or(0.0) - decayed).abs() < 1e-9);
        assert!(n.is_new_rise(Some(decayed + 0.01), 10.0));
    }

    #[test]
    fn the_tail_settles_where_the_series_exceeds_it_rarely() {
        let p = ModelParams::default();
        let mut n = Novelty::default();
        // Scores that exceed 8 once in 100 windows: the 0.999 quantile ends above 8, so a rise
        // of that size is no longer new; and one of 12 still is.
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let score = if rng.u32(0..100) == 0 {
                8.5
            } else {
                rng.f64() * 3.0
            };
            n.learn(Some(1.0), Some(score), true, &p);
        }
        assert!(n.tail > 8.0 && n.tail < 12.0, "tail {}", n.tail);
        assert!(!n.is_new_rise(None, 8.0));
        assert!(n.is_new_rise(None, 12.0));
        // Steady scores below 3 keep it within one step of 3.
        let mut steady = Novelty::default();
        for _ in 0..20_000 {
            steady.learn(Some(1.0), Some(rng.f64() * 3.0), true, &p);
        }
        assert!(steady.tail < 3.0 + p.tail_step, "tail {}", steady.tail);
    }
}
