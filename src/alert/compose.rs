//! The alert: one SNS message per invocation, however many anomalies, readable by a person in
//! an e-mail and in one SMS segment.
//!
//! Everything here is bounded by construction (five examples, five top pages and users, every
//! value cut, every number rounded), so 50,000 anomalies with hostile text make the same-sized
//! message as five.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::anomaly::Anomaly;
use super::cooldown::Carried;
use super::digest::{Digest, LIST_MAX};
use super::sanitize::{ascii_text, gsm_text, number, unicode_text};
use super::severity::{Severity, max_score};
use super::source::{Source, SourceKind};
use super::words::{self, Style};
use crate::transform::timestamp::format_millis;

/// SMS length we write: one GSM-7 segment is 160; 140 leaves room for the sender prefix that
/// SNS and carriers add.
pub(crate) const SMS_MAX: usize = 140;
/// SNS `Subject` limit.
pub(crate) const SUBJECT_MAX: usize = 100;
/// Longest value taken from the data into the report.
const VALUE_MAX: usize = 120;

/// Where the anomalous records can be read, for Firehose batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataLocation {
    /// `s3://bucket/weblogs/`, or `None` when the function was not told.
    pub(crate) processed_prefix: Option<String>,
    /// `dt=…/hour=…` partitions the anomalies fall in.
    pub(crate) partitions: Vec<String>,
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
    /// The invocation's clock when the alert was made.
    pub at: DateTime<Utc>,
    /// Every anomaly of this invocation, only when the handler keeps them (`replay`).
    pub anomalies: Vec<Anomaly>,
}

#[derive(serde::Serialize)]
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

/// What the texts are made of, worked out once.
struct Facts<'a> {
    source: &'a Source,
    digest: &'a Digest,
    carried: Option<Carried>,
    count: usize,
    max_score: Option<f64>,
    severity: Severity,
}

impl Facts<'_> {
    /// The detectors' findings: this invocation's, highest score first, then those held back.
    fn findings(&self) -> impl Iterator<Item = (&Anomaly, bool)> {
        let held = self.carried.iter().flat_map(|c| c.findings.iter());
        self.digest
            .findings()
            .iter()
            .map(|f| (f, false))
            .chain(held.map(|f| (f, true)))
    }

    /// The first finding in words, when a detector found something.
    fn words(&self) -> Option<String> {
        self.findings()
            .find_map(|(f, _)| words::sentence(f, Style::Ascii))
    }

    /// What happened in words when a detector found it, else how many anomalies from where.
    fn headline(&self) -> String {
        let severity = self.severity.as_str().to_uppercase();
        if let Some(words) = self.words() {
            return format!("ClickStream {severity}: {words}");
        }
        let noun = if self.count == 1 {
            "anomaly"
        } else {
            "anomalies"
        };
        format!(
            "ClickStream {severity}: {} {noun} from {}",
            self.count,
            self.source.short_name()
        )
    }

    fn worded(&self) -> bool {
        self.words().is_some()
    }
}

/// Builds the alert for a non-empty `digest` from `source`, at `severity` (which storm control
/// decided, and which is never lower than what the anomalies rate).
pub(crate) fn compose(
    source: &Source,
    digest: Digest,
    carried: Option<Carried>,
    severity: Severity,
    location: Option<&DataLocation>,
    at: DateTime<Utc>,
) -> Alert {
    let count = digest.count() + carried.as_ref().map_or(0, |c| c.count);
    let max_score = max_score(
        digest.max_score(),
        carried.as_ref().and_then(|c| c.max_score),
    );
    let held: Vec<Anomaly> = carried
        .as_ref()
        .map(|c| c.findings.clone())
        .unwrap_or_default();
    let facts = Facts {
        source,
        digest: &digest,
        carried,
        count,
        max_score,
        severity: severity.max(Severity::rate(count, max_score)),
    };
    let subject = ascii_text(&facts.headline(), SUBJECT_MAX);
    let sms = sms(&facts);
    let report = report(&facts, location);
    let severity = facts.severity;
    Alert {
        subject,
        sms,
        report,
        severity,
        anomaly_count: count,
        source: source.kind,
        at,
        anomalies: if digest.keeps_all() {
            let mut all = digest.into_all();
            all.extend(held);
            all
        } else {
            Vec::new()
        },
    }
}

/// One GSM-7 segment: what happened in words when a detector found it; else how many, when,
/// where, how bad.
fn sms(f: &Facts<'_>) -> String {
    let mut sms = f.headline();
    if f.worded() {
        let others = f.count - 1;
        if others > 0 {
            let noun = if others == 1 { "anomaly" } else { "anomalies" };
            let _ = write!(sms, "; +{others} other {noun}");
        }
        return gsm_text(&sms, SMS_MAX);
    }
    if let (_, Some(last)) = f.digest.span() {
        let _ = write!(sms, " at {}Z", last.format("%H:%M"));
    }
    if let Some((page, n)) = f.digest.top_pages().first() {
        let _ = write!(sms, "; top page {} ({n})", gsm_text(page, 40));
    }
    if let Some(score) = f.max_score {
        let _ = write!(sms, "; max score {}", number(score));
    }
    if let Some(c) = &f.carried {
        let _ = write!(
            sms,
            "; +{} more since {}Z",
            c.count,
            c.since.format("%H:%M")
        );
    }
    gsm_text(&sms, SMS_MAX)
}

/// The e-mail: summary, source, time, tops, examples, where the data is.
fn report(f: &Facts<'_>, location: Option<&DataLocation>) -> String {
    let mut r = String::new();
    summary(&mut r, f);
    tops(&mut r, f.digest);
    examples(&mut r, f.digest);
    if let Some(location) = location {
        data_location(&mut r, location);
    }
    r
}

fn summary(r: &mut String, f: &Facts<'_>) {
    let noun = if f.count == 1 { "anomaly" } else { "anomalies" };
    let _ = writeln!(
        r,
        "ClickStream anomaly alert - severity {}",
        f.severity.as_str().to_uppercase()
    );
    let _ = writeln!(r);
    let _ = writeln!(r, "{} {noun} reported.", f.count);
    let sentences: Vec<String> = f
        .findings()
        .filter_map(|(a, held)| {
            let sentence = words::sentence(a, Style::Unicode)?;
            Some(if held {
                format!("{sentence} (held back by the cooldown)")
            } else {
                sentence
            })
        })
        .collect();
    if !sentences.is_empty() {
        let _ = writeln!(r);
        let _ = writeln!(r, "What happened:");
        for sentence in sentences {
            let _ = writeln!(r, "  - {sentence}");
        }
    }
    if let Some(c) = &f.carried {
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
        f.source.kind.described(),
        unicode_text(&f.source.name, 300)
    );
    if let Some(id) = &f.source.invocation_id {
        let _ = writeln!(r, "Invocation: {}", unicode_text(id, VALUE_MAX));
    }
    match f.digest.span() {
        (Some(first), Some(last)) if first != last => {
            let _ = writeln!(
                r,
                "When: {} to {}",
                format_millis(&first),
                format_millis(&last)
            );
        }
        (Some(first), _) => {
            let _ = writeln!(r, "When: {}", format_millis(&first));
        }
        _ => {
            let _ = writeln!(r, "When: not given by the source");
        }
    }
    if let Some(score) = f.max_score {
        let _ = writeln!(r, "Highest anomaly score: {}", number(score));
    }
}

fn tops(r: &mut String, digest: &Digest) {
    for (title, list) in [
        ("Top pages", digest.top_pages()),
        ("Top users", digest.top_users()),
    ] {
        if !list.is_empty() {
            let _ = writeln!(r);
            let _ = writeln!(r, "{title}:");
            for (name, n) in list {
                let _ = writeln!(r, "  {:<40} {n}", unicode_text(name, VALUE_MAX));
            }
        }
    }
}

fn examples(r: &mut String, digest: &Digest) {
    let _ = writeln!(r);
    let shown = digest.examples().len().min(LIST_MAX);
    let _ = writeln!(r, "Examples ({shown} of {}):", digest.count());
    for (i, a) in digest.examples().iter().enumerate() {
        let _ = writeln!(r, "  {}. {}", i + 1, describe(a));
    }
}

fn data_location(r: &mut String, location: &DataLocation) {
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

/// One example line: time, metric with actual against expected, score, page, user, details.
fn describe(a: &Anomaly) -> String {
    let mut parts = Vec::new();
    if let Some(t) = a.time() {
        parts.push(format_millis(&t));
    }
    if let Some((start, end)) = a.window_start.zip(a.window_end) {
        parts.push(format!(
            "window {} to {}",
            format_millis(&start),
            format_millis(&end)
        ));
    }
    let metric = || {
        a.metric
            .as_deref()
            .map_or_else(|| "value".to_owned(), |m| unicode_text(m, VALUE_MAX))
    };
    match (a.value, a.expected) {
        (Some(v), Some(e)) => parts.push(format!(
            "{} {} (expected {})",
            metric(),
            number(v),
            number(e)
        )),
        (Some(v), None) => parts.push(format!("{} {}", metric(), number(v))),
        (None, _) if a.metric.is_some() => parts.push(metric()),
        _ => {}
    }
    if let Some(s) = a.score {
        parts.push(format!("score {}", number(s)));
    }
    if let Some(p) = &a.page_url {
        parts.push(format!("page {}", unicode_text(p, VALUE_MAX)));
    }
    if let Some(u) = &a.user_id {
        parts.push(format!("user {}", unicode_text(u, VALUE_MAX)));
    }
    if let Some(d) = &a.details {
        parts.push(format!("details {}", unicode_text(d.get(), VALUE_MAX)));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sanitize::is_gsm_basic;

    fn build(source: &Source, anomalies: Vec<Anomaly>, carried: Option<Carried>) -> Alert {
        let mut digest = Digest::new(false);
        for a in anomalies {
            digest.add(a);
        }
        let at = "2026-11-27T10:06:00Z".parse().unwrap();
        compose(source, digest, carried, Severity::Info, None, at)
    }

    fn build_at(
        source: &Source,
        anomalies: Vec<Anomaly>,
        location: Option<&DataLocation>,
    ) -> Alert {
        let mut digest = Digest::new(false);
        for a in anomalies {
            digest.add(a);
        }
        let at = "2026-11-27T10:06:00Z".parse().unwrap();
        compose(source, digest, None, Severity::Info, location, at)
    }

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
        let alert = build_at(&source(), anomalies, Some(&location));
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
        let alert = build(&src, vec![a], None);
        assert_limits(&alert);
        assert_eq!(alert.severity, Severity::Warning);
        assert!(
            alert
                .report
                .contains("ctr_percent 42.5 (expected 10), score 3.4"),
            "{}",
            alert.report
        );
        assert!(alert.report.contains("Highest anomaly score: 3.4\n"));
        assert!(alert.sms.contains("max score 3.4"));
        assert!(alert.report.contains("When: not given by the source"));
    }

    #[test]
    fn carried_anomalies_are_counted_and_said() {
        let carried = Carried {
            count: 12,
            since: "2026-11-27T09:58:00Z".parse().unwrap(),
            max_score: None,
            severity: Severity::Warning,
            findings: Vec::new(),
        };
        let alert = build(
            &source(),
            vec![click("/p", "1", "2026-11-27T10:00:00Z")],
            Some(carried),
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
    fn carried_scores_and_severity_are_reported_truly() {
        let carried = Carried {
            count: 2,
            since: "2026-11-27T10:01:00Z".parse().unwrap(),
            max_score: Some(6.0),
            severity: Severity::Critical,
            findings: vec![Anomaly {
                metric: Some("user_burst".into()),
                user_id: Some("9".into()),
                value: Some(70.0),
                score: Some(6.0),
                details: serde_json::value::to_raw_value(&serde_json::json!({"seconds": 10})).ok(),
                ..Anomaly::default()
            }],
        };
        let a = Anomaly {
            score: Some(1.0),
            ..Anomaly::default()
        };
        let alert = build(&source(), vec![a], Some(carried));
        assert_eq!(alert.severity, Severity::Critical);
        assert!(
            alert.report.contains("Highest anomaly score: 6\n"),
            "{}",
            alert.report
        );
        // The held finding is said in words, and marked as held.
        assert!(
            alert
                .report
                .contains("  - user 9: 70 clicks in 10 s (held back by the cooldown)"),
            "{}",
            alert.report
        );
        assert_eq!(
            alert.subject,
            "ClickStream CRITICAL: user 9: 70 clicks in 10 s"
        );
    }

    #[test]
    fn numbers_are_rounded_and_invisible_characters_removed_everywhere() {
        // 309 digits, as a JSON number would carry it.
        let huge: f64 = format!("1{}", "0".repeat(308)).parse().unwrap();
        let invisible = "\u{00AD}\u{061C}\u{180E}\u{2060}\u{FFF9}";
        let a = Anomaly {
            metric: Some(format!("ctr{invisible}_percent")),
            value: Some(huge),
            expected: Some(0.123456),
            score: Some(huge),
            page_url: Some(format!("/pa{invisible}ge")),
            user_id: Some(format!("u{invisible}1")),
            details: serde_json::value::to_raw_value(
                &serde_json::json!({"n": format!("x{invisible}y")}),
            )
            .ok(),
            ..Anomaly::default()
        };
        let src = Source {
            kind: SourceKind::Direct,
            name: format!("det{invisible}ector"),
            invocation_id: Some(format!("i{invisible}d")),
        };
        let alert = build(&src, vec![a], None);
        for text in [&alert.subject, &alert.sms, &alert.report] {
            assert!(
                !text.chars().any(|c| invisible.contains(c)),
                "an invisible character survived in {text:?}"
            );
            assert!(!text.contains("0000000000"), "a long number in {text:?}");
        }
        assert!(
            alert.report.contains("ctr_percent 1.000e308 "),
            "{}",
            alert.report
        );
        assert!(
            alert.report.contains("(expected 0.123)"),
            "{}",
            alert.report
        );
        assert!(
            alert.report.contains("page /page, user u1"),
            "{}",
            alert.report
        );
        assert!(
            alert.subject.ends_with("from detector"),
            "{}",
            alert.subject
        );
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
                details: serde_json::value::to_raw_value(&serde_json::json!({"note": hostile}))
                    .ok(),
                ..Anomaly::default()
            })
            .collect();
        let src = Source {
            kind: SourceKind::Direct,
            name: hostile.clone(),
            invocation_id: Some(hostile.clone()),
        };
        let alert = build(&src, anomalies, None);
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
