//! `detect` through the real binary, as the evaluation script and a user run it: a file and
//! standard input give the same rows, a bad row exits 1 naming its line, `--plot` writes an SVG.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};

mod common;

use common::{clickstream, run_with_stdin};

/// A day of five-minute rows with one spike, as the public benchmarks write them.
fn series() -> String {
    let mut text = String::from("timestamp,value\n");
    for i in 0..288 {
        let v = if i == 200 { 900 } else { 100 + (i * 13) % 17 };
        text.push_str(&format!(
            "2015-02-26 {:02}:{:02}:53,{v}\n",
            i * 5 / 60,
            i * 5 % 60
        ));
    }
    text
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detect-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn detect(args: &[&str], stdin: &str) -> Output {
    let mut c = clickstream();
    c.arg("detect").args(args);
    run_with_stdin(c, stdin.as_bytes())
}

#[test]
fn a_file_and_standard_input_give_the_same_rows() {
    let text = series();
    let file = temp("series.csv");
    std::fs::write(&file, &text).unwrap();
    let from_file = detect(&[file.to_str().unwrap()], "");
    let from_stdin = detect(&["-"], &text);
    let from_nothing = detect(&[], &text);
    std::fs::remove_file(&file).unwrap();
    assert!(from_file.status.success(), "{from_file:?}");
    assert_eq!(from_file.stdout, from_stdin.stdout);
    assert_eq!(from_file.stdout, from_nothing.stdout);
    let out = String::from_utf8(from_file.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,value,score,anomaly");
    assert_eq!(lines.len(), 289);
    let flagged: Vec<&str> = lines
        .iter()
        .filter(|l| l.ends_with(",1"))
        .copied()
        .collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(
        flagged[0].starts_with("2015-02-26 16:40:53,900,"),
        "{flagged:?}"
    );
}

#[test]
fn a_bad_row_exits_1_naming_its_line() {
    let text = format!("{}2015-02-27 00:00:53,-3\n", series());
    let out = detect(&[], &text);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "clickstream-lambda: standard input: line 290: value `-3` is not a non-negative count \
         or rate"
    );
    // The rows before it were printed as they were judged.
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 289);

    let missing = detect(&["/nonexistent/series.csv"], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent"));

    let no_header = detect(&[], "2015-02-26 00:00:53,1\n");
    assert_eq!(no_header.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_header.stderr).contains("line 1: the header must be"));
}

#[test]
fn plot_writes_an_svg_of_the_series() {
    let svg = temp("series.svg");
    let out = detect(&["--plot", svg.to_str().unwrap()], &series());
    assert!(out.status.success(), "{out:?}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_file(&svg).unwrap();
    assert!(drawn.starts_with("<svg"));
    assert!(drawn.contains("standard input: clickstream-lambda detect"));
    assert_eq!(
        drawn.matches("<circle").count(),
        2,
        "one flagged window and its legend"
    );
    // Standard output is the same with or without the plot.
    assert_eq!(out.stdout, detect(&[], &series()).stdout);

    let unwritable = detect(&["--plot", "/nonexistent/dir/x.svg"], &series());
    assert_eq!(unwritable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unwritable.stderr).contains("cannot draw"));
}

/// Standard output's rows, without the header.
fn rows(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// A week of five-minute rows: a daily rhythm with a little noise, and moderate rises (about
/// four spreads) now and then, which only a lower threshold calls anomalies.
fn week() -> String {
    let mut text = String::from("timestamp,value\n");
    let mut rng = 7u64;
    for i in 0..7 * 288 {
        // A small linear congruential generator: the same rows every run, no dependency.
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((rng >> 33) % 21) as f64 - 10.0;
        let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
        let mut v = 200.0 * (1.0 + 0.3 * phase.sin()) + noise;
        if i % 97 == 50 {
            v += 65.0;
        }
        let (day, minute) = (i / 288, i % 288 * 5);
        text.push_str(&format!(
            "2015-03-{:02} {:02}:{:02}:00,{v:.0}\n",
            day + 2,
            minute / 60,
            minute % 60
        ));
    }
    text
}

fn detect_env(env: &[(&str, &str)], stdin: &str) -> Output {
    let mut c = clickstream();
    c.arg("detect").envs(env.iter().copied());
    // A setting the command refuses ends it before it reads a byte (see run_with_stdin).
    run_with_stdin(c, stdin.as_bytes())
}

#[test]
fn detect_reads_the_same_rate_settings_as_the_function() {
    let text = week();
    let flagged = |out: &Output| rows(out).iter().filter(|l| l.ends_with(",1")).count();
    let default = detect_env(&[], &text);
    let explicit = detect_env(&[("RATE_THRESHOLD", "5")], &text);
    let lower = detect_env(&[("RATE_THRESHOLD", "3")], &text);
    assert!(default.status.success() && lower.status.success());
    assert_eq!(default.stdout, explicit.stdout, "5 is the default");
    assert!(
        flagged(&lower) > flagged(&default),
        "threshold 3: {} flagged, 5: {}",
        flagged(&lower),
        flagged(&default)
    );
    // Too much expected to judge anything: every score is 0.
    let nothing = detect_env(&[("RATE_MIN_EXPECTED", "1000000")], &text);
    assert!(rows(&nothing).iter().all(|l| l.ends_with(",0.0000,0")));
    // A value the function would refuse at cold start is refused here, naming the variable;
    // settings that do not apply to one series read from a file are checked all the same.
    for (name, value) in [
        ("RATE_THRESHOLD", "low"),
        ("RATE_THRESHOLD", "0.5"),
        ("RATE_MIN_EXPECTED", "-1"),
        ("RATE_WINDOW_SECONDS", "5"),
    ] {
        let out = detect_env(&[(name, value)], &text);
        assert_eq!(out.status.code(), Some(1), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("clickstream-lambda: {name} must be")),
            "{name}={value}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_or_odd_input_gets_a_clear_error_or_a_defined_answer() {
    let header = "timestamp,value\n";
    // An empty file, and one with only the header.
    let empty = detect(&[], "");
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the input is empty"));
    let only = detect(&[], header);
    assert!(only.status.success());
    assert_eq!(
        String::from_utf8_lossy(&only.stdout),
        "timestamp,value,score,anomaly\n"
    );
    // A single row: learned, not judged.
    let one = detect(&[], &format!("{header}2015-03-02 00:00:00,12\n"));
    assert!(one.status.success());
    assert_eq!(rows(&one), ["2015-03-02 00:00:00,12,0.0000,0"]);
    // Each bad value is an error naming its line, after the rows before it.
    for (value, says) in [
        ("twelve", "is not a number"),
        ("NaN", "is not a non-negative count or rate"),
        ("inf", "is not a non-negative count or rate"),
        ("-inf", "is not a non-negative count or rate"),
        ("1e999", "is not a non-negative count or rate"),
    ] {
        let text = format!("{header}2015-03-02 00:00:00,1\n2015-03-02 00:05:00,{value}\n");
        let out = detect(&[], &text);
        assert_eq!(out.status.code(), Some(1), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("line 3: value") && stderr.contains(says),
            "{value}: {stderr}"
        );
        assert_eq!(rows(&out).len(), 1);
    }
    // Unsorted by more than an hour: an error; a step back of up to an hour (a clock set back)
    // and the same timestamp twice: a window of its own.
    let unsorted = format!("{header}2015-03-02 02:05:00,1\n2015-03-02 01:00:00,1\n");
    let out = detect(&[], &unsorted);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: timestamp"));
    let set_back = format!("{header}2015-03-02 02:05:00,1\n2015-03-02 01:05:00,1\n");
    let out = detect(&[], &set_back);
    assert!(out.status.success());
    assert_eq!(rows(&out).len(), 2);
    let twice = format!("{header}2015-03-02 00:05:00,1\n2015-03-02 00:05:00,2\n");
    let out = detect(&[], &twice);
    assert!(out.status.success());
    assert_eq!(rows(&out).len(), 2);
    // A gap of days: the rows after it are judged like any others, from what came before.
    let mut gap = String::from(header);
    for i in 0..300 {
        let day = if i < 200 { 2 } else { 9 };
        gap.push_str(&format!(
            "2015-03-{day:02} {:02}:{:02}:00,{}\n",
            i % 200 * 5 / 60,
            i % 200 * 5 % 60,
            100 + i % 9
        ));
    }
    let out = detect(&[], &gap);
    assert!(out.status.success(), "{out:?}");
    let after = rows(&out);
    assert_eq!(after.len(), 300);
    assert!(
        after[200..].iter().all(|l| l.ends_with(",0")),
        "no alarm for the gap"
    );
}

/// Peak resident memory of a child once it has finished, in KiB, from `wait4` (which reaps it).
fn peak_rss_kib(mut child: std::process::Child) -> (std::process::ExitStatus, i64) {
    let pid = child.id() as libc::pid_t;
    drop(child.stdin.take());
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    use std::os::unix::process::ExitStatusExt;
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

/// Streams `rows` five-minute rows into `detect` (with `args`), counting the output rows as
/// they come; returns the exit status, peak memory in KiB and the rows printed.
fn stream(rows: usize, args: &[&str]) -> (std::process::ExitStatus, i64, usize) {
    use std::io::BufRead;
    let mut child = clickstream()
        .arg("detect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || std::io::BufReader::new(stdout).lines().count());
    let writer = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::new(&mut stdin);
        writeln!(w, "timestamp,value").unwrap();
        let t0 = 1_425_254_400_i64; // 2015-03-02
        for i in 0..rows as i64 {
            let at = chrono::DateTime::from_timestamp(t0 + 300 * i, 0).unwrap();
            writeln!(w, "{},{}", at.format("%Y-%m-%d %H:%M:%S"), 100 + i % 13).unwrap();
        }
        w.flush().unwrap();
    });
    writer.join().unwrap();
    let (status, peak) = peak_rss_kib(child);
    (status, peak, counter.join().unwrap() - 1)
}

#[test]
fn a_long_file_is_judged_in_constant_memory() {
    // 400,000 rows (almost four years of five-minute windows) through standard input: every
    // row printed, and memory the same as for 20,000. The 10-million-row run is an evaluation
    // command in the README (too slow for a test binary built without optimizations).
    let (status, short, printed) = stream(20_000, &[]);
    assert!(status.success() && printed == 20_000);
    let (status, long, printed) = stream(400_000, &[]);
    assert!(status.success());
    assert_eq!(printed, 400_000);
    assert!(
        long < short + 4 * 1024 && long < 32 * 1024,
        "peak {long} KiB for 400,000 rows, {short} KiB for 20,000"
    );
}

#[test]
fn kind_level_judges_a_price_below_one_that_counts_leave_alone() {
    // An ad's cost per click near 0.12 with a little noise, and one jump to 0.6: as a count
    // (the default) nothing is judged, too little expected; as a level the jump is the one
    // anomaly.
    let mut text = String::from("timestamp,value\n");
    for i in 0..288 {
        let v = if i == 200 {
            0.6
        } else {
            0.12 + ((i * 13) % 17) as f64 / 2000.0
        };
        text.push_str(&format!(
            "2015-02-26 {:02}:{:02}:53,{v}\n",
            i * 5 / 60,
            i * 5 % 60
        ));
    }
    let count = detect(&[], &text);
    let explicit = detect(&["--kind", "count"], &text);
    let level = detect(&["--kind", "level"], &text);
    assert!(
        count.status.success() && level.status.success(),
        "{level:?}"
    );
    assert_eq!(count.stdout, explicit.stdout, "count is the default");
    assert!(rows(&count).iter().all(|l| l.ends_with(",0.0000,0")));
    let flagged: Vec<String> = rows(&level)
        .into_iter()
        .filter(|l| l.ends_with(",1"))
        .collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(
        flagged[0].starts_with("2015-02-26 16:40:53,0.6,"),
        "{flagged:?}"
    );
    // Not a kind: a usage error naming the choices, before any row.
    let bad = detect(&["--kind", "price"], &text);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("count") && stderr.contains("level"),
        "{stderr}"
    );
}
