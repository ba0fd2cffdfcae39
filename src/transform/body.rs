//! The response body, written once: each answer goes into one buffer as its record is read, and
//! the few answers that change afterwards (the lines of a burst's clicks, the answers the size
//! guard shrinks) are spliced in place.
//!
//! The base64 of a batch (~5.5 MB for a 3.5 MB event) is so never held twice: encoding every
//! line into its own answer and serializing the answers into a body after cost a second copy,
//! and freeing each answer as it was written did not help, since the freed memory stayed with
//! the allocator. Splicing moves the bytes after a changed answer, once per pass, which is rare
//! (bursts, or an answer over Lambda's limit) and cheap next to the transform.

use std::ops::Range;

use super::answer::{self, Answer, RecordResult};
use super::encoding::encoded_len;
use super::partition::PartitionKeys;
use crate::event::record::PayloadField;
use crate::prefault::Ahead;

const OPEN: &[u8] = b"{\"records\":[";
const CLOSE: &[u8] = b"]}";
/// About the bytes of an answer besides its id and data: field names, result, partition keys.
const ENVELOPE: usize = 160;

/// `{"records":[` and the answers so far, comma-separated; [`Body::finish`] closes it.
pub(crate) struct Body {
    text: Vec<u8>,
    answers: Vec<Placed>,
    ahead: Ahead,
}

/// Where an answer starts in the text, and what it says.
#[derive(Debug, Clone, Copy)]
struct Placed {
    start: usize,
    result: RecordResult,
}

/// New answers for some records, to splice into a [`Body`]; added in record order.
#[derive(Default)]
pub(crate) struct Patches {
    bytes: Vec<u8>,
    at: Vec<Patch>,
}

struct Patch {
    answer: usize,
    result: RecordResult,
    bytes: Range<usize>,
}

impl Patches {
    /// The answer to record `answer` becomes what `write` appends.
    pub(crate) fn add(
        &mut self,
        answer: usize,
        result: RecordResult,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        debug_assert!(self.at.last().is_none_or(|p| p.answer < answer));
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.at.push(Patch {
            answer,
            result,
            bytes: start..self.bytes.len(),
        });
    }
}

/// A patch where it applies: the old answer's span of the text.
struct Job<'p> {
    answer: usize,
    result: RecordResult,
    old: Range<usize>,
    new: &'p [u8],
}

impl Body {
    /// An empty body for `answers` answers of about `bytes` bytes in all. Reserving it whole
    /// spares the copies of a growing buffer; pages reserved and never written cost nothing.
    pub(crate) fn with_capacity(answers: usize, bytes: usize) -> Self {
        let mut text = Vec::with_capacity(OPEN.len() + bytes + CLOSE.len());
        text.extend_from_slice(OPEN);
        Self {
            text,
            answers: Vec::with_capacity(answers),
            ahead: Ahead::default(),
        }
    }

    /// Starts an answer of about `len` bytes.
    fn begin(&mut self, result: RecordResult, len: usize) {
        self.ahead.before_append(&mut self.text, len);
        if !self.answers.is_empty() {
            self.text.push(b',');
        }
        self.answers.push(Placed {
            start: self.text.len(),
            result,
        });
    }

    /// Appends an answer that carries the record's data back.
    pub(crate) fn push(&mut self, answer: &Answer<'_>) {
        self.begin(
            answer.result,
            ENVELOPE + answer.record_id.len() + answer.data.len(),
        );
        answer::write_json(&mut self.text, answer);
    }

    /// Appends an `Ok` answer with `line` as its data; returns where its base64 starts.
    pub(crate) fn push_ok(
        &mut self,
        record_id: &str,
        field: PayloadField,
        line: &[u8],
        keys: &PartitionKeys<'_>,
    ) -> usize {
        self.begin(
            RecordResult::Ok,
            ENVELOPE + record_id.len() + encoded_len(line.len()),
        );
        answer::write_ok(&mut self.text, record_id, field, line, keys)
    }

    /// Bytes `range` of the text, as written.
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.text.get(range).unwrap_or_default()
    }

    /// The result answered for record `answer`.
    pub(crate) fn result(&self, answer: usize) -> Option<RecordResult> {
        self.answers.get(answer).map(|a| a.result)
    }

    /// The answer's span of the text, its separating comma left out.
    fn span(&self, answer: usize) -> Range<usize> {
        let start = self.answers.get(answer).map_or(0, |a| a.start);
        let end = match self.answers.get(answer + 1) {
            Some(next) => next.start - 1,
            None => self.text.len(),
        };
        start..end
    }

    /// The length of the answer to record `answer`.
    pub(crate) fn answer_len(&self, answer: usize) -> usize {
        self.span(answer).len()
    }

    /// The length of the finished body.
    pub(crate) fn len(&self) -> usize {
        self.text.len() + CLOSE.len()
    }

    /// Replaces the patched answers. Those that shrink are spliced first, front to back, then
    /// those that grow, back to front: either way each byte after a change moves once, and only
    /// over bytes already moved or given up.
    pub(crate) fn splice(&mut self, patches: &Patches) {
        self.splice_where(patches, false);
        self.splice_where(patches, true);
    }

    /// Splices the patches that make their answer longer (`grow`) or not.
    fn splice_where(&mut self, patches: &Patches, grow: bool) {
        let jobs: Vec<Job<'_>> = patches
            .at
            .iter()
            .filter_map(|p| {
                let old = self.span(p.answer);
                let new = patches.bytes.get(p.bytes.clone())?;
                (grow == (new.len() > old.len())).then_some(Job {
                    answer: p.answer,
                    result: p.result,
                    old,
                    new,
                })
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        if grow {
            self.grow(&jobs);
        } else {
            self.shrink(&jobs);
        }
        let mut shift = 0_isize;
        let mut next = jobs.iter().peekable();
        for (i, placed) in self.answers.iter_mut().enumerate() {
            placed.start = placed.start.saturating_add_signed(shift);
            if let Some(job) = next.next_if(|j| j.answer == i) {
                placed.result = job.result;
                shift += job.new.len() as isize - job.old.len() as isize;
            }
        }
    }

    /// Splices answers no longer than those they replace, front to back.
    fn shrink(&mut self, jobs: &[Job<'_>]) {
        // Bytes given up so far: the text from `from` on moves left by `removed`.
        let mut removed = 0;
        let mut from = jobs.first().map_or(0, |j| j.old.start);
        for job in jobs {
            self.text.copy_within(from..job.old.start, from - removed);
            let at = job.old.start - removed;
            self.text[at..at + job.new.len()].copy_from_slice(job.new);
            removed += job.old.len() - job.new.len();
            from = job.old.end;
        }
        let end = self.text.len();
        self.text.copy_within(from..end, from - removed);
        self.text.truncate(end - removed);
    }

    /// Splices answers longer than those they replace, back to front.
    fn grow(&mut self, jobs: &[Job<'_>]) {
        let added: usize = jobs.iter().map(|j| j.new.len() - j.old.len()).sum();
        let end = self.text.len();
        self.text.resize(end + added, 0);
        // Bytes added by the jobs not yet done: the text before `until` moves right by `shift`.
        let mut shift = added;
        let mut until = end;
        for job in jobs.iter().rev() {
            self.text
                .copy_within(job.old.end..until, job.old.end + shift);
            shift -= job.new.len() - job.old.len();
            let at = job.old.start + shift;
            self.text[at..at + job.new.len()].copy_from_slice(job.new);
            until = job.old.start;
        }
    }

    /// The finished body.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.text.extend_from_slice(CLOSE);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer<'a>(id: &'a str, data: &'a str) -> Answer<'a> {
        Answer {
            record_id: id,
            result: RecordResult::ProcessingFailed,
            field: PayloadField::Data,
            data,
        }
    }

    fn body(answers: &[Answer<'_>]) -> Body {
        let mut body = Body::with_capacity(answers.len(), 0);
        for a in answers {
            body.push(a);
        }
        body
    }

    fn text(answers: &[Answer<'_>]) -> String {
        String::from_utf8(body(answers).finish()).unwrap()
    }

    #[test]
    fn patches_that_grow_and_shrink_are_spliced_where_they_belong() {
        let data = ["aaaa", "b", "cccccccc", "", "ee", "ffffff"];
        let ids = ["0", "1", "2", "3", "4", "5"];
        let old: Vec<Answer<'_>> = ids.iter().zip(data).map(|(i, d)| answer(i, d)).collect();
        // Every mix: each answer kept, grown, shrunk or blanked.
        let changes = ["", "bbbbbbbbbbbb", "c", "dddd", "", "f"];
        for mask in 0..(1 << ids.len()) {
            let mut body = body(&old);
            let mut patches = Patches::default();
            let mut want = Vec::new();
            for (i, a) in old.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    let new = Answer {
                        result: RecordResult::Dropped,
                        ..answer(ids[i], changes[i])
                    };
                    patches.add(i, new.result, |out| answer::write_json(out, &new));
                    want.push(new);
                } else {
                    want.push(answer(a.record_id, a.data));
                }
            }
            body.splice(&patches);
            for (i, w) in want.iter().enumerate() {
                assert_eq!(body.result(i), Some(w.result), "mask {mask:b}, answer {i}");
                assert_eq!(body.answer_len(i), w.len(), "mask {mask:b}, answer {i}");
            }
            let len = body.len();
            let got = String::from_utf8(body.finish()).unwrap();
            assert_eq!(got, text(&want), "mask {mask:b}");
            assert_eq!(got.len(), len);
        }
    }

    #[test]
    fn an_ok_answer_is_what_serde_would_write() {
        let keys = PartitionKeys {
            is_anomaly: true,
            event_time: "2026-11-27T10:15:30.123Z",
        };
        let mut body = Body::with_capacity(2, 0);
        body.push(&answer("a\"b", "x"));
        let data = body.push_ok("r\n", PayloadField::KafkaRecordValue, b"line\n", &keys);
        let text = String::from_utf8(body.finish()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"records": [
                {"recordId": "a\"b", "result": "ProcessingFailed", "data": "x"},
                {"recordId": "r\n", "result": "Ok", "kafkaRecordValue": "bGluZQo=",
                 "metadata": {"partitionKeys": {"status": "anomaly", "event_date": "2026-11-27",
                                                "event_hour": "10"}}},
            ]})
        );
        assert_eq!(&text[data..data + 8], "bGluZQo=");
    }
}
