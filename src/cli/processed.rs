//! `replay --processed`: the processed bucket's JSON lines back into the Firehose batches they
//! came in, so an operator can try the detectors' settings on the site's own traffic before
//! changing the stack.
//!
//! A line is one `Ok` record as this function wrote it (docs/contracts.md, "Output schema"):
//! the producer's fields, then `event_time`, `arrival_time`, `processed_at`, `is_anomaly` and
//! `anomaly_reasons`. Each line goes back into a record as it is: the transform replaces those
//! five fields with what it computes again, from the record's `approximateArrivalTimestamp`
//! (set from the line's `arrival_time`, or its `processed_at` when that is `null`).
//!
//! Batches: every record of one invocation has that invocation's `processed_at`, so the lines
//! sharing one `processed_at` are one batch, as Firehose gave it. That matters: bots are found
//! within a batch, and the cooldown and the rate detector's clock move batch by batch. Firehose
//! writes a batch's records into one object per partition (status, date, hour), each object in
//! the order they were processed; so the files are merged by `processed_at` (each file read in
//! its own order, one pending line per file in memory), and a run of equal `processed_at` is a
//! batch. A batch is cut at [`BATCH_BYTES_MAX`] of lines, far above what one Firehose batch
//! becomes (1 MiB of source records enrich to about 1.6 MiB), so that two invocations that
//! happened in the same millisecond cannot make an event the handler answers only in part.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::BufRead;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::input;
use super::replay::Line;
use crate::generate::STREAM_ARN;

/// The most line text one rebuilt batch holds.
pub(super) const BATCH_BYTES_MAX: usize = 3 * 1024 * 1024;

/// The two fields a processed line is batched by.
#[derive(Deserialize)]
struct Stamps<'a> {
    #[serde(borrow, default)]
    processed_at: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    arrival_time: Option<std::borrow::Cow<'a, str>>,
}

/// One readable line, waiting to be merged.
struct Pending {
    processed_at: i64,
    arrival: i64,
    number: usize,
    text: String,
}

/// One input file being read.
struct Source {
    name: String,
    reader: Box<dyn BufRead>,
    number: usize,
}

/// Why a line is left out; logged with its place, and counted as refused.
fn stamps(text: &str) -> Result<(i64, i64), String> {
    let stamps: Stamps<'_> = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON object of the processed records: {e}"))?;
    let parse = |field: &str, value: &str| {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
            .map_err(|e| format!("{field} {value:?} is not an RFC 3339 time: {e}"))
    };
    let processed_at = match stamps.processed_at.as_deref() {
        Some(value) => parse("processed_at", value)?,
        None => return Err("no processed_at: not a line this function wrote".into()),
    };
    let arrival = match stamps.arrival_time.as_deref() {
        Some(value) => parse("arrival_time", value)?,
        None => processed_at,
    };
    Ok((processed_at, arrival))
}

impl Source {
    /// The next readable line; unreadable ones are logged and counted in `refused`.
    fn next(&mut self, refused: &mut usize) -> Result<Option<Pending>, String> {
        loop {
            let mut text = String::new();
            match self.reader.read_line(&mut text) {
                Ok(0) => return Ok(None),
                Ok(_) => self.number += 1,
                Err(e) => return Err(format!("cannot read {}: {e}", self.name)),
            }
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            match stamps(text) {
                Ok((processed_at, arrival)) => {
                    return Ok(Some(Pending {
                        processed_at,
                        arrival,
                        number: self.number,
                        text: text.to_owned(),
                    }));
                }
                Err(reason) => {
                    *refused += 1;
                    tracing::warn!(file = ?self.name, line = self.number, %reason, "processed line left out");
                }
            }
        }
    }
}

/// The Firehose events rebuilt from processed lines, oldest invocation first.
pub(super) struct Batches {
    sources: Vec<Source>,
    heads: Vec<Option<Pending>>,
    /// (processed_at, file): the file whose pending line comes next.
    order: BinaryHeap<Reverse<(i64, usize)>>,
    /// Lines left out so far.
    pub(super) refused: usize,
    built: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    invocation_id: String,
    delivery_stream_arn: &'a str,
    region: &'a str,
    records: Vec<Record>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    record_id: String,
    approximate_arrival_timestamp: i64,
    data: String,
}

impl Batches {
    /// Opens every file (standard input for `-` or none).
    pub(super) fn open(files: &[PathBuf]) -> Result<Self, String> {
        let files: Vec<Option<&std::path::Path>> = if files.is_empty() {
            vec![None]
        } else {
            files.iter().map(|f| Some(f.as_path())).collect()
        };
        let mut batches = Self {
            sources: Vec::with_capacity(files.len()),
            heads: Vec::with_capacity(files.len()),
            order: BinaryHeap::with_capacity(files.len()),
            refused: 0,
            built: 0,
        };
        for file in files {
            let name = input::name(file);
            let reader = input::lines(file).map_err(|e| format!("cannot read {name}: {e}"))?;
            batches.sources.push(Source {
                name,
                reader,
                number: 0,
            });
            batches.heads.push(None);
        }
        for i in 0..batches.sources.len() {
            batches.advance(i)?;
        }
        Ok(batches)
    }

    /// Reads file `i`'s next line into its place in the merge.
    fn advance(&mut self, i: usize) -> Result<(), String> {
        let next = self.sources[i].next(&mut self.refused)?;
        if let Some(line) = &next {
            self.order.push(Reverse((line.processed_at, i)));
        }
        self.heads[i] = next;
        Ok(())
    }

    /// The next line in merged order.
    fn pop(&mut self) -> Result<Option<(usize, Pending)>, String> {
        let Some(Reverse((_, i))) = self.order.pop() else {
            return Ok(None);
        };
        let Some(line) = self.heads[i].take() else {
            return Ok(None);
        };
        self.advance(i)?;
        Ok(Some((i, line)))
    }

    /// The processed_at of the line that comes next, if any.
    fn peek(&self) -> Option<i64> {
        self.order.peek().map(|Reverse((at, _))| *at)
    }

    /// The next rebuilt event, as `replay` runs it; `None` when every file is read.
    pub(super) fn next_event(&mut self) -> Result<Option<Line>, String> {
        let Some((file, first)) = self.pop()? else {
            return Ok(None);
        };
        let invocation = first.processed_at;
        let (name, number) = (self.sources[file].name.clone(), first.number);
        let mut bytes = first.text.len();
        let mut lines = vec![(file, first)];
        while self.peek() == Some(invocation) {
            let Some((file, line)) = self.pop()? else {
                break;
            };
            bytes += line.text.len();
            lines.push((file, line));
            if bytes >= BATCH_BYTES_MAX {
                break;
            }
        }
        self.built += 1;
        // In the order the records arrived, as Firehose hands them over; the merge gave them
        // file by file.
        lines.sort_by_key(|(_, line)| line.arrival);
        let latest = lines.last().map(|(_, line)| line.arrival);
        let records = lines
            .into_iter()
            .map(|(file, line)| Record {
                record_id: format!("{file}:{}", line.number),
                approximate_arrival_timestamp: line.arrival,
                data: STANDARD.encode(line.text.as_bytes()),
            })
            .collect();
        let event = Event {
            invocation_id: format!("processed-{}", self.built),
            delivery_stream_arn: STREAM_ARN,
            region: "us-east-1",
            records,
        };
        let text = serde_json::to_string(&event)
            .map_err(|e| format!("cannot write a rebuilt batch: {e}"))?;
        Ok(Some(Line {
            name,
            number,
            text,
            now: latest.and_then(DateTime::from_timestamp_millis),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"timestamp":"2026-11-27T09:59:58.192496","user_id":189,"page_url":"/pagina-7","event_type":"click","event_time":"2026-11-27T09:59:58.192Z","arrival_time":"2026-11-27T09:59:58.586Z","processed_at":"2026-11-28T10:02:39.855Z","is_anomaly":false,"anomaly_reasons":[]}"#;

    #[test]
    fn a_line_is_batched_by_its_invocation_and_clocked_by_its_arrival() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .unwrap()
        };
        assert_eq!(
            stamps(LINE),
            Ok((
                at("2026-11-28T10:02:39.855Z"),
                at("2026-11-27T09:59:58.586Z")
            ))
        );
        let no_arrival = LINE.replace(r#""2026-11-27T09:59:58.586Z""#, "null");
        assert_eq!(
            stamps(&no_arrival),
            Ok((
                at("2026-11-28T10:02:39.855Z"),
                at("2026-11-28T10:02:39.855Z")
            ))
        );
    }

    #[test]
    fn a_line_this_function_did_not_write_says_why() {
        let raw = r#"{"timestamp":"2026-11-27T09:59:58.192496","user_id":189}"#;
        assert!(stamps(raw).unwrap_err().contains("no processed_at"));
        assert!(
            stamps("not json")
                .unwrap_err()
                .contains("not a JSON object")
        );
        let bad = LINE.replace("2026-11-28T10:02:39.855Z", "yesterday");
        assert!(stamps(&bad).unwrap_err().contains("processed_at"));
    }
}
