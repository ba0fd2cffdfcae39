//! What the rate detector costs: windows per second of one series' model (the same
//! `SeriesDetector` the Lambda and `detect` run), the bytes one tracked series takes in memory
//! and in the shared store, and the handler's throughput on the same minute-by-minute batches
//! with every detector on (the defaults) and off, so the share of the transform's CPU that
//! detection takes is read from one run.
//!
//! Run with `cargo bench --bench detector`. The memory figures are printed before the timings.

use chrono::{DateTime, Duration, Utc};
use clickstream_lambda::generate::ClickGenerator;
use clickstream_lambda::{
    Alert, AlertPublisher, Config, Delivery, Handler, PublishError, StandaloneSeries,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A publisher that accepts every alert and delivers none.
struct Discard;

impl AlertPublisher for Discard {
    async fn publish(&self, _: &Alert) -> Result<Delivery, PublishError> {
        Ok(Delivery::Published { message_id: None })
    }
}

fn start() -> DateTime<Utc> {
    "2026-11-23T00:00:00Z".parse().unwrap_or_default()
}

/// Four weeks of one-minute windows with a daily rhythm and some noise: every seasonal slot
/// learned, as a long-running series has them.
fn values() -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(1);
    (0..28 * 1440)
        .map(|m| {
            let phase = (m % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            let mean = 120.0 * (1.0 + 0.5 * phase.sin());
            (mean + (rng.f64() - 0.5) * 2.0 * mean.sqrt() * 1.7).round()
        })
        .collect()
}

fn series_benchmarks(c: &mut Criterion) {
    let values = values();
    let width = Duration::minutes(1);
    let mut warm = StandaloneSeries::default();
    for (m, v) in values.iter().enumerate() {
        warm.observe(start() + Duration::minutes(m as i64), width, *v);
    }
    println!(
        "one tracked series after four weeks: {} bytes in memory, {} bytes stored (JSON)",
        warm.memory_bytes(),
        warm.stored_bytes()
    );
    let mut group = c.benchmark_group("series_windows");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("four_weeks_of_minutes", |b| {
        b.iter(|| {
            let mut s = StandaloneSeries::default();
            let mut opened = 0;
            for (m, v) in values.iter().enumerate() {
                opened += usize::from(s.observe(start() + Duration::minutes(m as i64), width, *v));
            }
            opened
        })
    });
    group.finish();
}

/// `minutes` one-minute Firehose batches of 600 clicks each (the lab's 10 a second), in order.
fn batches(minutes: usize) -> Vec<(String, DateTime<Utc>)> {
    (0..minutes)
        .map(|m| {
            let at = start() + Duration::minutes(m as i64);
            let event = ClickGenerator::new(m as u64 + 1, 0.0, at).firehose_event(600);
            let text = serde_json::to_string(&event).unwrap_or_default();
            (text, at + Duration::seconds(61))
        })
        .collect()
}

fn handler_benchmarks(c: &mut Criterion) {
    const MINUTES: usize = 60;
    let batches = batches(MINUTES);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let off = |name: &str| {
        matches!(
            name,
            "DETECT_RATES" | "DETECT_USER_BURSTS" | "DETECT_PRODUCER_FLAG"
        )
        .then(|| "off".to_owned())
    };
    let mut group = c.benchmark_group("handler_hour_of_batches");
    group.throughput(Throughput::Elements((MINUTES * 600) as u64));
    for (name, config) in [
        ("detection_on", Config::from_lookup(|_| None)),
        ("detection_off", Config::from_lookup(off)),
    ] {
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(name, |b| {
            b.iter(|| {
                // A warm container from its first batch: windows close and are scored along.
                let handler = Handler::new(config.clone(), Discard);
                for (event, now) in &batches {
                    let invocation = runtime.block_on(handler.handle(event, *now));
                    assert!(invocation.result.is_ok());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, series_benchmarks, handler_benchmarks);
criterion_main!(benches);
