//! `replay`: JSON Lines of events through one handler, in order, as one warm container would
//! see them, with the clock each batch's own arrival time gives. This is how storm control and
//! detection are tried on a day of traffic in seconds.
//!
//! With `--processed`, the input is the processed bucket's JSON lines instead, rebuilt into the
//! Firehose batches they came in (`processed`), so the detectors can be tried on a site's own
//! traffic.
//!
//! With `--containers K`, events are dealt round robin over K handlers that share one state
//! store (the `STATE_TABLE` table, or one memory), K at a time, run concurrently: as Lambda runs
//! overlapping batches in K containers. Each handler has its own alert cooldown, as each
//! container has.

use std::io::{BufRead as _, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::processed::Batches;
use super::{init_logs, input, setup};
use crate::adapter::sns::SnsPublisher;
use crate::alert::anomaly::Anomaly;
use crate::alert::compose::Alert;
use crate::alert::publisher::{AlertPublisher, Delivery, PublishError};
use crate::alert::severity::Severity;
use crate::config::Config;
use crate::handler::Handler;
use crate::transform::arrival_time;

/// How often, in events, the progress line is redrawn.
const PROGRESS_EVERY: usize = 50;

pub(super) fn run(files: Vec<PathBuf>, containers: usize, processed: bool) -> ExitCode {
    init_logs();
    let (config, runtime) = match setup() {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let events = if processed {
        match Batches::open(&files) {
            Ok(batches) => Events::Processed(Box::new(batches)),
            Err(e) => {
                eprintln!("clickstream-lambda: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Events::Lines(EventLines::new(files))
    };
    runtime.block_on(replay(config, events, containers.max(1)))
}

/// One event, ready for a handler: where it came from, its text, and its clock if it has one.
pub(super) struct Line {
    pub(super) name: String,
    pub(super) number: usize,
    pub(super) text: String,
    pub(super) now: Option<DateTime<Utc>>,
}

/// Where the events come from: JSON Lines of events, or the processed bucket's lines
/// rebuilt into batches (`--processed`).
enum Events {
    Lines(EventLines),
    Processed(Box<Batches>),
}

impl Events {
    /// The next event; `None` at the end. An error ends the replay.
    fn next(&mut self) -> Result<Option<Line>, String> {
        match self {
            Events::Lines(lines) => lines.next(),
            Events::Processed(batches) => batches.next_event(),
        }
    }

    /// Input lines left out before they became an event.
    fn refused(&self) -> usize {
        match self {
            Events::Lines(_) => 0,
            Events::Processed(batches) => batches.refused,
        }
    }
}

/// The files' lines in order, one event a line, blank lines skipped.
struct EventLines {
    files: std::vec::IntoIter<Option<PathBuf>>,
    current: Option<(String, Box<dyn std::io::BufRead>, usize)>,
}

impl EventLines {
    fn new(files: Vec<PathBuf>) -> Self {
        let files: Vec<Option<PathBuf>> = if files.is_empty() {
            vec![None]
        } else {
            files.into_iter().map(Some).collect()
        };
        Self {
            files: files.into_iter(),
            current: None,
        }
    }

    fn next(&mut self) -> Result<Option<Line>, String> {
        loop {
            let (name, reader, number) = match &mut self.current {
                Some(current) => current,
                None => {
                    let Some(file) = self.files.next() else {
                        return Ok(None);
                    };
                    let name = input::name(file.as_deref());
                    let reader = input::lines(file.as_deref())
                        .map_err(|e| format!("cannot read {name}: {e}"))?;
                    self.current.insert((name, reader, 0))
                }
            };
            let mut text = String::new();
            match reader.read_line(&mut text) {
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => *number += 1,
                Err(e) => return Err(format!("cannot read {name}: {e}")),
            }
            if text.trim().is_empty() {
                continue;
            }
            text.truncate(text.trim_end_matches(['\n', '\r']).len());
            return Ok(Some(Line {
                name: name.clone(),
                number: *number,
                now: batch_clock(&text),
                text,
            }));
        }
    }
}

async fn replay(config: Config, mut events: Events, containers: usize) -> ExitCode {
    let sns = match &config.alert_topic_arn {
        Some(arn) => Some(SnsPublisher::from_env(arn.clone()).await),
        None => None,
    };
    let publisher = Printer {
        sns,
        printed: Mutex::new(0),
    };
    // One store for every handler: the table STATE_TABLE names, or one memory they share.
    let state = crate::adapter::state_store(config.state_table.as_deref()).await;
    let handlers: Vec<Handler<&Printer>> = (0..containers)
        .map(|_| {
            Handler::new(config.clone(), &publisher)
                .keeping_anomalies()
                .with_state(state.clone())
        })
        .collect();
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut clock: Option<DateTime<Utc>> = None;
    let mut refused = 0;
    let mut round: Vec<Line> = Vec::with_capacity(containers);
    loop {
        let mut line = match events.next() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("clickstream-lambda: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Events without a clock of their own keep the previous one (the current time at first).
        let now = line.now.or(clock).unwrap_or_else(Utc::now);
        clock = Some(now);
        line.now = Some(now);
        round.push(line);
        if round.len() == containers {
            refused += run_round(&handlers, &mut round, &mut progress, &publisher).await;
        }
    }
    refused += run_round(&handlers, &mut round, &mut progress, &publisher).await;
    refused += events.refused();
    progress.done(publisher.printed());
    if refused > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a round of events, the i-th on the i-th handler (round robin), all at once, as Lambda
/// runs concurrent batches in separate containers; returns how many were refused.
async fn run_round(
    handlers: &[Handler<&Printer>],
    round: &mut Vec<Line>,
    progress: &mut Progress,
    publisher: &Printer,
) -> usize {
    let invocations = join_all(
        round
            .iter()
            .zip(handlers)
            .map(|(line, handler)| {
                Box::pin(handler.handle(&line.text, line.now.unwrap_or_else(Utc::now)))
            })
            .collect(),
    )
    .await;
    let mut refused = 0;
    for (line, invocation) in round.iter().zip(invocations) {
        if let Err(e) = invocation.result {
            refused += 1;
            tracing::warn!(file = ?line.name, line = line.number, error = %e, "event refused");
        }
        progress.event(publisher.printed());
    }
    round.clear();
    refused
}

/// Polls every future until all are done, and returns their outputs in order. A small
/// `join_all`, so the command line needs no futures crate for it.
async fn join_all<F: Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match std::pin::Pin::new(&mut *future).poll(cx) {
                std::task::Poll::Ready(out) => *output = Some(out),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The latest `approximateArrivalTimestamp` of a Firehose batch; `None` for other events.
///
/// Read apart from the handler's own parse: it is `replay`'s clock, not part of the event.
fn batch_clock(line: &str) -> Option<DateTime<Utc>> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        records: Option<Vec<ProbeRecord<'a>>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ProbeRecord<'a> {
        #[serde(borrow, default)]
        approximate_arrival_timestamp: Option<&'a RawValue>,
    }
    let probe: Probe<'_> = serde_json::from_str(line).ok()?;
    probe
        .records?
        .iter()
        .filter_map(|r| arrival_time(r.approximate_arrival_timestamp))
        .max()
}

/// One line per alert, as `replay` documents it.
#[derive(Serialize)]
struct AlertLine<'a> {
    at: String,
    subject: &'a str,
    severity: Severity,
    anomalies: &'a [Anomaly],
}

/// Prints every alert as a JSON line, then publishes it to SNS when a topic is configured.
struct Printer {
    sns: Option<SnsPublisher>,
    printed: Mutex<usize>,
}

impl Printer {
    fn printed(&self) -> usize {
        *self
            .printed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AlertPublisher for &Printer {
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        let line = AlertLine {
            at: alert.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            subject: &alert.subject,
            severity: alert.severity,
            anomalies: &alert.anomalies,
        };
        let mut text = serde_json::to_string(&line)
            .map_err(|e| PublishError::new("cannot write the alert line", e.to_string(), e))?;
        text.push('\n');
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| PublishError::new("cannot write the alert line", e.to_string(), e))?;
        *self
            .printed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        match &self.sns {
            Some(sns) => sns.publish(alert).await,
            None => Ok(Delivery::DryRun),
        }
    }
}

/// The progress line on a terminal; nothing otherwise.
struct Progress {
    on: bool,
    events: usize,
}

impl Progress {
    fn new(on: bool) -> Self {
        Self { on, events: 0 }
    }

    fn event(&mut self, alerts: usize) {
        self.events += 1;
        if self.on && self.events.is_multiple_of(PROGRESS_EVERY) {
            eprint!("\rreplay: {} events, {alerts} alerts", self.events);
        }
    }

    fn done(&self, alerts: usize) {
        if self.on {
            eprintln!("\rreplay: {} events, {alerts} alerts", self.events);
        }
    }
}
