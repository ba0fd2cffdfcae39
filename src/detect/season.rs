//! The daily and weekly rhythm of a series: how much of its level each moment of the day, each
//! day of the week and each hour of the week holds.
//!
//! Three sets of factors, each kept at a mean of one: 24 for the hours of the day, 7 for the
//! days of the week, and 168 hour-of-week corrections for what a product of the first two cannot
//! say (New York's taxis at 7:00 on a Saturday carry a quarter of a weekday's 7:00).
//!
//! - **Learned once per visit.** A slot learns when its hour (its day) is over, from the ratio
//!   of everything the series held during the visit to what the level and the other factors
//!   expected, with weight [`ModelParams::slot_rate`] (the first visits as a running mean, so a
//!   cold start learns a day's rhythm in a day). Learning from every window instead, as this
//!   model first did, weighs a slot by its last minutes only: with one-minute windows a slot
//!   forgot the earlier part of its hour within the hour, expectations drifted a little later
//!   each day, and after a week of clean traffic the site looked like it dropped at 6:00.
//! - **Interpolated.** A factor belongs to its slot's centre; between two centres the factor is
//!   the linear blend of both, so what is expected changes smoothly through the day instead of
//!   jumping at every full hour.
//! - **Used once learned**: hours after one day, weekdays after seven, the hour of the week
//!   after fourteen (each slot has then been visited twice).
//! - **Kept to single precision.** Factors are ratios near 1 learned with weight 0.2; seven
//!   significant digits are more than they carry. Rounded as they are learned (not only when
//!   stored), a state kept in memory and one read back from the shared store are the same, and
//!   the stored state is half as long (it must fit one 400 KB DynamoDB item).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::params::ModelParams;

const HOURS: usize = 24;
const WEEKDAYS: usize = 7;
const WEEK_HOURS: usize = HOURS * WEEKDAYS;
/// Days seen before each set of factors is used.
pub(crate) const HOURS_AFTER_DAYS: i64 = 1;
const WEEKDAYS_AFTER_DAYS: i64 = 7;
const WEEK_HOURS_AFTER_DAYS: i64 = 14;
/// 1970-01-01, day 0 of Unix time, was a Thursday: day 3 of a week from Monday.
const EPOCH_WEEKDAY: i64 = 3;

/// The series' seasonal factors for one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Factors {
    pub(crate) hour: f64,
    pub(crate) weekday: f64,
    pub(crate) week_hour: f64,
}

impl Factors {
    pub(crate) fn product(self) -> f64 {
        self.hour * self.weekday * self.week_hour
    }
}

/// A series' rhythm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Season {
    hours: Slots,
    weekdays: Slots,
    week_hours: Slots,
}

impl Default for Season {
    fn default() -> Self {
        Self {
            hours: Slots::new(HOURS),
            weekdays: Slots::new(WEEKDAYS),
            week_hours: Slots::new(WEEK_HOURS),
        }
    }
}

/// Where a moment falls: fractional positions for interpolation, and whole slots and visit keys
/// for learning.
struct Position {
    hour_of_day: f64,
    day_of_week: f64,
    /// Hours and days since the epoch: a visit lasts while its key stays the same.
    hour_key: i64,
    day_key: i64,
    hour: usize,
    weekday: usize,
}

fn position(at: DateTime<Utc>) -> Position {
    let t = at.timestamp() as f64 + f64::from(at.timestamp_subsec_nanos()) / 1e9;
    let day_key = at.timestamp().div_euclid(86_400);
    let second_of_day = at.timestamp().rem_euclid(86_400);
    let weekday = (day_key + EPOCH_WEEKDAY).rem_euclid(WEEKDAYS as i64);
    Position {
        hour_of_day: t.rem_euclid(86_400.0) / 3_600.0,
        day_of_week: (t / 86_400.0 + EPOCH_WEEKDAY as f64).rem_euclid(WEEKDAYS as f64),
        hour_key: at.timestamp().div_euclid(3_600),
        day_key,
        // Both in range by construction (rem_euclid of positive moduli).
        hour: usize::try_from(second_of_day / 3_600).unwrap_or(0),
        weekday: usize::try_from(weekday).unwrap_or(0),
    }
}

impl Season {
    /// The bytes its factors and visit counts hold on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        [&self.hours, &self.weekdays, &self.week_hours]
            .iter()
            .map(|s| {
                s.factors.capacity() * std::mem::size_of::<f64>()
                    + s.visits.capacity() * std::mem::size_of::<u32>()
            })
            .sum()
    }

    /// The factors at `at`, `days_seen` days after the series began (1 where not yet learned).
    pub(crate) fn factors(&self, at: DateTime<Utc>, days_seen: i64) -> Factors {
        let p = position(at);
        let when = |after: i64, slots: &Slots, pos: f64| {
            if days_seen >= after {
                slots.interpolate(pos)
            } else {
                1.0
            }
        };
        Factors {
            hour: when(HOURS_AFTER_DAYS, &self.hours, p.hour_of_day),
            weekday: when(WEEKDAYS_AFTER_DAYS, &self.weekdays, p.day_of_week),
            week_hour: when(
                WEEK_HOURS_AFTER_DAYS,
                &self.week_hours,
                p.day_of_week * HOURS as f64,
            ),
        }
    }

    /// Learns one window holding `value`, with the series' `level` (already updated) and the
    /// `factors` that were in use for it.
    pub(crate) fn learn(
        &mut self,
        at: DateTime<Utc>,
        value: f64,
        level: f64,
        factors: Factors,
        days_seen: i64,
        params: &ModelParams,
    ) {
        let p = position(at);
        let rate = params.slot_rate;
        let Factors {
            hour,
            weekday,
            week_hour,
        } = factors;
        // Hours learn from the first day on; the others once a day has shown the hours.
        let later = days_seen >= HOURS_AFTER_DAYS;
        self.hours.add(
            p.hour_key,
            p.hour,
            value,
            level * weekday * week_hour,
            rate,
            true,
        );
        self.weekdays.add(
            p.day_key,
            p.weekday,
            value,
            level * hour * week_hour,
            rate,
            later,
        );
        self.week_hours.add(
            p.hour_key,
            p.weekday * HOURS + p.hour,
            value,
            level * hour * weekday,
            rate,
            later,
        );
    }
}

/// One set of factors, and the visit under way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slots {
    /// A `Vec`, as serde takes no array longer than 32; a stored set of another length than
    /// `visits` reads as no rhythm. Single-precision values, stored as such.
    #[serde(serialize_with = "single_precision")]
    factors: Vec<f64>,
    visits: Vec<u32>,
    open: Option<Visit>,
}

/// What a slot's current visit has held so far, and what was expected of it without the slot's
/// own factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    key: i64,
    slot: usize,
    value: f64,
    base: f64,
}

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            factors: vec![1.0; n],
            visits: vec![0; n],
            open: None,
        }
    }

    /// The factor at fractional slot position `pos`, blended between the two nearest centres.
    fn interpolate(&self, pos: f64) -> f64 {
        let n = self.factors.len();
        if n == 0 || self.visits.len() != n {
            return 1.0;
        }
        let x = pos - 0.5;
        let below = x.floor();
        let weight = x - below;
        // `below` is a whole number within one slot of [0, n); rem_euclid brings it home.
        let i = (below as i64).rem_euclid(n as i64) as usize;
        let j = (i + 1) % n;
        (1.0 - weight) * self.factors[i] + weight * self.factors[j]
    }

    /// Adds one window to the visit `key` of `slot`; a new key first closes the visit before it,
    /// which learns only when `learning`.
    fn add(&mut self, key: i64, slot: usize, value: f64, base: f64, rate: f64, learning: bool) {
        if self.open.as_ref().is_none_or(|v| v.key != key) {
            if let Some(done) = self.open.take()
                && learning
            {
                self.close(&done, rate);
            }
            self.open = Some(Visit {
                key,
                slot,
                value: 0.0,
                base: 0.0,
            });
        }
        if let Some(visit) = &mut self.open {
            visit.value += value;
            visit.base += base;
        }
    }

    fn close(&mut self, visit: &Visit, rate: f64) {
        if visit.base <= 0.0 || self.visits.len() != self.factors.len() {
            return;
        }
        let (Some(visits), Some(factor)) = (
            self.visits.get_mut(visit.slot),
            self.factors.get_mut(visit.slot),
        ) else {
            return;
        };
        *visits = visits.saturating_add(1);
        let weight = rate.max(1.0 / f64::from(*visits));
        let ratio = (visit.value / visit.base).min(10.0);
        *factor += weight * (ratio - *factor);
        normalize(&mut self.factors);
        for f in &mut self.factors {
            *f = f64::from(*f as f32);
        }
    }
}

fn single_precision<S: serde::Serializer>(factors: &[f64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(factors.iter().map(|&f| f as f32))
}

fn normalize(factors: &mut [f64]) {
    let mean = factors.iter().sum::<f64>() / factors.len() as f64;
    if mean > 0.0 {
        for f in factors.iter_mut() {
            *f /= mean;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_calendar() {
        // 2026-11-28 is a Saturday.
        let at: DateTime<Utc> = "2026-11-28T07:30:00Z".parse().unwrap();
        let p = position(at);
        assert_eq!((p.hour, p.weekday), (7, 5));
        assert!((p.hour_of_day - 7.5).abs() < 1e-9);
        assert!((p.day_of_week - (5.0 + 7.5 / 24.0)).abs() < 1e-9);
    }

    #[test]
    fn factors_blend_between_slot_centres() {
        let mut s = Slots::new(4);
        s.factors = vec![1.0, 2.0, 3.0, 4.0];
        assert!((s.interpolate(1.5) - 2.0).abs() < 1e-12);
        assert!((s.interpolate(2.0) - 2.5).abs() < 1e-12);
        // Around the end of the cycle the last and first slots blend.
        assert!((s.interpolate(0.0) - 2.5).abs() < 1e-12);
        assert!((s.interpolate(3.9) - (0.6 * 4.0 + 0.4 * 1.0)).abs() < 1e-12);
    }

    #[test]
    fn a_slot_learns_once_per_visit_from_the_whole_visit() {
        let mut s = Slots::new(2);
        // One visit of slot 0 holding twice its base over three windows, then slot 1 at base.
        for _ in 0..3 {
            s.add(10, 0, 2.0, 1.0, 0.2, true);
        }
        assert_eq!(s.visits, [0, 0], "a visit under way has not learned");
        s.add(11, 1, 1.0, 1.0, 0.2, true);
        // The first visit counts fully: slot 0 became 2 before the set was brought to a mean
        // of one.
        assert_eq!(s.visits, [1, 0]);
        // Kept to single precision.
        assert!((s.factors[0] - 4.0 / 3.0).abs() < 1e-6, "{:?}", s.factors);
        // A visit closed while not learning is forgotten.
        s.add(12, 0, 5.0, 1.0, 0.2, false);
        assert_eq!(s.visits, [1, 0]);
    }
}
