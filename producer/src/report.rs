//! What a person or a script sees: a progress line redrawn on a terminal, then one summary line
//! on standard output and at most one error line on standard error. Texts from AWS can hold
//! newlines, so each is put on one line: scripts read these line by line.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use crate::producer::{Outcome, Summary};

/// Running totals on standard error, only when it is a terminal: in a pipe or a log they would
/// be noise.
#[derive(Debug)]
pub(crate) struct Progress {
    stream: String,
    tty: bool,
    drawn: bool,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(stream: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            started: Instant::now(),
        }
    }

    pub(crate) fn update(&mut self, summary: &Summary) {
        if self.tty {
            // \r and erase-line redraw one line in place.
            eprint!(
                "\r\x1b[2K{}: {summary} ({:.0} s)",
                self.stream,
                self.started.elapsed().as_secs_f64()
            );
            self.drawn = true;
        }
    }

    /// Erases the progress line, so the final lines start clean.
    pub(crate) fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

/// Prints the end of a run and gives the exit status: 0 when every record was sent.
pub(crate) fn finish(stream: &str, outcome: &Outcome) -> ExitCode {
    let (error, summary) = final_lines(stream, outcome);
    if let Some(error) = error {
        eprintln!("{error}");
    }
    println!("{summary}");
    if outcome.summary.failed == 0 && outcome.stopped.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The error line, if any, and the summary line.
fn final_lines(stream: &str, outcome: &Outcome) -> (Option<String>, String) {
    let error = if let Some(error) = &outcome.stopped {
        Some(error_line(error))
    } else {
        outcome.last_failure.as_ref().map(|reason| {
            let failed = outcome.summary.failed;
            let records = if failed == 1 { "record" } else { "records" };
            format!(
                "clickstream-send: {failed} {records} failed; the last because: {}",
                error_chain(reason)
            )
        })
    };
    (error, format!("{stream}: {}", outcome.summary))
}

/// `error` and its causes as the one line a failed run prints on standard error.
pub(crate) fn error_line(error: &dyn std::error::Error) -> String {
    format!("clickstream-send: {}", error_chain(error))
}

/// An error and its causes on one line. The SDK's top-level texts ("dispatch failure") say little
/// on their own, and its `DisplayErrorContext` appends a debug dump a person need not read.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their cause in their own text.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    one_line(&text)
}

/// `text` with every run of whitespace, newlines included, made one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::RecordFailure;
    use crate::sink::{EntryError, SinkError};

    #[test]
    fn error_texts_are_one_line() {
        assert_eq!(one_line("a\n  b\r\nc "), "a b c");
        let io = std::io::Error::other("connection\nrefused");
        let outer = std::io::Error::other(io);
        assert_eq!(error_chain(&outer), "connection refused");
    }

    #[test]
    fn a_clean_run_prints_only_the_summary() {
        let outcome = Outcome {
            summary: Summary {
                sent: 1200,
                retried: 0,
                failed: 0,
            },
            ..Outcome::default()
        };
        assert_eq!(
            final_lines("S", &outcome),
            (None, "S: sent 1200, retried 0, failed 0".to_owned())
        );
        assert_eq!(finish("S", &outcome), ExitCode::SUCCESS);
    }

    #[test]
    fn failed_records_give_the_last_reason_and_fail_the_run() {
        let outcome = Outcome {
            summary: Summary {
                sent: 1198,
                retried: 3,
                failed: 2,
            },
            last_failure: Some(RecordFailure::Rejected(EntryError {
                code: "ServiceUnavailableException".to_owned(),
                message: Some("Slow\n down.".to_owned()),
            })),
            ..Outcome::default()
        };
        assert_eq!(
            final_lines("S", &outcome),
            (
                Some(
                    "clickstream-send: 2 records failed; the last because: \
                     ServiceUnavailableException: Slow down."
                        .to_owned()
                ),
                "S: sent 1198, retried 3, failed 2".to_owned()
            )
        );
        assert_eq!(finish("S", &outcome), ExitCode::FAILURE);
    }

    #[test]
    fn a_stopped_run_prints_why() {
        let outcome = Outcome {
            summary: Summary {
                sent: 0,
                retried: 0,
                failed: 10,
            },
            stopped: Some(SinkError::StreamNotFound {
                stream: "NoSuchStream".to_owned(),
                region: "us-east-1".to_owned(),
                cause: "ResourceNotFoundException: Firehose NoSuchStream under account \
                        123456789012 not found."
                    .into(),
            }),
            last_failure: None,
        };
        let (error, summary) = final_lines("NoSuchStream", &outcome);
        assert_eq!(
            error.as_deref(),
            Some(
                "clickstream-send: Firehose stream \"NoSuchStream\" not found in us-east-1: \
                 ResourceNotFoundException: Firehose NoSuchStream under account 123456789012 \
                 not found."
            )
        );
        assert_eq!(summary, "NoSuchStream: sent 0, retried 0, failed 10");
        assert_eq!(finish("S", &outcome), ExitCode::FAILURE);
    }
}
