//! The one Lambda binary: the Lambda bootstrap and the local command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    clickstream_lambda::cli::run(clickstream_lambda::cli::Cli::parse())
}
