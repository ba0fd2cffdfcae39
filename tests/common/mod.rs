//! What the command-line test files share: the binary, run with none of the calling shell's
//! environment. A `STATE_TABLE` or `ALERT_TOPIC_ARN` a developer has exported would otherwise
//! send a test's calls to AWS, and a `RATE_*` setting would change the defaults a test checks.

use std::process::Command;

/// The binary with only what the test sets, logging warnings and errors.
pub fn clickstream() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clickstream-lambda"));
    c.env_clear().env("RUST_LOG", "warn");
    c
}
