//! `evaluate`: how well `replay`'s alerts found what `generate` injected. For each label, hit
//! or missed and how long after its start the first alert that matched it went out; for the
//! alerts, how many match nothing, per day of traffic. It measures and does not judge: the exit
//! status says only whether the inputs could be read.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::{exit_on, input};
use crate::detect::page::normalize;
use crate::generate::labels::{Kind, Label, format_duration, parse_duration};

#[derive(Debug, Args)]
pub(super) struct EvaluateArgs {
    /// The labels `generate --labels` wrote.
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// `replay`'s alert lines; `-` or nothing reads standard input.
    alerts: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The delay within which a spike, drop or site-drop should be reported.
    #[arg(long, default_value = "5m", value_parser = parse_duration_arg)]
    rate_target: Duration,
    /// The delay within which a bot should be reported.
    #[arg(long, default_value = "2m", value_parser = parse_duration_arg)]
    bot_target: Duration,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// An input that cannot be read.
#[derive(Debug, Error)]
enum EvaluateError {
    #[error("cannot read the labels {path}: {source}")]
    LabelsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the labels {path} are not what `generate --labels` writes: {source}")]
    LabelsJson {
        path: String,
        source: serde_json::Error,
    },
    #[error("cannot read {name}: {source}")]
    Alerts {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} line {line} is not one of replay's alert lines: {source}")]
    AlertLine {
        name: String,
        line: usize,
        source: serde_json::Error,
    },
}

pub(super) fn run(args: EvaluateArgs) -> ExitCode {
    let report = match read(&args) {
        Ok((labels, alerts)) => evaluate(&labels, &alerts, &args),
        Err(e) => {
            eprintln!("clickstream-lambda: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json {
        serde_json::to_string_pretty(&report).map(|t| t + "\n")
    } else {
        Ok(table(&report))
    };
    let written = text
        .map_err(std::io::Error::from)
        .and_then(|t| std::io::Write::write_all(&mut std::io::stdout().lock(), t.as_bytes()));
    exit_on(written, "cannot write the evaluation")
}

/// What `evaluate` reads of the labels file: the traffic's extent and the anomalies.
#[derive(Debug, Deserialize)]
struct LabelsFile {
    scenario: Span,
    anomalies: Vec<Label>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct Span {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// One of `replay`'s alert lines, kept whole for the report, with what matching needs.
#[derive(Debug)]
struct AlertLine {
    at: DateTime<Utc>,
    anomalies: Vec<Found>,
    raw: Value,
}

#[derive(Debug, Deserialize)]
struct LineShape {
    at: DateTime<Utc>,
    #[serde(default)]
    anomalies: Vec<Found>,
}

/// An anomaly of an alert line, as far as matching reads it.
#[derive(Debug, Default, Deserialize)]
struct Found {
    metric: Option<String>,
    page_url: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    user_id: Option<String>,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    score: Option<f64>,
    details: Option<Value>,
}

/// A user id as text, whether the line wrote it as a string or a number.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn read(args: &EvaluateArgs) -> Result<(LabelsFile, Vec<AlertLine>), EvaluateError> {
    let path = args.labels.display().to_string();
    let text =
        std::fs::read_to_string(&args.labels).map_err(|source| EvaluateError::LabelsFile {
            path: path.clone(),
            source,
        })?;
    let labels: LabelsFile =
        serde_json::from_str(&text).map_err(|source| EvaluateError::LabelsJson { path, source })?;
    let alerts = read_alerts(args.alerts.as_deref())?;
    Ok((labels, alerts))
}

fn read_alerts(file: Option<&Path>) -> Result<Vec<AlertLine>, EvaluateError> {
    let name = input::name(file);
    let io = |source| EvaluateError::Alerts {
        name: name.clone(),
        source,
    };
    let mut alerts = Vec::new();
    for (n, line) in input::lines(file).map_err(io)?.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |source| EvaluateError::AlertLine {
            name: name.clone(),
            line: n + 1,
            source,
        };
        let raw: Value = serde_json::from_str(&line).map_err(bad)?;
        let shape = LineShape::deserialize(&raw).map_err(bad)?;
        alerts.push(AlertLine {
            at: shape.at,
            anomalies: shape.anomalies,
            raw,
        });
    }
    Ok(alerts)
}

/// Which way a rate moved, as the detector's `details.direction` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Spike,
    Drop,
}

impl Found {
    fn metric(&self) -> &str {
        self.metric.as_deref().unwrap_or("")
    }

    fn direction(&self) -> Option<Direction> {
        match self.details.as_ref()?.get("direction")?.as_str()? {
            "spike" => Some(Direction::Spike),
            "drop" => Some(Direction::Drop),
            _ => None,
        }
    }

    fn ratio(&self) -> Option<f64> {
        self.details.as_ref()?.get("ratio")?.as_f64()
    }

    /// Whether its window overlaps the label's `[start, end)`.
    fn overlaps(&self, label: &Label) -> bool {
        match (self.window_start, self.window_end) {
            (Some(start), Some(end)) => start < label.end && end > label.start,
            _ => false,
        }
    }

    fn site_rate(&self) -> bool {
        self.metric() == "click_rate" && self.page_url.is_none()
    }

    fn distinct_users(&self) -> bool {
        self.metric() == "distinct_users"
    }

    /// A page's click rate, for `page` when given.
    fn page_rate(&self, page: Option<&str>) -> bool {
        self.metric() == "click_rate"
            && match (&self.page_url, page) {
                (Some(found), Some(page)) => normalize(found) == normalize(page),
                (Some(_), None) => true,
                (None, _) => false,
            }
    }

    /// Whether this anomaly reports the label itself.
    fn hits(&self, label: &Label) -> bool {
        if !self.overlaps(label) {
            return false;
        }
        let page = label.page.as_deref();
        let going = self.direction();
        match label.kind {
            Kind::Spike => {
                page.is_some() && self.page_rate(page) && going == Some(Direction::Spike)
            }
            Kind::Drop => page.is_some() && self.page_rate(page) && going == Some(Direction::Drop),
            Kind::SiteDrop => {
                (self.site_rate() || self.distinct_users()) && going == Some(Direction::Drop)
            }
            Kind::Bot => {
                self.metric() == "user_burst"
                    && label.user.is_some_and(|u| {
                        self.user_id.as_deref().map(str::trim) == Some(u.to_string().as_str())
                    })
            }
        }
    }

    /// Whether this anomaly is what the label does to other series: not the label's own report,
    /// but no false alarm either.
    fn side_effect_of(&self, label: &Label) -> bool {
        if !self.overlaps(label) {
            return false;
        }
        let going = self.direction();
        let site_wide = self.site_rate() || self.distinct_users();
        match label.kind {
            Kind::Spike => site_wide && going == Some(Direction::Spike),
            Kind::Drop => site_wide && going == Some(Direction::Drop),
            Kind::SiteDrop => self.page_rate(None) && going == Some(Direction::Drop),
            Kind::Bot => {
                (self.site_rate() || self.page_rate(label.page.as_deref()))
                    && going == Some(Direction::Spike)
            }
        }
    }

    fn is_detectors(&self) -> bool {
        self.metric() != "producer_flag"
    }
}

/// What `evaluate` found.
#[derive(Debug, Serialize)]
struct Report {
    traffic: Traffic,
    targets: Targets,
    labels: Vec<LabelResult>,
    by_kind: Vec<KindSummary>,
    alerts: AlertSummary,
    false_alerts: Vec<Value>,
}

#[derive(Debug, Serialize)]
struct Traffic {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    days: f64,
}

#[derive(Debug, Serialize)]
struct Targets {
    rate_seconds: u64,
    bot_seconds: u64,
}

#[derive(Debug, Serialize)]
struct LabelResult {
    #[serde(flatten)]
    label: Label,
    hit: bool,
    first_alert_at: Option<DateTime<Utc>>,
    delay_seconds: Option<f64>,
    target_seconds: u64,
    within_target: bool,
    /// Alert lines with an anomaly that matches the label.
    alert_lines: usize,
    /// The score and ratio of the first matching anomaly.
    score: Option<f64>,
    ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
struct KindSummary {
    kind: Kind,
    labels: usize,
    hit: usize,
    within_target: usize,
    max_delay_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct AlertSummary {
    lines: usize,
    /// Lines with an anomaly that matches a label.
    matched: usize,
    /// Lines matching no label but with a side effect of one.
    side_effects: usize,
    /// Lines with producer_flag anomalies only.
    producer_flags_only: usize,
    /// Lines with neither.
    false_alerts: usize,
    false_alerts_per_day: f64,
}

fn evaluate(labels: &LabelsFile, alerts: &[AlertLine], args: &EvaluateArgs) -> Report {
    let target = |kind: Kind| match kind {
        Kind::Bot => args.bot_target,
        _ => args.rate_target,
    };
    let mut order: Vec<&AlertLine> = alerts.iter().collect();
    order.sort_by_key(|a| a.at);
    let results: Vec<LabelResult> = labels
        .anomalies
        .iter()
        .map(|label| {
            let matching: Vec<(&AlertLine, &Found)> = order
                .iter()
                .filter_map(|a| a.anomalies.iter().find(|f| f.hits(label)).map(|f| (*a, f)))
                .collect();
            let first = matching.first();
            let delay = first.map(|(a, _)| (a.at - label.start).num_milliseconds() as f64 / 1000.0);
            let target = target(label.kind);
            LabelResult {
                label: label.clone(),
                hit: first.is_some(),
                first_alert_at: first.map(|(a, _)| a.at),
                delay_seconds: delay,
                target_seconds: target.as_secs(),
                within_target: delay.is_some_and(|d| d <= target.as_secs_f64()),
                alert_lines: matching.len(),
                score: first.and_then(|(_, f)| f.score),
                ratio: first.and_then(|(_, f)| f.ratio()),
            }
        })
        .collect();
    let by_kind = Kind::ALL
        .into_iter()
        .filter_map(|kind| {
            let of: Vec<&LabelResult> = results.iter().filter(|r| r.label.kind == kind).collect();
            (!of.is_empty()).then(|| KindSummary {
                kind,
                labels: of.len(),
                hit: of.iter().filter(|r| r.hit).count(),
                within_target: of.iter().filter(|r| r.within_target).count(),
                max_delay_seconds: of.iter().filter_map(|r| r.delay_seconds).reduce(f64::max),
            })
        })
        .collect();
    let mut summary = AlertSummary {
        lines: alerts.len(),
        matched: 0,
        side_effects: 0,
        producer_flags_only: 0,
        false_alerts: 0,
        false_alerts_per_day: 0.0,
    };
    let mut false_alerts = Vec::new();
    for alert in alerts {
        let detected: Vec<&Found> = alert
            .anomalies
            .iter()
            .filter(|f| f.is_detectors())
            .collect();
        let any = |test: &dyn Fn(&Found, &Label) -> bool| {
            detected
                .iter()
                .any(|f| labels.anomalies.iter().any(|l| test(f, l)))
        };
        if detected.is_empty() {
            summary.producer_flags_only += 1;
        } else if any(&Found::hits) {
            summary.matched += 1;
        } else if any(&Found::side_effect_of) {
            summary.side_effects += 1;
        } else {
            summary.false_alerts += 1;
            false_alerts.push(alert.raw.clone());
        }
    }
    let days = (labels.scenario.end - labels.scenario.start).num_seconds() as f64 / 86_400.0;
    summary.false_alerts_per_day = if days > 0.0 {
        round2(summary.false_alerts as f64 / days)
    } else {
        0.0
    };
    Report {
        traffic: Traffic {
            start: labels.scenario.start,
            end: labels.scenario.end,
            days: round2(days),
        },
        targets: Targets {
            rate_seconds: args.rate_target.as_secs(),
            bot_seconds: args.bot_target.as_secs(),
        },
        labels: results,
        by_kind,
        alerts: summary,
        false_alerts,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn seconds(d: Option<f64>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{d:.0} s"))
}

/// The report for people.
fn table(r: &Report) -> String {
    let mut t = String::new();
    let hit = r.labels.iter().filter(|l| l.hit).count();
    let within = r.labels.iter().filter(|l| l.within_target).count();
    let _ = writeln!(
        t,
        "Traffic {} to {} ({} days). Targets: spike, drop, site-drop within {}; bot within {}.",
        time(r.traffic.start),
        time(r.traffic.end),
        r.traffic.days,
        format_duration(Duration::from_secs(r.targets.rate_seconds)),
        format_duration(Duration::from_secs(r.targets.bot_seconds)),
    );
    let _ = writeln!(
        t,
        "\nLabels: {}, {hit} hit, {} missed, {within} within target.",
        r.labels.len(),
        r.labels.len() - hit
    );
    if !r.labels.is_empty() {
        let _ = writeln!(
            t,
            "{:>3}  {:<9}  {:<10}  {:<20}  {:>6}  {:<6}  {:>7}  {:>7}  {:>6}  {:>6}  {:<6}",
            "#",
            "kind",
            "page/user",
            "start",
            "for",
            "result",
            "delay",
            "target",
            "score",
            "ratio",
            ""
        );
    }
    for (i, l) in r.labels.iter().enumerate() {
        let label = &l.label;
        let place = match (label.kind, &label.page, label.user) {
            (Kind::Bot, _, Some(user)) => format!("user {user}"),
            (_, Some(page), _) => page.clone(),
            _ => "site".into(),
        };
        let length = (label.end - label.start).to_std().unwrap_or_default();
        let number = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.2}"));
        let _ = writeln!(
            t,
            "{:>3}  {:<9}  {:<10}  {:<20}  {:>6}  {:<6}  {:>7}  {:>7}  {:>6}  {:>6}  {}",
            i + 1,
            label.kind.as_str(),
            place,
            time(label.start),
            format_duration(length),
            if l.hit { "hit" } else { "missed" },
            seconds(l.delay_seconds),
            format!("{} s", l.target_seconds),
            number(l.score),
            number(l.ratio),
            if l.within_target { "ok" } else { "LATE/MISSED" },
        );
    }
    if !r.by_kind.is_empty() {
        let _ = writeln!(t, "\nBy kind:");
    }
    for k in &r.by_kind {
        let _ = writeln!(
            t,
            "  {:<9}  {} of {} hit, {} within target, slowest {}",
            k.kind.as_str(),
            k.hit,
            k.labels,
            k.within_target,
            seconds(k.max_delay_seconds),
        );
    }
    let a = &r.alerts;
    let _ = writeln!(
        t,
        "\nAlert lines: {}: {} matched a label, {} side effects of a label, {} producer flags only, {} false.",
        a.lines, a.matched, a.side_effects, a.producer_flags_only, a.false_alerts
    );
    let _ = writeln!(
        t,
        "False alerts: {} in {} days of traffic, {} per day.",
        a.false_alerts, r.traffic.days, a.false_alerts_per_day
    );
    for alert in &r.false_alerts {
        let at = alert.get("at").and_then(Value::as_str).unwrap_or("?");
        let _ = writeln!(t, "  {at}");
        let anomalies = alert.get("anomalies").and_then(Value::as_array);
        for anomaly in anomalies.into_iter().flatten() {
            let _ = writeln!(t, "    {}", describe(anomaly));
        }
    }
    t
}

/// One anomaly of a false alert, in a line.
fn describe(a: &Value) -> String {
    let text = |key: &str| a.get(key).and_then(Value::as_str);
    let number = |key: &str| a.get(key).and_then(Value::as_f64);
    let details = a.get("details");
    let mut s = text("metric").unwrap_or("?").to_owned();
    if let Some(page) = text("page_url") {
        let _ = write!(s, " {page}");
    }
    if let Some(user) = a.get("user_id") {
        let _ = write!(s, " user {user}");
    }
    if let Some(direction) = details
        .and_then(|d| d.get("direction"))
        .and_then(Value::as_str)
    {
        let _ = write!(s, " {direction}");
    }
    for key in ["value", "expected", "score"] {
        if let Some(n) = number(key) {
            let _ = write!(s, " {key} {n}");
        }
    }
    if let Some(ratio) = details.and_then(|d| d.get("ratio")).and_then(Value::as_f64) {
        let _ = write!(s, " ratio {ratio}");
    }
    if let (Some(start), Some(end)) = (text("window_start"), text("window_end")) {
        let _ = write!(s, " window {start} to {end}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: EvaluateArgs,
    }

    fn args() -> EvaluateArgs {
        Wrapper::parse_from(["x", "--labels", "l.json"]).args
    }

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-01-01T{s}Z").parse().unwrap()
    }

    fn label(kind: Kind, from: &str, to: &str) -> Label {
        Label {
            kind,
            start: t(from),
            end: t(to),
            page: match kind {
                Kind::SiteDrop => None,
                _ => Some("/pagina-9".into()),
            },
            user: (kind == Kind::Bot).then_some(1001),
            factor: None,
            rate: None,
        }
    }

    fn alert(at: &str, anomalies: Value) -> AlertLine {
        let raw = serde_json::json!({"at": format!("2026-01-01T{at}.000Z"), "subject": "s",
            "severity": "critical", "anomalies": anomalies});
        let shape = LineShape::deserialize(&raw).unwrap();
        AlertLine {
            at: shape.at,
            anomalies: shape.anomalies,
            raw,
        }
    }

    fn rate(page: Option<&str>, direction: &str, from: &str, to: &str) -> Value {
        let mut a = serde_json::json!({"metric": "click_rate", "score": 7.5,
            "window_start": format!("2026-01-01T{from}.000Z"),
            "window_end": format!("2026-01-01T{to}.000Z"),
            "details": {"direction": direction, "ratio": 3.1}});
        if let Some(page) = page {
            a["page_url"] = page.into();
        }
        a
    }

    fn file(anomalies: Vec<Label>) -> LabelsFile {
        LabelsFile {
            scenario: Span {
                start: t("00:00:00"),
                end: "2026-01-02T00:00:00Z".parse().unwrap(),
            },
            anomalies,
        }
    }

    #[test]
    fn each_kind_is_matched_by_its_own_anomaly_and_delays_count_from_the_start() {
        let labels = file(vec![
            label(Kind::Spike, "01:00:00", "01:03:00"),
            label(Kind::Drop, "02:00:00", "02:05:00"),
            label(Kind::SiteDrop, "03:00:00", "03:05:00"),
            label(Kind::Bot, "04:00:00", "04:02:00"),
        ]);
        let burst = serde_json::json!({"metric": "user_burst", "user_id": "1001",
            "window_start": "2026-01-01T04:00:01.000Z", "window_end": "2026-01-01T04:00:59.000Z"});
        let users = serde_json::json!({"metric": "distinct_users",
            "window_start": "2026-01-01T03:00:00.000Z", "window_end": "2026-01-01T03:01:00.000Z",
            "details": {"direction": "drop"}});
        let alerts = [
            // The wrong direction for the spike, then the right one.
            alert(
                "01:02:00",
                serde_json::json!([rate(Some("/pagina-9"), "drop", "01:00:00", "01:01:00")]),
            ),
            alert(
                "01:04:00",
                serde_json::json!([rate(Some("/pagina-9?x=1"), "spike", "01:00:00", "01:01:00")]),
            ),
            alert(
                "02:04:30",
                serde_json::json!([rate(Some("/pagina-9"), "drop", "02:01:00", "02:02:00")]),
            ),
            alert("03:04:00", serde_json::json!([users])),
            alert("04:01:00", serde_json::json!([burst])),
            // The bot's rise of the site's rate: a side effect, not a false alert.
            alert(
                "04:04:00",
                serde_json::json!([rate(None, "spike", "04:00:00", "04:01:00")]),
            ),
            // Nothing injected then.
            alert(
                "09:00:00",
                serde_json::json!([rate(Some("/pagina-2"), "spike", "08:55:00", "08:56:00")]),
            ),
            alert(
                "10:00:00",
                serde_json::json!([{"metric": "producer_flag", "page_url": "/p"}]),
            ),
        ];
        let r = evaluate(&labels, &alerts, &args());
        let delays: Vec<Option<f64>> = r.labels.iter().map(|l| l.delay_seconds).collect();
        assert_eq!(delays, [Some(240.0), Some(270.0), Some(240.0), Some(60.0)]);
        assert!(r.labels.iter().all(|l| l.hit && l.within_target));
        assert_eq!(r.labels[0].score, Some(7.5));
        assert_eq!(r.labels[0].ratio, Some(3.1));
        let a = &r.alerts;
        // The wrong-direction alert is a side effect of nothing: it counts as false.
        assert_eq!(
            (
                a.lines,
                a.matched,
                a.side_effects,
                a.producer_flags_only,
                a.false_alerts
            ),
            (8, 4, 1, 1, 2)
        );
        assert_eq!(a.false_alerts_per_day, 2.0);
        assert_eq!(r.false_alerts.len(), 2);
        let text = table(&r);
        assert!(text.contains("4 hit, 0 missed, 4 within target"), "{text}");
        assert!(text.contains("click_rate /pagina-2 spike"), "{text}");
    }

    #[test]
    fn late_or_outside_the_window_is_not_a_hit_in_time() {
        let labels = file(vec![
            label(Kind::Bot, "04:00:00", "04:02:00"),
            label(Kind::Drop, "02:00:00", "02:05:00"),
        ]);
        let burst = |from: &str, user: Value| {
            serde_json::json!({"metric": "user_burst", "user_id": user,
                "window_start": format!("2026-01-01T{from}.000Z"),
                "window_end": format!("2026-01-01T{from}.000Z")})
        };
        let alerts = [
            alert(
                "04:03:00",
                serde_json::json!([burst("04:01:59", 1001.into())]),
            ),
            alert(
                "04:03:30",
                serde_json::json!([burst("04:01:00", "77".into())]),
            ),
            alert(
                "02:09:00",
                serde_json::json!([rate(Some("/pagina-9"), "drop", "02:05:00", "02:06:00")]),
            ),
        ];
        let r = evaluate(&labels, &alerts, &args());
        assert!(r.labels[0].hit && !r.labels[0].within_target);
        assert_eq!(r.labels[0].delay_seconds, Some(180.0));
        assert!(!r.labels[1].hit && !r.labels[1].within_target);
        assert_eq!(r.alerts.false_alerts, 2);
        assert!(table(&r).contains("missed"));
    }
}
