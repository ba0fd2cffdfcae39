//! The handler: what one invocation does, the same for the Lambda runtime and for `invoke`.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::config::Config;
use crate::dispatch::{Envelope, EventKind, UnrecognizedEvent};
use crate::firehose::{self, LAMBDA_RESPONSE_LIMIT, TransformSettings};

/// Everything built once at cold start and used by every invocation.
#[derive(Debug)]
pub struct Handler {
    config: Config,
    response_limit: usize,
}

impl Handler {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            response_limit: LAMBDA_RESPONSE_LIMIT,
        }
    }

    /// The same handler with a smaller response limit, so tests can reach it with small events.
    pub fn with_response_limit(mut self, limit: usize) -> Self {
        self.response_limit = limit;
        self
    }

    /// Answers one event (JSON text) received at `now`.
    ///
    /// Only an event that is not a recognizable event at all is an error; anything wrong inside
    /// a recognized event is answered record by record.
    pub async fn handle(
        &self,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<Box<RawValue>, UnrecognizedEvent> {
        let envelope = Envelope::parse(event)?;
        match envelope.kind()? {
            EventKind::Firehose => Ok(self.firehose(&envelope, now)),
        }
    }

    fn firehose(&self, event: &Envelope<'_>, now: DateTime<Utc>) -> Box<RawValue> {
        let records = event.records.as_deref().unwrap_or_default();
        let settings = TransformSettings {
            drop_event_types: &self.config.drop_event_types,
            now,
            response_limit: self.response_limit,
        };
        let out = firehose::transform(records, &settings);
        tracing::info!(
            delivery_stream = Envelope::text(event.delivery_stream_arn)
                .as_deref()
                .unwrap_or("-"),
            invocation_id = Envelope::text(event.invocation_id)
                .as_deref()
                .unwrap_or("-"),
            records = records.len(),
            ok = out.tally.ok,
            dropped = out.tally.dropped,
            processing_failed = out.tally.failed,
            failed_for_size = out.tally.failed_for_size,
            anomalies = out.anomalies.len(),
            "firehose batch transformed"
        );
        out.body
    }
}
