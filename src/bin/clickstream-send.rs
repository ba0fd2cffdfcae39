//! `clickstream-send`: puts synthetic click records into a Firehose stream. The work is in
//! [`clickstream_lambda::producer`], where it can be tested; this only parses the command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    clickstream_lambda::producer::run(clickstream_lambda::producer::Args::parse())
}
