//! The one [`RecordSink`] that reaches AWS: `PutRecordBatch` through the AWS SDK, with
//! credentials and region from the standard chain only (the lab's script had keys pasted in).

use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_firehose::config::ProvideCredentials;
use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::sink::{EntryError, RecordSink, SinkError};

/// A Firehose stream, through the AWS SDK.
#[derive(Debug)]
pub(crate) struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    stream: String,
    region: String,
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
    pub(crate) async fn from_env(stream: &str) -> Result<Self, SetupError> {
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

    /// Whether another try could help, keeping the SDK's error as the cause.
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
    async fn put_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<EntryError>>, SinkError> {
        let entries = records
            .iter()
            .map(|data| Record::builder().data(Blob::new(data.clone())).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SinkError::Call(Box::new(e)))?;
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
                entry.error_code().map(|code| EntryError {
                    code: code.to_owned(),
                    message: entry.error_message().map(str::to_owned),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::error_chain;

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
}
