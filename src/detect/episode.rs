//! Episodes: an anomaly that lasts several windows is one episode, reported once, with its
//! extent, not one finding per window.
//!
//! An episode opens on an anomalous window, grows while windows stay anomalous in the same
//! direction, and closes after [`QUIET_TO_CLOSE`] normal windows in a row (so a change that
//! hovers around the threshold is not reported again and again) or when the direction flips.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Judgment;

/// Normal windows in a row that close an episode.
pub(crate) const QUIET_TO_CLOSE: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Direction {
    Spike,
    Drop,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Drop => "drop",
        }
    }
}

/// One episode: its extent and the window that opened it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Episode {
    pub(crate) direction: Direction,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// The opening window's value, expected value and score.
    pub(crate) value: f64,
    pub(crate) expected: f64,
    pub(crate) score: f64,
    /// The largest |score| of any window so far.
    pub(crate) peak: f64,
    pub(crate) windows: u32,
}

/// The episode state of one series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Episodes {
    open: Option<Episode>,
    quiet: u32,
}

impl Episodes {
    /// Takes one judged window `[start, end)`; returns true when it opened a new episode.
    pub(crate) fn step(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        value: f64,
        judgment: &Judgment,
    ) -> bool {
        if !judgment.anomalous {
            if self.open.is_some() {
                self.quiet += 1;
                if self.quiet >= QUIET_TO_CLOSE {
                    self.open = None;
                    self.quiet = 0;
                }
            }
            return false;
        }
        let direction = if judgment.score > 0.0 {
            Direction::Spike
        } else {
            Direction::Drop
        };
        self.quiet = 0;
        if let Some(open) = &mut self.open
            && open.direction == direction
        {
            open.end = end;
            open.windows += 1;
            open.peak = open.peak.max(judgment.score.abs());
            return false;
        }
        self.open = Some(Episode {
            direction,
            start,
            end,
            value,
            expected: judgment.expected,
            score: judgment.score,
            peak: judgment.score.abs(),
            windows: 1,
        });
        true
    }

    /// The open episode, if any.
    pub(crate) fn current(&self) -> Option<&Episode> {
        self.open.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn judged(score: f64) -> Judgment {
        Judgment {
            expected: 10.0,
            spread: 1.0,
            score,
            low: 5.0,
            high: 15.0,
            judged: true,
            anomalous: score.abs() >= 5.0,
        }
    }

    #[test]
    fn a_run_of_anomalous_windows_is_one_episode_with_its_extent() {
        let t0: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let w = |i: i64| (t0 + Duration::minutes(i), t0 + Duration::minutes(i + 1));
        let scores = [0.0, 8.0, 9.0, 2.0, 7.0, 0.0, 0.0, 0.0, 6.0, -7.0];
        let mut e = Episodes::default();
        let mut opened = Vec::new();
        for (i, s) in scores.iter().enumerate() {
            let (start, end) = w(i as i64);
            if e.step(start, end, 30.0, &judged(*s)) {
                opened.push(i);
            }
            if i == 4 {
                let open = e.current().unwrap();
                assert_eq!((open.start, open.end, open.windows), (w(1).0, w(4).1, 3));
                assert_eq!(open.peak, 9.0);
            }
        }
        // One spike from window 1 to 4 (a normal window inside does not split it), closed by
        // three normal windows; a new spike at 8; the flip to a drop at 9 is a new episode.
        assert_eq!(opened, [1, 8, 9]);
        assert_eq!(e.current().unwrap().direction, Direction::Drop);
    }

    #[test]
    fn unjudged_windows_never_open_one() {
        let mut e = Episodes::default();
        let t: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let j = Judgment {
            judged: false,
            anomalous: false,
            ..judged(50.0)
        };
        assert!(!e.step(t, t, 1.0, &j));
        assert!(e.current().is_none());
    }
}
