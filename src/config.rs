//! The function's configuration, read once at cold start from the environment; a value that
//! is set but unusable is a cold-start error that names the variable.

use std::time::Duration;

use thiserror::Error;

/// Default quiet period between two alerts for the same source.
pub(crate) const DEFAULT_ALERT_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{name} must be a whole number of seconds, got {value:?}")]
    NotSeconds { name: &'static str, value: String },
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
        Ok(Self {
            drop_event_types,
            alert_topic_arn,
            alert_cooldown,
            processed_data_uri,
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
}
