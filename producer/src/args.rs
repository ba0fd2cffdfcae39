//! The command line. Values are checked while parsing, so a typo ends the run (exit status 2)
//! before any credentials are looked up or anything is sent.

use std::time::Duration;

use clap::Parser;

use crate::pace::{Limit, Pace};

/// Records sent when neither `--count` nor `--duration` is given.
pub(crate) const DEFAULT_COUNT: u64 = 100;

#[derive(Debug, Parser)]
#[command(
    name = "clickstream-send",
    version,
    about = "Put synthetic click records into an Amazon Data Firehose stream",
    long_about = "Put synthetic click records into an Amazon Data Firehose stream.\n\n\
        Records are shaped like the lab producer's (timestamp, user_id, page_url, event_type, \
        element_id, x/y coordinates, anomaly_detected), one JSON object per record followed by a \
        newline, stamped with the time they are made. They go out with PutRecordBatch, at most \
        500 records and 4 MiB per call, a call at least every second.\n\n\
        Each record gets at most 5 attempts in all. A whole call that fails for throttling, a \
        server error, a timeout or the network is sent again by the AWS SDK (its standard retry \
        mode: a random wait of up to 100 ms, doubling, at most 2 s). When a call succeeds but \
        reports some entries failed, only those entries are sent again, after 100 ms, doubling, \
        at most 2 s, with the attempts they have left. Records that still fail count as \
        failed and the run goes on; an unknown stream or a refused permission stops it at \
        once.\n\n\
        At the end one line goes to standard output: `STREAM: sent N, retried N, failed N`. The \
        exit status is 0 when no record failed and 1 otherwise.",
    after_help = "Credentials and region come from the standard AWS chain: environment \
        (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION, ...), the shared config and credentials \
        files, SSO, or a container or instance role. AWS_ENDPOINT_URL or \
        AWS_ENDPOINT_URL_FIREHOSE send the calls to another endpoint, such as a local emulator."
)]
pub(crate) struct Args {
    /// Name of the Firehose stream to put records into.
    #[arg(long, value_name = "NAME", value_parser = parse_stream_name)]
    pub(crate) stream: String,
    /// Records per second, on average: records due during a slow call follow right after it.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate: u32,
    /// Total records to send [default: 100].
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
    /// Send for this many seconds instead of a number of records.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) duration: Option<u64>,
    /// Share of records flagged anomalous (anomaly_detected [true]), from 0 to 1.
    #[arg(long, value_name = "R", default_value_t = 0.05, value_parser = parse_share)]
    pub(crate) anomaly_rate: f64,
    /// Seed of the random generator, to repeat a run's records (all but their timestamps);
    /// without it every run differs.
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
}

impl Args {
    /// How fast and how long to send.
    pub(crate) fn pace(&self) -> Pace {
        let limit = match (self.count, self.duration) {
            (_, Some(seconds)) => Limit::For(Duration::from_secs(seconds)),
            (Some(count), None) => Limit::Count(count),
            (None, None) => Limit::Count(DEFAULT_COUNT),
        };
        Pace {
            rate: self.rate,
            limit,
        }
    }
}

/// Firehose stream names: 1-64 of letters, digits, `_`, `.` and `-`.
fn parse_stream_name(s: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a Firehose stream name (1-64 letters, digits, _ . -)"
        ))
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn command_line_defaults_and_conflicts() {
        let args = Args::try_parse_from(["clickstream-send", "--stream", "S"]).unwrap();
        assert_eq!(
            args.pace(),
            Pace {
                rate: 10,
                limit: Limit::Count(DEFAULT_COUNT)
            }
        );
        assert_eq!(args.anomaly_rate, 0.05);
        assert_eq!(args.seed, None);
        let args = Args::try_parse_from([
            "clickstream-send",
            "--stream",
            "ClickStreamingFirehose",
            "--rate",
            "20",
            "--duration",
            "300",
            "--anomaly-rate",
            "0.02",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(
            args.pace(),
            Pace {
                rate: 20,
                limit: Limit::For(Duration::from_secs(300))
            }
        );
        assert_eq!(args.anomaly_rate, 0.02);
        assert_eq!(args.seed, Some(7));
        let args =
            Args::try_parse_from(["clickstream-send", "--stream", "a.b-c_9", "--count", "5"])
                .unwrap();
        assert_eq!(args.pace().limit, Limit::Count(5));
        for bad in [
            &["--stream", "S", "--count", "5", "--duration", "5"][..],
            &["--stream", "S", "--rate", "0"],
            &["--stream", "S", "--count", "0"],
            &["--stream", "S", "--anomaly-rate", "1.5"],
            &["--stream", "S", "--anomaly-rate", "NaN"],
            &["--stream", "no spaces"],
            &["--stream", ""],
            &["--stream", &"x".repeat(65)],
            &["--count", "5"],
        ] {
            let argv = std::iter::once("clickstream-send").chain(bad.iter().copied());
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?} accepted");
        }
    }
}
