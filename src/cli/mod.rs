//! The command line: `invoke` runs one event through the Lambda handler on a laptop, `replay`
//! runs many through one warm handler, `generate` makes synthetic events and labeled scenarios,
//! `evaluate` scores replayed alerts against those labels, `detect` judges one CSV series as
//! the Lambda judges each click-rate series, and no subcommand inside Lambda serves the runtime.

mod detect;
mod evaluate;
mod generate;
mod input;
mod invoke;
mod processed;
mod replay;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::adapter::lambda;

#[derive(Debug, Parser)]
#[command(
    name = "clickstream-lambda",
    version,
    about = "Firehose transformation and anomaly alerts for a website's click stream",
    long_about = "Firehose transformation and anomaly alerts for a website's click stream.\n\n\
        Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) and without a subcommand it serves the \
        Lambda runtime. Elsewhere, `invoke` runs one event through exactly the same handler, \
        `replay` runs a file of events through one warm handler (or K sharing a state store), \
        `generate` makes synthetic events to feed them, `evaluate` scores replayed alerts \
        against generated labels, and `state init` creates the shared state table.",
    after_help = "Configuration comes from the environment: DROP_EVENT_TYPES, ALERT_TOPIC_ARN, \
        ALERT_COOLDOWN_SECONDS, PROCESSED_DATA_URI, STATE_TABLE (see README.md). Logs go to standard error; \
        RUST_LOG sets their level (it wins over AWS_LAMBDA_LOG_LEVEL), default info."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one event through the handler Lambda runs and print its response on standard output.
    ///
    /// Exits 0 with the response JSON on standard output; an event that cannot be read or is
    /// not one of the accepted shapes prints one line on standard error and exits 1.
    ///
    /// With ALERT_TOPIC_ARN set, alerts are published to that SNS topic for real (AWS_ENDPOINT_URL
    /// points the client at a local SNS); without it nothing is published and the alert that
    /// would have been sent is printed on standard error. The metrics line goes to standard
    /// error too, so standard output carries only the response.
    Invoke {
        /// The event file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Run JSON Lines of events, in order, through one handler, as one warm container would.
    ///
    /// Each line is one event of any accepted shape. Each invocation's clock is the latest
    /// approximateArrivalTimestamp of a Firehose batch (for other events, the previous clock,
    /// or the current time at first), so a day of traffic replays in seconds and the alert
    /// cooldown behaves as it would live.
    ///
    /// Prints one JSON line per alert that would be published: {"at", "subject", "severity",
    /// "anomalies": [every anomaly of the alert, in the documented schema]}: all the
    /// invocation found, and the detectors' findings an earlier invocation held back for the
    /// cooldown (held producer flags are only counted). Nothing is
    /// published unless ALERT_TOPIC_ARN is set. An event the handler refuses is logged on
    /// standard error with its line number and the replay goes on; the exit status is 1 if any
    /// was refused. A progress line goes to standard error when it is a terminal.
    ///
    /// With --containers K, events are dealt round robin over K handlers that share one state
    /// store (the STATE_TABLE table, or one memory), K at a time and concurrently, as Lambda
    /// runs overlapping batches in K containers.
    ///
    /// With --processed, the files are the processed bucket's JSON lines (the records this
    /// function wrote under weblogs/), rebuilt into the Firehose batches they came in: the
    /// lines sharing a processed_at are one batch, each record arriving at its arrival_time.
    /// The files are merged by processed_at, each read in its own order, so give each
    /// partition's objects concatenated in key order (or the objects themselves). A line that
    /// is not one of those records is logged and left out, and the exit status is then 1.
    Replay {
        /// Files of events (or of processed lines), read in order; `-` or nothing reads
        /// standard input.
        files: Vec<PathBuf>,
        /// The files hold the processed bucket's JSON lines, not events.
        #[arg(long)]
        processed: bool,
        /// Handlers (containers) the events are dealt over, from 1 to 64.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        containers: u16,
    },
    /// Print a Firehose transformation event of synthetic click records, or a labeled scenario
    /// of traffic.
    ///
    /// Records are shaped like the lab producer's (timestamp, user_id 1-1000, page_url
    /// /pagina-1..10, event_type click, element_id, x 0-1920, y 0-1080, anomaly_detected as a
    /// one-element list). The same options always print the same output.
    ///
    /// With -n, one event of that many records. With --duration, a scenario: Poisson clicks at
    /// --rate a second with a daily rhythm, over the ten pages at unequal shares (/pagina-1 20 %,
    /// -2 16 %, -3 13 %, -4 11 %, -5 9 %, -6 8 %, -7 7 %, -8 6 %, -9 and -10 5 % each), with the
    /// --inject anomalies, as JSON Lines of Firehose events, one per 60 s of traffic (records in
    /// arrival order, each arriving under 1.5 s after its click), streamed as they are made;
    /// --labels says what was injected, for `evaluate`.
    Generate(generate::GenerateArgs),
    /// Score `replay`'s alert lines against a scenario's labels.
    ///
    /// For each label: hit or missed, and the delay from its start to the first alert line with
    /// an anomaly that matches it (spike, drop: click_rate of its page in its direction; site-drop:
    /// site-wide click_rate or distinct_users dropping; bot: user_burst of its user; each with a
    /// window overlapping the label's). An alert line none of whose anomalies matches a label is
    /// a false alert, unless one of them is a known side effect of a label (the site's rate or
    /// distinct users moving with a page's spike or drop, each page falling with a site drop,
    /// the site's and the page's rate rising with a bot); producer_flag anomalies are left out.
    /// Prints a table, or JSON with --json; exits 0 whatever it measures, 1 if an input cannot
    /// be read.
    Evaluate(evaluate::EvaluateArgs),
    /// Judge one series from a CSV file as the Lambda judges each click-rate series.
    ///
    /// The input has the header `timestamp,value` and one row per window, in time order
    /// (timestamps like `2015-02-26 21:42:53`, or any form clicks accept, a step back of at
    /// most an hour taken as a clock set back; values non-negative counts or rates, or levels
    /// with `--kind level`). Each row goes through exactly the rate model and episodes the
    /// Lambda applies, with the settings it reads (RATE_THRESHOLD, RATE_MIN_EXPECTED), judged
    /// from the rows before it only. Prints `timestamp,value,score,anomaly`, one row per input row, in order, as each
    /// is judged: `score` is the model's (0 while not judged), `anomaly` is 1 where an episode
    /// opens, which is what the Lambda would report. A bad row prints one line naming it on
    /// standard error and exits 1, after the rows before it.
    Detect {
        /// The CSV file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Also draw the series, the expected band and the flagged windows into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
        /// What the values are: `count` (events per window, as the Lambda's click rates: a
        /// Poisson floor under the spread, nothing judged below RATE_MIN_EXPECTED) or `level`
        /// (a measurement or a price: CPU, temperature, speed, cost per click; any size judged,
        /// on a spread learned from the series alone).
        #[arg(long, value_enum, default_value_t = detect::SeriesKind::Count)]
        kind: detect::SeriesKind,
    },
    /// Manage the shared state store (the DynamoDB table STATE_TABLE names).
    #[command(subcommand)]
    State(state::StateCommand),
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}

fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 date-time: {e}"))
}

/// Runs the parsed command line to completion.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => lambda::serve(),
        None => {
            eprintln!(
                "clickstream-lambda: AWS_LAMBDA_RUNTIME_API is not set, so this is not Lambda; \
                 use `invoke FILE` to run an event locally (see --help)"
            );
            ExitCode::from(2)
        }
        Some(Command::Invoke { file }) => invoke::run(file),
        Some(Command::Replay {
            files,
            containers,
            processed,
        }) => replay::run(files, usize::from(containers), processed),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Evaluate(args)) => evaluate::run(args),
        Some(Command::Detect { file, plot, kind }) => detect::run(file, plot, kind),
        Some(Command::State(command)) => state::run(command),
    }
}

/// Logs to standard error, at the level RUST_LOG or AWS_LAMBDA_LOG_LEVEL sets (default info).
fn init_logs() {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
}

/// The configuration and the async runtime every local command needs; on failure, the line
/// saying why is printed and the exit code returned.
fn setup() -> Result<(crate::config::Config, tokio::runtime::Runtime), ExitCode> {
    let config = crate::config::Config::from_env().map_err(|e| {
        eprintln!("clickstream-lambda: {e}");
        ExitCode::FAILURE
    })?;
    let runtime = crate::adapter::runtime::current_thread().map_err(|e| {
        eprintln!("clickstream-lambda: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    Ok((config, runtime))
}

/// Ends a command that wrote to standard output.
fn exit_on(result: std::io::Result<()>, what: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`generate | head`) is the reader's choice, not our failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clickstream-lambda: {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_and_start_are_checked() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_start("2026-11-27T10:00:00+01:00").is_ok());
        assert!(parse_start("2026-11-27").is_err());
    }
}
