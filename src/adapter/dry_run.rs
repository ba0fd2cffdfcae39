//! The dry run: for `invoke` without `ALERT_TOPIC_ARN`, the alert that would have been sent is
//! printed on standard error and nothing leaves the machine.

use std::io::Write as _;

use crate::alert::compose::Alert;
use crate::alert::publisher::{AlertPublisher, Delivery, PublishError};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DryRunPublisher;

impl AlertPublisher for DryRunPublisher {
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
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
            .map_err(|e| PublishError::new("cannot print the alert", e.to_string(), e))?;
        Ok(Delivery::DryRun)
    }
}
