//! The records: the Lambda crate's synthetic clicks, so they are the same text
//! `clickstream-lambda generate` writes and the Lambda reads.

use chrono::Utc;
use clickstream_lambda::generate::ClickGenerator;

/// Endless synthetic click records, one JSON line each.
///
/// Each click is stamped with the wall-clock time it is made, as the lab producer's
/// `datetime.now()` did: the generator's own clock steps 0-400 ms a click whatever the rate,
/// and would run minutes ahead of (or behind) real time.
pub(crate) fn click_records(seed: u64, anomaly_rate: f64) -> impl Iterator<Item = Vec<u8>> {
    let mut generator = ClickGenerator::new(seed, anomaly_rate, Utc::now());
    std::iter::repeat_with(move || {
        let mut click = generator.next_click();
        click.timestamp = Utc::now();
        let mut data = click.to_json().into_bytes();
        // Newline-terminated so the stream's raw backup in S3 reads as JSON lines.
        data.push(b'\n');
        data
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_lines_of_the_seed_fields() {
        let mut made = click_records(3, 0.0);
        for _ in 0..50 {
            let record = made.next().unwrap();
            assert_eq!(record.last(), Some(&b'\n'));
            assert_eq!(record.iter().filter(|&&b| b == b'\n').count(), 1);
            let click: serde_json::Value = serde_json::from_slice(&record).unwrap();
            let mut fields: Vec<&str> = click
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                [
                    "anomaly_detected",
                    "element_id",
                    "event_type",
                    "page_url",
                    "timestamp",
                    "user_id",
                    "x_coordinate",
                    "y_coordinate",
                ]
            );
            assert_eq!(click["anomaly_detected"], serde_json::json!([false]));
        }
    }

    #[test]
    fn records_are_stamped_with_the_time_they_are_made() {
        // The text has microseconds; the clock may have finer.
        let before = Utc::now().naive_utc() - chrono::TimeDelta::microseconds(1);
        let record = click_records(1, 0.0).next().unwrap();
        let after = Utc::now().naive_utc();
        let click: serde_json::Value = serde_json::from_slice(&record).unwrap();
        let stamped: chrono::NaiveDateTime = click["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(
            before <= stamped && stamped <= after,
            "{stamped} not in {before}..{after}"
        );
    }

    #[test]
    fn the_seed_repeats_all_but_the_timestamps() {
        let same_seed = |seed| -> Vec<String> {
            click_records(seed, 0.5)
                .take(20)
                .map(|r| {
                    let mut v: serde_json::Value = serde_json::from_slice(&r).unwrap();
                    v["timestamp"].take();
                    v.to_string()
                })
                .collect()
        };
        assert_eq!(same_seed(9), same_seed(9));
        assert_ne!(same_seed(9), same_seed(10));
    }
}
