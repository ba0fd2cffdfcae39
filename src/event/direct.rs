//! A direct event: a detector of the user's own calls the function with anomalies in the
//! documented schema (`lambda invoke`, Step Functions, EventBridge Pipes, ...).
//!
//! Wire format: `{"source": "my-detector", "anomalies": [{"metric": "ctr_percent", "value":
//! 42.5, "expected": 10, "score": 3.4, ...}]}` (see [`crate::alert::anomaly`]).
//! The answer is `{"published": N, "suppressed": N, "messageId": "..."}`, with `"dryRun": N` in
//! place of `published` when no topic is configured. An item that is not an anomaly fails the
//! whole call before anything is published, so the caller can fix and resend it; a failed
//! publish fails the call with SNS's reason.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Context, EventError, Unrecognized};
use crate::alert::anomaly::Anomaly;
use crate::alert::digest::Digest;
use crate::alert::publisher::AlertPublisher;
use crate::alert::sender::Outcome;
use crate::alert::source::{Source, SourceKind};
use crate::metrics::InvocationMetrics;
use crate::transform::fields::json_string;

/// How many unreadable items the error lists by position.
const PROBLEMS_SHOWN: usize = 10;

#[derive(Debug)]
pub(crate) struct DirectEvent<'a> {
    source: Option<Cow<'a, str>>,
    /// The `anomalies` array, still as text: items are read one at a time in [`Self::apply`]
    /// so that 6 MB of tiny anomalies never sit in memory as parsed values.
    anomalies: &'a RawValue,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DirectAnswer {
    published: usize,
    suppressed: usize,
    #[serde(skip_serializing_if = "is_zero")]
    dry_run: usize,
    message_id: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl<'a> DirectEvent<'a> {
    pub(crate) fn recognize(
        source: Option<&'a RawValue>,
        anomalies: &'a RawValue,
    ) -> Result<Self, Unrecognized> {
        if !anomalies.get().starts_with('[') {
            return Err(Unrecognized::shape("`anomalies` is not a list"));
        }
        let source = match source {
            None => None,
            Some(raw) => Some(
                json_string(raw.get())
                    .ok_or_else(|| Unrecognized::shape("`source` is not a string"))?,
            ),
        };
        Ok(Self { source, anomalies })
    }

    pub(crate) async fn apply<P: AlertPublisher>(
        self,
        cx: &Context<'_, P>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, EventError> {
        let digest = self.read(cx.digest())?;
        let count = digest.count();
        metrics.anomalies = count;
        if digest.is_empty() {
            return answer(DirectAnswer {
                published: 0,
                suppressed: 0,
                dry_run: 0,
                message_id: None,
            });
        }
        let source = Source {
            kind: SourceKind::Direct,
            name: self.source.as_deref().unwrap_or("direct").to_owned(),
            invocation_id: None,
        };
        let outcome = cx
            .alerts
            .send(
                &source,
                digest,
                None,
                cx.now,
                crate::detect::streams::deadline(),
                metrics,
            )
            .await;
        answer(match outcome {
            Outcome::Published(message_id) => DirectAnswer {
                published: count,
                suppressed: 0,
                dry_run: 0,
                message_id,
            },
            Outcome::DryRun => DirectAnswer {
                published: 0,
                suppressed: 0,
                dry_run: count,
                message_id: None,
            },
            Outcome::Suppressed => DirectAnswer {
                published: 0,
                suppressed: count,
                dry_run: 0,
                message_id: None,
            },
            Outcome::Failed(source) => return Err(EventError::Publish { count, source }),
        })
    }

    /// Reads every item into `digest`, or says which items are not anomalies.
    fn read(&self, mut digest: Digest) -> Result<Digest, EventError> {
        let mut total = 0;
        let mut unreadable = 0;
        let mut shown = Vec::new();
        let each = |raw: &RawValue| {
            match Anomaly::from_json(raw) {
                Ok(anomaly) => digest.add(anomaly),
                Err(reason) => {
                    unreadable += 1;
                    if shown.len() < PROBLEMS_SHOWN {
                        shown.push(format!("anomalies[{total}]: {reason}"));
                    }
                }
            }
            total += 1;
        };
        let mut de = serde_json::Deserializer::from_str(self.anomalies.get());
        de.deserialize_seq(EachItem(each))
            .map_err(|e| EventError::UnreadableAnomalies {
                unreadable: 1,
                total: 1,
                shown: format!("`anomalies` cannot be read: {e}"),
            })?;
        if unreadable > 0 {
            let more = unreadable - shown.len();
            let mut text = shown.join("; ");
            if more > 0 {
                text.push_str(&format!(" (and {more} more)"));
            }
            return Err(EventError::UnreadableAnomalies {
                unreadable,
                total,
                shown: text,
            });
        }
        Ok(digest)
    }
}

fn answer(answer: DirectAnswer) -> Result<Box<RawValue>, EventError> {
    Ok(serde_json::value::to_raw_value(&answer)?)
}

/// Hands each item of a JSON array to a closure as raw text, keeping none of them.
struct EachItem<F>(F);

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for EachItem<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element_seed(RawItem)? {
            (self.0)(item);
        }
        Ok(())
    }
}

struct RawItem;

impl<'de> DeserializeSeed<'de> for RawItem {
    type Value = &'de RawValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}
