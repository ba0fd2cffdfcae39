//! The one [`RecordSink`] that reaches AWS: `PutRecordBatch` through the AWS SDK, with
//! credentials and region from the standard chain only (the lab's script had keys pasted in).

use std::time::Duration;

use aws_sdk_firehose::config::ProvideCredentials;
use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::report::{error_chain, one_line};
use crate::sink::{RecordSink, SinkError};

/// A Firehose stream, through the AWS SDK.
#[derive(Debug)]
pub(crate) struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    stream: String,
    region: String,
}

impl FirehoseSink {
    /// A client for `stream` from the standard credential and region chain. Credentials are
    /// resolved here, once, so their absence is one clear error before anything is sent.
    pub(crate) async fn from_env(stream: &str) -> Result<Self, String> {
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
