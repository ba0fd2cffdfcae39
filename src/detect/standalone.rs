//! One series' detector, for code outside the crate: the detector benchmark
//! (`benches/detector.rs`) measures the cost of the very [`SeriesDetector`] the Lambda and
//! `detect` run, at the defaults, without the rest of the crate being public.

use chrono::{DateTime, Duration, Utc};

use super::params::ModelParams;
use super::series::SeriesDetector;
use super::settings::DetectSettings;

/// A series judged window by window at the default settings.
#[derive(Debug, Clone, Default)]
pub struct StandaloneSeries {
    series: SeriesDetector,
    settings: DetectSettings,
}

impl StandaloneSeries {
    /// Judges the window of `width` starting at `start` holding `value`, learns from it, and
    /// says whether it opened an episode (what the Lambda reports).
    pub fn observe(&mut self, start: DateTime<Utc>, width: Duration, value: f64) -> bool {
        self.series
            .observe(
                start,
                start + width,
                value,
                &ModelParams::DEFAULT,
                &self.settings,
            )
            .opened
    }

    /// The series' state as the shared store keeps it (JSON), in bytes.
    pub fn stored_bytes(&self) -> usize {
        serde_json::to_vec(&self.series).map_or(0, |v| v.len())
    }

    /// The bytes the series holds in memory: it owns no heap but its seasonal factors.
    pub fn memory_bytes(&self) -> usize {
        self.series.memory_bytes()
    }
}
