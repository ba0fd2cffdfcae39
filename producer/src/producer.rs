//! The producer behind `clickstream-send`: synthetic clicks, shaped like the lab's, put into a
//! real Amazon Data Firehose stream with `PutRecordBatch`.
//!
//! It replaces the lab's Python script, which had access keys pasted into it: credentials and
//! region come only from the standard AWS chain. Pacing, batching and retries know nothing of
//! AWS; they talk to a [`RecordSink`], so tests drive them against memory and only
//! [`FirehoseSink`] needs the network.
//!
//! This is a crate of its own, so neither it nor the Firehose client is compiled into the Lambda
//! bootstrap.

use std::fmt;
use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_firehose::config::ProvideCredentials;
use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use chrono::Utc;
use clap::Parser;
use tokio::time::Instant;

use clickstream_lambda::generate::ClickGenerator;

/// Firehose's `PutRecordBatch` quotas: records per call, data bytes per call, bytes per record.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;

/// Records sent when neither `--count` nor `--duration` is given.
pub const DEFAULT_COUNT: u64 = 100;

#[derive(Debug, Parser)]
#[command(
    name = "clickstream-send",
    version,
    about = "Put synthetic click records into an Amazon Data Firehose stream",
    long_about = "Put synthetic click records into an Amazon Data Firehose stream.\n\n\
        Records are shaped like the lab producer's (timestamp, user_id, page_url, event_type, \
        element_id, x/y coordinates, anomaly_detected), one JSON object per record followed by a \
        newline, stamped with the time they are made. They go out with PutRecordBatch, at most \
        500 records and 4 MiB per call, a call at least every second. Only the entries a call \
        reports failed are sent again, and a whole call that fails for throttling or the \
        network is sent again: 5 attempts in all, waiting 100 ms, doubling, at most 2 s. \
        Records that fail all 5 count as failed; an unknown stream or a refused permission \
        stops the run at once.\n\n\
        At the end one line goes to standard output: `STREAM: sent N, retried N, failed N`. The \
        exit status is 0 when no record failed and 1 otherwise.",
    after_help = "Credentials and region come from the standard AWS chain: environment \
        (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION, ...), the shared config and credentials \
        files, SSO, or a container or instance role. AWS_ENDPOINT_URL or \
        AWS_ENDPOINT_URL_FIREHOSE send the calls to another endpoint, such as a local emulator."
)]
pub struct Args {
    /// Name of the Firehose stream to put records into.
    #[arg(long, value_name = "NAME", value_parser = parse_stream_name)]
    pub stream: String,
    /// Records per second, on average: records due during a slow call follow right after it.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// Total records to send [default: 100].
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Send for this many seconds instead of a number of records.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// Share of records flagged anomalous (anomaly_detected [true]), from 0 to 1.
    #[arg(long, value_name = "R", default_value_t = 0.05, value_parser = parse_share)]
    pub anomaly_rate: f64,
    /// Seed of the random generator, to repeat a run's records (all but their timestamps);
    /// without it every run differs.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

impl Args {
    /// How fast and how long to send.
    pub fn pace(&self) -> Pace {
        let limit = match (self.count, self.duration) {
            (_, Some(seconds)) => Limit::For(Duration::from_secs(seconds)),
            (Some(count), None) => Limit::Count(count),
            (None, None) => Limit::Count(DEFAULT_COUNT),
        };
        Pace {
            rate: self.rate,
            limit,
        }
    }
}

/// Firehose stream names: 1-64 of letters, digits, `_`, `.` and `-`. Checked here so a typo
/// fails before any credentials are looked up.
fn parse_stream_name(s: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a Firehose stream name (1-64 letters, digits, _ . -)"
        ))
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}

/// When to stop making records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(u64),
    For(Duration),
}

/// Records per second and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub rate: u32,
    pub limit: Limit,
}

impl Pace {
    /// When record `index` is due, from the start. Scheduling against the start rather than
    /// sleeping between records keeps the average rate exact despite slow calls.
    fn due(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// How often and how patiently failed records are put again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per record in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `retry` (1 for the second attempt): doubling, then capped.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Why a whole `PutRecordBatch` call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// Worth another try: throttling, a dropped connection, a server error.
    Transient(String),
    /// Will fail the same way every time, for every record: unknown stream, no permission.
    Fatal(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(message) | Self::Fatal(message) => f.write_str(message),
        }
    }
}

/// Where batches go: Firehose, or memory in tests.
pub trait RecordSink {
    /// Puts `records` in one call. On success, per record and in order, `None` if it was
    /// accepted or its error if not.
    fn put_batch(
        &self,
        records: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<Option<String>>, SinkError>>;
}

/// What became of the records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records the stream accepted.
    pub sent: u64,
    /// Records put again after a failure, once per retry.
    pub retried: u64,
    /// Records given up on.
    pub failed: u64,
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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub summary: Summary,
    /// The error that stopped the run early, if one did.
    pub stopped: Option<SinkError>,
    /// Why the last record given up on failed.
    pub last_failure: Option<String>,
}

/// Records waiting for their `PutRecordBatch` call.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<Vec<u8>>,
    bytes: usize,
    opened: Option<Instant>,
}

impl Batch {
    fn fits(&self, record: &[u8]) -> bool {
        self.records.len() < MAX_BATCH_RECORDS && self.bytes + record.len() <= MAX_BATCH_BYTES
    }

    fn push(&mut self, record: Vec<u8>, now: Instant) {
        self.opened.get_or_insert(now);
        self.bytes += record.len();
        self.records.push(record);
    }

    fn take(&mut self) -> Vec<Vec<u8>> {
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.records)
    }
}

/// Paces records into batches and batches into a sink.
#[derive(Debug)]
pub struct Producer<S> {
    sink: S,
    retry: RetryPolicy,
    linger: Duration,
}

impl<S: RecordSink> Producer<S> {
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            retry: RetryPolicy::default(),
            // Firehose buffers for a minute or more before delivery, so holding records a second
            // to share a call costs nothing visible and saves calls at low rates.
            linger: Duration::from_secs(1),
        }
    }

    #[cfg(test)]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    #[cfg(test)]
    /// How long a record may wait for others to share its call.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    #[cfg(test)]
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Sends `records` at `pace` until the limit, the records or a fatal error end it;
    /// `progress` hears the running totals after every call.
    pub async fn run(
        &self,
        records: impl IntoIterator<Item = Vec<u8>>,
        pace: Pace,
        mut progress: impl FnMut(&Summary),
    ) -> Outcome {
        let mut records = records.into_iter();
        let mut outcome = Outcome::default();
        let mut batch = Batch::default();
        let start = Instant::now();
        let mut next: u64 = 0;
        let mut exhausted = false;
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(start);
            let finished = exhausted
                || match pace.limit {
                    Limit::Count(count) => next >= count,
                    // A run that fell behind its schedule still ends on time.
                    Limit::For(length) => pace.due(next) >= length || elapsed >= length,
                };
            if !finished && pace.due(next) <= elapsed {
                let Some(record) = records.next() else {
                    exhausted = true;
                    continue;
                };
                next += 1;
                if record.len() > MAX_RECORD_BYTES {
                    // Firehose would reject the whole call for it; no retry can help.
                    outcome.summary.failed += 1;
                    outcome.last_failure = Some(format!(
                        "a record of {} bytes is over the {MAX_RECORD_BYTES}-byte limit",
                        record.len()
                    ));
                    continue;
                }
                if !batch.fits(&record)
                    && !self.flush(&mut batch, &mut outcome, &mut progress).await
                {
                    return outcome;
                }
                // Not `now`: a flush may just have taken a while.
                batch.push(record, Instant::now());
                if batch.records.len() == MAX_BATCH_RECORDS
                    && !self.flush(&mut batch, &mut outcome, &mut progress).await
                {
                    return outcome;
                }
                continue;
            }
            let lingered = batch
                .opened
                .is_some_and(|opened| now.duration_since(opened) >= self.linger);
            if !batch.records.is_empty() && (finished || lingered) {
                if !self.flush(&mut batch, &mut outcome, &mut progress).await {
                    return outcome;
                }
                continue;
            }
            if finished {
                return outcome;
            }
            let mut wake = start
                .checked_add(pace.due(next))
                .unwrap_or(now + self.linger);
            if let Some(opened) = batch.opened {
                wake = wake.min(opened + self.linger);
            }
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Delivers the batch; false when a fatal error means the run must stop.
    async fn flush(
        &self,
        batch: &mut Batch,
        outcome: &mut Outcome,
        progress: &mut impl FnMut(&Summary),
    ) -> bool {
        let delivered = self.deliver(batch.take(), outcome).await;
        progress(&outcome.summary);
        match delivered {
            Ok(()) => true,
            Err(error) => {
                outcome.stopped = Some(error);
                false
            }
        }
    }

    /// Puts `pending` until every record is accepted or the attempts run out, each time resending
    /// only the records that failed, so accepted ones are not duplicated downstream.
    async fn deliver(
        &self,
        mut pending: Vec<Vec<u8>>,
        outcome: &mut Outcome,
    ) -> Result<(), SinkError> {
        let mut last_failure = String::new();
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt)).await;
                outcome.summary.retried += pending.len() as u64;
            }
            match self.sink.put_batch(&pending).await {
                Ok(results) if results.len() == pending.len() => {
                    let before = pending.len();
                    pending = pending
                        .into_iter()
                        .zip(results)
                        .filter_map(|(record, result)| {
                            last_failure = result?;
                            Some(record)
                        })
                        .collect();
                    outcome.summary.sent += (before - pending.len()) as u64;
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                // Without a result per record there is no telling which were accepted; sending
                // all again risks duplicates, which Firehose's at-least-once delivery allows.
                Ok(results) => {
                    last_failure = format!(
                        "the response has {} results for {} records",
                        results.len(),
                        pending.len()
                    );
                }
                Err(SinkError::Transient(message)) => last_failure = message,
                Err(fatal) => {
                    outcome.summary.failed += pending.len() as u64;
                    return Err(fatal);
                }
            }
        }
        outcome.summary.failed += pending.len() as u64;
        outcome.last_failure = Some(last_failure);
        Ok(())
    }
}

/// Endless synthetic click records, one JSON line each.
///
/// Each click is stamped with the wall-clock time it is made, as the lab producer's
/// `datetime.now()` did: the generator's own clock steps 0-400 ms a click whatever the rate,
/// and would run minutes ahead of (or behind) real time.
pub fn click_records(seed: u64, anomaly_rate: f64) -> impl Iterator<Item = Vec<u8>> {
    let mut generator = ClickGenerator::new(seed, anomaly_rate, Utc::now());
    std::iter::repeat_with(move || {
        let mut click = generator.next_click();
        click.timestamp = Utc::now();
        let mut data = click.to_json().into_bytes();
        // Newline-terminated so the stream's raw backup in S3 reads as JSON lines.
        data.push(b'\n');
        data
    })
}

/// A Firehose stream, through the AWS SDK.
#[derive(Debug)]
pub struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    stream: String,
    region: String,
}

impl FirehoseSink {
    /// A client for `stream` from the standard credential and region chain. Credentials are
    /// resolved here, once, so their absence is one clear error before anything is sent.
    pub async fn from_env(stream: &str) -> Result<Self, String> {
        let shared = aws_config::load_from_env().await;
        let Some(region) = shared.region().map(ToString::to_string) else {
            return Err(
                "no AWS region: set AWS_REGION, or a region in the profile AWS_PROFILE names"
                    .to_owned(),
            );
        };
        let no_credentials = "no AWS credentials: set AWS_PROFILE (or run `aws sso login`), \
            use a container or instance role, or export AWS_ACCESS_KEY_ID and \
            AWS_SECRET_ACCESS_KEY";
        let Some(provider) = shared.credentials_provider() else {
            return Err(no_credentials.to_owned());
        };
        if let Err(e) = provider.provide_credentials().await {
            return Err(format!("{no_credentials} ({})", error_chain(&e)));
        }
        let timeouts = shared
            .timeout_config()
            .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
            // The SDK sets no limit on a call by default; a stuck one would stall the whole run
            // instead of failing and being retried.
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let config = aws_sdk_firehose::config::Builder::from(&shared)
            // Our own policy retries only the failed entries of a call; the SDK's would stack
            // its attempts on ours and resend whole calls.
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        Ok(Self {
            client: aws_sdk_firehose::Client::from_conf(config),
            stream: stream.to_owned(),
            region,
        })
    }

    fn classify(&self, error: SdkError<PutRecordBatchError, HttpResponse>) -> SinkError {
        match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let status = service.raw().status().as_u16();
                let text = one_line(&format!(
                    "{}: {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or("no message")
                ));
                if err.is_resource_not_found_exception() {
                    SinkError::Fatal(format!(
                        "Firehose stream {:?} not found in {} ({text})",
                        self.stream, self.region
                    ))
                } else if err.is_service_unavailable_exception()
                    || status == 429
                    || status >= 500
                    || err.code().is_some_and(|code| code.contains("Throttl"))
                {
                    SinkError::Transient(text)
                } else {
                    SinkError::Fatal(format!(
                        "Firehose refused records for stream {:?} in {}: {text}",
                        self.stream, self.region
                    ))
                }
            }
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                SinkError::Transient(error_chain(&error))
            }
            SdkError::DispatchFailure(failure) if !failure.is_user() => {
                SinkError::Transient(error_chain(&error))
            }
            _ => SinkError::Fatal(error_chain(&error)),
        }
    }
}

impl RecordSink for FirehoseSink {
    async fn put_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<String>>, SinkError> {
        let entries = records
            .iter()
            .map(|data| Record::builder().data(Blob::new(data.clone())).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SinkError::Fatal(format!("cannot build a record: {e}")))?;
        let output = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        if output.failed_put_count() == 0 {
            return Ok(vec![None; records.len()]);
        }
        Ok(output
            .request_responses()
            .iter()
            .map(|entry| {
                entry.error_code().map(|code| match entry.error_message() {
                    Some(message) => one_line(&format!("{code}: {message}")),
                    None => code.to_owned(),
                })
            })
            .collect())
    }
}

/// Error texts from services and the SDK can hold newlines; ours are promised on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its causes on one line. The SDK's top-level texts ("dispatch failure") say little
/// on their own, and its `DisplayErrorContext` appends a debug dump a person need not read.
fn error_chain(error: &dyn std::error::Error) -> String {
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

/// Runs `clickstream-send` to completion.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clickstream-send: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(send(args))
}

async fn send(args: Args) -> ExitCode {
    let sink = match FirehoseSink::from_env(&args.stream).await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("clickstream-send: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let records = click_records(seed, args.anomaly_rate);
    let tty = std::io::stderr().is_terminal();
    let mut drawn = false;
    let started = Instant::now();
    let stream = &args.stream;
    let outcome = Producer::new(sink)
        .run(records, args.pace(), |summary| {
            if tty {
                // \r and erase-line redraw one line in place.
                eprint!(
                    "\r\x1b[2K{stream}: {summary} ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
                drawn = true;
            }
        })
        .await;
    if drawn {
        eprint!("\r\x1b[2K");
    }
    if let Some(error) = &outcome.stopped {
        eprintln!("clickstream-send: {error}");
    } else if let Some(reason) = &outcome.last_failure {
        let failed = outcome.summary.failed;
        let records = if failed == 1 { "record" } else { "records" };
        eprintln!("clickstream-send: {failed} {records} failed; the last because: {reason}");
    }
    println!("{stream}: {}", outcome.summary);
    if outcome.summary.failed == 0 && outcome.stopped.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    type Respond = Box<dyn Fn(usize, &[Vec<u8>]) -> Result<Vec<Option<String>>, SinkError>>;

    /// Remembers every call; `respond` gets the call's number and records.
    struct MemorySink {
        calls: RefCell<Vec<Vec<Vec<u8>>>>,
        respond: Respond,
    }

    impl MemorySink {
        fn new(
            respond: impl Fn(usize, &[Vec<u8>]) -> Result<Vec<Option<String>>, SinkError> + 'static,
        ) -> Self {
            Self {
                calls: RefCell::new(Vec::new()),
                respond: Box::new(respond),
            }
        }

        fn accepting() -> Self {
            Self::new(|_, records| Ok(vec![None; records.len()]))
        }

        fn calls(&self) -> Vec<Vec<Vec<u8>>> {
            self.calls.borrow().clone()
        }
    }

    impl RecordSink for MemorySink {
        async fn put_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<String>>, SinkError> {
            let call = self.calls.borrow().len();
            self.calls.borrow_mut().push(records.to_vec());
            (self.respond)(call, records)
        }
    }

    /// Fast enough that tests never wait for the schedule.
    fn fast(count: u64) -> Pace {
        Pace {
            rate: u32::MAX,
            limit: Limit::Count(count),
        }
    }

    fn quick_retries() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    /// Distinct records of `len` bytes.
    fn records(count: usize, len: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let mut record = format!("{i:08}").into_bytes();
                record.resize(len.max(8), b'x');
                record
            })
            .collect()
    }

    fn assert_within_limits(calls: &[Vec<Vec<u8>>]) {
        for call in calls {
            assert!(!call.is_empty());
            assert!(call.len() <= MAX_BATCH_RECORDS, "{} records", call.len());
            let bytes: usize = call.iter().map(Vec::len).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes");
        }
    }

    #[tokio::test]
    async fn batches_never_exceed_500_records() {
        let input = records(1200, 230);
        let producer = Producer::new(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(1200), |_| {}).await;
        let calls = producer.sink().calls();
        assert_within_limits(&calls);
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        assert_eq!(calls.concat(), input, "every record once, in order");
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 1200,
                retried: 0,
                failed: 0
            }
        );
        assert_eq!(outcome.stopped, None);
    }

    #[tokio::test]
    async fn batches_never_exceed_4_mib() {
        // Four of the largest records allowed fill 4,096,000 bytes; a fifth would pass 4 MiB.
        let input = records(10, MAX_RECORD_BYTES);
        let producer = Producer::new(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(10), |_| {}).await;
        let calls = producer.sink().calls();
        assert_within_limits(&calls);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(calls.concat(), input);
        assert_eq!(outcome.summary.sent, 10);

        // Mixed sizes: each call still within both limits, nothing lost.
        let mixed: Vec<Vec<u8>> = (0..3000)
            .map(|i| vec![b'a'; [200, 50_000, 300_000, 9][i % 4]])
            .collect();
        let producer = Producer::new(MemorySink::accepting());
        let outcome = producer.run(mixed.clone(), fast(3000), |_| {}).await;
        let calls = producer.sink().calls();
        assert_within_limits(&calls);
        assert_eq!(calls.concat(), mixed);
        assert_eq!(outcome.summary.sent, 3000);
    }

    #[tokio::test]
    async fn a_record_over_the_size_limit_fails_alone() {
        let mut input = records(3, 100);
        input.insert(1, vec![b'x'; MAX_RECORD_BYTES + 1]);
        let producer = Producer::new(MemorySink::accepting());
        let outcome = producer.run(input.clone(), fast(4), |_| {}).await;
        assert_eq!(
            producer.sink().calls(),
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
        assert!(outcome.last_failure.is_some());
    }

    #[tokio::test]
    async fn only_failed_entries_are_resent() {
        // The first call fails every third entry; later calls accept everything.
        let sink = MemorySink::new(|call, records| {
            Ok((0..records.len())
                .map(|i| {
                    (call == 0 && i % 3 == 0).then(|| "ServiceUnavailableException".to_owned())
                })
                .collect())
        });
        let input = records(10, 50);
        let producer = Producer::new(sink).retry(quick_retries());
        let outcome = producer.run(input.clone(), fast(10), |_| {}).await;
        let calls = producer.sink().calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], input);
        assert_eq!(
            calls[1],
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
        assert_eq!(outcome.last_failure, None);
    }

    #[tokio::test]
    async fn retries_shrink_to_the_entries_still_failing() {
        // Entry k of the original batch fails its first k attempts.
        let input = records(4, 20);
        let sink = MemorySink::new(|call, records| {
            Ok(records
                .iter()
                .map(|r| {
                    let k: usize = std::str::from_utf8(&r[..8]).unwrap().parse().unwrap();
                    (call < k).then(|| "InternalFailure".to_owned())
                })
                .collect())
        });
        let producer = Producer::new(sink).retry(quick_retries());
        let outcome = producer.run(input, fast(4), |_| {}).await;
        let sizes: Vec<usize> = producer.sink().calls().iter().map(Vec::len).collect();
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

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default();
        let delays: Vec<Duration> = (1..policy.attempts)
            .map(|retry| policy.delay(retry))
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800].map(Duration::from_millis).to_vec()
        );
        assert_eq!(policy.delay(6), Duration::from_secs(2));
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(2));
        let total: Duration = delays.iter().sum();
        assert!(total <= Duration::from_secs(2), "{total:?} of waiting");
    }

    #[tokio::test]
    async fn a_record_that_keeps_failing_is_given_up_after_the_last_attempt() {
        let sink = MemorySink::new(|_, records| {
            Ok(records
                .iter()
                .map(|r| (r[0] == b'!').then(|| "ServiceUnavailableException: slow down".into()))
                .collect())
        });
        let mut input = records(3, 10);
        input[1][0] = b'!';
        let producer = Producer::new(sink).retry(quick_retries());
        let started = std::time::Instant::now();
        let outcome = producer.run(input, fast(3), |_| {}).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        let calls = producer.sink().calls();
        assert_eq!(calls.len(), 5, "exactly the attempts allowed");
        assert!(calls[1..].iter().all(|call| call.len() == 1));
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 2,
                retried: 4,
                failed: 1
            }
        );
        assert_eq!(
            outcome.last_failure.as_deref(),
            Some("ServiceUnavailableException: slow down")
        );
        assert_eq!(
            outcome.stopped, None,
            "a failed record does not stop the run"
        );
    }

    #[tokio::test]
    async fn whole_call_errors_are_retried_for_all_records_and_bounded() {
        let flaky = MemorySink::new(|call, records| {
            if call < 2 {
                Err(SinkError::Transient(
                    "ThrottlingException: rate exceeded".into(),
                ))
            } else {
                Ok(vec![None; records.len()])
            }
        });
        let producer = Producer::new(flaky).retry(quick_retries());
        let outcome = producer.run(records(7, 10), fast(7), |_| {}).await;
        assert_eq!(producer.sink().calls().len(), 3);
        assert!(producer.sink().calls().iter().all(|call| call.len() == 7));
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 7,
                retried: 14,
                failed: 0
            }
        );

        let down = MemorySink::new(|_, _| Err(SinkError::Transient("connection refused".into())));
        let producer = Producer::new(down).retry(quick_retries());
        let outcome = producer.run(records(600, 10), fast(600), |_| {}).await;
        // Two batches (500 + 100), five attempts each, then the records count as failed.
        assert_eq!(producer.sink().calls().len(), 10);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 0,
                retried: 4 * 600,
                failed: 600
            }
        );
        assert_eq!(outcome.last_failure.as_deref(), Some("connection refused"));
    }

    #[tokio::test]
    async fn a_fatal_error_stops_the_run_at_once() {
        let sink = MemorySink::new(|_, _| Err(SinkError::Fatal("stream not found".into())));
        let producer = Producer::new(sink).retry(quick_retries());
        let outcome = producer.run(records(1200, 10), fast(1200), |_| {}).await;
        assert_eq!(producer.sink().calls().len(), 1);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 0,
                retried: 0,
                failed: 500
            }
        );
        assert_eq!(
            outcome.stopped,
            Some(SinkError::Fatal("stream not found".into()))
        );
    }

    #[tokio::test]
    async fn progress_hears_the_totals_after_every_call() {
        let producer = Producer::new(MemorySink::accepting());
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

    #[tokio::test]
    async fn the_rate_paces_records_and_lingering_batches_go_out() {
        // 30 records at 200 a second take about 145 ms; holding a batch at most 40 ms splits
        // them over several calls rather than one at the end.
        let producer = Producer::new(MemorySink::accepting()).linger(Duration::from_millis(40));
        let started = std::time::Instant::now();
        let pace = Pace {
            rate: 200,
            limit: Limit::Count(30),
        };
        let outcome = producer.run(records(30, 10), pace, |_| {}).await;
        assert!(started.elapsed() >= Duration::from_millis(140));
        assert_eq!(outcome.summary.sent, 30);
        assert!(producer.sink().calls().len() >= 2);
    }

    #[tokio::test]
    async fn a_duration_sends_what_the_rate_allows_in_it() {
        let producer = Producer::new(MemorySink::accepting());
        let pace = Pace {
            rate: 100,
            limit: Limit::For(Duration::from_millis(150)),
        };
        let outcome = producer.run(records(1000, 10), pace, |_| {}).await;
        // Records 0-14 are due within 150 ms; a stalled machine may make fewer.
        assert!((1..=15).contains(&outcome.summary.sent), "{outcome:?}");
    }

    #[test]
    fn records_are_json_lines_of_the_seed_fields() {
        let mut made = click_records(3, 0.0);
        for _ in 0..50 {
            let record = made.next().unwrap();
            assert_eq!(record.last(), Some(&b'\n'));
            assert_eq!(record.iter().filter(|&&b| b == b'\n').count(), 1);
            let click: serde_json::Value = serde_json::from_slice(&record).unwrap();
            for field in [
                "timestamp",
                "user_id",
                "page_url",
                "event_type",
                "element_id",
                "x_coordinate",
                "y_coordinate",
                "anomaly_detected",
            ] {
                assert!(click.get(field).is_some(), "{field} missing");
            }
            assert_eq!(click["anomaly_detected"], serde_json::json!([false]));
        }
        let same_seed = |seed| -> Vec<String> {
            click_records(seed, 0.5)
                .take(20)
                .map(|r| {
                    let mut v: serde_json::Value = serde_json::from_slice(&r).unwrap();
                    v["timestamp"].take();
                    v.to_string()
                })
                .collect()
        };
        assert_eq!(same_seed(9), same_seed(9));
        assert_ne!(same_seed(9), same_seed(10));
    }

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn command_line_defaults_and_conflicts() {
        let args = Args::try_parse_from(["clickstream-send", "--stream", "S"]).unwrap();
        assert_eq!(
            args.pace(),
            Pace {
                rate: 10,
                limit: Limit::Count(DEFAULT_COUNT)
            }
        );
        let args = Args::try_parse_from([
            "clickstream-send",
            "--stream",
            "ClickStreamingFirehose",
            "--rate",
            "20",
            "--duration",
            "300",
            "--anomaly-rate",
            "0.02",
        ])
        .unwrap();
        assert_eq!(
            args.pace(),
            Pace {
                rate: 20,
                limit: Limit::For(Duration::from_secs(300))
            }
        );
        assert_eq!(args.anomaly_rate, 0.02);
        for bad in [
            &["--stream", "S", "--count", "5", "--duration", "5"][..],
            &["--stream", "S", "--rate", "0"],
            &["--stream", "S", "--anomaly-rate", "1.5"],
            &["--stream", "no spaces"],
            &["--stream", ""],
            &["--count", "5"],
        ] {
            let argv = std::iter::once("clickstream-send").chain(bad.iter().copied());
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_texts_are_one_line() {
        assert_eq!(one_line("a\n  b\r\nc "), "a b c");
        let io = std::io::Error::other("connection\nrefused");
        let outer = std::io::Error::other(io);
        assert_eq!(error_chain(&outer), "connection refused");
    }
}
