//! The run loop: records taken as they fall due, gathered into batches, and each batch delivered
//! to a [`RecordSink`], until the limit, the records or a fatal error end the run.
//!
//! One batch is delivered at a time: the loop waits for a call (and its retries) before taking
//! more records, and the schedule catches up afterwards, so a slow stream slows nothing but the
//! moment records go out.
//!
//! Two kinds of retry share one budget of attempts per record. The sink (the AWS SDK) retries a
//! whole call that failed; this loop resends only the entries a call that succeeded reports
//! failed, which the SDK does not do, so records the stream accepted are never sent twice.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::batch::{self, Batch, LINGER, MAX_RECORD_BYTES};
use crate::pace::{Pace, Schedule};
use crate::retry::RetryPolicy;
use crate::sink::{EntryError, RecordSink, SinkError};

/// What became of the records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Records the stream accepted.
    pub(crate) sent: u64,
    /// Records put again after a failure, once per resend, whichever retry sent them.
    pub(crate) retried: u64,
    /// Records given up on.
    pub(crate) failed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}, retried {}, failed {}",
            self.sent, self.retried, self.failed
        )
    }
}

/// The end of a run.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) summary: Summary,
    /// The error that stopped the run early, if one did.
    pub(crate) stopped: Option<SinkError>,
    /// Why the last record given up on failed.
    pub(crate) last_failure: Option<RecordFailure>,
}

impl Outcome {
    fn give_up(&mut self, records: usize, reason: RecordFailure) {
        self.summary.failed += records as u64;
        self.last_failure = Some(reason);
    }
}

/// Why a record was given up on while the run went on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordFailure {
    /// Firehose would reject the whole call for it; no retry can help.
    #[error("a record of {bytes} bytes is over the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge { bytes: usize },
    /// The stream refused the entry on its last attempt.
    #[error(transparent)]
    Rejected(#[from] EntryError),
    /// The sink broke its contract of one result per record.
    #[error("the response has {results} results for {records} records")]
    Unmatched { results: usize, records: usize },
    /// The whole call failed on every attempt the sink made.
    #[error("PutRecordBatch failed {}", times(.attempts))]
    Call {
        attempts: u32,
        #[source]
        error: SinkError,
    },
}

/// A run in progress: the batch being filled, the totals, and who hears them.
struct Run<P> {
    batch: Batch,
    outcome: Outcome,
    progress: P,
}

/// Paces records into batches and batches into a sink.
#[derive(Debug)]
pub(crate) struct Producer<S> {
    sink: S,
    retry: RetryPolicy,
    linger: Duration,
}

impl<S: RecordSink> Producer<S> {
    pub(crate) fn new(sink: S, retry: RetryPolicy) -> Self {
        Self {
            sink,
            retry,
            linger: LINGER,
        }
    }

    /// Sends `records` at `pace` until the limit, the records or a fatal error end it;
    /// `progress` hears the running totals after every call.
    pub(crate) async fn run(
        &self,
        records: impl IntoIterator<Item = Vec<u8>>,
        pace: Pace,
        progress: impl FnMut(&Summary),
    ) -> Outcome {
        let mut run = Run {
            batch: Batch::default(),
            outcome: Outcome::default(),
            progress,
        };
        if let Err(fatal) = self.send_all(records.into_iter(), pace, &mut run).await {
            run.outcome.stopped = Some(fatal);
        }
        run.outcome
    }

    /// Takes each record when it is due, sends a batch when it is full or has waited long
    /// enough, and sleeps until the next of those otherwise; the last batch goes at the end.
    async fn send_all(
        &self,
        mut records: impl Iterator<Item = Vec<u8>>,
        pace: Pace,
        run: &mut Run<impl FnMut(&Summary)>,
    ) -> Result<(), SinkError> {
        let mut schedule = Schedule::new(pace, Instant::now());
        loop {
            let now = Instant::now();
            if schedule.is_over(now) {
                break;
            }
            if schedule.is_due(now) {
                let Some(record) = records.next() else {
                    break;
                };
                schedule.took_one();
                self.add(record, run).await?;
            } else if run.batch.deadline(self.linger).is_some_and(|d| d <= now) {
                self.flush(run).await?;
            } else {
                tokio::time::sleep_until(self.wake_time(&schedule, &run.batch, now)).await;
            }
        }
        self.flush(run).await
    }

    /// The next moment there is something to do: a record due, or the batch's deadline.
    fn wake_time(&self, schedule: &Schedule, batch: &Batch, now: Instant) -> Instant {
        [schedule.next_due(), batch.deadline(self.linger)]
            .into_iter()
            .flatten()
            .min()
            // Nothing will ever be due (a schedule beyond the clock's range) and nothing waits:
            // look again later, so a duration limit still ends the run.
            .unwrap_or(now + self.linger)
    }

    /// Puts `record` in the batch: first sending the batch if the record would not fit, then
    /// sending it if it is full.
    async fn add(
        &self,
        record: Vec<u8>,
        run: &mut Run<impl FnMut(&Summary)>,
    ) -> Result<(), SinkError> {
        if batch::too_large(&record) {
            let bytes = record.len();
            run.outcome.give_up(1, RecordFailure::TooLarge { bytes });
            return Ok(());
        }
        if !run.batch.fits(&record) {
            self.flush(run).await?;
        }
        // Not the loop's `now`: a flush may just have taken a while.
        run.batch.push(record, Instant::now());
        if run.batch.is_full() {
            self.flush(run).await?;
        }
        Ok(())
    }

    /// Delivers the batch, if it holds anything, and reports the totals.
    async fn flush(&self, run: &mut Run<impl FnMut(&Summary)>) -> Result<(), SinkError> {
        if run.batch.is_empty() {
            return Ok(());
        }
        let delivered = self.deliver(run.batch.take(), &mut run.outcome).await;
        (run.progress)(&run.outcome.summary);
        delivered
    }

    /// Puts `pending` until every record is accepted or its attempts are spent.
    ///
    /// Each call may be sent several times by the sink; every attempt counts against the
    /// records' budget, and the next call gets only what is left, so no record is sent more than
    /// `retry.attempts` times. Between calls it waits as the policy says for the attempts spent.
    async fn deliver(
        &self,
        mut pending: Vec<Vec<u8>>,
        outcome: &mut Outcome,
    ) -> Result<(), SinkError> {
        let budget = self.retry.attempts.max(1);
        let mut spent = 0;
        loop {
            let called = self.sink.put_batch(&pending, budget - spent).await;
            outcome.summary.retried += resends(pending.len(), called.attempts, spent == 0);
            // A call that sent nothing still counts, so this loop ends.
            spent = (spent + called.attempts.max(1)).min(budget);
            let failure = match called.result {
                Ok(results) => {
                    let settled = settle(pending, results);
                    outcome.summary.sent += settled.accepted;
                    pending = settled.failed;
                    match settled.last_failure {
                        Some(failure) => failure,
                        None => return Ok(()),
                    }
                }
                Err(error) if error.is_fatal() => {
                    outcome.summary.failed += pending.len() as u64;
                    return Err(error);
                }
                Err(error) => {
                    // The sink has retried the whole call as often as it could; more calls
                    // would only stack more attempts on the same failure.
                    spent = budget;
                    RecordFailure::Call {
                        attempts: called.attempts,
                        error,
                    }
                }
            };
            if spent >= budget {
                outcome.give_up(pending.len(), failure);
                return Ok(());
            }
            tokio::time::sleep(self.retry.delay(spent)).await;
        }
    }
}

/// Records sent again by a call of `attempts` attempts: all of them but the first attempt of
/// the first call.
fn resends(records: usize, attempts: u32, first_call: bool) -> u64 {
    let again = attempts.saturating_sub(u32::from(first_call));
    records as u64 * u64::from(again)
}

/// A call's records sorted by their results.
struct Settled {
    /// The records to send again, in order.
    failed: Vec<Vec<u8>>,
    accepted: u64,
    /// Why the last failed record failed; `None` exactly when none did.
    last_failure: Option<RecordFailure>,
}

fn settle(pending: Vec<Vec<u8>>, results: Vec<Option<EntryError>>) -> Settled {
    if results.len() != pending.len() {
        // Without a result per record there is no telling which were accepted; sending all again
        // risks duplicates, which Firehose's at-least-once delivery allows anyway.
        let unmatched = RecordFailure::Unmatched {
            results: results.len(),
            records: pending.len(),
        };
        return Settled {
            failed: pending,
            accepted: 0,
            last_failure: Some(unmatched),
        };
    }
    let before = pending.len();
    let mut last_failure = None;
    let failed: Vec<Vec<u8>> = pending
        .into_iter()
        .zip(results)
        .filter_map(|(record, result)| {
            last_failure = Some(result?);
            Some(record)
        })
        .collect();
    Settled {
        accepted: (before - failed.len()) as u64,
        failed,
        last_failure: last_failure.map(RecordFailure::from),
    }
}

/// "once", "2 times", ...
fn times(count: &u32) -> String {
    match count {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS};
    use crate::pace::Limit;
    use std::cell::RefCell;

    use crate::report::error_chain;
    use crate::sink::Called;

    type Results = Result<Vec<Option<EntryError>>, SinkError>;
    type Respond = Box<dyn Fn(usize, &[Vec<u8>], u32) -> Called>;

    /// One `put_batch` call as the sink saw it.
    #[derive(Debug, Clone)]
    struct Call {
        /// When, from the sink's creation (the clock is tokio's, paused in these tests).
        at: Duration,
        records: Vec<Vec<u8>>,
        max_attempts: u32,
    }

    /// Remembers every call; `respond` gets the call's number, records and attempts allowed.
    struct MemorySink {
        created: Instant,
        /// How long each call takes.
        latency: Duration,
        calls: RefCell<Vec<Call>>,
        respond: Respond,
    }

    impl MemorySink {
        /// A sink that sends each call once: no retry of its own.
        fn new(respond: impl Fn(usize, &[Vec<u8>]) -> Results + 'static) -> Self {
            Self::retrying(move |call, records, _| Called {
                attempts: 1,
                result: respond(call, records),
            })
        }

        /// A sink that says how many attempts each call took, as the AWS SDK's retries would.
        fn retrying(respond: impl Fn(usize, &[Vec<u8>], u32) -> Called + 'static) -> Self {
            Self {
                created: Instant::now(),
                latency: Duration::ZERO,
                calls: RefCell::new(Vec::new()),
                respond: Box::new(respond),
            }
        }

        fn accepting() -> Self {
            Self::new(|_, records| Ok(vec![None; records.len()]))
        }

        fn calls(&self) -> Vec<Call> {
            self.calls.borrow().clone()
        }

        fn batches(&self) -> Vec<Vec<Vec<u8>>> {
            self.calls().into_iter().map(|call| call.records).collect()
        }

        fn max_attempts(&self) -> Vec<u32> {
            self.calls().iter().map(|call| call.max_attempts).collect()
        }

        fn times(&self) -> Vec<Duration> {
            self.calls().iter().map(|call| call.at).collect()
        }

        /// When each call came, from the first: `fast` paces start within a millisecond, at a
        /// moment that depends on how the timer rounds.
        fn times_from_first(&self) -> Vec<Duration> {
            let times = self.times();
            times.iter().map(|&at| at - times[0]).collect()
        }
    }

    impl RecordSink for MemorySink {
        async fn put_batch(&self, records: &[Vec<u8>], max_attempts: u32) -> Called {
            let call = self.calls.borrow().len();
            self.calls.borrow_mut().push(Call {
                at: self.created.elapsed(),
                records: records.to_vec(),
                max_attempts,
            });
            tokio::time::sleep(self.latency).await;
            let called = (self.respond)(call, records, max_attempts);
            assert!(
                (1..=max_attempts).contains(&called.attempts),
                "a sink never makes more attempts than allowed"
            );
            called
        }
    }

    impl<S: RecordSink> Producer<S> {
        fn with_defaults(sink: S) -> Self {
            Self::new(sink, RetryPolicy::default())
        }

        fn linger(mut self, linger: Duration) -> Self {
            self.linger = linger;
            self
        }
    }

    fn entry_error(code: &str, message: Option<&str>) -> EntryError {
        EntryError {
            code: code.to_owned(),
            message: message.map(str::to_owned),
        }
    }

    /// Why the last record given up on failed, causes included.
    fn last_failure(outcome: &Outcome) -> Option<String> {
        outcome.last_failure.as_ref().map(|f| error_chain(f))
    }

    /// Every record due in the first millisecond, the clock's smallest step: the schedule never
    /// holds records back.
    fn fast(count: u64) -> Pace {
        Pace {
            rate: u32::MAX,
            limit: Limit::Count(count),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Distinct records of `len` bytes (at least 8), numbered in their first 8.
    fn records(count: usize, len: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let mut record = format!("{i:08}").into_bytes();
                record.resize(len.max(8), b'x');
                record
            })
            .collect()
    }

    /// The number [`records`] gave `record`.
    fn number(record: &[u8]) -> u64 {
        std::str::from_utf8(&record[..8]).unwrap().parse().unwrap()
    }

    fn assert_within_limits(batches: &[Vec<Vec<u8>>]) {
        for batch in batches {
            assert!(!batch.is_empty());
            assert!(batch.len() <= MAX_BATCH_RECORDS, "{} records", batch.len());
            let bytes: usize = batch.iter().map(Vec::len).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes");
            assert!(batch.iter().all(|r| r.len() <= MAX_RECORD_BYTES));
        }
    }

    /// Record `i` went out no earlier than it was due, at `rate` a second, and no later than
    /// `linger` after that.
    fn assert_paced(sink: &MemorySink, rate: u64, linger: Duration) {
        for call in sink.calls() {
            for record in &call.records {
                let due = Duration::from_nanos(number(record) * 1_000_000_000 / rate);
                assert!(
                    due <= call.at && call.at <= due + linger,
                    "record {} due at {due:?} sent at {:?}",
                    number(record),
                    call.at
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn batches_never_exceed_500_records() {
        let input = records(1200, 230);
        let producer = Producer::with_defaults(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(1200), |_| {}).await;
        let batches = producer.sink.batches();
        assert_within_limits(&batches);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        assert_eq!(batches.concat(), input, "every record once, in order");
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 1200,
                retried: 0,
                failed: 0
            }
        );
        assert!(outcome.stopped.is_none());
        assert_eq!(
            producer.sink.times_from_first(),
            [ms(0), ms(0), ms(0)],
            "full batches go at once, the last when the records end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn batches_never_exceed_4_mib() {
        // Four of the largest records allowed fill 4,096,000 bytes; a fifth would pass 4 MiB.
        let input = records(10, MAX_RECORD_BYTES);
        let producer = Producer::with_defaults(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(10), |_| {}).await;
        let batches = producer.sink.batches();
        assert_within_limits(&batches);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(batches.concat(), input);
        assert_eq!(outcome.summary.sent, 10);

        // Mixed sizes: each call still within both limits, nothing lost.
        let mixed: Vec<Vec<u8>> = (0..3000)
            .map(|i| vec![b'a'; [200, 50_000, 300_000, 9][i % 4]])
            .collect();
        let producer = Producer::with_defaults(MemorySink::accepting());
        let outcome = producer.run(mixed.clone(), fast(3000), |_| {}).await;
        let batches = producer.sink.batches();
        assert_within_limits(&batches);
        assert_eq!(batches.concat(), mixed);
        assert_eq!(outcome.summary.sent, 3000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_over_the_size_limit_fails_alone() {
        let mut input = records(3, 100);
        input.insert(1, vec![b'x'; MAX_RECORD_BYTES + 1]);
        let producer = Producer::with_defaults(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(4), |_| {}).await;
        assert_eq!(
            producer.sink.batches(),
            [vec![input[0].clone(), input[2].clone(), input[3].clone()]]
        );
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 3,
                retried: 0,
                failed: 1
            }
        );
        assert_eq!(
            last_failure(&outcome).as_deref(),
            Some("a record of 1024001 bytes is over the 1024000-byte limit")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_failed_entries_are_resent() {
        // The first call fails every third entry; later calls accept everything.
        let sink = MemorySink::new(|call, records| {
            Ok((0..records.len())
                .map(|i| {
                    (call == 0 && i % 3 == 0)
                        .then(|| entry_error("ServiceUnavailableException", None))
                })
                .collect())
        });
        let input = records(10, 50);
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(input.clone(), fast(10), |_| {}).await;
        let batches = producer.sink.batches();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0], input);
        assert_eq!(
            batches[1],
            [
                input[0].clone(),
                input[3].clone(),
                input[6].clone(),
                input[9].clone()
            ]
        );
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 10,
                retried: 4,
                failed: 0
            }
        );
        assert!(outcome.last_failure.is_none());
        assert_eq!(producer.sink.times_from_first(), [ms(0), ms(100)]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_shrink_to_the_entries_still_failing() {
        // Entry k of the original batch fails its first k attempts.
        let input = records(4, 20);
        let sink = MemorySink::new(|call, records| {
            Ok(records
                .iter()
                .map(|r| (call < number(r) as usize).then(|| entry_error("InternalFailure", None)))
                .collect())
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(input, fast(4), |_| {}).await;
        let sizes: Vec<usize> = producer.sink.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 3, 2, 1]);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 4,
                retried: 3 + 2 + 1,
                failed: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_result_per_record_all_are_sent_again() {
        let sink = MemorySink::new(|call, records| match call {
            0 => Ok(vec![None; records.len() - 1]),
            _ => Ok(vec![None; records.len()]),
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(records(5, 10), fast(5), |_| {}).await;
        assert_eq!(producer.sink.batches(), [records(5, 10), records(5, 10)]);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 5,
                retried: 5,
                failed: 0
            }
        );

        let short = MemorySink::new(|_, _| Ok(Vec::new()));
        let producer = Producer::with_defaults(short);
        let outcome = producer.run(records(3, 10), fast(3), |_| {}).await;
        assert_eq!(producer.sink.batches().len(), 5);
        assert_eq!(outcome.summary.failed, 3);
        assert_eq!(
            last_failure(&outcome).as_deref(),
            Some("the response has 0 results for 3 records")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_that_keeps_failing_is_given_up_after_the_last_attempt() {
        let sink = MemorySink::new(|_, records| {
            Ok(records
                .iter()
                .map(|r| {
                    (r[0] == b'!')
                        .then(|| entry_error("ServiceUnavailableException", Some("slow down")))
                })
                .collect())
        });
        let mut input = records(3, 10);
        input[1][0] = b'!';
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(input, fast(3), |_| {}).await;
        let batches = producer.sink.batches();
        assert_eq!(batches.len(), 5, "exactly the attempts allowed");
        assert_eq!(producer.sink.max_attempts(), [5, 4, 3, 2, 1]);
        assert!(batches[1..].iter().all(|batch| batch.len() == 1));
        // Waits of 100, 200, 400 and 800 ms between them.
        assert_eq!(
            producer.sink.times_from_first(),
            [0, 100, 300, 700, 1500].map(ms).to_vec()
        );
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 2,
                retried: 4,
                failed: 1
            }
        );
        assert_eq!(
            last_failure(&outcome).as_deref(),
            Some("ServiceUnavailableException: slow down")
        );
        assert!(
            outcome.stopped.is_none(),
            "a failed record does not stop the run"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_of_a_call_the_sink_retried_counts_as_a_resend() {
        // The sink (the SDK) needed three attempts for the whole call: two resends of 7 records.
        let sink = MemorySink::retrying(|_, records, _| Called {
            attempts: 3,
            result: Ok(vec![None; records.len()]),
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(records(7, 10), fast(7), |_| {}).await;
        assert_eq!(
            producer.sink.batches().len(),
            1,
            "no call of our own on top"
        );
        assert_eq!(producer.sink.max_attempts(), [5]);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 7,
                retried: 14,
                failed: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_still_failing_after_the_sink_s_retries_fails_its_records_and_the_run_goes_on() {
        let down = MemorySink::retrying(|_, _, max_attempts| Called {
            attempts: max_attempts,
            result: Err(SinkError::Transient("connection refused".into())),
        });
        let producer = Producer::with_defaults(down);
        let outcome = producer.run(records(600, 10), fast(600), |_| {}).await;
        // Two batches (500 + 100), one call each: the sink made its five attempts, and sending
        // the call again would only stack more attempts on the same failure.
        assert_eq!(
            producer
                .sink
                .batches()
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [500, 100]
        );
        assert_eq!(producer.sink.max_attempts(), [5, 5]);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 0,
                retried: 4 * 600,
                failed: 600
            }
        );
        assert!(outcome.stopped.is_none());
        assert_eq!(
            last_failure(&outcome).as_deref(),
            Some("PutRecordBatch failed 5 times: connection refused"),
            "the cause is kept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_entries_then_a_failed_whole_call_count_every_resend() {
        // As the integration test's scripted Firehose: the first call fails every third entry;
        // their resend fails as a whole once, and the sink's own retry gets it through.
        let sink = MemorySink::retrying(|call, records, _| match call {
            0 => Called {
                attempts: 1,
                result: Ok((0..records.len())
                    .map(|i| (i % 3 == 0).then(|| entry_error("ServiceUnavailableException", None)))
                    .collect()),
            },
            _ => Called {
                attempts: 2,
                result: Ok(vec![None; records.len()]),
            },
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(records(30, 10), fast(30), |_| {}).await;
        assert_eq!(
            producer
                .sink
                .batches()
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [30, 10]
        );
        assert_eq!(producer.sink.max_attempts(), [5, 4], "the budget shrinks");
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 30,
                retried: 20,
                failed: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_is_never_sent_more_than_5_times_in_all() {
        // Each call takes two attempts (the sink retried it once) and still reports the first
        // entry failed: 2 + 2 + 1 attempts, then it is given up.
        let sink = MemorySink::retrying(|_, records, max_attempts| Called {
            attempts: max_attempts.min(2),
            result: Ok((0..records.len())
                .map(|i| (i == 0).then(|| entry_error("InternalFailure", Some("try again"))))
                .collect()),
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(records(4, 10), fast(4), |_| {}).await;
        assert_eq!(producer.sink.max_attempts(), [5, 3, 1]);
        assert_eq!(
            producer
                .sink
                .batches()
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [4, 1, 1]
        );
        // The waits follow the attempts spent: 200 ms after two, 800 ms after four.
        assert_eq!(producer.sink.times_from_first(), [0, 200, 1000].map(ms));
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 3,
                retried: 4 + 2 + 1,
                failed: 1
            }
        );
        assert_eq!(
            last_failure(&outcome).as_deref(),
            Some("InternalFailure: try again")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_error_stops_the_run_at_once() {
        let sink = MemorySink::new(|_, _| {
            Err(SinkError::StreamNotFound {
                stream: "S".into(),
                region: "us-east-1".into(),
                cause: "ResourceNotFoundException".into(),
            })
        });
        let producer = Producer::with_defaults(sink);
        let outcome = producer.run(records(1200, 10), fast(1200), |_| {}).await;
        assert_eq!(
            producer.sink.batches().len(),
            1,
            "no retry, no further batch"
        );
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 0,
                retried: 0,
                failed: 500
            }
        );
        assert_eq!(
            outcome.stopped.as_ref().map(|e| error_chain(e)).as_deref(),
            Some("Firehose stream \"S\" not found in us-east-1: ResourceNotFoundException")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn progress_hears_the_totals_after_every_call() {
        let producer = Producer::with_defaults(MemorySink::accepting());
        let mut seen = Vec::new();
        producer
            .run(records(1100, 10), fast(1100), |s| seen.push(s.sent))
            .await;
        assert_eq!(seen, [500, 1000, 1100]);
    }

    #[test]
    fn summary_line_reads_as_documented() {
        let summary = Summary {
            sent: 1198,
            retried: 3,
            failed: 2,
        };
        assert_eq!(summary.to_string(), "sent 1198, retried 3, failed 2");
    }

    #[tokio::test(start_paused = true)]
    async fn records_go_out_at_the_rate_and_lingering_batches_flush() {
        // 30 records at 200 a second, one every 5 ms, due up to 145 ms; a batch waits at most
        // 40 ms, so they go out over several calls rather than one at the end.
        let producer =
            Producer::with_defaults(MemorySink::accepting()).linger(Duration::from_millis(40));
        let pace = Pace {
            rate: 200,
            limit: Limit::Count(30),
        };
        let started = Instant::now();
        let outcome = producer.run(records(30, 10), pace, |_| {}).await;
        assert_eq!(outcome.summary.sent, 30);
        assert_eq!(producer.sink.batches().concat(), records(30, 10));
        assert_paced(&producer.sink, 200, ms(40));
        assert_eq!(
            producer.sink.times(),
            [40, 85, 130, 145].map(ms).to_vec(),
            "every 40 ms from a batch's first record, and the rest when the count is reached"
        );
        assert_eq!(started.elapsed(), ms(145));
    }

    #[tokio::test(start_paused = true)]
    async fn at_low_rates_a_call_goes_out_every_second() {
        let producer = Producer::with_defaults(MemorySink::accepting());
        let pace = Pace {
            rate: 10,
            limit: Limit::Count(35),
        };
        let outcome = producer.run(records(35, 10), pace, |_| {}).await;
        assert_eq!(outcome.summary.sent, 35);
        assert_paced(&producer.sink, 10, LINGER);
        let sizes: Vec<usize> = producer.sink.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, [11, 11, 11, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn records_due_during_a_slow_call_follow_right_after_it() {
        // Each call takes 500 ms, yet 20 records at 10 a second still take about 2 s, not
        // 2 s plus the calls: the schedule runs from the start, not from the last record.
        let mut sink = MemorySink::accepting();
        sink.latency = ms(500);
        let producer = Producer::with_defaults(sink).linger(ms(200));
        let pace = Pace {
            rate: 10,
            limit: Limit::Count(20),
        };
        let started = Instant::now();
        let outcome = producer.run(records(20, 10), pace, |_| {}).await;
        assert_eq!(outcome.summary.sent, 20);
        assert_eq!(producer.sink.batches().concat(), records(20, 10));
        // The last record is due at 1.9 s, its batch may wait 0.2 s, and its call takes 0.5 s;
        // sleeping 100 ms after each record instead would take 2 s plus every call.
        assert_eq!(producer.sink.batches().len(), 4);
        assert!(
            started.elapsed() <= ms(1900 + 200 + 500),
            "{:?}",
            started.elapsed()
        );
        assert_paced(&producer.sink, 10, ms(200) + ms(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duration_sends_what_the_rate_allows_in_it() {
        let producer = Producer::with_defaults(MemorySink::accepting());
        let pace = Pace {
            rate: 100,
            limit: Limit::For(ms(150)),
        };
        let started = Instant::now();
        let outcome = producer.run(records(1000, 10), pace, |_| {}).await;
        // Records 0-14 are due within 150 ms; the run ends with the last of them.
        assert_eq!(outcome.summary.sent, 15);
        assert_eq!(started.elapsed(), ms(140));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duration_ends_on_time_even_when_calls_are_slow() {
        let mut sink = MemorySink::accepting();
        sink.latency = Duration::from_secs(3);
        let producer = Producer::with_defaults(sink);
        let pace = Pace {
            rate: 1000,
            limit: Limit::For(Duration::from_secs(2)),
        };
        let started = Instant::now();
        let outcome = producer.run(records(10_000, 10), pace, |_| {}).await;
        // The first full batch's call ends past the 2 s; no more records are taken after it.
        assert_eq!(outcome.summary.sent, 500);
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(499) + Duration::from_secs(3)
        );
    }
}
