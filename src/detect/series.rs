//! One series judged window by window: the [`RateModel`] scores a window and [`Episodes`] decides
//! whether that opens an episode to report.
//!
//! The Lambda's rate detector (`rates`) and the `detect` command both judge every series through
//! this one type, so "`detect` flags exactly what the Lambda would report" holds by construction
//! rather than by keeping two copies of the same few lines in step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::episode::{Episode, Episodes};
use super::model::{Judgment, RateModel};
use super::params::ModelParams;
use super::settings::DetectSettings;

/// A series' whole state: its model and its episodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesDetector {
    model: RateModel,
    episodes: Episodes,
}

/// What one window did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    pub(crate) judgment: Judgment,
    /// The window opened a new episode: the moment the Lambda reports it.
    pub(crate) opened: bool,
}

impl SeriesDetector {
    /// Judges the window `[start, end)` holding `value`, learns from it, and says whether it
    /// opened an episode.
    pub(crate) fn observe(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        value: f64,
        params: &ModelParams,
        settings: &DetectSettings,
    ) -> Step {
        let judgment = self.model.observe(
            start,
            value,
            params,
            settings.threshold,
            settings.min_expected,
        );
        let opened = self.episodes.step(start, end, value, &judgment);
        Step { judgment, opened }
    }

    /// The open episode, if any.
    pub(crate) fn current(&self) -> Option<&Episode> {
        self.episodes.current()
    }

    /// The bytes it holds in memory, inline and on the heap.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.model.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_step_opens_once_for_a_lasting_spike() {
        let t0: DateTime<Utc> = "2026-11-27T00:00:00Z".parse().unwrap();
        let settings = DetectSettings::default();
        let params = ModelParams::default();
        let mut s = SeriesDetector::default();
        let mut opened = Vec::new();
        for i in 0..60 {
            let value = if (40..44).contains(&i) { 400.0 } else { 100.0 };
            let start = t0 + Duration::minutes(i);
            let step = s.observe(
                start,
                start + Duration::minutes(1),
                value,
                &params,
                &settings,
            );
            if step.opened {
                opened.push(i);
            }
        }
        assert_eq!(opened, [40]);
        // Sixteen normal windows later the episode has closed.
        assert!(s.current().is_none());
    }
}
