//! Properties of the Firehose transform for arbitrary records: random bytes, random JSON and
//! valid clicks mixed in one batch. Whatever comes in, every record is answered exactly once, in
//! order, with an allowed result; `Ok` data is one enriched JSON line; anything else is returned
//! byte for byte.

use super::{LAMBDA_RESPONSE_LIMIT, TransformSettings, transform};
use crate::event::envelope::Envelope;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON values, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".*", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Click-like objects: every required field sometimes present and right, sometimes not.
fn clickish() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!("2026-11-27T10:15:30.123456")),
            Just(json!("2026-11-27T10:15:30+05:30")),
            (0i64..4_000_000_000_000).prop_map(Value::from),
            any_json(),
        ],
        prop_oneof![
            (1u32..=1000).prop_map(Value::from),
            "[a-z0-9-]{0,12}".prop_map(Value::from),
            any_json()
        ],
        prop_oneof!["/pagina-[0-9]{1,2}".prop_map(Value::from), any_json()],
        prop_oneof![Just(json!("click")), Just(json!("scroll")), any_json()],
        prop_oneof![Just(json!([true])), Just(json!([false])), any_json()],
        prop::collection::btree_map("[a-z_]{1,12}", any_json(), 0..4),
        prop::option::weighted(
            0.2,
            prop::sample::select(vec!["timestamp", "user_id", "page_url", "event_type"]),
        ),
    )
        .prop_map(|(ts, user, page, kind, flag, extra, remove)| {
            let mut m: serde_json::Map<String, Value> = extra.into_iter().collect();
            m.insert("timestamp".into(), ts);
            m.insert("user_id".into(), user);
            m.insert("page_url".into(), page);
            m.insert("event_type".into(), kind);
            m.insert("anomaly_detected".into(), flag);
            if let Some(field) = remove {
                m.remove(field);
            }
            Value::Object(m)
        })
}

/// A record's `data`: base64 of random bytes, of random JSON, of a click, or not base64 at all.
fn any_data() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| STANDARD.encode(b)),
        any_json().prop_map(|v| STANDARD.encode(v.to_string())),
        clickish().prop_map(|v| STANDARD.encode(v.to_string())),
        clickish().prop_map(|v| STANDARD.encode(serde_json::to_string_pretty(&v).unwrap() + "\n")),
        "[A-Za-z0-9+/=!]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_record_is_answered_once_in_order_by_the_contract(
        datas in prop::collection::vec(any_data(), 0..24),
        arrival in prop_oneof![Just(json!(1_764_238_531_000_i64)), any_json()],
    ) {
        let records: Vec<Value> = datas.iter().enumerate()
            .map(|(i, d)| json!({"recordId": format!("id-{i}"), "approximateArrivalTimestamp": arrival, "data": d}))
            .collect();
        let text = json!({"invocationId": "i", "deliveryStreamArn": "a", "records": records}).to_string();
        let envelope = Envelope::parse(&text).unwrap();
        let records = envelope.records.as_deref().unwrap();
        let drop = vec!["scroll".to_owned()];
        let settings = TransformSettings {
            drop_event_types: &drop,
            now: chrono::Utc::now(),
            response_limit: LAMBDA_RESPONSE_LIMIT,
            detect: &crate::detect::settings::DetectSettings::default(),
        };
        let out = transform(records, &settings).unwrap();
        let response: Value = serde_json::from_str(out.body.get()).unwrap();
        let answers = response["records"].as_array().unwrap();
        prop_assert_eq!(answers.len(), datas.len());
        for (i, (answer, data)) in answers.iter().zip(&datas).enumerate() {
            prop_assert_eq!(&answer["recordId"], &json!(format!("id-{i}")));
            match answer["result"].as_str().unwrap() {
                "Ok" => {
                    let bytes = STANDARD.decode(answer["data"].as_str().unwrap()).unwrap();
                    let line = String::from_utf8(bytes).unwrap();
                    prop_assert!(line.ends_with('\n'));
                    prop_assert_eq!(line.matches('\n').count(), 1);
                    let obj: Value = serde_json::from_str(&line).unwrap();
                    for field in ["event_time", "arrival_time", "processed_at", "is_anomaly"] {
                        prop_assert!(obj.get(field).is_some());
                    }
                    prop_assert!(obj["is_anomaly"].is_boolean());
                    prop_assert!(answer["metadata"]["partitionKeys"]["status"].is_string());
                }
                "Dropped" | "ProcessingFailed" => prop_assert_eq!(answer["data"].as_str().unwrap(), data.as_str()),
                other => prop_assert!(false, "result {}", other),
            }
        }
        prop_assert_eq!(out.tally.ok + out.tally.dropped + out.tally.failed, datas.len());
    }
}
