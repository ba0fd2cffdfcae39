//! `detect`: one series from a CSV file (`timestamp,value`, one row per window, the format of the
//! public anomaly benchmarks) through exactly what the Lambda applies to each click-rate series:
//! the same [`SeriesDetector`], [`ModelParams::default`] and the same [`DetectSettings`], read
//! from the same `RATE_*` variables (`RATE_THRESHOLD`, `RATE_MIN_EXPECTED`; the window and
//! lateness settings have no say, as a row is one window), so an operator can try a setting on
//! an export of their own traffic before deploying it. With `--kind level` the series is a
//! level or a price instead of a count (CPU, temperature, a road's speed, a cost per click) and
//! is judged with [`ModelParams::LEVEL`]: no Poisson floor, no minimum expected value, a range
//! of recent values beside the spread (see `crate::detect::range`); the Lambda never does
//! that, its click rates are counts. Prints
//! `timestamp,value,score,anomaly` row by row; `anomaly` is 1 where an episode opens, the moment
//! the Lambda would report it. `--plot` also draws the series, the expected band and those rows.
//!
//! Rows are judged and printed one at a time, each from the rows before it only, so the output
//! for any prefix of a file is the prefix of the output: the same causality the Lambda has.

mod plot;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::input;
use crate::detect::model::Judgment;
use crate::detect::params::ModelParams;
use crate::detect::series::SeriesDetector;
use crate::detect::settings::DetectSettings;
use crate::transform::timestamp::parse_text;

/// How far back, in hours, a row's timestamp may be from the previous row's: a clock set back
/// for daylight saving repeats an hour.
const REPEATED_HOUR: i64 = 1;

/// The header every input starts with, and the output's.
const HEADER: [&str; 2] = ["timestamp", "value"];
const OUTPUT_HEADER: [&str; 4] = ["timestamp", "value", "score", "anomaly"];

/// Why a series could not be judged to the end.
#[derive(Debug, Error)]
pub(crate) enum DetectError {
    #[error("the input is empty: it must start with the header `timestamp,value`")]
    Empty,
    #[error("line {line}: the header must be `timestamp,value`, not `{found}`")]
    Header { line: u64, found: String },
    #[error("line {line}: {reason}")]
    Row { line: u64, reason: String },
    #[error("line {line}: cannot read the CSV: {source}")]
    Csv { line: u64, source: csv::Error },
    /// Writing the output failed; the caller decides whether a closed pipe matters.
    #[error("cannot write the output: {0}")]
    Write(std::io::Error),
}

/// One row, judged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// As given (without surrounding spaces), so the output joins back to the input.
    pub(crate) timestamp: String,
    /// As given, for the same reason.
    pub(crate) value_text: String,
    pub(crate) value: f64,
    pub(crate) judgment: Judgment,
    /// An episode opened at this row.
    pub(crate) anomaly: bool,
}

/// What a series' values are (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SeriesKind {
    /// Events per window, as the Lambda's click rates.
    Count,
    /// A measurement or a price.
    Level,
}

impl SeriesKind {
    /// The model's constants for this kind.
    pub(crate) fn params(self) -> ModelParams {
        match self {
            Self::Count => ModelParams::DEFAULT,
            Self::Level => ModelParams::LEVEL,
        }
    }
}

/// Reads `input` and hands each judged row to `each`, in order, as soon as it is judged, with
/// `settings` (the threshold and minimum expected count matter here) and the model's constants
/// `params` (for counts or levels). Returns how many rows were judged.
pub(crate) fn detect<R: Read>(
    input: R,
    settings: &DetectSettings,
    params: &ModelParams,
    mut each: impl FnMut(Row) -> std::io::Result<()>,
) -> Result<usize, DetectError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let line = |r: &csv::StringRecord| r.position().map_or(0, csv::Position::line);
    let read = |reader: &mut csv::Reader<R>, record: &mut csv::StringRecord| {
        reader
            .read_record(record)
            .map_err(|source| DetectError::Csv {
                line: source.position().map_or(0, csv::Position::line),
                source,
            })
    };
    if !read(&mut reader, &mut record)? {
        return Err(DetectError::Empty);
    }
    check_header(&record, line(&record))?;
    let mut series = SeriesDetector::default();
    let mut previous: Option<DateTime<Utc>> = None;
    let mut rows = 0;
    while read(&mut reader, &mut record)? {
        let line = line(&record);
        let (timestamp, value) =
            parse_row(&record).map_err(|reason| DetectError::Row { line, reason })?;
        // Rows must be in time order. An equal timestamp is taken, and so is a step back of at
        // most an hour: clocks that are set back for daylight saving stamp an hour's windows
        // twice (NAB's machine temperature repeats one), and the model only reads the hour and
        // weekday from a timestamp. Anything further back is a file out of order.
        if let Some(before) = previous
            && timestamp < before - chrono::Duration::hours(REPEATED_HOUR)
        {
            return Err(DetectError::Row {
                line,
                reason: format!(
                    "timestamp `{}` is more than an hour before the previous row's: rows must \
                     be windows in time order, one per window",
                    &record[0]
                ),
            });
        }
        // A row is one window; its end is only known once the next row comes, and waiting for
        // it would break causality. The episode's extent is all the end feeds, and `detect`
        // prints none, so the previous row's width stands in for it.
        let width = previous.map_or(chrono::Duration::zero(), |p| timestamp - p);
        let end = timestamp + width.max(chrono::Duration::zero());
        let step = series.observe(timestamp, end, value, params, settings);
        previous = Some(timestamp);
        rows += 1;
        each(Row {
            timestamp: record[0].to_owned(),
            value_text: record[1].to_owned(),
            value,
            judgment: step.judgment,
            anomaly: step.opened,
        })
        .map_err(DetectError::Write)?;
    }
    Ok(rows)
}

fn check_header(record: &csv::StringRecord, line: u64) -> Result<(), DetectError> {
    // A byte-order mark is how some spreadsheet programs start a UTF-8 file, not part of a name.
    let names: Vec<&str> = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                f.trim_start_matches('\u{feff}')
            } else {
                f
            }
        })
        .collect();
    if names == HEADER {
        Ok(())
    } else {
        Err(DetectError::Header {
            line,
            found: names.join(","),
        })
    }
}

/// A row's timestamp and value, or why the row is not one.
fn parse_row(record: &csv::StringRecord) -> Result<(DateTime<Utc>, f64), String> {
    if record.len() != 2 {
        return Err(format!(
            "expected 2 fields (timestamp,value), found {}",
            record.len()
        ));
    }
    let timestamp = parse_text(&record[0])
        .map_err(|e| format!("timestamp `{}` cannot be read: {e}", &record[0]))?;
    let text = &record[1];
    let value: f64 = text
        .parse()
        .map_err(|_| format!("value `{text}` is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "value `{text}` is not a non-negative count or rate"
        ));
    }
    Ok((timestamp, value))
}

/// The output line of one row: `timestamp,value,score,anomaly`.
fn output_record(row: &Row) -> [String; 4] {
    [
        row.timestamp.clone(),
        row.value_text.clone(),
        format!("{:.4}", row.judgment.score),
        u8::from(row.anomaly).to_string(),
    ]
}

/// The most rows `--plot` keeps to draw. Detection itself keeps nothing per row, so a file of
/// any length is judged in constant memory; a plot needs its rows, and past this many (about
/// 120 MB of them, and an SVG no viewer draws well) it shows the first ones and says so, while
/// every row is still judged and printed.
pub(crate) const PLOT_ROWS_MAX: usize = 500_000;

/// Judges `file` (or standard input), prints the rows, and draws `plot` if asked.
pub(super) fn run(file: Option<PathBuf>, plot: Option<PathBuf>, kind: SeriesKind) -> ExitCode {
    let settings = match crate::config::detect_settings_from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("clickstream-lambda: {e}");
            return ExitCode::FAILURE;
        }
    };
    let params = kind.params();
    let name = input::name(file.as_deref());
    let source = match input::lines(file.as_deref()) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot read {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let mut drawn: Vec<Row> = Vec::new();
    let result = out
        .write_record(OUTPUT_HEADER)
        .map_err(|e| DetectError::Write(e.into()))
        .and_then(|()| {
            detect(source, &settings, &params, |row| {
                out.write_record(output_record(&row))?;
                if plot.is_some() && drawn.len() < PLOT_ROWS_MAX {
                    drawn.push(row);
                }
                Ok(())
            })
        });
    let flushed = out.flush();
    let rows = match result {
        Ok(rows) => rows,
        // A closed pipe (`detect | head`) is the reader's choice, not our failure.
        Err(DetectError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("clickstream-lambda: {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = flushed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("clickstream-lambda: cannot write the output: {e}");
        return ExitCode::FAILURE;
    }
    let Some(path) = plot else {
        return ExitCode::SUCCESS;
    };
    if rows > drawn.len() {
        eprintln!(
            "clickstream-lambda: {name}: {rows} rows judged; the plot shows the first {}",
            drawn.len()
        );
    }
    match plot::draw(&path, &name, &drawn, settings.threshold) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot draw {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes `rows` as the command prints them, header included; for tests.
#[cfg(test)]
fn render(text: &str) -> Result<String, DetectError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(OUTPUT_HEADER)
        .map_err(|e| DetectError::Write(e.into()))?;
    detect(
        text.as_bytes(),
        &DetectSettings::default(),
        &ModelParams::DEFAULT,
        |row| {
            out.write_record(output_record(&row))
                .map_err(std::io::Error::from)
        },
    )?;
    let bytes = out
        .into_inner()
        .map_err(|e| DetectError::Write(e.into_error()))?;
    Ok(String::from_utf8(bytes).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// A series of `n` five-minute rows with a daily rhythm, Poisson-like noise and a few
    /// spikes and drops, from `seed`.
    fn series(n: usize, seed: u64) -> String {
        let mut rng = fastrand::Rng::with_seed(seed);
        let t0: DateTime<Utc> = "2015-02-26T21:40:00Z".parse().unwrap();
        let mut text = String::from("timestamp,value\n");
        for i in 0..n {
            let at = t0 + chrono::Duration::minutes(5 * i as i64);
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            let mean = 80.0 * (1.0 + 0.5 * phase.sin());
            let mut v = (mean + rng.f64().mul_add(2.0, -1.0) * 2.0 * mean.sqrt()).round();
            if rng.u32(0..150) == 0 {
                v *= 4.0;
            } else if rng.u32(0..300) == 0 {
                v = 0.0;
            }
            writeln!(text, "{},{v}", at.format("%Y-%m-%d %H:%M:%S")).unwrap();
        }
        text
    }

    fn prefix(text: &str, rows: usize) -> String {
        text.lines()
            .take(rows + 1)
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn error(text: &str) -> String {
        render(text).unwrap_err().to_string()
    }

    #[test]
    fn one_output_row_per_input_row_in_order_with_the_input_echoed() {
        let text = series(500, 1);
        let out = render(&text).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "timestamp,value,score,anomaly");
        assert_eq!(lines.len(), 501);
        for (input, output) in text.lines().skip(1).zip(&lines[1..]) {
            let fields: Vec<&str> = output.split(',').collect();
            assert_eq!(format!("{},{}", fields[0], fields[1]), input);
            assert!(fields[2].parse::<f64>().is_ok(), "{output}");
            assert!(matches!(fields[3], "0" | "1"), "{output}");
        }
        // The generated spikes are found, and the warm-up judges nothing.
        assert!(lines.iter().any(|l| l.ends_with(",1")));
        assert!(lines[1..=30].iter().all(|l| l.ends_with(",0.0000,0")));
    }

    #[test]
    fn any_prefix_of_a_file_gives_the_same_rows() {
        for seed in [1, 2, 3] {
            let text = series(700, seed);
            let full = render(&text).unwrap();
            let full: Vec<&str> = full.lines().collect();
            for rows in [0, 1, 29, 30, 31, 100, 288, 289, 450, 699] {
                let part = render(&prefix(&text, rows)).unwrap();
                let part: Vec<&str> = part.lines().collect();
                assert_eq!(part, full[..=rows], "seed {seed}, first {rows} rows");
            }
        }
    }

    #[test]
    fn the_same_input_gives_the_same_output() {
        let text = series(400, 9);
        assert_eq!(render(&text).unwrap(), render(&text).unwrap());
    }

    #[test]
    fn the_header_is_required() {
        assert!(error("").contains("empty"));
        assert!(error("\n\n").contains("empty"));
        let e = error("2015-02-26 21:42:53,104\n");
        assert!(
            e.starts_with("line 1: the header must be `timestamp,value`"),
            "{e}"
        );
        let e = error("time,value\n2015-02-26 21:42:53,104\n");
        assert!(e.contains("not `time,value`"), "{e}");
        assert!(error("timestamp,value,label\n").contains("header"));
        assert!(render("timestamp,value\n").unwrap() == "timestamp,value,score,anomaly\n");
        assert!(render("\u{feff}timestamp,value\r\n2015-02-26 21:42:53,1\r\n").is_ok());
        assert!(render(" timestamp , value \n").is_ok());
    }

    #[test]
    fn timestamps_in_every_form_clicks_accept() {
        let text = "timestamp,value\n\
                    2015-02-26 21:42:53,1\n\
                    2015-02-26 21:47:53.5,2\n\
                    2015-02-26T21:52:53,3\n\
                    2015-02-26T21:57:53.123456,4\n\
                    2015-02-26T22:02:53Z,5\n\
                    2015-02-26T23:07:53+01:00,6\n\
                    \"2015-02-26 22:12:53\",7.5\n";
        let out = render(text).unwrap();
        let stamps: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(
            stamps,
            [
                "2015-02-26 21:42:53",
                "2015-02-26 21:47:53.5",
                "2015-02-26T21:52:53",
                "2015-02-26T21:57:53.123456",
                "2015-02-26T22:02:53Z",
                "2015-02-26T23:07:53+01:00",
                "2015-02-26 22:12:53",
            ]
        );
    }

    #[test]
    fn a_bad_row_is_an_error_naming_its_line() {
        let good = "timestamp,value\n2015-02-26 21:42:53,104\n";
        let cases = [
            (
                "yesterday,1\n",
                "line 3: timestamp `yesterday` cannot be read",
            ),
            (
                "2015-02-26,1\n",
                "line 3: timestamp `2015-02-26` cannot be read",
            ),
            (
                "2015-02-26 21:47:53,abc\n",
                "line 3: value `abc` is not a number",
            ),
            ("2015-02-26 21:47:53,\n", "line 3: value `` is not a number"),
            (
                "2015-02-26 21:47:53,-1\n",
                "line 3: value `-1` is not a non-negative",
            ),
            (
                "2015-02-26 21:47:53,NaN\n",
                "line 3: value `NaN` is not a non-negative",
            ),
            (
                "2015-02-26 21:47:53,inf\n",
                "line 3: value `inf` is not a non-negative",
            ),
            (
                "2015-02-26 21:47:53\n",
                "line 3: expected 2 fields (timestamp,value), found 1",
            ),
            ("2015-02-26 21:47:53,1,2\n", "line 3: expected 2 fields"),
            (
                "2015-02-26 20:40:00,1\n",
                "line 3: timestamp `2015-02-26 20:40:00` is more than an hour before",
            ),
            (
                "2015-02-26T20:42:52Z,1\n",
                "an hour before the previous row's",
            ),
        ];
        for (row, want) in cases {
            let e = error(&format!("{good}{row}"));
            assert!(e.starts_with(want) || e.contains(want), "{row:?}: {e}");
        }
        // The same timestamp again is a window of its own, not an error; so is an hour
        // repeated, as a clock set back for daylight saving writes it.
        let again = render(&format!("{good}2015-02-26 21:42:53,5\n")).unwrap();
        assert_eq!(again.lines().count(), 3);
        let repeated = render(&format!(
            "{good}2015-02-26 21:47:53,5\n2015-02-26 20:47:53,6\n2015-02-26 20:52:53,7\n"
        ))
        .unwrap();
        assert_eq!(repeated.lines().count(), 5);
        // Rows before the bad one were judged and handed on before the error.
        let mut seen = 0;
        let result = detect(
            format!("{good}x,1\n").as_bytes(),
            &DetectSettings::default(),
            &ModelParams::DEFAULT,
            |_| {
                seen += 1;
                Ok(())
            },
        );
        assert!(result.is_err());
        assert_eq!(seen, 1);
        // Not UTF-8.
        let e = error("timestamp,value\n2015-02-26 21:42:53,\u{fffd}\n");
        assert!(e.starts_with("line 2:"), "{e}");
        let bytes = b"timestamp,value\n2015-02-26 21:42:53,\xff\n";
        let e = detect(
            &bytes[..],
            &DetectSettings::default(),
            &ModelParams::DEFAULT,
            |_| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("line 2: cannot read the CSV"), "{e}");
    }
}
