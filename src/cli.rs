//! The command line: `invoke` runs one event through the Lambda handler on a laptop, `generate`
//! makes synthetic events, and no subcommand inside Lambda serves the runtime.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::generate::ClickGenerator;
use crate::handler::Handler;
use crate::lambda;
use crate::publisher::{DryRunPublisher, Publisher, SnsPublisher};

#[derive(Debug, Parser)]
#[command(
    name = "clickstream-lambda",
    version,
    about = "Firehose transformation and anomaly alerts for a website's click stream",
    long_about = "Firehose transformation and anomaly alerts for a website's click stream.\n\n\
        Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) and without a subcommand it serves the \
        Lambda runtime. Elsewhere, `invoke` runs one event through exactly the same handler \
        and `generate` makes synthetic events to feed it.",
    after_help = "Configuration comes from the environment: DROP_EVENT_TYPES, ALERT_TOPIC_ARN, \
        ALERT_COOLDOWN_SECONDS, PROCESSED_DATA_URI (see README.md). Logs go to standard error in `invoke`; \
        RUST_LOG or AWS_LAMBDA_LOG_LEVEL set their level."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Print a Firehose transformation event of synthetic click records.
    ///
    /// Records are shaped like the lab producer's (timestamp, user_id 1-1000, page_url
    /// /pagina-1..10, event_type click, element_id, x 0-1920, y 0-1080, anomaly_detected as a
    /// one-element list). The same options always print the same event.
    Generate {
        /// How many records the event holds.
        #[arg(long, short = 'n')]
        records: usize,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of records flagged anomalous, from 0 to 1.
        #[arg(long, default_value_t = 0.05, value_parser = parse_rate)]
        anomaly_rate: f64,
        /// Time of the first click, RFC 3339; clicks follow 0-400 ms apart.
        #[arg(long, default_value = "2026-01-01T00:00:00Z", value_parser = parse_start)]
        start: DateTime<Utc>,
    },
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
        Some(Command::Invoke { file }) => invoke(file),
        Some(Command::Generate {
            records,
            seed,
            anomaly_rate,
            start,
        }) => {
            let event = ClickGenerator::new(seed, anomaly_rate, start).firehose_event(records);
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer(&mut out, &event)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out));
            exit_on(written, "cannot write the event")
        }
    }
}

fn invoke(file: Option<PathBuf>) -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let source = file
        .as_ref()
        .filter(|p| p.as_os_str() != "-")
        .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
    let event = match read_event(file.as_deref()) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot read the event from {source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("clickstream-lambda: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let invocation = runtime.block_on(async {
        let publisher = match &config.alert_topic_arn {
            Some(arn) => Publisher::Sns(SnsPublisher::from_env(arn.clone()).await),
            None => Publisher::DryRun(DryRunPublisher),
        };
        let now = Utc::now();
        Handler::new(config, publisher).handle(&event, now).await
    });
    if let Some(source) = invocation.source {
        eprintln!("{}", invocation.metrics.emf_line(source, Utc::now()));
    }
    match invocation.result {
        Ok(response) => exit_on(
            write_unbuffered(response.get()),
            "cannot write the response",
        ),
        Err(e) => {
            eprintln!("clickstream-lambda: {source}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` and a newline straight to standard output. Rust's stdout is line buffered and
/// would scan the multi-megabyte response for its last newline first.
fn write_unbuffered(text: &str) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let mut out = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

fn read_event(file: Option<&std::path::Path>) -> std::io::Result<String> {
    match file {
        Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path),
        _ => {
            let mut text = String::new();
            std::io::stdin().lock().read_to_string(&mut text)?;
            Ok(text)
        }
    }
}

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
