//! Labeled scenarios through the real binary: what `generate --duration` writes is where its
//! labels say, the same for a seed, streamed line by line, and `generate | replay | evaluate`
//! finds every injected anomaly in time without a false alert.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::Value;

mod common;

use common::clickstream as cmd;

/// A directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scenarios-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn succeeded(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// One generated click, decoded.
#[derive(Debug)]
struct Click {
    at: DateTime<Utc>,
    arrival_ms: i64,
    page: String,
    user: u64,
    flagged: bool,
}

/// Every click of the JSON Lines, checking each event's shape on the way; events in order.
fn clicks(traffic: &[u8]) -> Vec<Vec<Click>> {
    let mut ids = HashSet::new();
    let mut events = Vec::new();
    for line in traffic.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let event: Value = serde_json::from_slice(line).unwrap();
        assert_eq!(
            event["deliveryStreamArn"],
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose"
        );
        assert!(ids.insert(event["invocationId"].as_str().unwrap().to_owned()));
        let records = event["records"].as_array().unwrap();
        assert!(!records.is_empty());
        let clicks: Vec<Click> = records
            .iter()
            .map(|r| {
                let data = STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
                let c: Value = serde_json::from_slice(&data).unwrap();
                let at: DateTime<Utc> = format!("{}Z", c["timestamp"].as_str().unwrap())
                    .parse()
                    .unwrap();
                Click {
                    at,
                    arrival_ms: r["approximateArrivalTimestamp"].as_i64().unwrap(),
                    page: c["page_url"].as_str().unwrap().to_owned(),
                    user: c["user_id"].as_u64().unwrap(),
                    flagged: c["anomaly_detected"] == serde_json::json!([true]),
                }
            })
            .collect();
        events.push(clicks);
    }
    events
}

/// The normal clicks per second the labels' scenario parameters promise at `at`, site-wide.
fn rate_at(scenario: &Value, at: DateTime<Utc>) -> f64 {
    let rate = scenario["rate"].as_f64().unwrap();
    let amplitude = scenario["daily_amplitude"].as_f64().unwrap();
    let peak = scenario["daily_peak_hour_utc"].as_f64().unwrap() * 3600.0;
    let of_day = f64::from(at.num_seconds_from_midnight()) + f64::from(at.nanosecond()) / 1e9;
    rate * (1.0 + amplitude * ((of_day - peak) / 86_400.0 * std::f64::consts::TAU).cos())
}

/// Expected normal clicks in `[from, to)`, for `share` of the site.
fn expected(scenario: &Value, from: DateTime<Utc>, to: DateTime<Utc>, share: f64) -> f64 {
    let seconds = (to - from).num_seconds();
    (0..seconds)
        .map(|s| rate_at(scenario, from + Duration::milliseconds(s * 1000 + 500)))
        .sum::<f64>()
        * share
}

/// A Poisson count is within 4.5 standard deviations of its mean (a false failure about once
/// in 150,000 checks).
fn assert_poisson(n: usize, mean: f64, what: &str) {
    let n = n as f64;
    assert!(
        (n - mean).abs() <= 4.5 * mean.sqrt() + 1.0,
        "{what}: {n} clicks, {mean:.1} expected"
    );
}

#[test]
fn each_kind_of_anomaly_is_in_the_traffic_where_its_label_says() {
    let dir = scratch("kinds");
    let labels_path = dir.join("labels.json");
    let out = cmd()
        .args([
            "generate",
            "--duration",
            "45m",
            "--rate",
            "20",
            "--seed",
            "11",
        ])
        .args(["--start", "2026-03-02T09:00:00Z", "--labels"])
        .arg(&labels_path)
        .args(["--inject", "spike:at=10m,page=/pagina-9"])
        .args(["--inject", "drop:at=15m,page=10"])
        .args(["--inject", "site-drop:at=25m,for=4m"])
        .args(["--inject", "bot:at=33m,for=90s,page=6,rate=8"])
        .args(["--inject", "drop:at=38m,page=2,factor=0.5"])
        .output()
        .unwrap();
    let events = clicks(&succeeded(&out).stdout);
    let labels: Value = serde_json::from_slice(&std::fs::read(&labels_path).unwrap()).unwrap();
    let scenario = &labels["scenario"];
    let start = time(&scenario["start"]);
    let end = time(&scenario["end"]);
    assert_eq!(end - start, Duration::minutes(45));
    assert_eq!(scenario["producer_flag_rate"], 0.0);
    let shares: Vec<(String, f64)> = scenario["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["page"].as_str().unwrap().to_owned(),
                p["share"].as_f64().unwrap(),
            )
        })
        .collect();
    let share = |page: &str| shares.iter().find(|(p, _)| p == page).unwrap().1;
    assert!((shares.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(shares.iter().any(|(_, s)| (*s - 0.05).abs() < 1e-9));

    // One event per minute of traffic, cut by arrival, each click arriving under 1.5 s later.
    assert_eq!(events.len(), 45);
    let start_ms = start.timestamp_millis();
    for (k, event) in events.iter().enumerate() {
        let k = k as i64;
        assert!(event.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
        for c in event {
            let delay = c.arrival_ms * 1000 - c.at.timestamp_micros();
            assert!((0..1_500_000).contains(&delay), "delay {delay} µs");
            assert!(c.arrival_ms >= start_ms + k * 60_000);
            assert!(k == 44 || c.arrival_ms < start_ms + (k + 1) * 60_000);
            assert!(c.at >= start && c.at < end);
            assert!(!c.flagged, "scenario traffic is clean by default");
        }
    }
    let all: Vec<&Click> = events.iter().flatten().collect();
    let count = |from: DateTime<Utc>, to: DateTime<Utc>, keep: &dyn Fn(&Click) -> bool| {
        all.iter()
            .filter(|c| c.at >= from && c.at < to && keep(c))
            .count()
    };
    let normal = |c: &Click| c.user <= 1000;
    let anomalies = labels["anomalies"].as_array().unwrap();
    assert_eq!(anomalies.len(), 5);
    for label in anomalies {
        let (from, to) = (time(&label["start"]), time(&label["end"]));
        let kind = label["kind"].as_str().unwrap();
        match kind {
            "spike" | "drop" => {
                let page = label["page"].as_str().unwrap();
                let factor = label["factor"].as_f64().unwrap();
                let n = count(from, to, &|c| c.page == page);
                if factor == 0.0 {
                    assert_eq!(n, 0, "{page} should be silent from {from} to {to}");
                } else {
                    let mean = expected(scenario, from, to, share(page)) * factor;
                    assert_poisson(n, mean, &format!("{kind} of {page}"));
                }
                // The page is back to normal for as long again afterwards.
                let after = (to + (to - from)).min(end);
                let mean = expected(scenario, to, after, share(page));
                assert_poisson(count(to, after, &|c| c.page == page), mean, "after");
            }
            "site-drop" => {
                let mean = expected(scenario, from, to, 1.0) * label["factor"].as_f64().unwrap();
                assert_poisson(count(from, to, &normal), mean, "site drop");
                for (page, s) in &shares {
                    let n = count(from, to, &|c| &c.page == page);
                    let mean = expected(scenario, from, to, *s) * 0.5;
                    assert_poisson(n, mean, page);
                }
            }
            "bot" => {
                let user = label["user"].as_u64().unwrap();
                assert_eq!(user, 1001);
                let page = label["page"].as_str().unwrap();
                assert_eq!(page, "/pagina-6");
                let bot: Vec<&&Click> = all.iter().filter(|c| c.user == user).collect();
                assert!(
                    bot.iter()
                        .all(|c| c.at >= from && c.at < to && c.page == page)
                );
                let mean = label["rate"].as_f64().unwrap() * (to - from).num_seconds() as f64;
                assert_poisson(bot.len(), mean, "bot");
            }
            other => panic!("kind {other}"),
        }
    }
    // Before any injection: the site at its rhythm, each page at its share.
    let (from, to) = (start, start + Duration::minutes(10));
    assert_poisson(
        count(from, to, &normal),
        expected(scenario, from, to, 1.0),
        "site",
    );
    for (page, s) in &shares {
        let n = count(from, to, &|c| &c.page == page);
        assert_poisson(n, expected(scenario, from, to, *s), page);
    }
    let users: HashSet<u64> = all.iter().filter(|c| normal(c)).map(|c| c.user).collect();
    assert!(users.len() > 990 && users.iter().all(|u| (1..=1000).contains(u)));
}

#[test]
fn a_seed_always_gives_the_same_traffic_and_labels() {
    let dir = scratch("seed");
    let run = |seed: &str, name: &str| {
        let labels = dir.join(name);
        let out = cmd()
            .args([
                "generate",
                "--duration",
                "10m",
                "--rate",
                "5",
                "--seed",
                seed,
            ])
            .args(["--inject", "bot:at=2m", "--labels"])
            .arg(&labels)
            .output()
            .unwrap();
        (
            succeeded(&out).stdout.clone(),
            std::fs::read(labels).unwrap(),
        )
    };
    let a = run("7", "a.json");
    let b = run("7", "b.json");
    let c = run("8", "c.json");
    assert!(a.0.len() > 100_000);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    // Only the seed differs in the labels.
    let seedless = |text: &[u8]| {
        let mut v: Value = serde_json::from_slice(text).unwrap();
        v["scenario"]["seed"] = Value::Null;
        v
    };
    assert_eq!(seedless(&a.1), seedless(&c.1));
}

#[test]
fn a_day_streams_out_event_by_event_in_little_memory() {
    let mut child = cmd()
        .args(["generate", "--duration", "24h", "--rate", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for minute in 0..30 {
        let line = lines.next().unwrap().unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        let first = event["records"][0]["approximateArrivalTimestamp"]
            .as_i64()
            .unwrap();
        let start_ms = "2026-01-01T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_millis();
        assert_eq!((first - start_ms) / 60_000, minute);
    }
    // Half an hour of a day is out, and the day is not: the generator is still making it.
    assert!(child.try_wait().unwrap().is_none());
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let peak_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        // A whole day of events would be about 350 MB.
        assert!(peak_kb < 64 * 1024, "peak resident memory {peak_kb} kB");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn generate_replay_evaluate_finds_every_anomaly_in_time_and_nothing_else() {
    let dir = scratch("end-to-end");
    let labels = dir.join("labels.json");
    let alerts = dir.join("alerts.jsonl");
    // Three hours at 5 clicks a second around the daily peak, anomalies 35 minutes apart (the
    // alert cooldown is 5 minutes), the first after the detectors' 30-minute warm-up.
    let mut generate = cmd()
        .args(["generate", "--duration", "3h", "--rate", "5", "--seed", "3"])
        .args(["--start", "2026-01-01T12:00:00Z", "--labels"])
        .arg(&labels)
        .args(["--inject", "spike:at=1h,page=4"])
        .args(["--inject", "drop:at=1h35m,page=1"])
        .args(["--inject", "site-drop:at=2h10m"])
        .args(["--inject", "bot:at=2h45m"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let replay = cmd()
        .arg("replay")
        .stdin(Stdio::from(generate.stdout.take().unwrap()))
        .stdout(std::fs::File::create(&alerts).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(generate.wait().unwrap().success());
    succeeded(&replay);
    let out = cmd()
        .args(["evaluate", "--json", "--labels"])
        .arg(&labels)
        .arg(&alerts)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
    let results = report["labels"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["hit"], true, "{r}");
        assert_eq!(r["within_target"], true, "{r}");
        let target = if r["kind"] == "bot" { 120 } else { 300 };
        assert_eq!(r["target_seconds"], target);
        assert!(r["delay_seconds"].as_f64().unwrap() <= f64::from(target));
    }
    assert_eq!(report["alerts"]["false_alerts"], 0, "{report}");
    // The bot is reported as a bot only: its clicks are left out of the page and site rates,
    // where they would be a second finding (a spike) of the same incident.
    let bot_start = time(&Value::from("2026-01-01T14:45:00Z"));
    let text = std::fs::read_to_string(&alerts).unwrap();
    for line in text.lines() {
        let alert: Value = serde_json::from_str(line).unwrap();
        for a in alert["anomalies"].as_array().unwrap() {
            let spike = a["metric"] == "click_rate" && a["details"]["direction"] == "spike";
            assert!(
                !spike || time(&a["window_start"]) < bot_start,
                "a spike in the bot's time: {a}"
            );
        }
    }
    assert!(report["alerts"]["matched"].as_u64().unwrap() >= 4);

    // The table says the same for people.
    let table = cmd()
        .args(["evaluate", "--labels"])
        .arg(&labels)
        .arg(&alerts)
        .output()
        .unwrap();
    let text = String::from_utf8(succeeded(&table).stdout.clone()).unwrap();
    assert!(text.contains("4 hit, 0 missed, 4 within target"), "{text}");
    assert!(text.contains("0 false."), "{text}");
}

#[test]
fn mistakes_on_the_command_line_are_refused_with_a_reason() {
    let refused = |args: &[&str], says: &str| {
        let out = cmd().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(
        &["generate", "-n", "3", "--inject", "bot:at=1m"],
        "cannot be used with",
    );
    refused(&["generate"], "required");
    refused(&["generate", "--duration", "1.5h"], "not a duration");
    refused(&["generate", "--duration", "0s"], "at least 1s");
    refused(
        &["generate", "--duration", "1h", "--inject", "spike:at=5m"],
        "`page` is missing",
    );
    refused(
        &["generate", "--duration", "1h", "--inject", "bot:at=59m"],
        "not inside the traffic",
    );
    refused(
        &["generate", "--duration", "1h", "--daily-amplitude", "2"],
        "from 0 to 1",
    );
    refused(
        &["evaluate", "--labels", "/nonexistent/labels.json"],
        "cannot read the labels",
    );
    // Single-event mode is what it was.
    let out = cmd().args(["generate", "-n", "4"]).output().unwrap();
    let event: Value = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
    assert_eq!(event["records"].as_array().unwrap().len(), 4);
}
