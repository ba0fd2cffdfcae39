//! A level's range: a value beyond everything the series held lately is news, whatever the
//! seasonal baseline expected (levels only, `detect --kind level`).
//!
//! The rate model judges a window against what the level and the rhythm expected, in learned
//! spreads. A level that wanders (a CPU, a machine's temperature) teaches it a wide spread, and
//! a value outside anything the series ever did can then pass for ordinary noise; a random cut
//! forest catches exactly those, by isolating rare values. This is the same idea without the
//! forest: the series' last [`ModelParams::range_window`] values, kept sorted, give its low and
//! high quantiles ([`ModelParams::range_quantile`] and one minus it), and a value more than
//! [`ModelParams::range_margin`] times the span between them beyond either is out of range. The
//! span is the series' own, so the test is scale-free, like the rest of the level model.
//!
//! Bounded: at most `range_window` values (16 KB at 2,000) in the ring and as many in the
//! sorted copy, whatever the length of the series; a window costs a binary search and a
//! shift of the sorted copy. Counts (the Lambda's series) never hold one: their state is
//! unchanged. Strictly causal: a value is judged against the values before it, then learned.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::params::ModelParams;

/// The recent values of a level, in arrival order and sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Range {
    recent: VecDeque<f64>,
    sorted: Vec<f64>,
}

/// Where a value stands against the series' range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outside {
    Above,
    Below,
}

impl Range {
    /// Whether `value` is out of range, judged against what was learned before it; `None`
    /// while fewer than [`ModelParams::range_warm_up`] values were learned, or when it is in
    /// range.
    pub(crate) fn judge(&self, value: f64, params: &ModelParams) -> Option<Outside> {
        let n = self.sorted.len();
        if n == 0 || n < params.range_warm_up {
            return None;
        }
        let at = |q: f64| {
            // In range by construction: q in [0, 1], and the index is capped at n - 1.
            let i = ((q * n as f64).floor() as usize).min(n - 1);
            self.sorted.get(i).copied().unwrap_or(0.0)
        };
        let (low, high, median) = (
            at(params.range_quantile),
            at(1.0 - params.range_quantile),
            at(0.5),
        );
        // A series constant so far has no span: a scale-free sliver of its size stands in, so
        // that its first step is news, its rounding noise after that not.
        let span = (high - low).max(1e-9 * median.abs()).max(1e-12);
        let margin = params.range_margin * span;
        if value > high + margin {
            Some(Outside::Above)
        } else if value < low - margin {
            Some(Outside::Below)
        } else {
            None
        }
    }

    /// Learns `value`, forgetting the oldest once [`ModelParams::range_window`] are held.
    pub(crate) fn learn(&mut self, value: f64, params: &ModelParams) {
        if params.range_window == 0 || !value.is_finite() {
            return;
        }
        while self.recent.len() >= params.range_window {
            let Some(old) = self.recent.pop_front() else {
                break;
            };
            let i = self.sorted.partition_point(|&x| x < old);
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
        self.recent.push_back(value);
        let i = self.sorted.partition_point(|&x| x < value);
        self.sorted.insert(i, value);
    }

    /// Nothing learned: a count's range, which is not stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// The bytes it holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.recent.capacity() + self.sorted.capacity()) * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ModelParams {
        ModelParams::LEVEL
    }

    #[test]
    fn a_value_beyond_the_recent_range_by_the_margin_is_out_and_one_inside_is_not() {
        let p = params();
        let mut r = Range::default();
        // 0.0, 0.1, ..., 99.9 once each: quantiles near 0.3 and 99.7, a span near 99.4.
        for i in 0..1000 {
            assert_eq!(
                r.judge(f64::from(i) / 10.0, &p),
                None,
                "warm-up or in range"
            );
            r.learn(f64::from(i) / 10.0, &p);
        }
        let margin = p.range_margin * 99.4;
        assert_eq!(r.judge(99.7 + margin + 1.0, &p), Some(Outside::Above));
        assert_eq!(r.judge(0.3 - margin - 1.0, &p), Some(Outside::Below));
        assert_eq!(r.judge(99.9 + margin - 1.0, &p), None);
        assert_eq!(r.judge(50.0, &p), None);
    }

    #[test]
    fn it_keeps_at_most_its_window_and_forgets_the_oldest() {
        let p = params();
        let mut r = Range::default();
        for i in 0..3 * p.range_window {
            r.learn(i as f64, &p);
        }
        assert_eq!(r.recent.len(), p.range_window);
        assert_eq!(r.sorted.len(), p.range_window);
        assert_eq!(r.sorted[0], (2 * p.range_window) as f64);
        assert!(r.sorted.windows(2).all(|w| w[0] <= w[1]));
        // Counts keep none.
        let mut counts = Range::default();
        counts.learn(1.0, &ModelParams::DEFAULT);
        assert_eq!(counts, Range::default());
    }

    #[test]
    fn the_same_values_at_any_scale_give_the_same_answers() {
        let p = params();
        let (mut a, mut b) = (Range::default(), Range::default());
        let mut rng = fastrand::Rng::with_seed(8);
        for i in 0..3000 {
            let v = 0.3 + 0.05 * rng.f64() + if i % 500 == 499 { 0.2 } else { 0.0 };
            assert_eq!(a.judge(v, &p), b.judge(v * 1024.0, &p), "row {i}");
            a.learn(v, &p);
            b.learn(v * 1024.0, &p);
        }
    }
}
