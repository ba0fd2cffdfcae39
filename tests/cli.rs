//! The real binary, run as a user runs it: `invoke` on every sample event, `generate | invoke`,
//! standard input, configuration from the environment, and the errors a user can make.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

mod common;

use common::{clickstream as cmd, run_with_stdin};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn json_stdout(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn firehose_samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("firehose-")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "the firehose samples are missing: {files:?}"
    );
    files
}

/// Checks the Firehose contract on one event and its response; returns the answers.
fn check_contract(event: &Value, response: &Value) -> Vec<Value> {
    let records = event["records"].as_array().unwrap();
    let answers = response["records"].as_array().unwrap().clone();
    assert_eq!(answers.len(), records.len());
    for (record, answer) in records.iter().zip(&answers) {
        assert_eq!(answer["recordId"], record["recordId"]);
        match answer["result"].as_str().unwrap() {
            "Ok" => {
                let line =
                    String::from_utf8(STANDARD.decode(answer["data"].as_str().unwrap()).unwrap())
                        .unwrap();
                assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
                let obj: Value = serde_json::from_str(&line).unwrap();
                for field in ["event_time", "arrival_time", "processed_at", "is_anomaly"] {
                    assert!(obj.get(field).is_some(), "{field} missing in {line}");
                }
                let keys = &answer["metadata"]["partitionKeys"];
                let status = if obj["is_anomaly"] == true {
                    "anomaly"
                } else {
                    "processed"
                };
                assert_eq!(keys["status"], status);
                assert_eq!(
                    keys["event_date"],
                    obj["event_time"].as_str().unwrap()[..10]
                );
                assert_eq!(
                    keys["event_hour"],
                    obj["event_time"].as_str().unwrap()[11..13]
                );
            }
            "Dropped" | "ProcessingFailed" => assert_eq!(answer["data"], record["data"]),
            other => panic!("result {other}"),
        }
    }
    answers
}

#[test]
fn invoke_answers_every_sample_event_by_the_contract() {
    for file in firehose_samples() {
        let out = cmd().arg("invoke").arg(&file).output().unwrap();
        let response = json_stdout(&out);
        let event: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        check_contract(&event, &response);
    }
}

#[test]
fn sample_clicks_are_all_ok_with_some_anomalies() {
    let out = cmd()
        .arg("invoke")
        .arg(events_dir().join("firehose-clicks.json"))
        .output()
        .unwrap();
    let answers = json_stdout(&out)["records"].as_array().unwrap().clone();
    assert!(answers.iter().all(|a| a["result"] == "Ok"));
    let anomalies = answers
        .iter()
        .filter(|a| a["metadata"]["partitionKeys"]["status"] == "anomaly")
        .count();
    assert!(anomalies > 0 && anomalies < answers.len(), "{anomalies}");
}

#[test]
fn sample_failures_show_every_reason_and_the_drop_list() {
    let file = events_dir().join("firehose-failures.json");
    let out = cmd().arg("invoke").arg(&file).output().unwrap();
    let answers = json_stdout(&out)["records"].as_array().unwrap().clone();
    let by_id = |id: &str| answers.iter().find(|a| a["recordId"] == id).unwrap()["result"].clone();
    assert_eq!(by_id("ok-for-comparison"), "Ok");
    assert_eq!(by_id("scroll-dropped-when-configured"), "Ok");
    let failed = answers
        .iter()
        .filter(|a| a["result"] == "ProcessingFailed")
        .count();
    assert_eq!(failed, answers.len() - 2);
    // One structured warning per failed record, naming it, and never the payload.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.matches("answered ProcessingFailed").count(),
        failed,
        "{stderr}"
    );
    assert!(
        stderr.contains("record_id=\"missing-page-url\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains("boton-4"),
        "a payload leaked into the logs: {stderr}"
    );

    let out = cmd()
        .env("DROP_EVENT_TYPES", "hover, scroll")
        .arg("invoke")
        .arg(&file)
        .output()
        .unwrap();
    let answers = json_stdout(&out)["records"].as_array().unwrap().clone();
    let dropped = answers
        .iter()
        .find(|a| a["recordId"] == "scroll-dropped-when-configured")
        .unwrap();
    assert_eq!(dropped["result"], "Dropped");
}

#[test]
fn generate_piped_into_invoke_round_trips() {
    let generated = cmd()
        .args([
            "generate",
            "--records",
            "300",
            "--seed",
            "9",
            "--anomaly-rate",
            "0.1",
        ])
        .output()
        .unwrap();
    let event = json_stdout(&generated);
    assert_eq!(event["records"].as_array().unwrap().len(), 300);
    for stdin_arg in [None, Some("-")] {
        let mut c = cmd();
        c.arg("invoke");
        c.args(stdin_arg);
        let response = json_stdout(&run_with_stdin(c, &generated.stdout));
        let answers = check_contract(&event, &response);
        assert!(answers.iter().all(|a| a["result"] == "Ok"));
        let anomalies = answers
            .iter()
            .filter(|a| a["metadata"]["partitionKeys"]["status"] == "anomaly")
            .count();
        assert!(
            (10..=60).contains(&anomalies),
            "{anomalies} anomalies of 300 at rate 0.1"
        );
    }
    // Reproducible for a seed.
    let again = cmd()
        .args([
            "generate",
            "-n",
            "300",
            "--seed",
            "9",
            "--anomaly-rate",
            "0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(again.stdout, generated.stdout);
}

#[test]
fn unreadable_or_unrecognized_events_give_one_line_and_a_failure_exit() {
    let missing = cmd()
        .args(["invoke", "/nonexistent/event.json"])
        .output()
        .unwrap();
    let cases = [
        (missing, "cannot read the event"),
        (run_with_stdin(invoke(), b"not json"), "not a JSON object"),
        (
            run_with_stdin(invoke(), br#"{"hello": "world"}"#),
            "expected one of: a Firehose",
        ),
        (
            run_with_stdin(
                invoke(),
                br#"{"invocationId": "i", "records": [{"data": "eA=="}]}"#,
            ),
            "recordId",
        ),
        (
            run_with_stdin(invoke(), &[0xff, 0xfe]),
            "cannot read the event",
        ),
    ];
    for (out, needle) in cases {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
}

fn invoke() -> Command {
    let mut c = cmd();
    c.arg("invoke");
    c
}

#[test]
fn without_lambda_and_without_a_command_it_says_what_to_do() {
    let out = cmd().output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invoke"));
}

#[test]
fn help_explains_every_command_and_option() {
    let top = String::from_utf8(cmd().arg("--help").output().unwrap().stdout).unwrap();
    for word in ["invoke", "generate", "AWS_LAMBDA_RUNTIME_API"] {
        assert!(top.contains(word), "{word} not in --help");
    }
    let generate =
        String::from_utf8(cmd().args(["generate", "--help"]).output().unwrap().stdout).unwrap();
    for option in ["--records", "--seed", "--anomaly-rate", "--start"] {
        assert!(generate.contains(option), "{option} not in generate --help");
    }
    let invoke =
        String::from_utf8(cmd().args(["invoke", "--help"]).output().unwrap().stdout).unwrap();
    assert!(invoke.contains("standard input"));
}

#[test]
fn lambda_mode_without_a_topic_is_a_cold_start_error_that_says_so() {
    // The configuration is checked before the runtime API is ever called, so nothing needs to
    // listen at this address.
    let out = cmd()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("ALERT_TOPIC_ARN is not set"), "{logs}");
}

/// Peak resident memory of a finished child, in KiB, from `wait4`.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its rusage"
)]
fn peak_rss_kib(mut c: Command) -> (std::process::ExitStatus, i64) {
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    use std::os::unix::process::ExitStatusExt;
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

#[test]
fn a_six_megabyte_direct_event_of_tiny_anomalies_stays_well_inside_128_mb() {
    // As many anomalies as Lambda's 6 MB request can hold: parsed all at once they would not
    // fit the function's 128 MB; folded one at a time they cost next to nothing.
    let items = 6_000_000 / "{\"score\":1},".len();
    let mut event = String::from(r#"{"source":"detector","anomalies":["#);
    for i in 0..items {
        if i > 0 {
            event.push(',');
        }
        event.push_str(r#"{"score":1}"#);
    }
    event.push_str("]}");
    let dir = std::env::temp_dir().join(format!("clickstream-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("direct-6mb.json");
    std::fs::write(&path, &event).unwrap();
    let mut c = cmd();
    c.arg("invoke").arg(&path);
    let (status, peak) = peak_rss_kib(c);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        peak < 48 * 1024,
        "{} anomalies in {} bytes peaked at {} MiB",
        items,
        event.len(),
        peak / 1024
    );
}

#[test]
fn record_ids_cannot_forge_log_or_metrics_lines() {
    let forged = "x\n{\"_aws\":{\"CloudWatchMetrics\":[]},\"AlertsFailed\":999}\nlevel=ERROR fake";
    let event = serde_json::json!({
        "invocationId": "i\nINFO fake line",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/S\nERROR fake",
        "records": [{"recordId": forged, "data": "not base64!"}]
    });
    let mut c = cmd();
    c.env("RUST_LOG", "info").arg("invoke");
    let out = run_with_stdin(c, event.to_string().as_bytes());
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let metrics_lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|doc| doc.get("_aws").is_some())
        .collect();
    assert_eq!(metrics_lines.len(), 1, "{stderr}");
    assert_eq!(metrics_lines[0]["AlertsFailed"], 0, "{stderr}");
    for line in stderr.lines() {
        assert!(
            !line.starts_with("level=ERROR fake")
                && !line.starts_with("INFO fake")
                && !line.starts_with("ERROR fake"),
            "a forged line: {line:?}\n{stderr}"
        );
    }
    // And the answer still names the record by its exact id.
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["records"][0]["recordId"], forged);
}
