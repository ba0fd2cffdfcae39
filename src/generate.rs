//! Synthetic click events shaped like the lab producer's, for samples, tests and benchmarks.
//! The `clickstream-send` crate (`producer/`) makes its records with [`ClickGenerator`] and
//! [`Click::to_json`], so those stay public.
//!
//! `scenario` makes whole stretches of traffic with a daily rhythm and labeled anomalies
//! (`labels`), cut into Firehose events, for `generate --duration` and `evaluate`.
//!
//! The lab's producer sent, per click, Python's `json.dumps` of
//! `{"timestamp": datetime.now().isoformat(), "user_id": 1..1000, "page_url": "/pagina-1..10",
//! "event_type": "click", "element_id": ..., "x_coordinate": 0..1920, "y_coordinate": 0..1080,
//! "anomaly_detected": [bool]}`; this writes the same text, spaces after separators included.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Timelike, Utc};
use serde::Serialize;

pub(crate) mod labels;
pub(crate) mod scenario;

/// The delivery stream name the template creates, used in generated envelopes.
pub const STREAM_ARN: &str =
    "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose";

/// What to generate. Equal options always give equal output.
#[derive(Debug, Clone)]
pub struct ClickGenerator {
    rng: fastrand::Rng,
    /// Share of clicks flagged anomalous, 0.0–1.0.
    anomaly_rate: f64,
    clock: DateTime<Utc>,
}

/// One synthetic click, as the lab's producer shaped it.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    pub timestamp: DateTime<Utc>,
    pub user_id: u32,
    pub page: u32,
    pub element: u32,
    pub x: u32,
    pub y: u32,
    pub anomaly: bool,
}

impl Click {
    /// The JSON text the lab producer would have sent, without a trailing newline.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"timestamp\": \"{}\", \"user_id\": {}, \"page_url\": \"/pagina-{}\", \"event_type\": \"click\", \"element_id\": \"boton-{}\", \"x_coordinate\": {}, \"y_coordinate\": {}, \"anomaly_detected\": [{}]}}",
            python_isoformat(&self.timestamp),
            self.user_id,
            self.page,
            self.element,
            self.x,
            self.y,
            if self.anomaly { "true" } else { "false" },
        )
    }
}

/// Python's naive `datetime.isoformat()`: microseconds only when there are any, no offset.
fn python_isoformat(t: &DateTime<Utc>) -> String {
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", t.format("%Y-%m-%dT%H:%M:%S"))
    }
}

impl ClickGenerator {
    pub fn new(seed: u64, anomaly_rate: f64, start: DateTime<Utc>) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            anomaly_rate: anomaly_rate.clamp(0.0, 1.0),
            clock: start,
        }
    }

    /// The next click; clicks are 0–400 ms apart, as from a busy page.
    pub fn next_click(&mut self) -> Click {
        self.clock += Duration::microseconds(self.rng.i64(0..=400_000));
        Click {
            timestamp: self.clock,
            user_id: self.rng.u32(1..=1000),
            page: self.rng.u32(1..=10),
            element: self.rng.u32(1..=50),
            x: self.rng.u32(0..=1920),
            y: self.rng.u32(0..=1080),
            anomaly: self.rng.f64() < self.anomaly_rate,
        }
    }

    /// A Firehose transformation event of `records` clicks.
    pub fn firehose_event(&mut self, records: usize) -> FirehoseEventOut {
        let invocation_id = uuid(&mut self.rng);
        let records = (0..records)
            .map(|_| {
                let click = self.next_click();
                // Firehose stamps arrival a little after the click was made.
                let arrival = click.timestamp + Duration::milliseconds(self.rng.i64(20..=1500));
                RecordOut {
                    record_id: record_id(&mut self.rng),
                    approximate_arrival_timestamp: arrival.timestamp_millis(),
                    data: STANDARD.encode(click.to_json()),
                }
            })
            .collect();
        FirehoseEventOut {
            invocation_id,
            delivery_stream_arn: STREAM_ARN,
            region: "us-east-1",
            records,
        }
    }
}

/// A Firehose record id: a long decimal string, as Firehose's are.
pub(crate) fn record_id(rng: &mut fastrand::Rng) -> String {
    (0..56).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
}

/// A random version-4-shaped UUID.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let hex = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-4{}-a{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// A generated Firehose event, serialized as Firehose sends it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEventOut {
    pub invocation_id: String,
    pub delivery_stream_arn: &'static str,
    pub region: &'static str,
    pub records: Vec<RecordOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOut {
    pub record_id: String,
    pub approximate_arrival_timestamp: i64,
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn same_seed_same_event_and_other_seed_other_event() {
        let a = serde_json::to_string(&ClickGenerator::new(7, 0.1, start()).firehose_event(20))
            .unwrap();
        let b = serde_json::to_string(&ClickGenerator::new(7, 0.1, start()).firehose_event(20))
            .unwrap();
        let c = serde_json::to_string(&ClickGenerator::new(8, 0.1, start()).firehose_event(20))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn clicks_stay_within_the_producer_ranges() {
        let mut g = ClickGenerator::new(1, 0.5, start());
        let mut last = start();
        let mut anomalies = 0;
        for _ in 0..2000 {
            let c = g.next_click();
            assert!((1..=1000).contains(&c.user_id));
            assert!((1..=10).contains(&c.page));
            assert!(c.x <= 1920 && c.y <= 1080);
            assert!(c.timestamp >= last);
            last = c.timestamp;
            anomalies += usize::from(c.anomaly);
        }
        assert!(
            (800..1200).contains(&anomalies),
            "{anomalies} of 2000 at rate 0.5"
        );
    }

    #[test]
    fn click_text_is_what_python_json_dumps_wrote() {
        let click = Click {
            timestamp: "2026-01-01T10:00:00.123456Z".parse().unwrap(),
            user_id: 5,
            page: 3,
            element: 9,
            x: 10,
            y: 20,
            anomaly: true,
        };
        assert_eq!(
            click.to_json(),
            r#"{"timestamp": "2026-01-01T10:00:00.123456", "user_id": 5, "page_url": "/pagina-3", "event_type": "click", "element_id": "boton-9", "x_coordinate": 10, "y_coordinate": 20, "anomaly_detected": [true]}"#
        );
        let on_the_second = Click {
            timestamp: start(),
            ..click
        };
        assert!(
            on_the_second
                .to_json()
                .contains(r#""timestamp": "2026-01-01T00:00:00","#)
        );
    }

    #[test]
    fn no_anomalies_at_rate_zero_and_all_at_rate_one() {
        let mut none = ClickGenerator::new(3, 0.0, start());
        let mut all = ClickGenerator::new(3, 1.0, start());
        assert!((0..500).all(|_| !none.next_click().anomaly));
        assert!((0..500).all(|_| all.next_click().anomaly));
    }
}
