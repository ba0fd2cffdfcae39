//! `invoke`: one event through the handler Lambda runs, its answer on standard output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;

use super::{exit_on, init_logs, input, setup};
use crate::adapter::Publisher;
use crate::handler::Handler;

pub(super) fn run(file: Option<PathBuf>) -> ExitCode {
    init_logs();
    let source = input::name(file.as_deref());
    let event = match input::read_all(file.as_deref()) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot read the event from {source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (config, runtime) = match setup() {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let invocation = runtime.block_on(async {
        let publisher = Publisher::for_topic(config.alert_topic_arn.as_deref());
        let state = crate::adapter::state_store(config.state_table.as_deref()).await;
        Handler::new(config, publisher)
            .with_state(state)
            .handle(&event, Utc::now())
            .await
    });
    if let Some(kind) = invocation.source {
        eprintln!("{}", invocation.metrics.emf_line(kind, Utc::now()));
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
