//! The Firehose data-transformation contract over a whole batch: one answer per record, in
//! order, never a failed batch for a bad record, and an answer that fits Lambda's 6 MB limit
//! or a clear error when nothing can make it fit.
//!
//! The event and answer types are our own rather than `aws_lambda_events`' Firehose types on
//! purpose: those decode `data` while the event is deserialized (one bad record fails the whole
//! batch, which Firehose then retries and finally dumps whole) and re-encode it on the way out
//! (so a failed record's original text could not be returned byte for byte).

pub(crate) mod answer;
pub(crate) mod body;
pub(crate) mod click;
pub(crate) mod clicks;
pub(crate) mod encoding;
pub(crate) mod fields;
mod flat;
pub(crate) mod partition;
pub(crate) mod rejection;
pub(crate) mod response_limit;
#[cfg(test)]
mod tests;
pub(crate) mod timestamp;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::detect::burst::{self, Burst, UserClick};
use crate::detect::settings::DetectSettings;
use crate::event::record::{BatchRecord, EnvelopeFault};
use answer::{Answer, RecordResult};
use body::{Body, Patches};
use click::{Added, ClickFacts, Reason};
pub(crate) use clicks::{Clicks, ValidClick};
use fields::Fields;
use partition::PartitionKeys;
use rejection::Rejection;
pub(crate) use response_limit::LAMBDA_RESPONSE_LIMIT;

/// What the transform needs besides the records.
#[derive(Debug, Clone)]
pub(crate) struct TransformSettings<'a> {
    /// `event_type` values answered `Dropped`.
    pub(crate) drop_event_types: &'a [String],
    /// The invocation time, written as `processed_at`.
    pub(crate) now: DateTime<Utc>,
    /// The largest serialized answer allowed (Lambda's limit, smaller in tests).
    pub(crate) response_limit: usize,
    /// Which record-level detectors run, and how.
    pub(crate) detect: &'a DetectSettings,
}

/// Counts per result, for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) ok: usize,
    pub(crate) dropped: usize,
    pub(crate) failed: usize,
    /// Valid records turned `ProcessingFailed` only to keep the answer under the limit.
    pub(crate) failed_for_size: usize,
}

/// The transform's result: the serialized answer and what the rest of the function needs.
#[derive(Debug)]
pub(crate) struct Transformed {
    pub(crate) body: Box<RawValue>,
    pub(crate) tally: Tally,
    /// Every valid click, whatever the size guard then did with it.
    pub(crate) clicks: Clicks,
    /// Users who clicked faster than a person can.
    pub(crate) bursts: Vec<Burst>,
}

impl Transformed {
    /// The clicks the producer flagged.
    pub(crate) fn flagged(&self) -> impl Iterator<Item = ValidClick<'_>> {
        self.clicks.iter().filter(|c| c.flagged)
    }

    /// Whether each of [`Self::clicks`] is in a burst (the bursts' `records` index `clicks`).
    pub(crate) fn in_burst(&self) -> Vec<bool> {
        in_burst(self.clicks.len(), &self.bursts)
    }
}

/// Whether each of `clicks` clicks is in one of `bursts` (whose `records` index the clicks).
fn in_burst(clicks: usize, bursts: &[Burst]) -> Vec<bool> {
    let mut in_burst = vec![false; clicks];
    for &i in bursts.iter().flat_map(|b| &b.records) {
        if let Some(slot) = in_burst.get_mut(i) {
            *slot = true;
        }
    }
    in_burst
}

/// The batch cannot be answered within Lambda's limit, whatever is given up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "the answer to these {records} records needs at least {needed} bytes, even with every valid \
     record answered ProcessingFailed, over Lambda's response limit of {limit} bytes: the \
     invocation fails, so Firehose retries the batch and then writes it to the processing-failed \
     prefix; lower the stream's Lambda buffer size (BufferSizeInMBs)"
)]
pub struct TooLarge {
    records: usize,
    needed: usize,
    limit: usize,
}

/// Where a valid click's line is in the body, so that a burst found after the whole batch was
/// read can give the line its reason: where its base64 starts, the line's length, and the
/// length of the line but its verdict (what [`click::write_head`] wrote). Kept for every valid
/// click until the bursts are known, so in 32 bits each (see [`clicks`] on why offsets of a
/// batch fit).
struct Line {
    data: u32,
    len: u32,
    head: u32,
}

impl Line {
    fn new(data: usize, len: usize, head: usize) -> Self {
        Self {
            data: clicks::offset(data),
            len: clicks::offset(len),
            head: clicks::offset(head),
        }
    }
}

/// Buffers reused across the records of a batch: the decoded payload, and the enriched line
/// being encoded.
#[derive(Default)]
struct Scratch {
    decoded: Vec<u8>,
    line: Vec<u8>,
}

/// Transforms a whole batch: every record gets exactly one answer, or, when no answer can fit
/// Lambda's limit, the batch gets a [`TooLarge`] error.
///
/// Each record is read, checked, enriched and encoded once, straight into the response body,
/// its verdict from what the record says (the producer's flag). The batch's record-level
/// detectors (bursts) then run on the valid clicks, and only the answers of clicks in a burst
/// are written again: their line decoded from the body, its verdict rewritten, encoded, and
/// spliced in. Bursts are rare, so the batch is not held twice in memory for them.
pub(crate) fn transform<'a>(
    records: &'a [BatchRecord<'a>],
    settings: &TransformSettings<'_>,
) -> Result<Transformed, TooLarge> {
    let processed_at = timestamp::format_millis(&settings.now);
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    // Reserved whole, as the body is: grown from empty, each list left its outgrown copies in
    // the allocator's heap, resident and unused, at the batch's peak of memory.
    let mut clicks = Clicks::with_capacity(records.len());
    let mut lines = Vec::with_capacity(records.len());
    let mut body = Body::with_capacity(records.len(), body_estimate(records));
    for (index, record) in records.iter().enumerate() {
        match judge(
            record,
            settings,
            &processed_at,
            &mut scratch.decoded,
            &mut scratch.line,
        ) {
            Judged::Ok { head, facts } => {
                tally.ok += 1;
                let flagged = facts.flagged && settings.detect.producer_flag;
                let reasons: &[Reason] = if flagged {
                    &[Reason::ProducerFlag]
                } else {
                    &[]
                };
                click::write_tail(reasons, &mut scratch.line);
                let keys = PartitionKeys {
                    is_anomaly: flagged,
                    event_time: facts.event_time_text.as_str(),
                };
                let data = body.push_ok(
                    &record.record_id,
                    record.payload_field,
                    &scratch.line,
                    &keys,
                );
                lines.push(Line::new(data, scratch.line.len(), head));
                clicks.push(
                    index,
                    &facts.user_id,
                    &facts.page_url,
                    facts.event_time,
                    flagged,
                );
            }
            Judged::Dropped => {
                tally.dropped += 1;
                body.push(&Answer::unchanged(record, RecordResult::Dropped));
            }
            Judged::Failed(reason) => {
                tally.failed += 1;
                // Debug formatting escapes the id: a newline in it cannot start a forged line.
                tracing::warn!(
                    record_id = ?record.record_id,
                    reason = %reason,
                    code = reason.code(),
                    "record answered ProcessingFailed"
                );
                body.push(&Answer::unchanged(record, RecordResult::ProcessingFailed));
            }
        }
    }

    let bursts = if settings.detect.user_bursts {
        find_bursts(&clicks, settings.detect)
    } else {
        Vec::new()
    };
    if !bursts.is_empty() {
        relabel(
            &mut body,
            records,
            &clicks,
            &lines,
            &bursts,
            &mut scratch.line,
        );
    }

    if body.len() > settings.response_limit {
        let turned = fit_under_limit(&mut body, records, settings.response_limit)?;
        tally.ok -= turned;
        tally.failed += turned;
        tally.failed_for_size = turned;
        tracing::warn!(
            records = turned,
            limit = settings.response_limit,
            "answer would exceed Lambda's limit: dropped records answered without data, and \
             valid records answered ProcessingFailed with their original data"
        );
    }
    Ok(Transformed {
        body: to_raw(body.finish()),
        tally,
        clicks,
        bursts,
    })
}

/// About the body's length: an `Ok` answer's base64 is about its payload's length plus that of
/// the fields the line gains, and each answer adds its id and some 150 bytes of envelope.
fn body_estimate(records: &[BatchRecord<'_>]) -> usize {
    records
        .iter()
        .map(|r| r.payload.as_deref().map_or(0, str::len) + r.record_id.len() + 384)
        .sum()
}

/// Gives the lines of the clicks in a burst their reason: each is decoded from the body, cut
/// after its head, finished by [`click::write_tail`], encoded into a new answer, and the new
/// answers are spliced in together.
fn relabel(
    body: &mut Body,
    records: &[BatchRecord<'_>],
    clicks: &Clicks,
    lines: &[Line],
    bursts: &[Burst],
    line: &mut Vec<u8>,
) {
    let in_burst = in_burst(clicks.len(), bursts);
    let mut patches = Patches::default();
    let mut reasons = Vec::with_capacity(2);
    for ((click, at), _) in clicks.iter().zip(lines).zip(&in_burst).filter(|(_, b)| **b) {
        let Some(record) = records.get(click.record) else {
            continue;
        };
        reasons.clear();
        if click.flagged {
            reasons.push(Reason::ProducerFlag);
        }
        reasons.push(Reason::UserBurst);
        line.clear();
        // Our own base64 of a line at least `head` bytes long: neither check can fail.
        let (data, len, head) = (at.data as usize, at.len as usize, at.head as usize);
        let encoded = body.bytes(data..data + encoding::encoded_len(len));
        let decoded = encoding::decode_append(encoded, line);
        debug_assert!(decoded.is_ok() && line.len() >= head);
        line.truncate(head);
        click::write_tail(&reasons, line);
        let event_time = click.event_time_text();
        let keys = PartitionKeys {
            is_anomaly: true,
            event_time: &event_time,
        };
        patches.add(click.record, RecordResult::Ok, |out| {
            answer::write_ok(out, &record.record_id, record.payload_field, line, &keys);
        });
    }
    body.splice(&patches);
}

/// The batch's bursts; their `records` index `clicks`.
fn find_bursts(clicks: &Clicks, detect: &DetectSettings) -> Vec<Burst> {
    let users = clicks
        .iter()
        .enumerate()
        .map(|(index, c)| UserClick::new(index, c.user_id(), c.event_time));
    burst::find(users, detect.burst_min_clicks, detect.burst_span)
}

/// What reading a record made of it.
enum Judged<'d> {
    /// Valid: `line` holds its enriched line but the verdict, `head` bytes long; `facts`
    /// borrow from the decoded payload.
    Ok {
        head: usize,
        facts: ClickFacts<'d>,
    },
    Dropped,
    Failed(Rejection),
}

/// Reads one record: its payload is decoded into `decoded` and, when valid, its enriched line
/// but the verdict written into `line` (both buffers reused across the batch).
fn judge<'d>(
    record: &BatchRecord<'_>,
    settings: &TransformSettings<'_>,
    processed_at: &str,
    decoded: &'d mut Vec<u8>,
    line: &mut Vec<u8>,
) -> Judged<'d> {
    match record.fault {
        Some(EnvelopeFault::Duplicate(field)) => {
            return Judged::Failed(Rejection::DuplicateEnvelopeField(field.name()));
        }
        Some(EnvelopeFault::TwoPayloads) => return Judged::Failed(Rejection::TwoPayloads),
        None => {}
    }
    let Some(data) = &record.payload else {
        return Judged::Failed(Rejection::NoData);
    };
    decoded.clear();
    if encoding::decode_append(data.as_bytes(), decoded).is_err() {
        return Judged::Failed(Rejection::InvalidBase64);
    }
    let decoded: &'d Vec<u8> = decoded;
    let Some(text) = crate::utf8::as_str(decoded) else {
        return Judged::Failed(Rejection::NotUtf8);
    };
    if fields::has_lone_surrogate(text) {
        return Judged::Failed(Rejection::LoneSurrogate);
    }
    let Ok(fields) = Fields::parse(text) else {
        return Judged::Failed(Rejection::NotOneJsonObject);
    };
    let event_type = match click::string_field(&fields, "event_type") {
        Ok(event_type) => event_type,
        Err(reason) => return Judged::Failed(reason),
    };
    if settings.drop_event_types.iter().any(|t| *t == event_type) {
        return Judged::Dropped;
    }
    let facts = match click::check(&fields) {
        Ok(facts) => facts,
        Err(reason) => return Judged::Failed(reason),
    };
    let arrival_time =
        arrival_time(record.approximate_arrival_timestamp).map(|t| timestamp::millis(&t));
    let added = Added {
        event_time: facts.event_time_text.as_str(),
        arrival_time: arrival_time.as_ref().map(timestamp::Millis::as_str),
        processed_at,
    };
    line.clear();
    click::write_head(&fields, &added, line);
    Judged::Ok {
        head: line.len(),
        facts,
    }
}

/// `approximateArrivalTimestamp` (epoch milliseconds), or `None` when missing or unusable:
/// Firehose's own metadata being odd is no reason to fail a good record.
pub(crate) fn arrival_time(raw: Option<&RawValue>) -> Option<DateTime<Utc>> {
    /// The largest integer an `f64` holds exactly; beyond it a millisecond is a guess.
    const EXACT: i64 = 9_007_199_254_740_992;
    let text = raw?.get();
    // Firehose writes an integer; reading it as one is a tenth of the cost of an `f64`.
    let ms = match text.parse::<i64>() {
        // `unsigned_abs`: `abs` of i64::MIN overflows.
        Ok(ms) if ms.unsigned_abs() <= EXACT.unsigned_abs() => ms,
        Ok(_) => return None,
        Err(_) => {
            let ms: f64 = text.parse().ok()?;
            if !ms.is_finite() || ms.abs() > EXACT as f64 {
                return None;
            }
            ms.floor() as i64
        }
    };
    timestamp::from_epoch_millis(ms)
}

/// The finished body as the handler returns it.
///
/// Not [`RawValue::from_string`]: it parses the whole answer again (some 5.5 MB of base64 for
/// the largest batch, a tenth of the batch's instructions) and, since the body's buffer was
/// sized by an estimate, copies it into an exact allocation while the original is still held,
/// which was the invocation's peak of memory. `into_boxed_str` instead gives the spare
/// capacity back in place.
fn to_raw(body: Vec<u8>) -> Box<RawValue> {
    // Our own writing is UTF-8, so this check does not fail; it is kept because it is cheap
    // (no parse, and SIMD: `crate::utf8`) and is what makes the text a `str` at all.
    let Ok(text) = crate::utf8::into_string(body) else {
        return RawValue::NULL.to_owned();
    };
    // SAFETY: the body is one JSON object with no whitespace around it by construction:
    // `{"records":[`, the answers separated by commas, `]}`, each answer written by serde_json
    // or by `answer::write_ok` (serde_json's strings around base64, which needs no escaping).
    // Debug builds parse it again here, so every test of the transform checks this claim.
    unsafe { RawValue::from_string_unchecked(text) }
}

/// Makes the answer fit `limit`, giving up as little as possible: first the data of `Dropped`
/// answers (nobody reads it), then as few `Ok` answers as possible, turned `ProcessingFailed`
/// with their original data. Returns how many records were turned.
fn fit_under_limit(
    body: &mut Body,
    records: &[BatchRecord<'_>],
    limit: usize,
) -> Result<usize, TooLarge> {
    let mut total = body.len();
    // (answer, bytes saved by shrinking it)
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    let mut failed: Vec<(usize, usize)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let shrunk = match body.result(i) {
            Some(RecordResult::Dropped) => Answer::blank(record),
            Some(RecordResult::Ok) => Answer::unchanged(record, RecordResult::ProcessingFailed),
            _ => continue,
        };
        let saving = body.answer_len(i).saturating_sub(shrunk.len());
        match shrunk.result {
            RecordResult::Dropped => dropped.push((i, saving)),
            _ => failed.push((i, saving)),
        }
    }
    let mut blanked = response_limit::choose(&mut dropped, &mut total, limit);
    let mut turned = response_limit::choose(&mut failed, &mut total, limit);
    if total > limit {
        return Err(TooLarge {
            records: records.len(),
            needed: total,
            limit,
        });
    }
    blanked.sort_unstable();
    turned.sort_unstable();
    let mut patches = Patches::default();
    let (mut to_blank, mut to_turn) = (blanked.iter().peekable(), turned.iter().peekable());
    for (i, record) in records.iter().enumerate() {
        let answer = if to_blank.next_if_eq(&&i).is_some() {
            Answer::blank(record)
        } else if to_turn.next_if_eq(&&i).is_some() {
            Answer::unchanged(record, RecordResult::ProcessingFailed)
        } else {
            continue;
        };
        patches.add(i, answer.result, |out| answer::write_json(out, &answer));
    }
    body.splice(&patches);
    debug_assert_eq!(body.len(), total);
    Ok(turned.len())
}
