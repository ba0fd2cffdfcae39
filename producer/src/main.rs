//! `clickstream-send`: puts synthetic click records into an Amazon Data Firehose stream.
//!
//! It replaces the lab's Python producer. This file only wires the parts together: the command
//! line ([`args`]), the records ([`clicks`]), the run loop ([`producer`]) over the Firehose
//! adapter ([`firehose_sink`]), and what is printed at the end ([`report`]).

mod args;
mod batch;
mod clicks;
mod firehose_sink;
mod pace;
mod producer;
mod report;
mod retry;
mod sink;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;
use crate::firehose_sink::FirehoseSink;
use crate::producer::Producer;
use crate::report::Progress;
use crate::retry::RetryPolicy;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}", report::error_line(&e));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(send(args))
}

/// Connects to the stream, sends the records and reports what became of them.
async fn send(args: Args) -> ExitCode {
    let retry = RetryPolicy::default();
    let sink = match FirehoseSink::from_env(&args.stream, retry).await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("{}", report::error_line(&e));
            return ExitCode::FAILURE;
        }
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let records = clicks::click_records(seed, args.anomaly_rate);
    let mut progress = Progress::new(&args.stream);
    let outcome = Producer::new(sink, retry)
        .run(records, args.pace(), |summary| progress.update(summary))
        .await;
    progress.clear();
    report::finish(&args.stream, &outcome)
}
