//! The SNS adapter: publishes an [`Alert`] to a topic with `MessageStructure=json` (one text per
//! protocol) and the message attributes subscription filter policies select on. Only this file
//! knows the SNS client.

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::alert::compose::Alert;
use crate::alert::publisher::{AlertPublisher, Delivery, PublishError};

/// How long one `Publish` may take in all, retries included, so a hung SNS cannot eat the
/// function's 60 s (Firehose would then retry the whole batch).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt may take before the SDK retries.
const PUBLISH_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts per publish, in the SDK's standard retry mode (exponential backoff with jitter).
const PUBLISH_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub(crate) struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    /// Builds the client from the standard AWS configuration (credentials chain, region,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SNS`), once per container, when the first alert
    /// needs it ([`super::LazySns`]).
    pub(crate) async fn from_env(topic_arn: String) -> Self {
        let config = super::sdk_config(super::Budget {
            call: PUBLISH_TIMEOUT,
            attempt: PUBLISH_ATTEMPT_TIMEOUT,
            connect: Duration::from_secs(2),
            attempts: PUBLISH_ATTEMPTS,
        })
        .await;
        Self {
            client: aws_sdk_sns::Client::new(&config),
            topic_arn,
        }
    }
}

fn attribute(data_type: &str, value: String) -> Result<MessageAttributeValue, PublishError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| PublishError::new("message attribute", e.to_string(), e))
}

impl AlertPublisher for SnsPublisher {
    /// One `Publish` with these message attributes, which subscription filter policies select
    /// on (docs/contracts.md#the-alert):
    ///
    /// | Name | Type | Value |
    /// | --- | --- | --- |
    /// | `severity` | String | `info`, `warning` or `critical` ([`Severity::as_str`]); the template's SMS subscription lets through those of at least `SmsMinSeverity` |
    /// | `anomaly_count` | Number | the anomalies the alert reports, held-back ones included |
    /// | `source` | String | `firehose`, `kinesis-analytics`, `kinesis-stream` or `direct` |
    ///
    /// [`Severity::as_str`]: crate::alert::severity::Severity::as_str
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        let output = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(alert.message_json())
            .message_structure("json")
            .message_attributes(
                "severity",
                attribute("String", alert.severity.as_str().to_owned())?,
            )
            .message_attributes(
                "anomaly_count",
                attribute("Number", alert.anomaly_count.to_string())?,
            )
            .message_attributes(
                "source",
                attribute("String", alert.source.code().to_owned())?,
            )
            .send()
            .await
            .map_err(|e| {
                PublishError::new(
                    format!("SNS Publish to {} failed", self.topic_arn),
                    aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
                    e,
                )
            })?;
        Ok(Delivery::Published {
            message_id: output.message_id,
        })
    }
}
