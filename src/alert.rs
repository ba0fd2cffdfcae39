//! The alert: one SNS message per invocation, however many anomalies, readable by a person in
//! an e-mail and in one SMS segment.
//!
//! Everything here is bounded by construction (five examples, five top pages and users, every
//! value cut), so 50,000 anomalies with hostile text make the same-sized message as five.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::anomaly::Anomaly;
use crate::sanitize::{ascii_text, gsm_text, unicode_text};
use crate::timestamp::format_millis;

/// SMS length we write: one GSM-7 segment is 160; 140 leaves room for the sender prefix that
/// SNS and carriers add.
pub const SMS_MAX: usize = 140;
/// SNS `Subject` limit.
pub const SUBJECT_MAX: usize = 100;
/// Longest value taken from the data into the report.
const VALUE_MAX: usize = 120;
/// How many example anomalies, top pages and top users the report lists.
const LIST_MAX: usize = 5;

/// Where anomalies came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Firehose,
    KinesisAnalytics,
    KinesisStream,
    Direct,
}

impl SourceKind {
    /// The `source` message attribute and metric dimension.
    pub fn code(self) -> &'static str {
        match self {
            Self::Firehose => "firehose",
            Self::KinesisAnalytics => "kinesis-analytics",
            Self::KinesisStream => "kinesis-stream",
            Self::Direct => "direct",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Self::Firehose => "Firehose delivery stream",
            Self::KinesisAnalytics => "Kinesis Data Analytics application",
            Self::KinesisStream => "Kinesis data stream",
            Self::Direct => "direct invocation from",
        }
    }
}

/// One source of anomalies: its kind and name (an ARN or the caller's `source`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub kind: SourceKind,
    pub name: String,
    pub invocation_id: Option<String>,
}

impl Source {
    /// The last part of an ARN (`deliverystream/ClickStreamingFirehose` → `ClickStreamingFirehose`),
    /// or the name itself.
    pub fn short_name(&self) -> &str {
        self.name
            .rsplit(['/', ':'])
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.name)
    }
}

/// Alert severity, a message attribute for subscription filter policies (for example, SMS only
/// for `critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The documented rule: `critical` from 100 anomalies or a score of 5; `warning` from 10
    /// anomalies or a score of 3; `info` below.
    pub fn rate(count: usize, max_score: Option<f64>) -> Self {
        let score = max_score.unwrap_or(0.0);
        if count >= 100 || score >= 5.0 {
            Self::Critical
        } else if count >= 10 || score >= 3.0 {
            Self::Warning
        } else {
            Self::Info
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Anomalies folded into this alert from invocations the cooldown silenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    pub count: usize,
    pub since: DateTime<Utc>,
}

/// Where the anomalous records can be read, for Firehose batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLocation {
    /// `s3://bucket/weblogs/`, or `None` when the function was not told.
    pub processed_prefix: Option<String>,
    /// `dt=…/hour=…` partitions the anomalies fall in.
    pub partitions: Vec<String>,
}

/// A ready alert: the texts and attributes of one SNS `Publish`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub subject: String,
    pub sms: String,
    /// The report, used for `default` and `email`.
    pub report: String,
    pub severity: Severity,
    /// Anomalies reported, those carried over included.
    pub anomaly_count: usize,
    pub source: SourceKind,
}

#[derive(Serialize)]
struct MessageStructure<'a> {
    default: &'a str,
    email: &'a str,
    sms: &'a str,
}

impl Alert {
    /// The `Message` for `MessageStructure=json`: one text per protocol.
    pub fn message_json(&self) -> String {
        serde_json::to_string(&MessageStructure {
            default: &self.report,
            email: &self.report,
            sms: &self.sms,
        })
        .unwrap_or_default()
    }
}

/// Builds the alert for `anomalies` (never empty when called) from `source`.
pub fn compose(
    source: &Source,
    anomalies: &[Anomaly],
    carried: Option<Carried>,
    location: Option<&DataLocation>,
) -> Alert {
    let count = anomalies.len() + carried.map_or(0, |c| c.count);
    let max_score = anomalies
        .iter()
        .filter_map(|a| a.score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let severity = Severity::rate(count, max_score);
    let times: Vec<DateTime<Utc>> = anomalies
        .iter()
        .flat_map(|a| [a.window_start, a.window_end, a.detected_at])
        .flatten()
        .collect();
    let first = times.iter().min().copied();
    let last = times.iter().max().copied();
    let pages = top(anomalies.iter().filter_map(|a| a.page_url.as_deref()));
    let users = top(anomalies.iter().filter_map(|a| a.user_id.as_deref()));
    let short = source.short_name();
    let noun = if count == 1 { "anomaly" } else { "anomalies" };

    let subject = ascii_text(
        &format!(
            "ClickStream {}: {count} {noun} from {short}",
            severity.as_str().to_uppercase()
        ),
        SUBJECT_MAX,
    );

    let mut sms = format!(
        "ClickStream {}: {count} {noun} from {short}",
        severity.as_str().to_uppercase()
    );
    if let Some(last) = last {
        let _ = write!(sms, " at {}Z", last.format("%H:%M"));
    }
    if let Some((page, n)) = pages.first() {
        let _ = write!(sms, "; top page {} ({n})", gsm_text(page, 40));
    }
    if let Some(score) = max_score {
        let _ = write!(sms, "; max score {score:.2}");
    }
    if let Some(c) = carried {
        let _ = write!(
            sms,
            "; +{} more since {}Z",
            c.count,
            c.since.format("%H:%M")
        );
    }
    let sms = gsm_text(&sms, SMS_MAX);

    let mut r = String::new();
    let _ = writeln!(
        r,
        "ClickStream anomaly alert - severity {}",
        severity.as_str().to_uppercase()
    );
    let _ = writeln!(r);
    let _ = writeln!(r, "{count} {noun} reported.");
    if let Some(c) = carried {
        let _ = writeln!(
            r,
            "That includes +{} more since {} UTC, held back by the alert cooldown.",
            c.count,
            c.since.format("%H:%M")
        );
    }
    let _ = writeln!(r);
    let _ = writeln!(
        r,
        "Source: {} {}",
        source.kind.described(),
        unicode_text(&source.name, 300)
    );
    if let Some(id) = &source.invocation_id {
        let _ = writeln!(r, "Invocation: {}", unicode_text(id, VALUE_MAX));
    }
    match (first, last) {
        (Some(f), Some(l)) if f != l => {
            let _ = writeln!(r, "When: {} to {}", format_millis(&f), format_millis(&l));
        }
        (Some(f), _) => {
            let _ = writeln!(r, "When: {}", format_millis(&f));
        }
        _ => {
            let _ = writeln!(r, "When: not given by the source");
        }
    }
    if let Some(score) = max_score {
        let _ = writeln!(r, "Highest anomaly score: {score:.3}");
    }
    for (title, list) in [("Top pages", &pages), ("Top users", &users)] {
        if !list.is_empty() {
            let _ = writeln!(r);
            let _ = writeln!(r, "{title}:");
            for (name, n) in list {
                let _ = writeln!(r, "  {:<40} {n}", unicode_text(name, VALUE_MAX));
            }
        }
    }
    let _ = writeln!(r);
    let shown = anomalies.len().min(LIST_MAX);
    let _ = writeln!(r, "Examples ({shown} of {}):", anomalies.len());
    for (i, a) in anomalies.iter().take(LIST_MAX).enumerate() {
        let _ = writeln!(r, "  {}. {}", i + 1, describe(a));
    }
    if let Some(location) = location {
        let _ = writeln!(r);
        let prefix = location.processed_prefix.as_deref().unwrap_or("weblogs/");
        let _ = writeln!(
            r,
            "Data: the status=anomaly partition of the processed bucket:"
        );
        for partition in location.partitions.iter().take(LIST_MAX) {
            let _ = writeln!(
                r,
                "  {}status=anomaly/{partition}/",
                unicode_text(prefix, 300)
            );
        }
    }
    Alert {
        subject,
        sms,
        report: r,
        severity,
        anomaly_count: count,
        source: source.kind,
    }
}

/// One example line: time, metric with actual against expected, score, page, user, details.
fn describe(a: &Anomaly) -> String {
    let mut parts = Vec::new();
    if let Some(t) = a.time() {
        parts.push(format_millis(&t));
    }
    if let Some(w) = a.window_start.zip(a.window_end) {
        parts.push(format!(
            "window {} to {}",
            format_millis(&w.0),
            format_millis(&w.1)
        ));
    }
    match (&a.metric, a.value, a.expected) {
        (m, Some(v), Some(e)) => parts.push(format!("{} {v} (expected {e})", metric_name(m))),
        (m, Some(v), None) => parts.push(format!("{} {v}", metric_name(m))),
        (Some(m), None, _) => parts.push(unicode_text(m, VALUE_MAX)),
        _ => {}
    }
    if let Some(s) = a.score {
        parts.push(format!("score {s}"));
    }
    if let Some(p) = &a.page_url {
        parts.push(format!("page {}", unicode_text(p, VALUE_MAX)));
    }
    if let Some(u) = &a.user_id {
        parts.push(format!("user {}", unicode_text(u, VALUE_MAX)));
    }
    if let Some(d) = &a.details {
        parts.push(format!(
            "details {}",
            unicode_text(&serde_json::Value::Object(d.clone()).to_string(), VALUE_MAX)
        ));
    }
    parts.join(", ")
}

fn metric_name(m: &Option<String>) -> String {
    m.as_deref()
        .map_or_else(|| "value".to_owned(), |m| unicode_text(m, VALUE_MAX))
}

/// The most frequent values with their counts, most frequent first, ties by name.
fn top<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(LIST_MAX)
        .map(|(v, n)| (v.to_owned(), n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::is_gsm_basic;

    fn source() -> Source {
        Source {
            kind: SourceKind::Firehose,
            name: "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose"
                .into(),
            invocation_id: Some("inv-1".into()),
        }
    }

    fn click(page: &str, user: &str, at: &str) -> Anomaly {
        Anomaly {
            metric: Some("anomaly_detected".into()),
            page_url: Some(page.into()),
            user_id: Some(user.into()),
            detected_at: Some(at.parse().unwrap()),
            ..Anomaly::default()
        }
    }

    fn assert_limits(alert: &Alert) {
        assert!(
            !alert.subject.is_empty() && alert.subject.len() <= SUBJECT_MAX,
            "{}",
            alert.subject
        );
        assert!(
            alert.subject.chars().all(|c| (' '..='~').contains(&c)),
            "{}",
            alert.subject
        );
        assert!(alert.sms.chars().count() <= SMS_MAX, "{}", alert.sms);
        assert!(is_gsm_basic(&alert.sms), "{}", alert.sms);
        assert!(alert.message_json().len() < 256 * 1024);
        assert!(
            !alert.report.chars().any(|c| c.is_control() && c != '\n'),
            "{}",
            alert.report
        );
    }

    #[test]
    fn report_names_count_source_time_places_and_examples() {
        let anomalies = vec![
            click("/pagina-3", "42", "2026-11-27T10:00:01Z"),
            click("/pagina-3", "7", "2026-11-27T10:04:59.5Z"),
            click("/pagina-1", "42", "2026-11-27T10:02:00Z"),
        ];
        let location = DataLocation {
            processed_prefix: Some("s3://processed/weblogs/".into()),
            partitions: vec!["dt=2026-11-27/hour=10".into()],
        };
        let alert = compose(&source(), &anomalies, None, Some(&location));
        assert_limits(&alert);
        assert_eq!(
            alert.subject,
            "ClickStream INFO: 3 anomalies from ClickStreamingFirehose"
        );
        assert_eq!(
            alert.sms,
            "ClickStream INFO: 3 anomalies from ClickStreamingFirehose at 10:04Z; top page /pagina-3 (2)"
        );
        for needle in [
            "3 anomalies reported.",
            "Firehose delivery stream arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose",
            "Invocation: inv-1",
            "When: 2026-11-27T10:00:01.000Z to 2026-11-27T10:04:59.500Z",
            "Top pages:",
            "/pagina-3                                2",
            "Top users:",
            "Examples (3 of 3):",
            "page /pagina-1, user 42",
            "s3://processed/weblogs/status=anomaly/dt=2026-11-27/hour=10/",
        ] {
            assert!(
                alert.report.contains(needle),
                "{needle:?} not in\n{}",
                alert.report
            );
        }
        let message: serde_json::Value = serde_json::from_str(&alert.message_json()).unwrap();
        assert_eq!(message["default"], message["email"]);
        assert_eq!(message["sms"], alert.sms.as_str());
    }

    #[test]
    fn actual_against_expected_and_scores() {
        let a = Anomaly {
            metric: Some("ctr_percent".into()),
            value: Some(42.5),
            expected: Some(10.0),
            score: Some(3.4),
            ..Anomaly::default()
        };
        let src = Source {
            kind: SourceKind::KinesisAnalytics,
            name: "arn:aws:kinesisanalytics:us-east-1:1:application/ctr".into(),
            invocation_id: None,
        };
        let alert = compose(&src, &[a], None, None);
        assert_limits(&alert);
        assert_eq!(alert.severity, Severity::Warning);
        assert!(
            alert
                .report
                .contains("ctr_percent 42.5 (expected 10), score 3.4"),
            "{}",
            alert.report
        );
        assert!(alert.report.contains("Highest anomaly score: 3.400"));
        assert!(alert.sms.contains("max score 3.40"));
        assert!(alert.report.contains("When: not given by the source"));
    }

    #[test]
    fn carried_anomalies_are_counted_and_said() {
        let carried = Carried {
            count: 12,
            since: "2026-11-27T09:58:00Z".parse().unwrap(),
        };
        let alert = compose(
            &source(),
            &[click("/p", "1", "2026-11-27T10:00:00Z")],
            Some(carried),
            None,
        );
        assert_eq!(alert.anomaly_count, 13);
        assert_eq!(alert.severity, Severity::Warning);
        assert!(
            alert.sms.ends_with("; +12 more since 09:58Z"),
            "{}",
            alert.sms
        );
        assert!(alert.report.contains("+12 more since 09:58 UTC"));
    }

    #[test]
    fn severity_rule() {
        let cases = [
            (1, None, Severity::Info),
            (9, Some(2.99), Severity::Info),
            (10, None, Severity::Warning),
            (1, Some(3.0), Severity::Warning),
            (99, Some(4.9), Severity::Warning),
            (100, None, Severity::Critical),
            (1, Some(5.0), Severity::Critical),
        ];
        for (count, score, want) in cases {
            assert_eq!(Severity::rate(count, score), want, "{count} {score:?}");
        }
    }

    #[test]
    fn fifty_thousand_hostile_anomalies_make_one_bounded_message() {
        let hostile = format!(
            "/{}\u{0}\r\n{{}}[]\\^~|`€😀\u{202E}{}",
            "x".repeat(5000),
            "\n".repeat(100)
        );
        let anomalies: Vec<Anomaly> = (0..50_000)
            .map(|i| Anomaly {
                metric: Some(hostile.clone()),
                value: Some(f64::from(i)),
                score: Some(1.0),
                page_url: Some(format!("{hostile}{}", i % 7)),
                user_id: Some(hostile.clone()),
                details: serde_json::json!({"note": hostile}).as_object().cloned(),
                ..Anomaly::default()
            })
            .collect();
        let src = Source {
            kind: SourceKind::Direct,
            name: hostile.clone(),
            invocation_id: Some(hostile.clone()),
        };
        let alert = compose(&src, &anomalies, None, None);
        assert_limits(&alert);
        assert_eq!(alert.anomaly_count, 50_000);
        assert_eq!(alert.severity, Severity::Critical);
        assert!(
            alert.message_json().len() < 16 * 1024,
            "{}",
            alert.message_json().len()
        );
        assert!(alert.report.contains("Examples (5 of 50000)"));
    }
}
