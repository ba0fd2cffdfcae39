//! The rate model: what one series (the site's clicks per window, a page's, the distinct users)
//! is expected to hold in the next window, and how surprising the window that came is.
//!
//! Second generation: the first judged each window alone; this one also judges the mean of the
//! recent windows (the slow scale, [`Drift`]), so a lasting change too small to be an anomaly in
//! any single window is seen too, and its rises' memory ([`Novelty`]) is longer.
//!
//! A robust seasonal baseline, chosen over a random cut forest because it says what was
//! expected (the alert's "expected 31"), needs about 3 KB per series, costs constant
//! time per window, and is deterministic and strictly causal by construction;
//! `scripts/evaluate_nab.py` compares it with KDA's `RANDOM_CUT_FOREST` on labeled public data.
//!
//! - Expected = level × the [`Season`]'s factors (hour of the day, day of the week, hour of the
//!   week). The level is an exponentially weighted mean of the de-seasonalized values.
//! - Spread: the larger of the learned variance of the residuals and the expected value itself
//!   (a count's Poisson variance), so a quiet page is not judged by the noise of a busy one.
//! - Score: the signed residual in spreads (z) for a rise; for a fall, the Poisson deviance
//!   residual scaled by the series' overdispersion, which matches z for small falls but sees a
//!   small series falling silent for what it is. A window is judged only after the warm-up and
//!   when enough is expected (or observed, for a rise) to tell a change from chance.
//! - A fall is anomalous from `threshold` spreads; a rise on a bursty series (variance four
//!   or more times the mean) from [`ModelParams::rise_factor`] times as many, and on a series
//!   as steady as Poisson traffic from `threshold` too, in between by degrees: real traffic that
//!   is overdispersed bursts upward far more often than its variance suggests (news, campaigns,
//!   crawlers), while a steady series has no such bursts, and its small pages' spikes must
//!   still be seen.
//! - A rise must also be new for the series ([`Novelty`]): a series whose normal includes bursts
//!   of that size is not alarmed by one more.
//! - Slow scale: a window is also anomalous when the exponentially weighted mean of the recent
//!   windows' scores (each clipped, so one burst alone cannot carry it) is `threshold` of its
//!   own learned spreads from zero ([`Drift`]); its score is then that mean's, and its
//!   direction the mean's sign. It starts once a day has been seen, when the rhythm is in use.
//! - Learning is robust: a judged value is clipped to the anomaly thresholds around the
//!   expected value before it is learned, so an anomaly does not teach the model that it is
//!   normal, while a lasting change of level is still learned, a step at a time.
//!
//! Warm-up: the first [`ModelParams::warm_up`] windows only learn (mean and variance, Welford);
//! nothing is judged before. A cold start begins again from there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::drift::Drift;
use super::novelty::Novelty;
use super::params::{Kind, ModelParams};
use super::range::{Outside, Range};
use super::season::{Factors, HOURS_AFTER_DAYS, Season};

/// One series' learned state: about 3 KB (most of it seasonal factors), whatever the traffic;
/// a level's also keeps its range (some 32 KB at most).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RateModel {
    /// Windows learned.
    seen: u32,
    level: f64,
    /// Variance of the residuals.
    var: f64,
    season: Season,
    novelty: Novelty,
    /// The slow scale. Absent from a state saved before it existed (a stack deployed with the
    /// first generation): it then starts empty, with a log line saying so, and warms up in
    /// [`ModelParams::drift_warm_up`] judged windows, the rest of the model intact. (The first
    /// generation reading this state back, after a rollback, ignores the field.)
    #[serde(default = "Drift::missing")]
    drift: Drift,
    /// A level's recent values (see [`Range`]); always empty for a count, and then not stored,
    /// so the Lambda's state is what it was.
    #[serde(default, skip_serializing_if = "Range::is_empty")]
    range: Range,
    /// The first window learned, to know when a day and a week have been seen.
    since: Option<DateTime<Utc>>,
}

/// What the model said of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Judgment {
    pub(crate) expected: f64,
    /// One spread (standard deviation) around `expected`.
    pub(crate) spread: f64,
    /// How far from `expected` the window is, in spreads, signed (a fall scored as a Poisson
    /// deviance residual); where only the slow scale found the window anomalous, the slow
    /// scale's score. 0 when the window was not judged.
    pub(crate) score: f64,
    /// The band the window had to leave to be anomalous on its own (the fast scale): below
    /// `low` a fall (`threshold` spreads down, not below zero), above `high` a rise (`threshold`
    /// to `threshold × rise_factor` spreads up, by the series' burstiness). A rise must also be
    /// new for the series, so `high` is where a rise may begin to be an anomaly.
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// False during the warm-up or when too little is expected to judge.
    pub(crate) judged: bool,
    /// Judged, and beyond the band (and, for a rise, new), or the slow scale's mean score
    /// beyond `threshold` of its own spreads.
    pub(crate) anomalous: bool,
}

impl Default for RateModel {
    fn default() -> Self {
        Self {
            seen: 0,
            level: 0.0,
            var: 0.0,
            season: Season::default(),
            novelty: Novelty::default(),
            drift: Drift::default(),
            range: Range::default(),
            since: None,
        }
    }
}

impl RateModel {
    /// The bytes it holds on the heap (its seasonal factors; the rest is inline).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.season.heap_bytes() + self.range.heap_bytes()
    }

    fn days_seen(&self, at: DateTime<Utc>) -> i64 {
        self.since.map_or(0, |s| (at - s).num_days())
    }

    fn factors(&self, at: DateTime<Utc>) -> Factors {
        self.season.factors(at, self.days_seen(at))
    }

    /// What the window starting `at` is expected to hold, and one spread around it, for a count.
    #[cfg(test)]
    pub(crate) fn expect(&self, at: DateTime<Utc>) -> (f64, f64) {
        self.expect_as(at, Kind::Count, 0.0)
    }

    /// The same for a series of `kind`: a count's spread is at least its Poisson noise; a
    /// level's at least `floor` times its typical size (the level, before the rhythm), so the
    /// floor scales with the series and a price of 0.3 is judged as an occupancy of 50.
    fn expect_as(&self, at: DateTime<Utc>, kind: Kind, floor: f64) -> (f64, f64) {
        let expected = (self.level * self.factors(at).product()).max(0.0);
        let least = match kind {
            Kind::Count => expected,
            Kind::Level => (floor * self.level.abs()).powi(2),
        };
        (expected, self.var.max(least).max(1e-18).sqrt())
    }

    /// Judges the window starting `at` holding `value`, then learns from it.
    pub(crate) fn observe(
        &mut self,
        at: DateTime<Utc>,
        value: f64,
        params: &ModelParams,
        threshold: f64,
        min_expected: f64,
    ) -> Judgment {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let count = params.kind == Kind::Count;
        let (expected, spread) = self.expect_as(at, params.kind, params.level_floor);
        let warm = self.seen >= params.warm_up;
        // A level is judged at any size: its unit is arbitrary, and 0.1 may be a normal price.
        let enough =
            !count || expected >= min_expected || (value > expected && value >= min_expected);
        let judged = warm && enough;
        let score = if !judged {
            0.0
        } else if value < expected && count {
            fall_score(value, expected, spread)
        } else {
            (value - expected) / spread
        };
        // Bursts upward are what overdispersed series do (news, campaigns, crawlers); a series
        // as steady as Poisson traffic has none, so its rises are judged like its falls. A
        // level has no Poisson noise to compare with, so it is never taken as bursty: its rises
        // are judged like its falls, as the level constants were tuned.
        let bursty = if count {
            let overdispersion = if expected > 0.0 {
                spread * spread / expected
            } else {
                f64::INFINITY
            };
            ((overdispersion - 1.0) / 3.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let rise = threshold * (1.0 + (params.rise_factor - 1.0) * bursty);
        let ratio = (expected > 0.0).then(|| value / expected);
        let fast = judged
            && ((score >= rise && self.novelty.is_new_rise(ratio, score)) || score <= -threshold);
        // The slow scale averages the linear residual: for a lasting change the deviance's
        // sharper view of silence adds nothing, and the linear one is symmetric. It starts once
        // the daily rhythm is in use: before, a level chasing the rhythm lags it for hours, a
        // lasting residual of the model's own making that a busy series would report.
        let slow = if judged && self.days_seen(at) >= HOURS_AFTER_DAYS {
            self.drift.step((value - expected) / spread, params)
        } else {
            None
        };
        let drifted = slow.filter(|s| s.abs() >= threshold);
        // A level beyond its recent range is anomalous whatever its spread says (counts have
        // no range); reported at least `threshold` in its direction.
        let outside = if warm && !count {
            self.range.judge(value, params)
        } else {
            None
        };
        let (anomalous, reported) = match (outside, drifted) {
            _ if fast => (true, score),
            (Some(Outside::Above), _) => (true, score.max(threshold)),
            (Some(Outside::Below), _) => (true, score.min(-threshold)),
            (None, Some(slow)) => (true, slow),
            (None, None) => (false, score),
        };
        let learned = if warm {
            value.clamp(
                (expected - threshold * spread).max(0.0),
                expected + threshold * spread,
            )
        } else {
            value
        };
        self.learn(at, learned, expected, params);
        // The range learns the value as it came: how far the series goes is what it is for.
        self.range.learn(value, params);
        // Learned from the value as it came: how high the series goes is what the peak is for.
        self.novelty.learn(
            ratio,
            judged.then_some(score),
            self.seen >= params.warm_up,
            params,
        );
        Judgment {
            expected,
            spread,
            score: reported,
            low: (expected - threshold * spread).max(0.0),
            high: expected + rise * spread,
            judged,
            anomalous,
        }
    }

    fn learn(&mut self, at: DateTime<Utc>, value: f64, expected: f64, params: &ModelParams) {
        self.since.get_or_insert(at);
        self.seen = self.seen.saturating_add(1);
        let factors = self.factors(at);
        let deseasonalized = value / factors.product().max(0.05);
        if self.seen <= params.warm_up {
            // Welford: the mean and variance of what the warm-up saw.
            let n = f64::from(self.seen);
            let delta = deseasonalized - self.level;
            self.level += delta / n;
            self.var += (delta * (deseasonalized - self.level) - self.var) / n;
        } else {
            let residual = value - expected;
            self.level += params.level_rate * (deseasonalized - self.level);
            self.var += params.spread_rate * (residual * residual - self.var);
        }
        if self.level <= 0.0 {
            return;
        }
        let days_seen = self.days_seen(at);
        self.season
            .learn(at, value, self.level, factors, days_seen, params);
    }
}

/// How far below `expected` a `value` is, in spreads, scored as a Poisson deviance residual
/// (scaled down when the series is noisier than Poisson): a linear z cannot go below
/// −√expected at zero, so a page silent at night (16 expected a minute, z = −4) would pass for
/// chance, although silence there has a probability of e⁻¹⁶. The deviance residual of silence is
/// −√(2·expected) (−5.7), and it equals the linear z for small deviations.
fn fall_score(value: f64, expected: f64, spread: f64) -> f64 {
    if expected <= 0.0 {
        return 0.0;
    }
    let deviance = if value > 0.0 {
        2.0 * (value * (value / expected).ln() - (value - expected))
    } else {
        2.0 * expected
    };
    let overdispersion = (spread * spread / expected).max(1.0);
    -(deviance.max(0.0) / overdispersion).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Duration, Timelike};

    fn start() -> DateTime<Utc> {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    /// Poisson counts with mean `mean(minute)`, from a fixed seed.
    fn poisson(rng: &mut fastrand::Rng, mean: f64) -> f64 {
        // Knuth's method is fine for the means used here; larger ones use a normal
        // approximation.
        if mean > 60.0 {
            let u1 = rng.f64().max(1e-12);
            let u2 = rng.f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (mean + z * mean.sqrt()).round().max(0.0);
        }
        let l = (-mean).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= rng.f64();
            if p <= l {
                return k;
            }
            k += 1.0;
        }
    }

    fn daily(minute: i64, base: f64) -> f64 {
        let phase = (minute % 1440) as f64 / 1440.0 * 2.0 * std::f64::consts::PI;
        base * (1.0 + 0.5 * phase.sin())
    }

    fn run(values: &[f64]) -> Vec<Judgment> {
        let mut m = RateModel::default();
        let p = ModelParams::default();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| m.observe(start() + Duration::minutes(i as i64), *v, &p, 5.0, 5.0))
            .collect()
    }

    #[test]
    fn nothing_is_judged_during_the_warm_up() {
        let judged = run(&[100.0; 30]);
        assert!(judged.iter().all(|j| !j.judged && j.score == 0.0));
        let after = run(&[100.0; 31]);
        assert!(after[30].judged);
    }

    #[test]
    fn two_days_of_clean_traffic_with_a_daily_rhythm_raise_no_alarm() {
        let mut rng = fastrand::Rng::with_seed(7);
        for base in [30.0, 600.0, 20_000.0] {
            let values: Vec<f64> = (0..2 * 1440)
                .map(|m| poisson(&mut rng, daily(m, base)))
                .collect();
            let judged = run(&values);
            let worst = judged.iter().map(|j| j.score.abs()).fold(0.0, f64::max);
            assert!(worst < 5.0, "base {base}: worst score {worst}");
        }
    }

    #[test]
    fn spikes_drops_and_silence_are_scored_far_beyond_the_threshold() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut values: Vec<f64> = (0..600)
            .map(|m| poisson(&mut rng, daily(m, 60.0)))
            .collect();
        let normal = |m: usize| daily(m as i64, 60.0);
        for (m, v) in values.iter_mut().enumerate() {
            match m {
                300..303 => *v = 3.0 * normal(m),
                400..405 => *v = 0.0,
                500..505 => *v = 0.5 * normal(m),
                _ => {}
            }
        }
        let judged = run(&values);
        assert!(judged[300].score > 5.0, "{:?}", judged[300]);
        assert!(judged[400].score < -5.0, "{:?}", judged[400]);
        assert!(judged[500].score < -3.0, "{:?}", judged[500]);
        // What was expected stays near the normal level through the anomaly.
        for m in [302, 404] {
            let ratio = judged[m].expected / normal(m);
            assert!((0.7..1.3).contains(&ratio), "minute {m}: {:?}", judged[m]);
        }
    }

    #[test]
    fn a_rise_needs_rise_factor_times_the_spreads_on_bursty_series_only() {
        let p = ModelParams::default();
        let judge = |history: &dyn Fn(i64) -> f64, value: f64| {
            let mut m = RateModel::default();
            for i in 0..40 {
                m.observe(start() + Duration::minutes(i), history(i), &p, 5.0, 5.0);
            }
            m.observe(start() + Duration::minutes(40), value, &p, 5.0, 5.0)
        };
        // A constant 100 leaves the Poisson floor: one spread is 10, as steady as Poisson
        // traffic, so a rise is judged like a fall.
        let steady = |_: i64| 100.0;
        // A fall is scored as a Poisson deviance residual: 40 for 100 is -6.8 spreads.
        let fall = judge(&steady, 40.0);
        let deviance = -(2.0 * (40.0 * 0.4_f64.ln() + 60.0)).sqrt();
        assert!(
            (fall.score - deviance).abs() < 1e-9 && fall.anomalous,
            "{fall:?}"
        );
        let rise = judge(&steady, 170.0);
        assert!(
            (rise.score - 7.0).abs() < 1e-9 && rise.anomalous,
            "{rise:?}"
        );
        assert!(!judge(&steady, 149.0).anomalous);
        // Swinging between 60 and 140: sixteen times more variance than Poisson, bursty; a rise
        // needs rise_factor times the spreads.
        let bursty = |i: i64| if i % 2 == 0 { 60.0 } else { 140.0 };
        let seven = judge(&bursty, 100.0 + 7.0 * 40.0);
        assert!(seven.score > 6.0 && !seven.anomalous, "{seven:?}");
        let eleven = judge(&bursty, 100.0 + 11.0 * 40.0);
        assert!(
            eleven.score > 5.0 * p.rise_factor && eleven.anomalous,
            "{eleven:?}"
        );
    }

    #[test]
    fn the_daily_rhythm_is_learned() {
        // Day two's expectations follow the rhythm closely, not just the recent level.
        let values: Vec<f64> = (0..3 * 1440).map(|m| daily(m, 100.0).round()).collect();
        let mut m = RateModel::default();
        let p = ModelParams::default();
        let mut worst: f64 = 0.0;
        for (i, v) in values.iter().enumerate() {
            let at = start() + Duration::minutes(i as i64);
            if i >= 2 * 1440 {
                let (expected, _) = m.expect(at);
                worst = worst.max((expected - v).abs() / v.max(1.0));
            }
            m.observe(at, *v, &p, 5.0, 5.0);
        }
        assert!(worst < 0.1, "worst relative error on day three: {worst}");
    }

    #[test]
    fn a_small_series_falling_silent_is_anomalous() {
        // 16 clicks a minute, Poisson: silence has a probability of e^-16.
        let mut rng = fastrand::Rng::with_seed(5);
        let mut values: Vec<f64> = (0..200).map(|_| poisson(&mut rng, 16.0)).collect();
        values[150] = 0.0;
        let judged = run(&values);
        assert!(judged[150].anomalous, "{:?}", judged[150]);
        assert!(
            judged[150].score < -5.0 && judged[150].score > -6.5,
            "{:?}",
            judged[150]
        );
        // A small dip is scored like a z, and is no anomaly.
        assert!(judged[..150].iter().all(|j| !j.anomalous));
    }

    #[test]
    fn an_hour_of_the_week_unlike_its_hour_and_weekday_is_learned() {
        // Half-hourly counts: weekday mornings rise to a rush three times the level at 8:30 and
        // fall back by 11:00; weekend mornings have no rush. Hour and weekday factors alone
        // expect a Saturday 8:30 at about a rush's share (2,200) and see a drop.
        let value = |at: DateTime<Utc>, i: i64| {
            let weekend = at.weekday().num_days_from_monday() >= 5;
            let x = f64::from(at.hour()) + f64::from(at.minute()) / 60.0;
            let rush = if weekend || !(6.0..=11.0).contains(&x) {
                0.0
            } else {
                ((x - 6.0) / 5.0 * std::f64::consts::PI).sin()
            };
            1000.0 * (1.0 + 2.0 * rush) + (i % 7) as f64 * 10.0
        };
        let mut m = RateModel::default();
        let p = ModelParams::default();
        let mut anomalies = 0;
        for i in 0..6 * 7 * 48 {
            let at = start() + Duration::minutes(30 * i);
            let j = m.observe(at, value(at, i), &p, 5.0, 5.0);
            if i >= 3 * 7 * 48 && j.anomalous {
                anomalies += 1;
            }
        }
        assert_eq!(anomalies, 0, "weeks four to six");
        // 2027-01-09, the Saturday after the six weeks: no rush is expected of it.
        let saturday: DateTime<Utc> = "2027-01-09T08:30:00Z".parse().unwrap();
        let (expected, _) = m.expect(saturday);
        assert!(
            (expected / 1000.0 - 1.0).abs() < 0.15,
            "expected {expected}"
        );
    }

    #[test]
    fn the_daily_rhythm_does_not_drift_over_weeks() {
        // A clean sinusoid in one-minute windows for three weeks: what is expected stays as
        // close to it on the last day as on the second. (Factors learned from every window
        // instead of every visit drifted later each day, to 32 % off after twenty days.)
        let mut m = RateModel::default();
        let p = ModelParams::default();
        let mut worst = vec![0.0_f64; 21];
        for i in 0..21 * 1440 {
            let at = start() + Duration::minutes(i);
            let v = daily(i, 100.0).round();
            let day = (i / 1440) as usize;
            let (expected, _) = m.expect(at);
            worst[day] = worst[day].max((expected - v).abs() / v.max(1.0));
            m.observe(at, v, &p, 5.0, 5.0);
        }
        assert!(worst[1..].iter().all(|&w| w < 0.08), "{worst:?}");
        assert!(worst[20] <= worst[1] + 0.01, "{worst:?}");
    }

    #[test]
    fn a_burst_the_series_makes_again_and_again_is_not_an_anomaly() {
        // About 20 a window, with a burst to 200 every 40 windows: the first bursts are
        // anomalies; the tail climbs 0.3 with each, and after about a hundred of them they are
        // the series' nature. A burst well above them still is an anomaly.
        let mut rng = fastrand::Rng::with_seed(9);
        let mut m = RateModel::default();
        let p = ModelParams::default();
        let mut flagged = Vec::new();
        for i in 0..8000 {
            let value = if i % 40 == 39 {
                200.0
            } else {
                poisson(&mut rng, 20.0)
            };
            let at = start() + Duration::minutes(i);
            if m.observe(at, value, &p, 5.0, 5.0).anomalous {
                flagged.push(i);
            }
        }
        // The first ten bursts are news; of the last fifty, hardly any.
        assert!(flagged.starts_with(&[39, 79, 119, 159, 199, 239, 279, 319, 359, 399]));
        let late = flagged.iter().filter(|&&i| i >= 6000).count();
        assert!(late < 5, "{flagged:?}");
        let next = start() + Duration::minutes(8000);
        assert!(m.observe(next, 900.0, &p, 5.0, 5.0).anomalous);
    }

    fn run_level(values: &[f64]) -> Vec<Judgment> {
        let mut m = RateModel::default();
        let p = ModelParams::LEVEL;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| m.observe(start() + Duration::minutes(5 * i as i64), *v, &p, 5.0, 5.0))
            .collect()
    }

    /// A price near 0.3 with a daily rhythm and noise of about 2 %, from `seed`, with a jump to
    /// twice the price at row 700.
    fn price(seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..1000)
            .map(|i| {
                let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
                let v = 0.3 * (1.0 + 0.2 * phase.sin()) * (1.0 + 0.02 * (rng.f64() - 0.5) * 3.4);
                if (700..704).contains(&i) { 2.0 * v } else { v }
            })
            .collect()
    }

    #[test]
    fn a_level_is_judged_alike_at_any_scale() {
        // A price of 0.3 and the same series 256 times larger (an exact scaling in binary): the
        // same scores and the same anomalies, the jump among them.
        let small = run_level(&price(1));
        let large: Vec<f64> = price(1).iter().map(|v| v * 256.0).collect();
        let large = run_level(&large);
        for (i, (a, b)) in small.iter().zip(&large).enumerate() {
            assert_eq!(a.anomalous, b.anomalous, "row {i}: {a:?} {b:?}");
            assert!((a.score - b.score).abs() < 1e-6, "row {i}: {a:?} {b:?}");
        }
        assert!(small[700].anomalous, "{:?}", small[700]);
        let chance = small[..700].iter().filter(|j| j.anomalous).count();
        assert_eq!(chance, 0);
    }

    #[test]
    fn values_below_one_are_judged_as_levels_and_not_as_counts() {
        // As a count, a price of 0.3 is below the minimum expected count and never judged; as
        // a level it is.
        let values = price(2);
        assert!(run(&values).iter().all(|j| !j.judged && !j.anomalous));
        let level = run_level(&values);
        assert!(level[40..].iter().all(|j| j.judged));
        assert!(
            level[700].anomalous && level[700].score > 5.0,
            "{:?}",
            level[700]
        );
    }

    #[test]
    fn a_level_constant_for_a_while_is_alarmed_by_its_first_change_only() {
        // A CPU at exactly 2.0 for a while, then wobbling by 0.002 (0.1 %): a series that
        // never moved has no range, so its first move is news; once learned, the wobble is
        // not (the spread's floor, 3 % of the level, keeps it below the spreads' threshold
        // too). A step to 2.5 (25 %) is news again.
        let mut values = vec![2.0; 200];
        values.extend((0..200).map(|i| if i % 2 == 0 { 2.002 } else { 1.998 }));
        values.push(2.5);
        let judged = run_level(&values);
        assert!(judged[..200].iter().all(|j| !j.anomalous));
        assert!(judged[200].anomalous, "{:?}", judged[200]);
        assert!(judged[210..400].iter().all(|j| !j.anomalous));
        assert!(judged[400].anomalous, "{:?}", judged[400]);
    }

    #[test]
    fn the_same_input_gives_the_same_judgments() {
        let values: Vec<f64> = (0..200).map(|m| daily(m, 40.0).round()).collect();
        assert_eq!(run(&values), run(&values));
    }

    #[test]
    fn a_lasting_shift_too_small_for_any_one_window_is_found_by_the_slow_scale() {
        // 400 a minute, Poisson (a spread of 20), then 460 from the second day's minute 400 on:
        // three spreads up, not five in any one window, but it lasts. The slow scale starts
        // after the first day, once the rhythm is in use.
        let shift = 1440 + 400;
        let mut rng = fastrand::Rng::with_seed(21);
        let values: Vec<f64> = (0..shift + 120)
            .map(|i| poisson(&mut rng, if i < shift { 400.0 } else { 460.0 }))
            .collect();
        let judged = run(&values);
        assert!(judged[..shift].iter().all(|j| !j.anomalous));
        let first = judged[shift..].iter().position(|j| j.anomalous);
        let first = first.expect("the shift is found") + shift;
        assert!(first < shift + 20, "found at window {first}");
        let j = judged[first];
        // Reported with the slow scale's score, upwards, from inside the band.
        assert!(j.score >= 5.0 && values[first] < j.high, "{j:?}");
        // The first day's windows are judged by the fast scale alone.
        let mut day_one = RateModel::default();
        let p = ModelParams::default();
        for (i, v) in values[..1440].iter().enumerate() {
            day_one.observe(start() + Duration::minutes(i as i64), *v, &p, 5.0, 5.0);
        }
        assert_eq!(day_one.drift, Drift::default());
    }

    #[test]
    fn the_band_is_the_fast_thresholds_around_what_was_expected() {
        let judged = run(&[100.0; 40]);
        let j = judged[39];
        assert!(j.judged);
        // Steady at 100 with no variance: Poisson spread 10, so 50 to 150.
        assert!(
            (j.low - 50.0).abs() < 1e-6 && (j.high - 150.0).abs() < 1e-6,
            "{j:?}"
        );
    }

    #[test]
    fn a_state_saved_before_the_slow_scale_reads_back_with_it_empty() {
        // What a stack deployed with the first generation saved: the same model without `drift`.
        let mut m = RateModel::default();
        let p = ModelParams::default();
        for i in 0..100 {
            m.observe(
                start() + Duration::minutes(i),
                50.0 + (i % 7) as f64,
                &p,
                5.0,
                5.0,
            );
        }
        let mut old = serde_json::to_value(&m).unwrap();
        old.as_object_mut().unwrap().remove("drift");
        let read: RateModel = serde_json::from_value(old).unwrap();
        assert_eq!(read.drift, Drift::default());
        assert_eq!((read.seen, read.level, read.var), (m.seen, m.level, m.var));
    }
}
