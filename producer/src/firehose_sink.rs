//! The one [`RecordSink`] that reaches AWS: `PutRecordBatch` through the AWS SDK, with
//! credentials and region from the standard chain only (the lab's script had keys pasted in).
//!
//! Whole calls that fail for throttling, a server error, a timeout or the network are retried by
//! the SDK's standard retry mode (jittered exponential backoff), set to the producer's
//! [`RetryPolicy`]. The SDK does not resend the entries of a call that succeeded but reports
//! some failed; the run loop does, and tells each call how many attempts its records have left.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents};
use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::operation::put_record_batch::{PutRecordBatchError, PutRecordBatchOutput};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::retry::RetryPolicy;
use crate::sink::{Called, EntryError, RecordSink, SinkError};

/// The SDK sets no limit on an attempt by default; a stuck one would stall the whole run
/// instead of failing and being retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Firehose stream, through the AWS SDK.
#[derive(Debug)]
pub(crate) struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    stream: String,
    region: String,
    retry: RetryPolicy,
}

/// Why no client could be made: nothing has been sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("no AWS region: set AWS_REGION, or a region in the profile AWS_PROFILE names")]
    NoRegion,
    #[error(
        "no AWS credentials: set AWS_PROFILE (or run `aws sso login`), use a container or \
         instance role, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials(#[source] Option<CredentialsError>),
}

impl FirehoseSink {
    /// A client for `stream` from the standard credential and region chain. Credentials are
    /// resolved here, once, so their absence is one clear error before anything is sent.
    pub(crate) async fn from_env(stream: &str, retry: RetryPolicy) -> Result<Self, SetupError> {
        let shared = aws_config::load_from_env().await;
        let region = shared
            .region()
            .map(ToString::to_string)
            .ok_or(SetupError::NoRegion)?;
        let provider = shared
            .credentials_provider()
            .ok_or(SetupError::NoCredentials(None))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| SetupError::NoCredentials(Some(e)))?;
        let config = client_config(
            aws_sdk_firehose::config::Builder::from(&shared),
            shared.timeout_config(),
            &retry,
        );
        Ok(Self::new(config, stream, region, retry))
    }

    fn new(
        config: aws_sdk_firehose::Config,
        stream: &str,
        region: String,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            client: aws_sdk_firehose::Client::from_conf(config),
            stream: stream.to_owned(),
            region,
            retry,
        }
    }

    /// One `PutRecordBatch` call, the SDK's retries included.
    async fn call(
        &self,
        records: &[Vec<u8>],
        max_attempts: u32,
        counter: &AttemptCounter,
    ) -> Result<PutRecordBatchOutput, SinkError> {
        let entries = records
            .iter()
            .map(|data| Record::builder().data(Blob::new(data.clone())).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SinkError::Call(Box::new(e)))?;
        let mut request = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.stream)
            .set_records(Some(entries))
            .customize()
            .interceptor(counter.clone());
        if max_attempts < self.retry.attempts {
            // Entries resent after earlier attempts: only what their budget has left.
            request = request.config_override(
                aws_sdk_firehose::Config::builder()
                    .retry_config(sdk_retry_config(&self.retry, max_attempts)),
            );
        }
        request.send().await.map_err(|e| self.classify(e))
    }

    /// Whether the run can go on after `error`, keeping the SDK's error as the cause. Called once
    /// the SDK has given up, so transient errors here have been retried already.
    fn classify(&self, error: SdkError<PutRecordBatchError, HttpResponse>) -> SinkError {
        match error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let err = service.into_err();
                if err.is_resource_not_found_exception() {
                    SinkError::StreamNotFound {
                        stream: self.stream.clone(),
                        region: self.region.clone(),
                        cause: Box::new(err),
                    }
                } else if err.is_service_unavailable_exception()
                    || status == 429
                    || status >= 500
                    || err.code().is_some_and(|code| code.contains("Throttl"))
                {
                    SinkError::Transient(Box::new(err))
                } else {
                    SinkError::Refused {
                        stream: self.stream.clone(),
                        region: self.region.clone(),
                        cause: Box::new(err),
                    }
                }
            }
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                SinkError::Transient(Box::new(error))
            }
            SdkError::DispatchFailure(ref failure) if !failure.is_user() => {
                SinkError::Transient(Box::new(error))
            }
            _ => SinkError::Call(Box::new(error)),
        }
    }
}

impl RecordSink for FirehoseSink {
    async fn put_batch(&self, records: &[Vec<u8>], max_attempts: u32) -> Called {
        let counter = AttemptCounter::default();
        let result = self.call(records, max_attempts, &counter).await;
        Called {
            attempts: counter.count(),
            result: result.map(|output| entry_results(&output, records.len())),
        }
    }
}

/// Per record, in order, `None` if the stream accepted it or the entry's error.
fn entry_results(output: &PutRecordBatchOutput, records: usize) -> Vec<Option<EntryError>> {
    if output.failed_put_count() == 0 {
        return vec![None; records];
    }
    output
        .request_responses()
        .iter()
        .map(|entry| {
            entry.error_code().map(|code| EntryError {
                code: code.to_owned(),
                message: entry.error_message().map(str::to_owned),
            })
        })
        .collect()
}

/// The client's configuration on top of `builder` (credentials, region, endpoint): the SDK's
/// retries for whole calls, and a limit on each attempt.
fn client_config(
    builder: aws_sdk_firehose::config::Builder,
    timeouts: Option<&TimeoutConfig>,
    retry: &RetryPolicy,
) -> aws_sdk_firehose::Config {
    let timeouts = timeouts
        .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build();
    builder
        .retry_config(sdk_retry_config(retry, retry.attempts))
        .timeout_config(timeouts)
        .build()
}

/// The SDK's standard retry mode with `policy`'s backoff: before retry n it waits a random time
/// up to `first_delay` × 2ⁿ⁻¹, at most `max_delay`.
fn sdk_retry_config(policy: &RetryPolicy, max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(policy.first_delay)
        .with_max_backoff(policy.max_delay)
}

/// Counts the requests one call sends, the SDK's retries included, so every resend is counted
/// and held to the records' budget.
#[derive(Debug, Clone, Default)]
struct AttemptCounter(Arc<AtomicU32>);

impl AttemptCounter {
    fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for AttemptCounter {
    fn name(&self) -> &'static str {
        "AttemptCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use aws_sdk_firehose::config::retry::RetryMode;
    use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use serde_json::{Value, json};
    use tokio::time::Instant;

    use super::*;
    use crate::pace::{Limit, Pace};
    use crate::producer::{Producer, Summary};
    use crate::report::error_chain;

    /// What the fake Firehose answers to one request.
    #[derive(Debug, Clone)]
    enum Reply {
        Json(u16, Value),
        /// The connection fails: no HTTP response at all.
        NetworkDown,
    }

    fn accept_all() -> Reply {
        Reply::Json(
            200,
            json!({"FailedPutCount": 0, "Encrypted": false, "RequestResponses": []}),
        )
    }

    fn failure(status: u16, code: &str, message: &str) -> Reply {
        Reply::Json(status, json!({"__type": code, "message": message}))
    }

    fn unavailable() -> Reply {
        failure(503, "ServiceUnavailableException", "Slow down.")
    }

    /// Firehose's HTTP API on a script, in memory: each request gets the next reply (the last
    /// one over and over), and is remembered with the time it came.
    #[derive(Debug, Clone, Default)]
    struct FakeFirehose {
        script: Arc<Mutex<VecDeque<Reply>>>,
        /// When each request came, and the records it held.
        requests: Arc<Mutex<Vec<(Instant, usize)>>>,
    }

    impl FakeFirehose {
        fn new(script: impl IntoIterator<Item = Reply>) -> Self {
            Self {
                script: Arc::new(Mutex::new(script.into_iter().collect())),
                requests: Arc::default(),
            }
        }

        fn sink(&self) -> FirehoseSink {
            let connector = self.clone();
            let config = client_config(
                aws_sdk_firehose::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
                    .http_client(http_client_fn(move |_, _| {
                        SharedHttpConnector::new(connector.clone())
                    })),
                None,
                &RetryPolicy::default(),
            );
            FirehoseSink::new(config, "S", "us-east-1".to_owned(), RetryPolicy::default())
        }

        /// Records per request.
        fn sizes(&self) -> Vec<usize> {
            self.requests.lock().unwrap().iter().map(|r| r.1).collect()
        }
    }

    impl HttpConnector for FakeFirehose {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let body: Value = serde_json::from_slice(request.body().bytes().unwrap()).unwrap();
            let records = body["Records"].as_array().unwrap().len();
            self.requests
                .lock()
                .unwrap()
                .push((Instant::now(), records));
            let mut script = self.script.lock().unwrap();
            let reply = if script.len() > 1 {
                script.pop_front().unwrap()
            } else {
                script.front().cloned().unwrap()
            };
            match reply {
                Reply::Json(status, mut payload) => {
                    if status == 200 && payload["RequestResponses"] == json!([]) {
                        payload["RequestResponses"] =
                            json!(vec![json!({"RecordId": "r"}); records]);
                    }
                    let mut response = HttpResponse::new(
                        StatusCode::try_from(status).unwrap(),
                        SdkBody::from(payload.to_string()),
                    );
                    response
                        .headers_mut()
                        .insert("content-type", "application/x-amz-json-1.1");
                    HttpConnectorFuture::ready(Ok(response))
                }
                Reply::NetworkDown => HttpConnectorFuture::ready(Err(ConnectorError::io(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
                ))),
            }
        }
    }

    fn records(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("{{\"n\": {i}}}\n").into_bytes())
            .collect()
    }

    #[test]
    fn setup_errors_say_what_to_do_and_keep_their_cause() {
        assert_eq!(
            SetupError::NoRegion.to_string(),
            "no AWS region: set AWS_REGION, or a region in the profile AWS_PROFILE names"
        );
        let error = SetupError::NoCredentials(Some(CredentialsError::not_loaded(
            "the profile \"dev\" has expired SSO tokens",
        )));
        let text = error_chain(&error);
        assert!(
            text.starts_with("no AWS credentials: set AWS_PROFILE (or run `aws sso login`), "),
            "{text}"
        );
        assert!(
            text.ends_with("the profile \"dev\" has expired SSO tokens"),
            "{text}"
        );
    }

    #[test]
    fn whole_calls_use_the_sdk_standard_retry_mode_with_the_policy_s_numbers() {
        let policy = RetryPolicy::default();
        let config = client_config(aws_sdk_firehose::Config::builder(), None, &policy);
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.mode(), RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(retry.initial_backoff(), Duration::from_millis(100));
        assert_eq!(retry.max_backoff(), Duration::from_secs(2));
        assert_eq!(
            config.timeout_config().unwrap().operation_attempt_timeout(),
            Some(ATTEMPT_TIMEOUT)
        );
        assert_eq!(sdk_retry_config(&policy, 2).max_attempts(), 2);
        assert_eq!(
            sdk_retry_config(&policy, 0).max_attempts(),
            1,
            "always one try"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sdk_retries_throttling_and_server_errors_and_counts_its_attempts() {
        let firehose = FakeFirehose::new([
            unavailable(),
            failure(400, "ThrottlingException", "Rate exceeded."),
            accept_all(),
        ]);
        let started = Instant::now();
        let called = firehose.sink().put_batch(&records(3), 5).await;
        assert_eq!(called.attempts, 3);
        assert_eq!(called.result.unwrap(), [None, None, None]);
        assert_eq!(firehose.sizes(), [3, 3, 3], "the whole call each time");
        // Jittered waits of at most 100 and 200 ms.
        assert!(
            started.elapsed() <= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sdk_gives_up_after_the_attempts_allowed() {
        let firehose = FakeFirehose::new([unavailable()]);
        let sink = firehose.sink();
        let started = Instant::now();
        let called = sink.put_batch(&records(2), 5).await;
        assert_eq!(called.attempts, 5);
        assert_eq!(firehose.sizes().len(), 5);
        // At most 100 + 200 + 400 + 800 ms of waiting.
        assert!(
            started.elapsed() <= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        let error = called.result.unwrap_err();
        assert!(!error.is_fatal());
        assert_eq!(
            error_chain(&error),
            "ServiceUnavailableException: Slow down."
        );

        // Entries resent with two attempts left get two.
        let called = sink.put_batch(&records(1), 2).await;
        assert_eq!(called.attempts, 2);
        assert_eq!(firehose.sizes().len(), 5 + 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_network_failing_is_retried_then_transient() {
        let firehose = FakeFirehose::new([Reply::NetworkDown, Reply::NetworkDown, accept_all()]);
        let called = firehose.sink().put_batch(&records(2), 5).await;
        assert_eq!(called.attempts, 3);
        assert!(called.result.is_ok());

        let down = FakeFirehose::new([Reply::NetworkDown]);
        let called = down.sink().put_batch(&records(2), 5).await;
        assert_eq!(called.attempts, 5);
        let error = called.result.unwrap_err();
        assert!(!error.is_fatal());
        assert!(
            error_chain(&error).contains("refused"),
            "{}",
            error_chain(&error)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_stream_or_a_refused_permission_is_not_retried_and_is_fatal() {
        let firehose = FakeFirehose::new([failure(
            400,
            "ResourceNotFoundException",
            "Firehose S under account 123456789012 not found.",
        )]);
        let called = firehose.sink().put_batch(&records(2), 5).await;
        assert_eq!(called.attempts, 1);
        let error = called.result.unwrap_err();
        assert!(error.is_fatal());
        assert_eq!(
            error_chain(&error),
            "Firehose stream \"S\" not found in us-east-1: ResourceNotFoundException: \
             Firehose S under account 123456789012 not found."
        );

        let firehose = FakeFirehose::new([failure(
            400,
            "AccessDeniedException",
            "User is not authorized to perform: firehose:PutRecordBatch",
        )]);
        let called = firehose.sink().put_batch(&records(2), 5).await;
        assert_eq!(called.attempts, 1);
        let error = called.result.unwrap_err();
        assert!(matches!(error, SinkError::Refused { .. }), "{error:?}");
        let text = error_chain(&error);
        assert!(
            text.starts_with("Firehose refused records for stream \"S\" in us-east-1: ")
                && text.contains("not authorized to perform: firehose:PutRecordBatch"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_entries_are_reported_one_by_one_and_not_retried_by_the_sdk() {
        let firehose = FakeFirehose::new([Reply::Json(
            200,
            json!({"FailedPutCount": 1, "Encrypted": false, "RequestResponses": [
                {"RecordId": "a"},
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
                {"RecordId": "c"},
            ]}),
        )]);
        let called = firehose.sink().put_batch(&records(3), 5).await;
        assert_eq!(called.attempts, 1);
        assert_eq!(
            called.result.unwrap(),
            [
                None,
                Some(EntryError {
                    code: "ServiceUnavailableException".into(),
                    message: Some("Slow down.".into()),
                }),
                None,
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_producer_over_the_sdk_resends_failed_entries_within_one_budget() {
        // The integration test's scripted Firehose: every third entry of the first call fails,
        // their resend fails as a whole once (the SDK retries it), then all is accepted.
        let mut first = vec![json!({"RecordId": "r"}); 30];
        for i in (0..30).step_by(3) {
            first[i] = json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "x"});
        }
        let firehose = FakeFirehose::new([
            Reply::Json(
                200,
                json!({"FailedPutCount": 10, "Encrypted": false, "RequestResponses": first}),
            ),
            unavailable(),
            accept_all(),
        ]);
        let producer = Producer::new(firehose.sink(), RetryPolicy::default());
        let pace = Pace {
            rate: 100_000,
            limit: Limit::Count(30),
        };
        let outcome = producer.run(records(30), pace, |_| {}).await;
        assert_eq!(firehose.sizes(), [30, 10, 10]);
        assert_eq!(
            outcome.summary,
            Summary {
                sent: 30,
                retried: 20,
                failed: 0
            }
        );
    }
}
