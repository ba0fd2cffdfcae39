//! Adapters that deliver an alert: SNS for real, or standard error for a dry run.
//!
//! The core hands an [`Alert`] to anything implementing [`AlertPublisher`]; only this file
//! knows the SNS client.

use std::io::Write as _;
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::alert::Alert;

/// Why an alert could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError(pub String);

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PublishError {}

/// Something that delivers alerts.
pub trait AlertPublisher {
    /// Delivers `alert`; the message id when the transport gives one.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<Option<String>, PublishError>>;
}

/// How long one `Publish` may take in all, retries included, so a hung SNS cannot eat the
/// function's 60 s (Firehose would then retry the whole batch).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt may take before the SDK retries.
pub const PUBLISH_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);

/// Publishes to an SNS topic with `MessageStructure=json`.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    /// Builds the client from the standard AWS configuration (credentials chain, region,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SNS`), once, at cold start.
    pub async fn from_env(topic_arn: String) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(PUBLISH_TIMEOUT)
            .operation_attempt_timeout(PUBLISH_ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
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
        .map_err(|e| PublishError(format!("message attribute: {e}")))
}

impl AlertPublisher for SnsPublisher {
    async fn publish(&self, alert: &Alert) -> Result<Option<String>, PublishError> {
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
                PublishError(format!(
                    "SNS Publish to {} failed: {}",
                    self.topic_arn,
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output.message_id)
    }
}

/// For `invoke` without `ALERT_TOPIC_ARN`: prints the alert it would have sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct DryRunPublisher;

impl AlertPublisher for DryRunPublisher {
    async fn publish(&self, alert: &Alert) -> Result<Option<String>, PublishError> {
        let text = format!(
            "--- alert not published (ALERT_TOPIC_ARN is not set) ---\n\
             severity: {}  anomaly_count: {}  source: {}\n\
             subject: {}\nsms: {}\nemail:\n{}---\n",
            alert.severity.as_str(),
            alert.anomaly_count,
            alert.source.code(),
            alert.subject,
            alert.sms,
            alert.report
        );
        std::io::stderr()
            .write_all(text.as_bytes())
            .map_err(|e| PublishError(format!("cannot print the alert: {e}")))?;
        Ok(None)
    }
}

/// The publisher chosen at start-up: SNS when a topic is configured, else the dry run.
#[derive(Debug, Clone)]
pub enum Publisher {
    Sns(SnsPublisher),
    DryRun(DryRunPublisher),
}

impl AlertPublisher for Publisher {
    async fn publish(&self, alert: &Alert) -> Result<Option<String>, PublishError> {
        match self {
            Self::Sns(p) => p.publish(alert).await,
            Self::DryRun(p) => p.publish(alert).await,
        }
    }
}
