//! One CloudWatch Embedded Metric Format line per invocation: CloudWatch Logs turns it into
//! metrics with no API call and no extra latency.
//!
//! Written by hand with serde_json: the EMF crates on crates.io either pull in a metrics
//! framework or are unmaintained, and the format is one small JSON object (see the test that
//! checks it against the specification's rules).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub(crate) const NAMESPACE: &str = "ClickStream";

/// The counts of one invocation.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct InvocationMetrics {
    pub records_ok: usize,
    pub records_processing_failed: usize,
    pub records_dropped: usize,
    pub anomalies: usize,
    /// Kinesis and KDA records that can never be read as an anomaly, acknowledged anyway.
    pub anomalies_unreadable: usize,
    pub alerts_published: usize,
    pub alerts_suppressed: usize,
    pub alerts_failed: usize,
    /// Valid records the producer flagged (`producer_flag`).
    pub producer_flags: usize,
    /// Users found clicking faster than a person can.
    pub user_bursts: usize,
    /// Rate episodes (site, page, distinct users) that opened.
    pub rate_episodes: usize,
    /// Clicks that came after their window was scored.
    pub late_clicks: usize,
    /// The site's clicks in the last window scored, and what was expected.
    pub site_clicks: Option<(f64, f64)>,
    /// Calls to the state store (the cost of sharing state; 0 when rates are off).
    pub state_store_calls: usize,
    /// Conditional saves of the rate state that lost to another container's.
    pub state_store_conflicts: usize,
    /// Invocations whose rate detection was skipped because the state store failed.
    pub state_store_errors: usize,
}

impl InvocationMetrics {
    fn values(&self) -> Vec<(&'static str, Value)> {
        let mut values: Vec<(&'static str, Value)> = [
            ("RecordsOk", self.records_ok),
            ("RecordsProcessingFailed", self.records_processing_failed),
            ("RecordsDropped", self.records_dropped),
            ("Anomalies", self.anomalies),
            ("AnomaliesUnreadable", self.anomalies_unreadable),
            ("AlertsPublished", self.alerts_published),
            ("AlertsSuppressed", self.alerts_suppressed),
            ("AlertsFailed", self.alerts_failed),
            ("ProducerFlags", self.producer_flags),
            ("UserBursts", self.user_bursts),
            ("RateEpisodes", self.rate_episodes),
            ("LateClicks", self.late_clicks),
            ("StateStoreCalls", self.state_store_calls),
            ("StateStoreConflicts", self.state_store_conflicts),
            ("StateStoreErrors", self.state_store_errors),
        ]
        .into_iter()
        .map(|(name, n)| (name, Value::from(n)))
        .collect();
        // Only when a window closed: a zero would read as a site that went silent.
        if let Some((clicks, expected)) = self.site_clicks {
            values.push(("SiteClicks", Value::from(clicks)));
            let expected = (expected * 100.0).round() / 100.0;
            values.push(("SiteClicksExpected", Value::from(expected)));
        }
        values
    }

    /// The EMF line, dimensioned by event source (`firehose`, `kinesis-stream`, ...).
    pub(crate) fn emf_line(&self, source: &str, at: DateTime<Utc>) -> String {
        let values = self.values();
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["EventSource"]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("EventSource".into(), Value::from(source));
        for (name, value) in values {
            root.insert(name.into(), value);
        }
        Value::Object(root).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's rules for a valid EMF document
    /// (CloudWatch "Embedded metric format specification").
    fn check_emf(line: &str) {
        assert!(!line.contains('\n'), "one line");
        let doc: Value = serde_json::from_str(line).unwrap();
        let aws = doc["_aws"].as_object().expect("_aws object");
        assert!(
            aws["Timestamp"].as_i64().is_some_and(|t| t > 0),
            "Timestamp: ms since epoch"
        );
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics array");
        assert!(!directives.is_empty());
        for d in directives {
            let ns = d["Namespace"].as_str().expect("Namespace string");
            assert!(!ns.is_empty() && ns.len() <= 1024);
            let dims = d["Dimensions"].as_array().expect("Dimensions array");
            for set in dims {
                let set = set.as_array().expect("dimension set array");
                assert!(set.len() <= 30);
                for key in set {
                    let key = key.as_str().expect("dimension key string");
                    assert!(
                        doc[key].is_string(),
                        "dimension {key} must be a string member"
                    );
                }
            }
            let metrics = d["Metrics"].as_array().expect("Metrics array");
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for m in metrics {
                let name = m["Name"].as_str().expect("metric Name");
                assert!(!name.is_empty() && name.len() <= 1024);
                assert!(
                    doc[name].is_number(),
                    "metric {name} must be a number member"
                );
                let unit = m["Unit"].as_str().unwrap_or("None");
                assert!(["Count", "None", "Milliseconds", "Bytes"].contains(&unit));
            }
        }
    }

    #[test]
    fn line_follows_the_specification_and_carries_the_counts() {
        let m = InvocationMetrics {
            records_ok: 8,
            records_processing_failed: 1,
            records_dropped: 2,
            anomalies: 3,
            anomalies_unreadable: 0,
            alerts_published: 1,
            alerts_suppressed: 0,
            alerts_failed: 0,
            ..InvocationMetrics::default()
        };
        let line = m.emf_line("firehose", "2026-11-27T10:00:00Z".parse().unwrap());
        check_emf(&line);
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_773_600_000_i64);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "ClickStream"
        );
        assert_eq!(doc["EventSource"], "firehose");
        assert_eq!(
            (doc["RecordsOk"].as_u64(), doc["RecordsDropped"].as_u64()),
            (Some(8), Some(2))
        );
        assert_eq!(doc["AlertsPublished"], 1);
    }
}
