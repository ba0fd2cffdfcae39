//! Whole processes side by side: `clickstream-lambda invoke` with its detectors on (the
//! defaults) and off (`DETECT_RATES=off DETECT_USER_BURSTS=off`) against the plain-CPython
//! reference transform (`../shared/bench/python_ref_transform.py`) on the same ~3.5 MB event,
//! alternating, comparing CPU time (user + sys) and peak RSS; and the wall time of `invoke` on a
//! one-record event, a proxy for cold start; and what hostile input costs: one 1,000 KiB record
//! of 128,000 distinct keys (CPU), a 6 MB direct event of tiny anomalies (peak RSS), and
//! 100,000 clicks of 100,000 distinct pages and users, one click each, replayed through one
//! warm handler with the detectors on and off (peak RSS and its difference). Prints a table;
//! it asserts nothing, timings are not tests.
//!
//! The 100,000 clicks are replayed as 50 one-minute batches of 2,000 (about 0.8 MB each, under
//! the template's 1 MiB `BufferSizeInMBs`), not invoked as one event: the answer to 100,000
//! records cannot fit Lambda's 6 MB response limit (even answered `ProcessingFailed` with
//! their original data), so one such batch is refused whole, before the rate detector sees
//! it. Replayed, the rate windows also close and are scored, as in a warm container.
//!
//! Last, how CPU and memory grow with the batch's size (10 KB to 3.5 MB) and with the distinct
//! pages and users of 100,000 replayed clicks (10 to 100,000).
//!
//! Run with `cargo bench --bench versus_python`. `PYTHON_REF` overrides the reference's path
//! (by default `shared/bench/python_ref_transform.py` in the first folder above the checkout
//! that has one),
//! `BENCH_ROUNDS` the number of alternating rounds (default 15), `CLICKSTREAM_BIN` the binary
//! measured.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clickstream_lambda::generate::{Click, ClickGenerator, STREAM_ARN};

/// The binary cargo built for this bench; `CLICKSTREAM_BIN` names another (a copy taken when
/// the target directory is shared with builds of other checkouts).
fn binary() -> String {
    std::env::var("CLICKSTREAM_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_clickstream-lambda").to_owned())
}

/// The environment that turns the batch and cross-batch detectors off (the producer's flag is
/// only read, and stays on).
const DETECTORS_OFF: &[(&str, &str)] = &[("DETECT_RATES", "off"), ("DETECT_USER_BURSTS", "off")];
/// The defaults: every detector on. The variables are removed, not inherited from the shell.
const DETECTORS_ON: &[(&str, &str)] = &[];
/// Every variable the function reads, removed from the children's environment so the calling
/// shell cannot change what is measured.
const FUNCTION_VARIABLES: &[&str] = &[
    "ALERT_TOPIC_ARN",
    "ALERT_COOLDOWN_SECONDS",
    "DROP_EVENT_TYPES",
    "PROCESSED_DATA_URI",
    "DETECT_PRODUCER_FLAG",
    "DETECT_USER_BURSTS",
    "BURST_MIN_CLICKS",
    "BURST_SECONDS",
    "DETECT_RATES",
    "RATE_WINDOW_SECONDS",
    "RATE_LATENESS_SECONDS",
    "RATE_THRESHOLD",
    "RATE_MIN_EXPECTED",
    "RATE_TRACKED_PAGES",
];
/// The distinct pages and users of the high-cardinality replay, and its batches.
const DISTINCT: usize = 100_000;
const DISTINCT_BATCHES: usize = 50;

/// CPU time and peak RSS of one finished child process.
struct Usage {
    cpu: Duration,
    max_rss_kib: i64,
    wall: Duration,
}

/// The first argument that makes this binary the measuring helper (see [`measure`]).
const MEASURE: &str = "--measure-child";

/// Runs `program` with `args` in the environment given, from a fresh, small helper process:
/// this binary again, with [`MEASURE`] as its first argument.
///
/// Not spawned from here directly, because Linux counts a process's peak RSS from before its
/// `exec`: a child spawned by a process is charged that process's own peak (the events this
/// bench builds weigh tens of MiB), and small figures would all read the same. The helper's own
/// peak, the floor of what it reports, is a few MiB.
fn measure(program: &str, args: &[&Path], env: &[(&str, &str)]) -> Usage {
    let mut command = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")));
    for name in FUNCTION_VARIABLES {
        command.env_remove(name);
    }
    let out = command
        .arg(MEASURE)
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot start the measuring helper: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{text:?}: {e}")))
        .collect();
    let [cpu_ns, rss_kib, wall_ns] = numbers[..] else {
        panic!("the helper printed {text:?}");
    };
    Usage {
        cpu: Duration::from_nanos(cpu_ns),
        max_rss_kib: rss_kib as i64,
        wall: Duration::from_nanos(wall_ns),
    }
}

/// The helper: runs the program named by the arguments after [`MEASURE`] and prints its CPU
/// time (ns), peak RSS (KiB) and wall time (ns), from `wait4`, which also reaps the child.
fn measure_child(program: &str, args: &[String]) -> ! {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
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
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        eprintln!("{program} {args:?} failed");
        std::process::exit(1);
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    println!("{} {} {}", cpu.as_nanos(), usage.ru_maxrss, wall.as_nanos());
    std::process::exit(0);
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
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

/// JSON Lines of Firehose events: [`DISTINCT`] clicks in [`DISTINCT_BATCHES`] one-minute
/// batches, click `i` by user `i % distinct + 1` on page `/pagina-{i % distinct + 1}`, evenly
/// spread in event time, each arriving a second after its click.
fn write_distinct_replay(dir: &Path, distinct: usize) -> PathBuf {
    use base64::Engine as _;
    let start: chrono::DateTime<chrono::Utc> = "2026-11-27T10:00:00Z".parse().unwrap_or_default();
    let per_batch = DISTINCT / DISTINCT_BATCHES;
    let spacing = chrono::Duration::microseconds(60_000_000 / per_batch as i64);
    let mut lines = String::new();
    for batch in 0..DISTINCT_BATCHES {
        let records: Vec<serde_json::Value> = (0..per_batch)
            .map(|j| {
                let i = batch * per_batch + j;
                let click = Click {
                    timestamp: start + spacing * i as i32,
                    user_id: (i % distinct) as u32 + 1,
                    page: (i % distinct) as u32 + 1,
                    element: (i % 20) as u32 + 1,
                    x: (i % 1920) as u32,
                    y: (i % 1080) as u32,
                    anomaly: false,
                };
                let arrival = click.timestamp + chrono::Duration::seconds(1);
                serde_json::json!({
                    "recordId": format!("r{i}"),
                    "approximateArrivalTimestamp": arrival.timestamp_millis(),
                    "data": base64::engine::general_purpose::STANDARD.encode(click.to_json()),
                })
            })
            .collect();
        let event = serde_json::json!({
            "invocationId": format!("i{batch}"),
            "deliveryStreamArn": STREAM_ARN,
            "records": records,
        });
        lines.push_str(&event.to_string());
        lines.push('\n');
    }
    let path = dir.join(format!("distinct-{distinct}.jsonl"));
    std::fs::write(&path, lines).unwrap_or_else(|e| panic!("{e}"));
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, program, rest @ ..] = &args[..]
        && flag == MEASURE
    {
        measure_child(program, rest);
    }
    // `cargo bench` passes harness flags such as --bench; this runner takes none.
    // `../shared/bench/` beside the checkout, or beside any folder above it (a git worktree
    // of the project sits deeper than its main checkout).
    let reference = std::env::var_os("PYTHON_REF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest
                .ancestors()
                .skip(1)
                .map(|dir| dir.join("shared/bench/python_ref_transform.py"))
                .find(|path| path.exists())
                .unwrap_or_else(|| manifest.join("../shared/bench/python_ref_transform.py"))
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

    let distinct = write_distinct_replay(&dir, DISTINCT);

    let have_reference =
        reference.exists() && Command::new("python3").arg("--version").output().is_ok();
    let (mut on_cpu, mut off_cpu, mut py_cpu, mut one_wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // on / off of the same round: the pair shares whatever else the machine was doing.
    let mut paired = Vec::new();
    let (mut on_rss, mut off_rss, mut py_rss, mut one_rss) = (0, 0, 0, 0);
    let bin = binary();
    let bin = bin.as_str();
    let invoke_big = [Path::new("invoke"), &big];
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warmer cache.
        let (on, off) = if round % 2 == 0 {
            let on = measure(bin, &invoke_big, DETECTORS_ON);
            (on, measure(bin, &invoke_big, DETECTORS_OFF))
        } else {
            let off = measure(bin, &invoke_big, DETECTORS_OFF);
            (measure(bin, &invoke_big, DETECTORS_ON), off)
        };
        paired.push(on.cpu.as_secs_f64() / off.cpu.as_secs_f64());
        on_cpu.push(on.cpu);
        off_cpu.push(off.cpu);
        on_rss = on_rss.max(on.max_rss_kib);
        off_rss = off_rss.max(off.max_rss_kib);
        if have_reference {
            let p = measure("python3", &[&reference, &big], &[]);
            py_cpu.push(p.cpu);
            py_rss = py_rss.max(p.max_rss_kib);
        }
        let o = measure(bin, &[Path::new("invoke"), &one], DETECTORS_ON);
        one_wall.push(o.wall);
        one_rss = one_rss.max(o.max_rss_kib);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mib = |kib: i64| kib as f64 / 1024.0;
    println!(
        "\nwhole processes, {rounds} alternating rounds, event of {:.2} MB / 8,600 records (medians; peak RSS is the maximum)",
        size as f64 / 1e6
    );
    println!("binary measured: {bin}");
    println!("{:<52} {:>12} {:>14}", "", "CPU (ms)", "peak RSS (MiB)");
    let (on_med, off_med) = (median(on_cpu), median(off_cpu));
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "invoke (8,600 records), detectors on (defaults)",
        ms(on_med),
        mib(on_rss)
    );
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "invoke (8,600 records), detectors off",
        ms(off_med),
        mib(off_rss)
    );
    // The first run of a round follows the reference's 340 ms and starts on colder caches, so
    // a round's ratio leans towards whichever went first: on first in the even rounds, off first
    // in the odd ones. The median of all the rounds' ratios then leans towards the larger group
    // (on first, with an odd count); two consecutive rounds, one of each order, combined by
    // their geometric mean, cancel the lean.
    let on_first: Vec<f64> = paired.iter().step_by(2).copied().collect();
    let off_first: Vec<f64> = paired.iter().skip(1).step_by(2).copied().collect();
    let balanced: Vec<f64> = on_first
        .iter()
        .zip(&off_first)
        .map(|(a, b)| (a * b).sqrt())
        .collect();
    println!(
        "detection's cost: on/off = {:.3} (medians), {:.3} (median of {} balanced round pairs; \
         same-round ratios {:.3} with on first, {:.3} with off first)",
        on_med.as_secs_f64() / off_med.as_secs_f64(),
        if balanced.is_empty() {
            f64::NAN
        } else {
            median(balanced.clone())
        },
        balanced.len(),
        if on_first.is_empty() {
            f64::NAN
        } else {
            median(on_first.clone())
        },
        if off_first.is_empty() {
            f64::NAN
        } else {
            median(off_first.clone())
        },
    );
    if have_reference {
        let py_med = median(py_cpu);
        println!(
            "{:<52} {:>12.1} {:>14.1}",
            "python3 python_ref_transform.py",
            ms(py_med),
            mib(py_rss)
        );
        println!(
            "CPU ratio: Rust uses 1/{:.1} of the reference's CPU time with detectors on, 1/{:.1} with them off",
            py_med.as_secs_f64() / on_med.as_secs_f64(),
            py_med.as_secs_f64() / off_med.as_secs_f64()
        );
    } else {
        println!(
            "(reference {} not found: Python column skipped)",
            reference.display()
        );
    }
    println!(
        "{:<52} {:>12.2} {:>14.1}",
        "invoke, one record: wall time (ms)",
        ms(median(one_wall)),
        mib(one_rss)
    );
    let hostile_runs: Vec<Usage> = (0..3)
        .map(|_| measure(bin, &[Path::new("invoke"), &hostile], DETECTORS_ON))
        .collect();
    let tiny_runs: Vec<Usage> = (0..3)
        .map(|_| measure(bin, &[Path::new("invoke"), &tiny], DETECTORS_ON))
        .collect();
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "hostile: 1,000 KiB record, 128,000 keys",
        ms(median(hostile_runs.iter().map(|u| u.cpu).collect())),
        mib(hostile_runs
            .iter()
            .map(|u| u.max_rss_kib)
            .max()
            .unwrap_or(0))
    );
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "hostile: 6 MB direct event, tiny anomalies",
        ms(median(tiny_runs.iter().map(|u| u.cpu).collect())),
        mib(tiny_runs.iter().map(|u| u.max_rss_kib).max().unwrap_or(0))
    );

    // Peak RSS is nearly deterministic; the median of a few alternating runs takes out the
    // odd one the machine disturbed.
    let replay = [Path::new("replay"), &distinct];
    let (mut d_on, mut d_off) = (Vec::new(), Vec::new());
    for round in 0..5 {
        if round % 2 == 0 {
            d_on.push(measure(bin, &replay, DETECTORS_ON));
            d_off.push(measure(bin, &replay, DETECTORS_OFF));
        } else {
            d_off.push(measure(bin, &replay, DETECTORS_OFF));
            d_on.push(measure(bin, &replay, DETECTORS_ON));
        }
    }
    let rss = |runs: &[Usage]| median(runs.iter().map(|u| u.max_rss_kib).collect());
    let cpu = |runs: &[Usage]| median(runs.iter().map(|u| u.cpu).collect());
    println!(
        "\n{DISTINCT} distinct pages and users, one click each, replayed as {DISTINCT_BATCHES} batches through one handler (medians of 5)"
    );
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "replay, detectors on (defaults)",
        ms(cpu(&d_on)),
        mib(rss(&d_on))
    );
    println!(
        "{:<52} {:>12.1} {:>14.1}",
        "replay, detectors off",
        ms(cpu(&d_off)),
        mib(rss(&d_off))
    );
    println!(
        "detection's memory: peak RSS on - off = {:+.2} MiB",
        mib(rss(&d_on) - rss(&d_off))
    );

    // How CPU and memory grow: with the batch's bytes (seed-shaped records of ~400 bytes), and
    // with the distinct pages and users of the same 100,000 clicks, detectors on.
    println!("\ngrowth, detectors on (CPU: median of 5; peak RSS: median of 5)");
    println!(
        "{:<52} {:>12} {:>14}",
        "invoke of one batch", "CPU (ms)", "peak RSS (MiB)"
    );
    for records in [25, 250, 2_500, 8_600] {
        let path = write_event(&dir, &format!("batch-{records}.json"), records);
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let runs: Vec<Usage> = (0..5)
            .map(|_| measure(bin, &[Path::new("invoke"), &path], DETECTORS_ON))
            .collect();
        println!(
            "{:<52} {:>12.2} {:>14.1}",
            format!("{records} records, {:.0} KB", bytes as f64 / 1e3),
            ms(cpu(&runs)),
            mib(rss(&runs))
        );
    }
    println!(
        "{:<52} {:>12} {:>14}",
        "replay of 100,000 clicks in 50 batches", "CPU (ms)", "peak RSS (MiB)"
    );
    for keys in [10, 1_000, DISTINCT] {
        let path = write_distinct_replay(&dir, keys);
        let runs: Vec<Usage> = (0..5)
            .map(|_| measure(bin, &[Path::new("replay"), &path], DETECTORS_ON))
            .collect();
        println!(
            "{:<52} {:>12.1} {:>14.1}",
            format!("{keys} distinct pages and users"),
            ms(cpu(&runs)),
            mib(rss(&runs))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
