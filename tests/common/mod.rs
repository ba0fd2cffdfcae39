//! What the command-line test files share: the binary, run with none of the calling shell's
//! environment, and a way to feed it standard input. A `STATE_TABLE` or `ALERT_TOPIC_ARN` a developer has exported would otherwise
//! send a test's calls to AWS, and a `RATE_*` setting would change the defaults a test checks.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary with only what the test sets, logging warnings and errors.
pub fn clickstream() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clickstream-lambda"));
    c.env_clear().env("RUST_LOG", "warn");
    c
}

/// Runs `c` with `stdin` on its standard input, and what it printed. A command that ends before
/// it has read everything (a setting it refuses, say) closes the pipe under the write: that is
/// the command's answer, which the caller's assertions read, not the test's failure.
#[allow(dead_code)] // not every test file feeds the binary its input
pub fn run_with_stdin(mut c: Command, stdin: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}
