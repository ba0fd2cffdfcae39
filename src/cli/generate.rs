//! `generate`: one Firehose event of synthetic clicks, or (with `--duration`) a labeled scenario
//! of traffic as JSON Lines of Firehose events, on standard output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};

use super::{exit_on, parse_rate, parse_start};
use crate::generate::ClickGenerator;
use crate::generate::labels::{Injection, Kind, parse_duration};
use crate::generate::scenario::{Scenario, ScenarioOptions};

/// The producer's flag rate in single-event mode, as the lab's producer flagged records.
const SINGLE_FLAG_RATE: f64 = 0.05;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["records", "duration"])))]
pub(super) struct GenerateArgs {
    /// One event of this many records (single-event mode).
    #[arg(long, short = 'n')]
    records: Option<usize>,
    /// Scenario mode: this much traffic (90s, 5m, 24h, 1h30m, 2d), as one Firehose event per
    /// 60 s of it, one JSON line each.
    #[arg(long, value_parser = parse_duration_arg)]
    duration: Option<Duration>,
    /// Seed of the random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of records the producer flags anomalous (`anomaly_detected`), from 0 to 1.
    /// Default 0.05 for one event, 0 (clean traffic) in scenario mode.
    #[arg(long, value_parser = parse_rate)]
    anomaly_rate: Option<f64>,
    /// Time of the first click, RFC 3339. One event: clicks follow 0-400 ms apart. Scenario:
    /// the traffic starts there.
    #[arg(long, default_value = "2026-01-01T00:00:00Z", value_parser = parse_start)]
    start: DateTime<Utc>,
    /// Scenario: mean clicks per second over a day.
    #[arg(long, default_value_t = 10.0, conflicts_with = "records", value_parser = parse_click_rate)]
    rate: f64,
    /// Scenario: the daily rhythm, from 0 (flat) to 1. The rate peaks at rate × (1 + A) at
    /// 14:00 UTC and bottoms at rate × (1 - A) at 02:00 UTC, a sinusoid between.
    #[arg(long, default_value_t = 0.5, conflicts_with = "records", value_parser = parse_rate)]
    daily_amplitude: f64,
    /// Scenario: write the labels here (JSON: the scenario's parameters and every injected
    /// anomaly with its kind, start, end, page or user, factor or rate).
    #[arg(long, conflicts_with = "records")]
    labels: Option<PathBuf>,
    /// Scenario: inject an anomaly; repeat for more. KIND is
    /// `spike` (page=P, factor=3, for=3m: the page at factor times its rate),
    /// `drop` (page=P, factor=0, for=5m: the page silent, or at factor),
    /// `site-drop` (factor=0.5, for=5m: every page at factor) or
    /// `bot` (user=1001 + bots before it, rate=8, page=1, for=2m: one user clicking rate times a
    /// second). `at` is required: a duration after --start (2h30m) or an RFC 3339 time.
    /// Pages are /pagina-1 to /pagina-10, or 1 to 10.
    #[arg(
        long = "inject",
        value_name = "KIND:at=WHEN,key=value,...",
        conflicts_with = "records",
        value_parser = parse_injection,
        verbatim_doc_comment
    )]
    inject: Vec<Injection>,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_click_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 100_000.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate above 0, at most 100000 a second"
        )),
    }
}

fn parse_injection(s: &str) -> Result<Injection, String> {
    s.parse().map_err(|e| format!("{e}"))
}

pub(super) fn run(args: GenerateArgs) -> ExitCode {
    match (args.records, args.duration) {
        (Some(records), _) => single(
            records,
            args.seed,
            args.anomaly_rate.unwrap_or(SINGLE_FLAG_RATE),
            args.start,
        ),
        (None, Some(duration)) => scenario(duration, args),
        // clap requires one of the two.
        (None, None) => ExitCode::from(2),
    }
}

fn single(records: usize, seed: u64, anomaly_rate: f64, start: DateTime<Utc>) -> ExitCode {
    let event = ClickGenerator::new(seed, anomaly_rate, start).firehose_event(records);
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &event)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    exit_on(written, "cannot write the event")
}

fn scenario(duration: Duration, args: GenerateArgs) -> ExitCode {
    let mut bots = 0;
    let anomalies = args
        .inject
        .iter()
        .map(|injection| {
            let label = injection.label(args.start, bots);
            bots += u32::from(injection.kind() == Kind::Bot);
            label
        })
        .collect();
    let scenario = match Scenario::new(ScenarioOptions {
        seed: args.seed,
        start: args.start,
        duration,
        rate: args.rate,
        daily_amplitude: args.daily_amplitude,
        producer_flag_rate: args.anomaly_rate.unwrap_or(0.0),
        anomalies,
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("clickstream-lambda: {e}");
            return ExitCode::from(2);
        }
    };
    // The labels first: a reader of the traffic can have them before the day is made.
    if let Some(path) = &args.labels {
        let written = serde_json::to_string_pretty(&scenario.labels())
            .map_err(std::io::Error::from)
            .and_then(|text| std::fs::write(path, text + "\n"));
        if let Err(e) = written {
            eprintln!(
                "clickstream-lambda: cannot write the labels to {}: {e}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = scenario.traffic().try_for_each(|event| {
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
        // Each event goes out whole as soon as it is made, so `generate | replay` streams.
        out.flush()
    });
    exit_on(written, "cannot write the traffic")
}
