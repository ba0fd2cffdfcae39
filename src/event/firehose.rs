//! A Firehose data-transformation event: the data path.
//!
//! Wire format (see [`super::record`] for the records):
//! `{"invocationId": "...", "deliveryStreamArn": "arn:aws:firehose:...:deliverystream/S",
//! "sourceKinesisStreamArn": "...", "region": "us-east-1", "records": [...]}`.
//! The answer is `{"records": [{"recordId", "result", "data" | "kafkaRecordValue", "metadata"}]}`
//! (see [`crate::transform::answer`]).
//!
//! The records' results never depend on SNS or on the detectors' state: data is not held
//! hostage by alerting.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::record::BatchRecord;
use super::{Context, EventError};
use crate::alert::compose::DataLocation;
use crate::alert::digest::Digest;
use crate::alert::publisher::AlertPublisher;
use crate::alert::source::{Source, SourceKind};
use crate::detect::findings;
use crate::detect::rates::{Batch, RateClick};
use crate::detect::streams::{self, RateOutcome};
use crate::metrics::InvocationMetrics;
use crate::transform::{self, TransformSettings, Transformed, partition};

#[derive(Debug)]
pub(crate) struct FirehoseEvent<'a> {
    delivery_stream_arn: Option<Cow<'a, str>>,
    invocation_id: Option<Cow<'a, str>>,
    records: Vec<BatchRecord<'a>>,
}

impl<'a> FirehoseEvent<'a> {
    pub(crate) fn recognize(
        delivery_stream_arn: Option<Cow<'a, str>>,
        invocation_id: Option<Cow<'a, str>>,
        records: Vec<BatchRecord<'a>>,
    ) -> Self {
        Self {
            delivery_stream_arn,
            invocation_id,
            records,
        }
    }

    /// The delivery stream's ARN, which names the batch's rate state and alert source.
    fn stream(&self) -> &str {
        self.delivery_stream_arn
            .as_deref()
            .unwrap_or("unknown delivery stream")
    }

    /// Transforms the batch, runs the detectors, then alerts on what they found. Fails only
    /// when no answer can fit Lambda's limit.
    pub(crate) async fn apply<P: AlertPublisher>(
        self,
        cx: &Context<'_, P>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Box<RawValue>, EventError> {
        let now = cx.now;
        let detect = &cx.config.detect;
        let settings = TransformSettings {
            drop_event_types: &cx.config.drop_event_types,
            now,
            response_limit: cx.response_limit,
            detect,
        };
        let out = transform::transform(&self.records, &settings)?;
        // One budget for every store call of the invocation: rates, then the alert's claim.
        let deadline = streams::deadline();
        let stream = self.stream();
        let rates = if detect.rates {
            // A burst's clicks are a finding of their own (`user_burst`): counted in the page
            // and site series too, one bot would be reported twice, and teach the rate models a
            // rate no person made (their memory of recent peaks would then hide a real spike).
            let in_burst = out.in_burst();
            // Counted as they are read: a list of them was 0.4 MB of the batch's peak memory.
            let clicks = out
                .clicks
                .iter()
                .zip(&in_burst)
                .filter(|(_, in_burst)| !**in_burst)
                .map(|(c, _)| RateClick {
                    at: c.event_time,
                    user: c.user_id(),
                    page: c.page_url(),
                });
            let batch = batch_id(self.invocation_id.as_deref(), &self.records);
            let counted = Batch::count(clicks, now, detect);
            streams::observe(
                cx.state,
                cx.scored_through,
                stream,
                &batch,
                &counted,
                deadline,
                detect,
            )
            .await
        } else {
            RateOutcome::default()
        };
        let flagged = out.flagged().count();
        tracing::info!(
            delivery_stream = ?stream,
            invocation_id = ?self.invocation_id.as_deref().unwrap_or("-"),
            records = self.records.len(),
            ok = out.tally.ok,
            dropped = out.tally.dropped,
            processing_failed = out.tally.failed,
            failed_for_size = out.tally.failed_for_size,
            producer_flags = flagged,
            user_bursts = out.bursts.len(),
            rate_episodes = rates.findings.len(),
            late_clicks = rates.late,
            state_store_calls = rates.calls,
            state_loads = rates.loads,
            "firehose batch transformed"
        );
        metrics.records_ok = out.tally.ok;
        metrics.records_dropped = out.tally.dropped;
        metrics.records_processing_failed = out.tally.failed;
        metrics.producer_flags = flagged;
        metrics.user_bursts = out.bursts.len();
        metrics.rate_episodes = rates.findings.len();
        metrics.late_clicks = rates.late as usize;
        metrics.site_clicks = rates.site;
        metrics.state_store_calls += rates.calls;
        metrics.state_store_conflicts += rates.conflicts;
        metrics.state_store_errors += usize::from(rates.error);
        let mut digest = cx.digest();
        for click in out.flagged() {
            let record_id = self.records.get(click.record).map(|r| &*r.record_id);
            digest.add(findings::producer_flag(
                click,
                record_id.unwrap_or_default(),
            ));
        }
        for burst in &out.bursts {
            digest.add(findings::user_burst(burst, detect, now));
        }
        for finding in &rates.findings {
            digest.add(findings::rate(finding, detect, now));
        }
        metrics.anomalies = digest.count();
        if !digest.is_empty() {
            self.alert(cx, digest, &out, deadline, metrics).await;
        }
        Ok(out.body)
    }

    /// One alert for everything the batch revealed; its outcome is logged and counted only.
    async fn alert<P: AlertPublisher>(
        &self,
        cx: &Context<'_, P>,
        digest: Digest,
        out: &Transformed,
        deadline: tokio::time::Instant,
        metrics: &mut InvocationMetrics,
    ) {
        let source = Source {
            kind: SourceKind::Firehose,
            name: self.stream().to_owned(),
            invocation_id: self.invocation_id.as_deref().map(str::to_owned),
        };
        let location = DataLocation {
            processed_prefix: cx.config.processed_data_uri.clone(),
            partitions: partitions(out),
        };
        cx.alerts
            .send(&source, digest, Some(&location), cx.now, deadline, metrics)
            .await;
    }
}

/// A name for the batch that is the same when Firehose sends the same records again: a hash of
/// their record ids (the invocation id changes between attempts), with the invocation id only
/// when there are no records.
fn batch_id(invocation_id: Option<&str>, records: &[BatchRecord<'_>]) -> String {
    use std::hash::{BuildHasher, Hasher};
    if records.is_empty() {
        return invocation_id.unwrap_or("-").to_owned();
    }
    // foldhash with a fixed seed: the same in every container of one build, and some four
    // times cheaper than std's SipHash on the batch's ~0.5 MB of ids (2.2 M instructions
    // there, a fifth of what detection cost). Nothing needs it to resist chosen collisions:
    // a fixed-key SipHash did not either, the keys being in the binary.
    let mut h = foldhash::quality::FixedState::with_seed(BATCH_ID_SEED).build_hasher();
    for r in records {
        h.write(r.record_id.as_bytes());
        // Ids are told apart, not just concatenated: "ab","c" is not "a","bc".
        h.write_usize(r.record_id.len());
    }
    format!("{:016x}-{}", h.finish(), records.len())
}

/// Any constant: it only has to be the same in every container.
const BATCH_ID_SEED: u64 = 0x636c_6963_6b73_7472;

/// The distinct `dt=…/hour=…` partitions of the batch's anomalous records, in time order.
///
/// A record's partition follows from the first 13 bytes of its `event_time`, which depend on
/// its UTC hour alone, so one click of each hour is written out rather than every anomalous
/// click (two strings each, 1 % of a batch's instructions). Several hours can still share a
/// path (years past 9999 are written longer), hence the final sort and dedup of the paths.
fn partitions(out: &Transformed) -> Vec<String> {
    const HOUR: i64 = 3600;
    let in_burst = out.in_burst();
    let mut hours = Vec::new();
    for (click, in_burst) in out.clicks.iter().zip(&in_burst) {
        if !(click.flagged || *in_burst) {
            continue;
        }
        let hour = click.event_time.timestamp().div_euclid(HOUR);
        // Clicks come mostly in time order: most repeats are the hour just seen.
        if hours.last().is_none_or(|(last, _)| *last != hour) {
            hours.push((hour, click));
        }
    }
    hours.sort_unstable_by_key(|(hour, _)| *hour);
    hours.dedup_by_key(|(hour, _)| *hour);
    let mut keys: Vec<String> = hours
        .iter()
        .map(|(_, c)| partition::s3_path(&c.event_time_text()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(records: &str) -> String {
        let records: Vec<BatchRecord<'_>> = serde_json::from_str(records).unwrap_or_default();
        batch_id(Some("invocation"), &records)
    }

    #[test]
    fn partitions_are_every_anomalous_clicks_own_path_once() {
        use crate::transform::clicks::Clicks;
        // Times across hours, days, years past 9999 (whose paths several hours share) and
        // before 1970, out of order and repeated; two clicks of every three flagged.
        let times = [
            "2026-11-27T10:59:59.999Z",
            "2026-11-27T10:00:00.000Z",
            "2026-11-27T11:00:00.000Z",
            "2026-11-27T10:30:00.000Z",
            "2026-11-28T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "1969-12-31T23:00:00.000Z",
            "+10000-01-01T05:00:00Z",
            "+10000-01-01T07:00:00Z",
            "2026-11-27T11:59:00.000Z",
        ];
        let mut clicks = Clicks::default();
        for (i, t) in times.iter().cycle().take(40).enumerate() {
            // RFC 3339 has four-digit years only.
            let at = match t.strip_prefix("+10000-01-01T0") {
                Some(rest) => {
                    let hour: i64 = rest[..1].parse().unwrap();
                    chrono::DateTime::from_timestamp(253_402_300_800 + hour * 3600, 0).unwrap()
                }
                None => chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc(),
            };
            clicks.push(i, "u", "/p", at, i % 3 != 2);
        }
        // Two unflagged clicks in a burst count as anomalous too.
        let burst_at = |i: usize| clicks.iter().nth(i).map(|c| c.event_time).unwrap();
        let bursts = vec![crate::detect::burst::Burst {
            user: "u".to_owned(),
            clicks: 2,
            start: burst_at(2),
            end: burst_at(5),
            records: vec![2, 5],
        }];
        let out = Transformed {
            body: RawValue::NULL.to_owned(),
            tally: transform::Tally::default(),
            clicks,
            bursts,
        };
        let in_burst = out.in_burst();
        let mut want: Vec<String> = out
            .clicks
            .iter()
            .zip(&in_burst)
            .filter(|(c, b)| c.flagged || **b)
            .map(|(c, _)| partition::s3_path(&c.event_time_text()))
            .collect();
        want.sort();
        want.dedup();
        assert_eq!(partitions(&out), want);
        // Click 2 is the only one of its hour (11:00 of 2026-11-27 is also click 9's, flagged).
        assert!(
            want.contains(&"dt=2026-11-27/hour=11".to_owned()),
            "{want:?}"
        );
        // Both hours of year 10000 share one path (its year is written longer).
        assert_eq!(want.len(), 5, "{want:?}");
    }

    #[test]
    fn a_batch_is_named_by_its_record_ids_alone() {
        let batch = r#"[{"recordId":"ab","data":"eA=="},{"recordId":"c"}]"#;
        assert_eq!(
            id(batch),
            id(r#"[{"recordId":"ab"},{"recordId":"c","data":""}]"#)
        );
        assert!(id(batch).ends_with("-2"), "{}", id(batch));
        // Other ids, the same ids split differently, or in another order: another batch.
        assert_ne!(id(batch), id(r#"[{"recordId":"ab"},{"recordId":"d"}]"#));
        assert_ne!(id(batch), id(r#"[{"recordId":"a"},{"recordId":"bc"}]"#));
        assert_ne!(id(batch), id(r#"[{"recordId":"c"},{"recordId":"ab"}]"#));
        assert_eq!(id("[]"), "invocation");
    }
}
