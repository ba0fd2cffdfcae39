//! The function's configuration, read once at cold start from the environment; a value that
//! is set but unusable is a cold-start error that names the variable.

use std::time::Duration;

use thiserror::Error;

use crate::detect::settings::{DetectSettings, TRACKED_PAGES_SHARED_MAX};

/// Default quiet period between two alerts for the same source.
pub(crate) const DEFAULT_ALERT_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `DROP_EVENT_TYPES`: `event_type` values answered `Dropped`, comma separated.
    pub drop_event_types: Vec<String>,
    /// `ALERT_TOPIC_ARN`: where alerts go; required in Lambda mode, optional for `invoke`.
    pub alert_topic_arn: Option<String>,
    /// `ALERT_COOLDOWN_SECONDS`: zero turns storm control off.
    pub alert_cooldown: Duration,
    /// `PROCESSED_DATA_URI`: where the processed records land (`s3://bucket/weblogs/`), named in
    /// alerts; optional.
    pub processed_data_uri: Option<String>,
    /// `STATE_TABLE`: the DynamoDB table every container shares the rate state through;
    /// unset, each container keeps its own in memory.
    pub state_table: Option<String>,
    /// The detectors (`DETECT_*`, `BURST_*`, `RATE_*`).
    pub(crate) detect: DetectSettings,
}

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    #[error("{name} must be a whole number of seconds, got {value:?}")]
    NotSeconds { name: &'static str, value: String },
    #[error("{name} must be true or false (or 1 or 0, on or off), got {value:?}")]
    NotBool { name: &'static str, value: String },
    #[error("{name} must be a number from {min} to {max}, got {value:?}")]
    OutOfRange {
        name: &'static str,
        value: String,
        min: f64,
        max: f64,
    },
    #[error(
        "RATE_TRACKED_PAGES is {value}, but with STATE_TABLE at most {max} pages can be tracked: \
         the shared state is one DynamoDB item of at most 400 KB"
    )]
    TooManyTrackedPagesShared { value: usize, max: usize },
}

/// A set, non-blank variable, trimmed.
fn set(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn flag(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(value) = set(lookup, name) else {
        return Ok(default);
    };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::NotBool { name, value }),
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    (min, max): (f64, f64),
) -> Result<f64, ConfigError> {
    let Some(value) = set(lookup, name) else {
        return Ok(default);
    };
    match value.parse::<f64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        }),
    }
}

/// A whole number in range.
fn count(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    (min, max): (u64, u64),
) -> Result<u64, ConfigError> {
    let n = number(lookup, name, default as f64, (min as f64, max as f64))?;
    if n.fract() != 0.0 {
        return Err(ConfigError::OutOfRange {
            name,
            value: n.to_string(),
            min: min as f64,
            max: max as f64,
        });
    }
    Ok(n as u64)
}

/// The detectors' settings from the process environment, as Lambda mode reads them: what
/// `detect` judges a CSV series with, so that an operator tries a `RATE_*` setting on their own
/// traffic exactly as the function would apply it.
pub(crate) fn detect_settings_from_env() -> Result<DetectSettings, ConfigError> {
    detect_settings(&|name: &str| std::env::var(name).ok())
}

/// The detectors' settings from the environment.
fn detect_settings(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<DetectSettings, ConfigError> {
    let d = DetectSettings::default();
    let secs = |name, default: Duration, range| {
        count(lookup, name, default.as_secs(), range).map(Duration::from_secs)
    };
    Ok(DetectSettings {
        producer_flag: flag(lookup, "DETECT_PRODUCER_FLAG", d.producer_flag)?,
        user_bursts: flag(lookup, "DETECT_USER_BURSTS", d.user_bursts)?,
        burst_min_clicks: count(
            lookup,
            "BURST_MIN_CLICKS",
            d.burst_min_clicks as u64,
            (2, 100_000),
        )? as usize,
        burst_span: secs("BURST_SECONDS", d.burst_span, (1, 3600))?,
        rates: flag(lookup, "DETECT_RATES", d.rates)?,
        window: secs("RATE_WINDOW_SECONDS", d.window, (10, 3600))?,
        lateness: secs("RATE_LATENESS_SECONDS", d.lateness, (0, 3600))?,
        threshold: number(lookup, "RATE_THRESHOLD", d.threshold, (1.0, 100.0))?,
        min_expected: number(lookup, "RATE_MIN_EXPECTED", d.min_expected, (0.0, 1e9))?,
        tracked_pages: count(
            lookup,
            "RATE_TRACKED_PAGES",
            d.tracked_pages as u64,
            (1, 1000),
        )? as usize,
    })
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let drop_event_types = lookup("DROP_EVENT_TYPES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let alert_topic_arn = lookup("ALERT_TOPIC_ARN")
            .map(|arn| arn.trim().to_owned())
            .filter(|arn| !arn.is_empty());
        let alert_cooldown = match lookup("ALERT_COOLDOWN_SECONDS") {
            None => DEFAULT_ALERT_COOLDOWN,
            Some(text) if text.trim().is_empty() => DEFAULT_ALERT_COOLDOWN,
            Some(text) => text.trim().parse().map(Duration::from_secs).map_err(|_| {
                ConfigError::NotSeconds {
                    name: "ALERT_COOLDOWN_SECONDS",
                    value: text.clone(),
                }
            })?,
        };
        let processed_data_uri = lookup("PROCESSED_DATA_URI")
            .map(|uri| uri.trim().to_owned())
            .filter(|uri| !uri.is_empty())
            .map(|uri| {
                if uri.ends_with('/') {
                    uri
                } else {
                    format!("{uri}/")
                }
            });
        let state_table = set(&lookup, "STATE_TABLE");
        let detect = detect_settings(&lookup)?;
        if state_table.is_some() && detect.tracked_pages > TRACKED_PAGES_SHARED_MAX {
            return Err(ConfigError::TooManyTrackedPagesShared {
                value: detect.tracked_pages,
                max: TRACKED_PAGES_SHARED_MAX,
            });
        }
        Ok(Self {
            drop_event_types,
            alert_topic_arn,
            alert_cooldown,
            processed_data_uri,
            state_table,
            detect,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert!(c.drop_event_types.is_empty());
        assert_eq!(c.alert_topic_arn, None);
        assert_eq!(c.alert_cooldown, Duration::from_secs(300));
        assert_eq!(c.processed_data_uri, None);
        let c = config(&[("PROCESSED_DATA_URI", "s3://b/weblogs")]).unwrap();
        assert_eq!(c.processed_data_uri.as_deref(), Some("s3://b/weblogs/"));
    }

    /// Variables set, then the drop list, topic and cooldown seconds they give.
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<&'a str>, Option<&'a str>, u64);

    #[test]
    fn values() {
        let cases: &[Case<'_>] = &[
            (&[("DROP_EVENT_TYPES", "")], vec![], None, 300),
            (&[("DROP_EVENT_TYPES", "scroll")], vec!["scroll"], None, 300),
            (
                &[("DROP_EVENT_TYPES", " scroll , hover,,")],
                vec!["scroll", "hover"],
                None,
                300,
            ),
            (
                &[("ALERT_TOPIC_ARN", " arn:aws:sns:us-east-1:1:T ")],
                vec![],
                Some("arn:aws:sns:us-east-1:1:T"),
                300,
            ),
            (&[("ALERT_TOPIC_ARN", "")], vec![], None, 300),
            (&[("ALERT_COOLDOWN_SECONDS", "0")], vec![], None, 0),
            (&[("ALERT_COOLDOWN_SECONDS", " 60 ")], vec![], None, 60),
        ];
        for (vars, drops, topic, cooldown) in cases {
            let c = config(vars).unwrap();
            assert_eq!(c.drop_event_types, *drops, "{vars:?}");
            assert_eq!(c.alert_topic_arn.as_deref(), *topic, "{vars:?}");
            assert_eq!(c.alert_cooldown, Duration::from_secs(*cooldown), "{vars:?}");
        }
    }

    #[test]
    fn unusable_cooldown_is_an_error_that_names_the_variable() {
        for bad in ["-1", "5m", "1.5"] {
            let err = config(&[("ALERT_COOLDOWN_SECONDS", bad)]).unwrap_err();
            assert!(err.to_string().contains("ALERT_COOLDOWN_SECONDS"), "{err}");
        }
    }

    #[test]
    fn detector_settings_default_and_are_checked() {
        let c = config(&[]).unwrap();
        assert_eq!(c.detect, DetectSettings::default());
        let c = config(&[
            ("DETECT_RATES", "off"),
            ("DETECT_USER_BURSTS", "0"),
            ("BURST_MIN_CLICKS", "30"),
            ("BURST_SECONDS", "5"),
            ("RATE_WINDOW_SECONDS", "300"),
            ("RATE_THRESHOLD", "4.5"),
            ("RATE_TRACKED_PAGES", "200"),
        ])
        .unwrap();
        assert!(!c.detect.rates && !c.detect.user_bursts && c.detect.producer_flag);
        assert_eq!(c.detect.burst_min_clicks, 30);
        assert_eq!(c.detect.burst_span, Duration::from_secs(5));
        assert_eq!(c.detect.window, Duration::from_secs(300));
        assert_eq!(c.detect.threshold, 4.5);
        assert_eq!(c.detect.tracked_pages, 200);
        for (name, bad) in [
            ("DETECT_RATES", "maybe"),
            ("BURST_MIN_CLICKS", "1"),
            ("BURST_MIN_CLICKS", "2.5"),
            ("RATE_WINDOW_SECONDS", "5"),
            ("RATE_THRESHOLD", "NaN"),
            ("RATE_TRACKED_PAGES", "0"),
        ] {
            let err = config(&[(name, bad)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
    }

    #[test]
    fn a_shared_state_bounds_the_tracked_pages() {
        let many = config(&[("RATE_TRACKED_PAGES", "500")]);
        assert_eq!(many.map(|c| c.detect.tracked_pages).ok(), Some(500));
        let shared = config(&[("RATE_TRACKED_PAGES", "500"), ("STATE_TABLE", "t")]);
        let message = shared.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("at most 100 pages"), "{message}");
        let fits = config(&[("RATE_TRACKED_PAGES", "100"), ("STATE_TABLE", "t")]);
        assert!(fits.is_ok());
    }
}
