//! How much a series' windows stray from what was expected, robustly: the median of the
//! absolute residuals, learned a window at a time, as one standard deviation.
//!
//! The first two generations learned the variance of the residuals. One burst or an outage at
//! the start of a series squares into it, and with the slow rate a spread needs, it stays wide
//! for hours: a crash rate that spikes, a network that sends 60 MB once, and every anomaly after
//! it scores small. A median does not move for the size of a stray value, only for which side of
//! it the value falls. Here it is the frugal streaming quantile estimator (Ma, Muthukrishnan
//! and Sandler), with steps that are a fraction of the estimate instead of fixed ones, so it
//! needs no unit and holds one number: a residual above it raises it by
//! [`ModelParams::spread_step`] of itself, one below lowers it as much, and it settles where as
//! many fall on each side. Divided by the median of |N(0, 1)| (0.6745) it is one standard
//! deviation for Gaussian noise; for a heavy-tailed series it is narrower than the standard
//! deviation, which is what makes a spike stand out, and the novelty memory (`novelty`) is what
//! keeps such a series' ordinary bursts quiet.
//!
//! It starts from the warm-up's standard deviation (the model learns mean and variance during
//! its warm-up, when there is no expectation to take residuals from), or, for a state saved by
//! an earlier model, from the variance that state learned.

use serde::{Deserialize, Serialize};

use super::params::ModelParams;

/// The median of the absolute value of a standard normal variable.
const MEDIAN_ABS_NORMAL: f64 = 0.674_489_750_196_081_7;

/// The smallest median kept: a series that stays constant drives the estimate down a step at a
/// time, and a spread of zero would make every later score infinite.
const LEAST: f64 = 1e-12;

/// A series' robust spread; zero until started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spread {
    /// The estimated median absolute residual.
    #[serde(serialize_with = "super::compact::number")]
    median_abs: f64,
}

impl Spread {
    /// Whether it has started learning.
    pub(crate) fn started(&self) -> bool {
        self.median_abs > 0.0
    }

    /// Starts from a standard deviation learned otherwise (the warm-up's, an older state's).
    pub(crate) fn start(&mut self, sd: f64) {
        let sd = if sd.is_finite() { sd } else { 0.0 };
        self.median_abs = (sd * MEDIAN_ABS_NORMAL).max(LEAST);
    }

    /// One standard deviation, for Gaussian noise.
    pub(crate) fn sd(&self) -> f64 {
        self.median_abs / MEDIAN_ABS_NORMAL
    }

    /// Learns one window's residual (what came minus what was expected).
    pub(crate) fn learn(&mut self, residual: f64, params: &ModelParams) {
        if !residual.is_finite() {
            return;
        }
        let step = params.spread_step;
        self.median_abs = if residual.abs() > self.median_abs {
            self.median_abs * (1.0 + step)
        } else {
            (self.median_abs * (1.0 - step)).max(LEAST)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard normal values from a fixed seed (Box-Muller).
    fn normal(rng: &mut fastrand::Rng) -> f64 {
        let u1 = rng.f64().max(1e-12);
        let u2 = rng.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn it_settles_on_the_standard_deviation_of_gaussian_noise_at_any_scale() {
        let p = ModelParams::DEFAULT;
        for sd in [0.01, 3.0, 40_000.0] {
            let mut rng = fastrand::Rng::with_seed(5);
            let mut s = Spread::default();
            s.start(sd * 4.0);
            for _ in 0..20_000 {
                s.learn(sd * normal(&mut rng), &p);
            }
            let ratio = s.sd() / sd;
            assert!((0.9..1.1).contains(&ratio), "sd {sd}: learned {}", s.sd());
        }
    }

    #[test]
    fn a_burst_barely_moves_it_where_a_variance_would_be_blinded() {
        // Unit noise, then ten windows a thousand spreads off: a variance learned at 0.005 a
        // window would be some 50,000 times wider; the median moves ten steps.
        let p = ModelParams::DEFAULT;
        let mut rng = fastrand::Rng::with_seed(6);
        let mut s = Spread::default();
        s.start(1.0);
        for _ in 0..5_000 {
            s.learn(normal(&mut rng), &p);
        }
        let before = s.sd();
        for _ in 0..10 {
            s.learn(1_000.0, &p);
        }
        assert!(s.sd() / before < 1.02, "{before} -> {}", s.sd());
    }

    #[test]
    fn it_follows_a_lasting_change_of_noise_in_some_hundreds_of_windows() {
        let p = ModelParams::DEFAULT;
        let mut rng = fastrand::Rng::with_seed(7);
        let mut s = Spread::default();
        s.start(1.0);
        for _ in 0..3_000 {
            s.learn(4.0 * normal(&mut rng), &p);
        }
        assert!((3.5..4.5).contains(&s.sd()), "{}", s.sd());
        for _ in 0..3_000 {
            s.learn(normal(&mut rng), &p);
        }
        assert!((0.85..1.15).contains(&s.sd()), "{}", s.sd());
    }

    #[test]
    fn a_constant_series_keeps_a_spread_above_zero_and_bad_residuals_are_ignored() {
        let p = ModelParams::DEFAULT;
        let mut s = Spread::default();
        assert!(!s.started());
        s.start(0.0);
        assert!(s.started() && s.sd() > 0.0);
        for _ in 0..100_000 {
            s.learn(0.0, &p);
        }
        assert!(s.sd() > 0.0);
        let kept = s;
        s.learn(f64::NAN, &p);
        s.learn(f64::INFINITY, &p);
        assert_eq!(s, kept);
        s.start(f64::NAN);
        assert!(s.sd() > 0.0 && s.sd().is_finite());
    }
}
