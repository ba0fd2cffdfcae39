//! `replay` as a user runs it: JSON Lines of events through one warm handler, clocked by each
//! batch's arrival time, printing one line per alert. Storm control is checked through it, as
//! it would behave live: the cooldown, its key, the severity that breaks through it, and what
//! held-back anomalies carry into the next alert.

use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

mod common;

use common::clickstream as cmd;

const STREAM: &str =
    "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose";

fn start() -> DateTime<Utc> {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

/// A Firehose batch of `flagged` anomalous clicks that arrived `minutes` after the start.
fn batch(minutes: i64, flagged: usize) -> Value {
    let arrival = start() + Duration::minutes(minutes);
    let records: Vec<Value> = (0..flagged)
        .map(|i| {
            let click = json!({"timestamp": (arrival - Duration::seconds(2)).to_rfc3339(),
                "user_id": i % 7, "page_url": format!("/pagina-{}", i % 3), "event_type": "click",
                "anomaly_detected": [true]});
            json!({"recordId": format!("{minutes}-{i}"),
                "approximateArrivalTimestamp": arrival.timestamp_millis(),
                "data": STANDARD.encode(click.to_string())})
        })
        .collect();
    json!({"invocationId": format!("inv-{minutes}"), "deliveryStreamArn": STREAM, "region": "us-east-1", "records": records})
}

fn replay(lines: &[Value], args: &[&str]) -> Output {
    replay_with(cmd(), lines, args)
}

fn replay_with(mut c: Command, lines: &[Value], args: &[&str]) -> Output {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    c.arg("replay").args(args);
    common::run_with_stdin(c, text.as_bytes())
}

fn alerts(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn storm_control_behaves_as_live_on_the_batches_own_clock() {
    let spoof = json!({"source": STREAM, "anomalies": [{"metric": "m", "score": 1}]});
    let lines = [
        batch(0, 1),   // 10:00 published
        batch(1, 1),   // 10:01 held by the cooldown
        spoof,         // a direct caller named like the stream: its own key, published
        batch(3, 150), // 10:03 critical: breaks through, with the one held
        batch(4, 1),   // 10:04 held: not more severe than critical
        batch(9, 1),   // 10:09 the period is over: published with what was held
    ];
    let out = replay(&lines, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = alerts(&out);
    let summary: Vec<(&str, &str, &str, usize)> = alerts
        .iter()
        .map(|a| {
            (
                a["at"].as_str().unwrap(),
                a["severity"].as_str().unwrap(),
                a["subject"].as_str().unwrap(),
                a["anomalies"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "2026-11-27T10:00:00.000Z",
                "info",
                "ClickStream INFO: 1 anomaly from ClickStreamingFirehose",
                1
            ),
            (
                "2026-11-27T10:01:00.000Z",
                "info",
                "ClickStream INFO: 1 anomaly from ClickStreamingFirehose",
                1
            ),
            (
                "2026-11-27T10:03:00.000Z",
                "critical",
                "ClickStream CRITICAL: 151 anomalies from ClickStreamingFirehose",
                150
            ),
            (
                "2026-11-27T10:09:00.000Z",
                "info",
                "ClickStream INFO: 2 anomalies from ClickStreamingFirehose",
                1
            ),
        ]
    );
    // The direct event took the previous clock; its anomaly is printed in the documented schema.
    assert_eq!(
        alerts[1]["anomalies"][0],
        json!({"metric": "m", "score": 1.0})
    );
    // Firehose anomalies name their page, user and time.
    let first = &alerts[0]["anomalies"][0];
    assert_eq!(first["metric"], "producer_flag");
    assert_eq!(first["page_url"], "/pagina-0");
    assert_eq!(first["user_id"], "0");
    assert_eq!(first["detected_at"], "2026-11-27T09:59:58.000Z");
}

#[test]
fn the_cooldown_is_configurable_and_zero_turns_it_off() {
    let lines = [batch(0, 1), batch(1, 1), batch(2, 1)];
    let mut c = cmd();
    c.env("ALERT_COOLDOWN_SECONDS", "0");
    assert_eq!(alerts(&replay_with(c, &lines, &[])).len(), 3);
    assert_eq!(alerts(&replay(&lines, &[])).len(), 1);
}

#[test]
fn files_are_read_in_order_and_a_refused_event_is_reported_without_stopping() {
    let dir = std::env::temp_dir().join(format!("clickstream-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("a.jsonl");
    let second = dir.join("b.jsonl");
    std::fs::write(&first, format!("{}\n\n{{\"hello\": 1}}\n", batch(0, 1))).unwrap();
    std::fs::write(&second, format!("{}\n", batch(10, 2))).unwrap();
    let out = cmd()
        .arg("replay")
        .arg(&first)
        .arg(&second)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1), "a refused line fails the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line=3"), "{stderr}");
    assert!(stderr.contains("expected one of"), "{stderr}");
    let alerts = alerts(&out);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["at"], "2026-11-27T10:10:00.000Z");
    assert_eq!(alerts[1]["anomalies"].as_array().unwrap().len(), 2);
}
