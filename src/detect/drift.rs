//! The rate model's slow scale: a change that lasts, too small in any one window to be an
//! anomaly there, is seen in the mean of recent scores.
//!
//! The model judges each window alone (its fast scale): a step to half a page's traffic, a
//! spike three times its height, silence. A level that moves by two or three spreads and stays
//! there scores two or three in every window and is never an anomaly on its own; the slow scale
//! averages the recent windows' scores (an exponentially weighted mean, each score clipped to
//! ± [`ModelParams::drift_clip`] so that one burst alone cannot carry it) and judges that mean
//! in its own spreads.
//!
//! Its spread is learned from the series itself (the mean of its squared mean), never below
//! what independent unit scores would give it, `rate / (2 − rate)`: scores of a real series are
//! neither independent nor of unit variance (a seasonal slot slightly off, a bursty source),
//! and a spread learned from the series keeps its threshold the same number of spreads on quiet
//! and noisy series alike, the idea of Numenta's anomaly likelihood, without a sample kept.
//! A few numbers per series; constant time per window.

use serde::{Deserialize, Serialize};

use super::params::ModelParams;

/// A series' slow scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Drift {
    /// Exponentially weighted mean of the clipped scores.
    mean: f64,
    /// Its learned variance; `None` before the first judged window.
    var: Option<f64>,
    /// Judged windows averaged.
    judged: u32,
}

impl Drift {
    /// The slow scale of a series whose stored state has none: saved before it existed.
    pub(crate) fn missing() -> Self {
        tracing::info!(
            "rate model state saved without a slow scale (the first-generation model): it starts \
             empty and warms up, the rest of the series' learning kept"
        );
        Self::default()
    }

    /// Takes one judged window's score (its residual in spreads, signed) and returns the slow
    /// scale's score, the mean in its own spreads, once [`ModelParams::drift_warm_up`] windows
    /// have been averaged.
    pub(crate) fn step(&mut self, score: f64, params: &ModelParams) -> Option<f64> {
        let rate = params.drift_rate;
        let clip = params.drift_clip;
        let score = if score.is_finite() { score } else { 0.0 };
        self.mean += rate * (score.clamp(-clip, clip) - self.mean);
        self.judged = self.judged.saturating_add(1);
        // The variance of an exponentially weighted mean of independent unit scores.
        let floor = rate / (2.0 - rate);
        let var = self.var.unwrap_or(floor);
        let slow = self.mean / var.max(floor).sqrt();
        self.var = Some(match self.var {
            Some(v) => v + params.drift_spread_rate * (self.mean * self.mean - v),
            None => floor,
        });
        (self.judged >= params.drift_warm_up).then_some(slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_shift_of_three_spreads_is_seen_and_a_lone_burst_is_not() {
        let p = ModelParams::default();
        let mut rng = fastrand::Rng::with_seed(4);
        let mut d = Drift::default();
        let noise = |rng: &mut fastrand::Rng| (rng.f64() - 0.5) * 2.0 * 3f64.sqrt();
        let mut worst: f64 = 0.0;
        for i in 0..2_000 {
            // One burst of 50 spreads among unit noise: clipped, it moves the mean by 0.5.
            let score = if i == 1_000 { 50.0 } else { noise(&mut rng) };
            if let Some(slow) = d.step(score, &p) {
                worst = worst.max(slow.abs());
            }
        }
        assert!(worst < 5.0, "noise and one burst: {worst}");
        // Three spreads above, window after window: within a dozen windows.
        let found = (0..12).find(|_| d.step(3.0 + noise(&mut rng), &p).is_some_and(|s| s >= 5.0));
        assert!(found.is_some());
    }

    #[test]
    fn nothing_is_said_during_its_warm_up_and_bad_scores_count_as_none() {
        let p = ModelParams::default();
        let mut d = Drift::default();
        for _ in 1..p.drift_warm_up {
            assert_eq!(d.step(f64::NAN, &p), None);
        }
        assert_eq!(d.step(f64::INFINITY, &p), Some(0.0));
    }
}
