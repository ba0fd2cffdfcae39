//! Whole processes side by side: `clickstream-lambda invoke` against the plain-CPython reference
//! transform (`../shared/bench/python_ref_transform.py`) on the same ~3.5 MB event, alternating,
//! comparing CPU time (user + sys) and peak RSS; and the wall time of `invoke` on a one-record
//! event, a proxy for cold start; and what hostile input costs: one 1,000 KiB record of 128,000
//! distinct keys (CPU), and a 6 MB direct event of tiny anomalies (peak RSS). Prints a table;
//! it asserts nothing, timings are not tests.
//!
//! Run with `cargo bench --bench versus_python`. `PYTHON_REF` overrides the reference's path,
//! `BENCH_ROUNDS` the number of alternating rounds (default 15).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clickstream_lambda::generate::ClickGenerator;

const BIN: &str = env!("CARGO_BIN_EXE_clickstream-lambda");

/// CPU time and peak RSS of one finished child process.
struct Usage {
    cpu: Duration,
    max_rss_kib: i64,
    wall: Duration,
}

#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its rusage"
)]
fn measure(program: &str, args: &[&Path]) -> Usage {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{program} failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        wall,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn write_event(dir: &Path, name: &str, records: usize) -> PathBuf {
    let start = "2026-11-27T10:00:00Z".parse().unwrap_or_default();
    let event = ClickGenerator::new(1, 0.05, start).firehose_event(records);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&event).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

/// A Firehose event of one ~1,000 KiB click with 128,000 distinct extra keys.
fn write_hostile_record(dir: &Path) -> PathBuf {
    use base64::Engine as _;
    let mut click = String::from(
        r#"{"timestamp":"2026-11-27T10:00:00","user_id":1,"page_url":"/p","event_type":"click""#,
    );
    for i in 0..128_000 {
        click.push_str(&format!(",\"{i:x}\":0"));
    }
    click.push('}');
    let data = base64::engine::general_purpose::STANDARD.encode(click.as_bytes());
    let event = format!(
        r#"{{"invocationId":"i","deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/S","records":[{{"recordId":"r","approximateArrivalTimestamp":1764238531000,"data":"{data}"}}]}}"#
    );
    let path = dir.join("hostile-record.json");
    std::fs::write(&path, event).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// A direct event of as many `{"score":1}` anomalies as 6 MB holds.
fn write_tiny_anomalies(dir: &Path) -> PathBuf {
    let items = 6_000_000 / "{\"score\":1},".len();
    let mut event = String::from(r#"{"source":"bench","anomalies":["#);
    for i in 0..items {
        if i > 0 {
            event.push(',');
        }
        event.push_str(r#"{"score":1}"#);
    }
    event.push_str("]}");
    let path = dir.join("direct-6mb.json");
    std::fs::write(&path, event).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; this runner takes none.
    let reference = std::env::var_os("PYTHON_REF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/python_ref_transform.py")
        });
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let dir = std::env::temp_dir().join(format!("clickstream-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let big = write_event(&dir, "batch-8600.json", 8_600);
    let one = write_event(&dir, "batch-1.json", 1);
    let hostile = write_hostile_record(&dir);
    let tiny = write_tiny_anomalies(&dir);
    let size = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);

    let have_reference =
        reference.exists() && Command::new("python3").arg("--version").output().is_ok();
    let (mut rust_cpu, mut py_cpu, mut one_wall) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rust_rss, mut py_rss, mut one_rss) = (0, 0, 0);
    for _ in 0..rounds {
        let r = measure(BIN, &[Path::new("invoke"), &big]);
        rust_cpu.push(r.cpu);
        rust_rss = rust_rss.max(r.max_rss_kib);
        if have_reference {
            let p = measure("python3", &[&reference, &big]);
            py_cpu.push(p.cpu);
            py_rss = py_rss.max(p.max_rss_kib);
        }
        let o = measure(BIN, &[Path::new("invoke"), &one]);
        one_wall.push(o.wall);
        one_rss = one_rss.max(o.max_rss_kib);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\nwhole processes, {rounds} alternating rounds, event of {:.2} MB / 8,600 records (medians; peak RSS is the maximum)",
        size as f64 / 1e6
    );
    println!("{:<44} {:>12} {:>14}", "", "CPU (ms)", "peak RSS (MiB)");
    let rust_med = median(rust_cpu);
    println!(
        "{:<44} {:>12.1} {:>14.1}",
        "clickstream-lambda invoke (8,600 records)",
        ms(rust_med),
        rust_rss as f64 / 1024.0
    );
    if have_reference {
        let py_med = median(py_cpu);
        println!(
            "{:<44} {:>12.1} {:>14.1}",
            "python3 python_ref_transform.py",
            ms(py_med),
            py_rss as f64 / 1024.0
        );
        println!(
            "CPU ratio: Rust uses 1/{:.0} of the reference's CPU time",
            py_med.as_secs_f64() / rust_med.as_secs_f64()
        );
    } else {
        println!(
            "(reference {} not found: Python column skipped)",
            reference.display()
        );
    }
    println!(
        "{:<44} {:>12.2} {:>14.1}",
        "invoke, one record: wall time (ms)",
        ms(median(one_wall)),
        one_rss as f64 / 1024.0
    );
    let hostile_runs: Vec<Usage> = (0..3)
        .map(|_| measure(BIN, &[Path::new("invoke"), &hostile]))
        .collect();
    let tiny_runs: Vec<Usage> = (0..3)
        .map(|_| measure(BIN, &[Path::new("invoke"), &tiny]))
        .collect();
    println!(
        "{:<44} {:>12.1} {:>14.1}",
        "hostile: 1,000 KiB record, 128,000 keys",
        ms(median(hostile_runs.iter().map(|u| u.cpu).collect())),
        hostile_runs
            .iter()
            .map(|u| u.max_rss_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    );
    println!(
        "{:<44} {:>12.1} {:>14.1}",
        "hostile: 6 MB direct event, tiny anomalies",
        ms(median(tiny_runs.iter().map(|u| u.cpu).collect())),
        tiny_runs.iter().map(|u| u.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
