//! `detect` through the real binary, as the evaluation script and a user run it: a file and
//! standard input give the same rows, a bad row exits 1 naming its line, `--plot` writes an SVG.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};

mod common;

use common::clickstream;

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
    let mut child = clickstream()
        .arg("detect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
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
