//! `generate`: a Firehose event of synthetic clicks on standard output.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::exit_on;
use crate::generate::ClickGenerator;

pub(super) fn run(records: usize, seed: u64, anomaly_rate: f64, start: DateTime<Utc>) -> ExitCode {
    let event = ClickGenerator::new(seed, anomaly_rate, start).firehose_event(records);
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &event)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    exit_on(written, "cannot write the event")
}
