//! What the detectors found, as anomalies of the documented schema, so that they flow into the
//! one-alert-per-invocation path like any detector's output.
//!
//! The `metric` vocabulary: `producer_flag` (a record the producer flagged), `user_burst` (with
//! `user_id`), `click_rate` (site-wide without `page_url`, per page with it) and
//! `distinct_users`. Every finding has `value`, `expected`, `score`, `window_start`,
//! `window_end`, `detected_at`; `details` says the direction and the ratio in words a script can
//! read.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::burst::Burst;
use super::page::OTHER_PAGES;
use super::rates::{RateFinding, SeriesKey};
use super::settings::DetectSettings;
use crate::alert::anomaly::Anomaly;
use crate::transform::ValidClick;

/// A click the producer flagged, from the record `record_id`.
pub(crate) fn producer_flag(click: ValidClick<'_>, record_id: &str) -> Anomaly {
    Anomaly {
        metric: Some("producer_flag".into()),
        page_url: Some(click.page_url().to_owned()),
        user_id: Some(click.user_id().to_owned()),
        detected_at: Some(click.event_time),
        details: serde_json::value::to_raw_value(&json!({"record_id": record_id})).ok(),
        ..Anomaly::default()
    }
}

/// A user's burst. The score is 3 at the threshold's rate and grows with the rate, so a bot at
/// twice the threshold is critical.
pub(crate) fn user_burst(burst: &Burst, settings: &DetectSettings, now: DateTime<Utc>) -> Anomaly {
    let span = settings.burst_span.as_secs_f64().max(1.0);
    let seconds = ((burst.end - burst.start).num_milliseconds() as f64 / 1000.0).max(span);
    let allowed = settings.burst_min_clicks as f64 / span * seconds;
    let rate = burst.clicks as f64 / seconds;
    Anomaly {
        metric: Some("user_burst".into()),
        value: Some(burst.clicks as f64),
        expected: Some(allowed.floor()),
        score: Some(3.0 * burst.clicks as f64 / allowed),
        user_id: Some(burst.user.clone()),
        window_start: Some(burst.start),
        window_end: Some(burst.end),
        detected_at: Some(now),
        details: serde_json::value::to_raw_value(&json!({
            "seconds": round2(seconds),
            "clicks_per_second": round2(rate),
        }))
        .ok(),
        ..Anomaly::default()
    }
}

/// An episode of a rate series, reported once, when it opens, with its extent so far.
pub(crate) fn rate(
    finding: &RateFinding,
    settings: &DetectSettings,
    now: DateTime<Utc>,
) -> Anomaly {
    let e = &finding.episode;
    let (metric, page) = match &finding.series {
        SeriesKey::Site => ("click_rate", None),
        SeriesKey::DistinctUsers => ("distinct_users", None),
        SeriesKey::Page(p) => ("click_rate", Some(p.clone())),
    };
    let ratio = if e.expected > 0.0 {
        Some(round2(e.value / e.expected))
    } else {
        None
    };
    Anomaly {
        metric: Some(metric.into()),
        value: Some(e.value),
        expected: Some(round2(e.expected)),
        score: Some(round2(e.peak)),
        page_url: page,
        window_start: Some(e.start),
        window_end: Some(e.end),
        detected_at: Some(now),
        details: serde_json::value::to_raw_value(&json!({
            "direction": e.direction.as_str(),
            "ratio": ratio,
            "window_seconds": settings.window.as_secs(),
            "windows": e.windows,
            "pooled": finding.series == SeriesKey::Page(OTHER_PAGES.into()),
        }))
        .ok(),
        ..Anomaly::default()
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
