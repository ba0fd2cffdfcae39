//! Throughput of the handler on the largest batch whose answer fits Lambda's 6 MB: about
//! 3.5 MB of seed-shaped clicks (8,600 records), in MB/s of event and in records/s.
//!
//! Run with `cargo bench --bench transform`. The whole-process comparison with the CPython
//! reference is `benches/versus_python.rs`.

use chrono::Utc;
use clickstream_lambda::generate::ClickGenerator;
use clickstream_lambda::{Alert, AlertPublisher, Config, Delivery, Handler, PublishError};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 8_600;

/// A publisher that accepts every alert and delivers none.
struct Discard;

impl AlertPublisher for Discard {
    async fn publish(&self, _: &Alert) -> Result<Delivery, PublishError> {
        Ok(Delivery::Published { message_id: None })
    }
}

fn event() -> String {
    let start = "2026-11-27T10:00:00Z".parse().unwrap_or_default();
    let event = ClickGenerator::new(1, 0.05, start).firehose_event(RECORDS);
    serde_json::to_string(&event).unwrap_or_default()
}

fn handler_benchmarks(c: &mut Criterion) {
    let event = event();
    let config = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
    // Seed batches carry anomalies; the bench measures the transform, not a terminal.
    let handler = Handler::new(config, Discard);
    // Timers on: the rate detector bounds its store calls with a timeout, as in Lambda.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut run = || {
        let invocation = runtime.block_on(handler.handle(&event, Utc::now()));
        assert!(invocation.result.is_ok_and(|r| r.get().len() < 6_291_456));
    };

    let mut by_bytes = c.benchmark_group("firehose_batch_bytes");
    by_bytes.throughput(Throughput::Bytes(event.len() as u64));
    by_bytes.bench_function(format!("{:.1}MB", event.len() as f64 / 1e6), |b| {
        b.iter(&mut run)
    });
    by_bytes.finish();

    let mut by_records = c.benchmark_group("firehose_batch_records");
    by_records.throughput(Throughput::Elements(RECORDS as u64));
    by_records.bench_function(format!("{RECORDS}_records"), |b| b.iter(&mut run));
    by_records.finish();
}

criterion_group!(benches, handler_benchmarks);
criterion_main!(benches);
