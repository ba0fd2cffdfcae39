//! A Kinesis Data Analytics output-delivery event: the classic lab application's
//! `RANDOM_CUT_FOREST` results (or any KDA SQL application's output) to alert on.
//!
//! Wire format: `{"invocationId": "...", "applicationArn": "arn:aws:kinesisanalytics:...",
//! "records": [{"recordId": "...", "lambdaDeliveryRecordMetadata": {"retryHint": 0},
//! "data": "<base64 of a JSON object or a CSV line>"}]}`.
//! The answer is `{"records": [{"recordId": "...", "result": "Ok" | "DeliveryFailed"}]}`: KDA
//! retries `DeliveryFailed` records until they succeed, so only a failed publish answers it;
//! a record that can never be read is acknowledged `Ok` and counted.
//!
//! Input-preprocessing events look alike and are refused by [`super::envelope`].

use std::borrow::Cow;

use aws_lambda_events::event::kinesis::analytics::{
    KinesisAnalyticsOutputDeliveryResponse, KinesisAnalyticsOutputDeliveryResponseRecord,
};
use serde_json::value::RawValue;

use super::record::BatchRecord;
use super::{Ack, Context, EventError, alert_on_records};
use crate::alert::publisher::AlertPublisher;
use crate::alert::source::{Source, SourceKind};
use crate::metrics::InvocationMetrics;

#[derive(Debug)]
pub(crate) struct AnalyticsEvent<'a> {
    application_arn: Cow<'a, str>,
    invocation_id: Option<Cow<'a, str>>,
    records: Vec<BatchRecord<'a>>,
}

impl<'a> AnalyticsEvent<'a> {
    pub(crate) fn recognize(
        application_arn: Cow<'a, str>,
        invocation_id: Option<Cow<'a, str>>,
        records: Vec<BatchRecord<'a>>,
    ) -> Self {
        Self {
            application_arn,
            invocation_id,
            records,
        }
    }

    pub(crate) async fn apply<P: AlertPublisher>(
        self,
        cx: &Context<'_, P>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, EventError> {
        let source = Source {
            kind: SourceKind::KinesisAnalytics,
            name: self.application_arn.to_string(),
            invocation_id: self.invocation_id.as_deref().map(str::to_owned),
        };
        let payloads = self
            .records
            .iter()
            .map(|r| (r.record_id.as_ref(), r.payload.as_deref()));
        let acks = alert_on_records(cx, &source, payloads, metrics).await;
        self.answer(&acks)
    }

    fn answer(&self, acks: &[Ack]) -> Result<Box<RawValue>, EventError> {
        let mut response = KinesisAnalyticsOutputDeliveryResponse::default();
        response.records = self
            .records
            .iter()
            .zip(acks)
            .map(|(record, ack)| {
                let mut answer = KinesisAnalyticsOutputDeliveryResponseRecord::default();
                answer.record_id = Some(record.record_id.to_string());
                answer.result = Some(
                    match ack {
                        Ack::Done => "Ok",
                        Ack::Retry => "DeliveryFailed",
                    }
                    .to_owned(),
                );
                answer
            })
            .collect();
        Ok(serde_json::value::to_raw_value(&response)?)
    }
}
