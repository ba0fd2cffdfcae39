//! `clickstream-send`: puts synthetic click records into a Firehose stream. The work is in
//! [`producer`], where it can be tested; this only parses the command line.

mod producer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    producer::run(producer::Args::parse())
}
