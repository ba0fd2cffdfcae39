//! `replay --processed` on this function's own output: generated traffic goes through `invoke`
//! batch by batch, the `Ok` records' lines are split into the processed bucket's two status
//! partitions as Firehose would write them, and replaying those lines finds what replaying the
//! original events finds, alert by alert.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

mod common;

use common::clickstream as cmd;

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = cmd();
    // Every finding in the alert of the invocation that made it, whatever the batches.
    c.env("ALERT_COOLDOWN_SECONDS", "0").args(args);
    match stdin {
        None => c.output().unwrap(),
        Some(input) => common::run_with_stdin(c, input),
    }
}

/// Each alert line as (at, subject, severity, its anomalies), the anomalies without what names
/// a record (record ids are the replay's own) and sorted.
fn alerts(out: &Output) -> Vec<(String, String, String, BTreeSet<String>)> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| {
            let alert: Value = serde_json::from_str(line).unwrap();
            let anomalies = alert["anomalies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let mut a = a.clone();
                    if let Some(details) = a.get_mut("details").and_then(Value::as_object_mut) {
                        details.remove("record_id");
                    }
                    a.to_string()
                })
                .collect();
            (
                alert["at"].as_str().unwrap().to_owned(),
                alert["subject"].as_str().unwrap().to_owned(),
                alert["severity"].as_str().unwrap().to_owned(),
                anomalies,
            )
        })
        .collect()
}

/// Runs every event of `events` through `invoke` and writes the `Ok` records' lines into
/// `dir`, one file per status partition, as Firehose delivers them; returns the two files.
fn processed_lines(events: &str, dir: &Path) -> [std::path::PathBuf; 2] {
    let mut partitions = [String::new(), String::new()];
    for event in events.lines() {
        let out = run(&["invoke"], Some(event.as_bytes()));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        for record in answer["records"].as_array().unwrap() {
            assert_eq!(record["result"], "Ok", "{record}");
            let line = STANDARD.decode(record["data"].as_str().unwrap()).unwrap();
            let status = &record["metadata"]["partitionKeys"]["status"];
            let i = usize::from(status == "processed");
            partitions[i].push_str(std::str::from_utf8(&line).unwrap());
        }
    }
    assert!(
        partitions.iter().all(|p| !p.is_empty()),
        "both partitions have lines"
    );
    let files = [
        dir.join("status=anomaly.jsonl"),
        dir.join("status=processed.jsonl"),
    ];
    for (file, lines) in files.iter().zip(&partitions) {
        std::fs::write(file, lines).unwrap();
    }
    files
}

#[test]
fn replaying_the_processed_lines_finds_what_replaying_the_events_finds() {
    let generated = run(
        &[
            "generate",
            "--duration",
            "100m",
            "--rate",
            "5",
            "--seed",
            "2",
            "--inject",
            "spike:at=50m,page=1",
            "--inject",
            "bot:at=70m,user=777",
        ],
        None,
    );
    assert!(generated.status.success());
    let events = String::from_utf8(generated.stdout).unwrap();
    let dir = std::env::temp_dir().join(format!("replay-processed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let [anomaly, processed] = processed_lines(&events, &dir);

    let original = alerts(&run(&["replay"], Some(events.as_bytes())));
    let rebuilt = alerts(&run(
        &[
            "replay",
            "--processed",
            anomaly.to_str().unwrap(),
            processed.to_str().unwrap(),
        ],
        None,
    ));
    std::fs::remove_dir_all(&dir).unwrap();

    let metrics: BTreeSet<String> = original
        .iter()
        .flat_map(|(_, _, _, anomalies)| anomalies)
        .map(|a| serde_json::from_str::<Value>(a).unwrap()["metric"].to_string())
        .collect();
    assert!(
        metrics.contains("\"click_rate\"") && metrics.contains("\"user_burst\""),
        "the traffic has a rate finding and a bot to find: {metrics:?}"
    );
    assert_eq!(rebuilt, original);
}

#[test]
fn a_line_that_is_not_a_processed_record_is_left_out_and_said() {
    let line = r#"{"timestamp":"2026-11-27T09:59:58.192496","user_id":189,"page_url":"/p","event_type":"click","event_time":"2026-11-27T09:59:58.192Z","arrival_time":"2026-11-27T09:59:58.586Z","processed_at":"2026-11-27T10:00:39.855Z","is_anomaly":false,"anomaly_reasons":[]}"#;
    let raw =
        r#"{"timestamp":"2026-11-27T09:59:59","user_id":1,"page_url":"/p","event_type":"click"}"#;
    let input = format!("{line}\n{raw}\n\n{line}\n");
    let out = run(&["replay", "--processed"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("processed line left out"), "{stderr}");
    assert!(stderr.contains("line=2"), "{stderr}");
    assert!(stderr.contains("no processed_at"), "{stderr}");
    assert!(out.stdout.is_empty(), "no anomaly in two ordinary clicks");
}
