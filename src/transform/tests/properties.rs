//! Property tests of the Firehose transform over whole batches, checked against an oracle that
//! knows what each generated record holds.
//!
//! A batch mixes valid clicks, clicks broken in one known way, random JSON, random bytes, text
//! that is not base64, invalid UTF-8, MSK-style records (`kafkaRecordValue`), records that
//! carry no usable payload, and envelopes that repeat `data`, `kafkaRecordValue` or `recordId`.
//! Values are generated as JSON text (big integers, `1.10`, escapes, whitespace between tokens),
//! so the oracle knows the exact text every field must keep. The properties:
//!
//! 1. every record is answered exactly once, in order, with its `recordId` and the result the
//!    oracle predicts, and in the field the record used (`data` or `kafkaRecordValue`, never
//!    both);
//! 2. an `Ok` record's data is one JSON line: every input field keeps its key, position and
//!    exact value text minus insignificant whitespace (a repeated key: the first position, the
//!    last value), fields named like the added ones are replaced, and the added fields and the
//!    partition keys hold what the oracle computes (`is_anomaly` by the documented rule);
//! 3. `Dropped` and `ProcessingFailed` return the payload byte for byte;
//! 4. under a small response limit the answer either fits, changing only what the size guard
//!    may change and no more than it must, or is refused as [`TooLarge`](super::super::TooLarge)
//!    exactly when no answer can fit, as computed here independently.
//!
//! # Reproducing a run
//!
//! Every run starts from the same seed ([`SEED`], ChaCha), so a failure seen anywhere is seen
//! everywhere, and no regression file is written. `PROPTEST_RNG_SEED=<u64>` explores another
//! seed and `PROPTEST_CASES=<n>` runs more cases; rerunning with the same values replays the
//! same cases, e.g. `PROPTEST_RNG_SEED=7 PROPTEST_CASES=1000 cargo test --lib
//! transform::tests::properties`. `PROPTEST_RNG_ALGORITHM` is ignored: a seed means one sequence only
//! with its algorithm.

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDateTime};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::super::{LAMBDA_RESPONSE_LIMIT, TooLarge, TransformSettings, Transformed, transform};
use crate::detect::settings::DetectSettings;
use crate::event::envelope::Envelope;

// ---------------------------------------------------------------------------------------------
// Configuration

/// The seed every run starts from unless `PROPTEST_RNG_SEED` is set.
const SEED: u64 = 2_026_112_710;

/// A fixed-seed configuration; `PROPTEST_RNG_SEED` and `PROPTEST_CASES` override it.
fn config(cases: u32) -> ProptestConfig {
    // `default()` is proptest's defaults with the PROPTEST_* variables applied.
    let env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: match env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            fixed @ RngSeed::Fixed(_) => fixed,
        },
        failure_persistence: None,
        ..env
    }
}

/// The `event_type` values the tests configure to be dropped.
const DROP: [&str; 2] = ["scroll", "hover"];

/// The field names the transform writes, replacing input fields of the same name.
const ADDED: [&str; 5] = [
    "event_time",
    "arrival_time",
    "processed_at",
    "is_anomaly",
    "anomaly_reasons",
];

/// The detectors this property runs: the producer's flag only, so that `anomaly_reasons` is a
/// function of the record alone (bursts have their own tests in `crate::detect::burst`).
const DETECT: DetectSettings = DetectSettings {
    user_bursts: false,
    rates: false,
    ..DetectSettings::DEFAULT
};

/// The four fields a click needs.
const REQUIRED: [&str; 4] = ["timestamp", "user_id", "page_url", "event_type"];

/// 0001-01-02T00:00:00Z and 9999-12-30T23:59:59.999Z: written years with a day to spare for
/// any UTC offset.
const MIN_MS: i64 = -62_135_510_400_000;
const MAX_MS: i64 = 253_402_214_399_999;

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: what RFC 3339 can write.
const WRITABLE_MS: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

/// Whitespace of 64 spaces: a record mostly whitespace is larger as it came than transformed.
const WIDE: &str = "\n                                                                ";

// ---------------------------------------------------------------------------------------------
// Generated JSON, as text

/// A JSON value as generated, so that the exact text of every token is known.
#[derive(Clone, PartialEq)]
enum Json {
    /// A number, string, `true`, `false` or `null`, as written.
    Lit(String),
    Arr(Vec<Json>),
    /// Members with their keys as written (JSON string text, escapes included).
    Obj(Vec<(String, Json)>),
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.compact())
    }
}

impl Json {
    fn lit(text: &str) -> Self {
        Self::Lit(text.to_owned())
    }

    fn string(s: &str) -> Self {
        Self::Lit(serde_json::to_string(s).unwrap())
    }

    /// The text with `ws` wherever JSON allows whitespace inside the value.
    fn render(&self, ws: &str) -> String {
        let mut out = String::new();
        self.write(ws, &mut out);
        out
    }

    fn compact(&self) -> String {
        self.render("")
    }

    fn write(&self, ws: &str, out: &mut String) {
        match self {
            Self::Lit(text) => out.push_str(text),
            Self::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(ws);
                    item.write(ws, out);
                }
                out.push_str(ws);
                out.push(']');
            }
            Self::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(ws);
                    out.push_str(key);
                    out.push_str(ws);
                    out.push(':');
                    out.push_str(ws);
                    value.write(ws, out);
                }
                out.push_str(ws);
                out.push('}');
            }
        }
    }
}

/// A JSON string's value.
fn unescape(text: &str) -> String {
    serde_json::from_str(text).unwrap()
}

/// `name` as a JSON string: plainly, or with every character as a `\u` escape.
fn spell(name: &str, escaped: bool) -> String {
    if !escaped {
        return serde_json::to_string(name).unwrap();
    }
    let mut out = String::from("\"");
    for c in name.chars() {
        for unit in c.encode_utf16(&mut [0; 2]) {
            write!(out, "\\u{unit:04x}").unwrap();
        }
    }
    out.push('"');
    out
}

/// JSON string text mixing plain text, non-ASCII and every kind of escape.
fn string_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 ._/-]{1,6}",
        1 => select(vec![
            "é", "😀", "\u{2028}", "\\u00e9", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\r",
            "\\ud83d\\ude00", "\\u0000", "\\u001f", "\\uFFFF",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// Numbers whose text a parsed value would not keep, all within `f64`'s range.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[1-9][0-9]{19,40}",
        "-?(0|[1-9][0-9]{0,6})\\.[0-9]{0,5}0",
        "-?[1-9]\\.[0-9]{1,3}[eE][+-]?[0-9]{1,2}",
        select(vec!["-0", "-0.0", "1.10", "0.1e1", "1E+2", "1e0"]).prop_map(str::to_owned),
    ]
}

/// Object keys: a pool that repeats (added names among them) and random ones, either spelling.
fn key_text() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        select(vec![
            "a",
            "b",
            "big",
            "price",
            "nested",
            "tags",
            "element_id",
            "x_coordinate",
            "é",
            "ключ",
            "a\"b",
            "c\\d",
            "\u{1}ctl",
            "",
            "Event_Time",
            "event_time",
            "arrival_time",
            "processed_at",
            "is_anomaly",
            "anomaly_reasons",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
    ];
    (name, prop::bool::weighted(0.2)).prop_map(|(name, escaped)| spell(&name, escaped))
}

/// Random JSON a few levels deep; `wild` adds numbers beyond `f64` (`1e400`).
fn any_json(wild: bool) -> BoxedStrategy<Json> {
    let number = if wild {
        prop_oneof![
            9 => number_text(),
            1 => select(vec!["1e400", "-2E+999", "1e-400"]).prop_map(str::to_owned),
        ]
        .boxed()
    } else {
        number_text().boxed()
    };
    let leaf = prop_oneof![
        select(vec!["null", "true", "false"]).prop_map(Json::lit),
        number.prop_map(Json::Lit),
        string_text().prop_map(Json::Lit),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Arr),
            prop::collection::vec((key_text(), inner), 0..5).prop_map(Json::Obj),
        ]
    })
    .boxed()
}

/// Whitespace between tokens, and around a whole payload.
fn whitespace() -> impl Strategy<Value = &'static str> {
    select(vec!["", "", " ", "\n  ", "\t", "\r\n", WIDE])
}

// ---------------------------------------------------------------------------------------------
// Clicks

/// A way to break a click, which decides its answer.
#[derive(Debug, Clone)]
enum Breakage {
    /// A required field left out.
    Missing(&'static str),
    /// A required field of a type it cannot have, or a `timestamp` that is no instant.
    Wrong(&'static str, Json),
    /// A `\uD800`-`\uDFFF` escape without its pair, somewhere in the text.
    LoneSurrogate(Json),
    /// The text is not exactly one JSON object.
    NotOneObject(u8),
}

impl Breakage {
    /// Whether the record fails before its `event_type` is read for the drop decision.
    fn fails_before_drop(&self) -> bool {
        match self {
            Self::Missing(field) | Self::Wrong(field, _) => *field == "event_type",
            Self::LoneSurrogate(_) | Self::NotOneObject(_) => true,
        }
    }
}

/// A click as generated: its members as written and what its valid fields mean.
#[derive(Debug, Clone)]
struct Click {
    /// Key text and value, in order, repeats and breakage included.
    members: Vec<(String, Json)>,
    ws: &'static str,
    around: (&'static str, &'static str),
    breakage: Option<Breakage>,
    /// The `event_time` the valid `timestamp` means.
    event_time: String,
    /// The user and page as the alert names them.
    user_id: String,
    page_url: String,
    /// The `event_type` value (unescaped).
    event_type: String,
}

impl Click {
    fn text(&self) -> String {
        let object = Json::Obj(self.members.clone()).render(self.ws);
        let object = match &self.breakage {
            Some(Breakage::NotOneObject(how)) => match how % 5 {
                0 => format!("[{object}]"),
                1 => format!("{object}\n{object}"),
                2 => object[..object.len() - 1].to_owned(),
                3 => format!("{object} x"),
                _ => format!("{},}}", &object[..object.len() - 1]),
            },
            _ => object,
        };
        format!("{}{object}{}", self.around.0, self.around.1)
    }
}

/// `ms` since the epoch as the transform writes instants.
fn written(ms: i64) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn utc(ms: i64) -> NaiveDateTime {
    DateTime::from_timestamp_millis(ms).unwrap().naive_utc()
}

/// A valid `timestamp` in one of the accepted forms, and the `event_time` it means.
fn timestamp() -> impl Strategy<Value = (Json, String)> {
    let dated = (MIN_MS..=MAX_MS, 0u32..1000, -14 * 60i64..=14 * 60, 0u8..4).prop_map(
        |(ms, micros, offset, form)| {
            let t = utc(ms);
            let text = match form {
                0 => format!("{}{micros:03}Z", t.format("%Y-%m-%dT%H:%M:%S%.3f")),
                1 => {
                    let local = utc(ms + offset * 60_000);
                    let sign = if offset < 0 { '-' } else { '+' };
                    let (h, m) = (offset.abs() / 60, offset.abs() % 60);
                    format!(
                        "{}{sign}{h:02}:{m:02}",
                        local.format("%Y-%m-%dT%H:%M:%S%.3f")
                    )
                }
                // Python's `datetime.isoformat()`, no offset: UTC.
                2 => format!("{}{micros:03}", t.format("%Y-%m-%dT%H:%M:%S%.3f")),
                _ => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            };
            (Json::string(&text), written(ms))
        },
    );
    let epoch_millis = (
        100_000_000_000i64..=4_102_444_800_000,
        prop::option::of(0u8..10),
    )
        .prop_map(|(ms, tenth)| {
            let text = tenth.map_or(ms.to_string(), |d| format!("{ms}.{d}"));
            (Json::Lit(text), written(ms))
        });
    // Fractions of a second in eighths only, which f64 holds exactly: other fractions can lose
    // a millisecond (see `known_gaps`).
    let epoch_seconds = (
        -2_000_000_000i64..100_000_000_000,
        prop::option::of(0u16..8),
    )
        .prop_map(|(s, eighths)| match eighths {
            Some(e) if s >= 0 => (
                Json::Lit(format!("{s}.{:03}", e * 125)),
                written(s * 1000 + i64::from(e) * 125),
            ),
            _ => (Json::Lit(s.to_string()), written(s * 1000)),
        });
    prop_oneof![3 => dated, 1 => epoch_millis, 1 => epoch_seconds]
}

/// Values of `anomaly_detected`: every case of the rule, and random ones.
fn flag() -> impl Strategy<Value = Json> {
    let s = |text: &str| Json::string(text);
    let l = Json::lit;
    let cases = vec![
        l("true"),
        l("false"),
        l("null"),
        l("1"),
        l("1.0"),
        l("1.00"),
        l("1e0"),
        l("10e-1"),
        l("0.1e1"),
        l("100E-2"),
        l("0"),
        l("2"),
        l("-1"),
        l("1.10"),
        l("0.999"),
        s("true"),
        s("TRUE"),
        s("tRuE"),
        l("\"\\u0074rue\""),
        s("yes"),
        s("false"),
        s("1"),
        s(""),
        Json::Arr(vec![]),
        Json::Arr(vec![l("true")]),
        Json::Arr(vec![l("false")]),
        Json::Arr(vec![l("false"), l("true")]),
        Json::Arr(vec![s("True")]),
        Json::Arr(vec![l("1")]),
        Json::Arr(vec![l("0"), l("1.0")]),
        Json::Arr(vec![Json::Arr(vec![l("true")])]),
        Json::Arr(vec![l("null"), s("no")]),
        Json::Obj(vec![(spell("a", false), l("true"))]),
    ];
    // Numbers beyond f64 are left out: see `known_gaps`.
    prop_oneof![3 => select(cases), 1 => any_json(false)]
}

/// A wrong value for a required field, or a `timestamp` that is no instant.
fn wrong_value(field: &'static str) -> impl Strategy<Value = Json> {
    let s = |text: &str| Json::string(text);
    let l = Json::lit;
    let values = match field {
        "timestamp" => vec![
            l("true"),
            l("null"),
            Json::Arr(vec![l("1700000000")]),
            Json::Obj(vec![(spell("s", false), l("1"))]),
            s("yesterday"),
            s(""),
            s("2026-13-01T00:00:00"),
            s("2026-02-30T00:00:00"),
            s("2026-11-27"),
            s("2026-11-27T10:15:60Z"),
            s("2026-11-27T10:15:60"),
            s("1700000000"),
            l("1e300"),
            l("-1e17"),
            l("253402300800000"),
        ],
        "user_id" => vec![
            l("4.5"),
            l("1e3"),
            l("-0.5"),
            l("1.0"),
            l("null"),
            l("true"),
            Json::Arr(vec![l("1")]),
            Json::Obj(vec![]),
        ],
        _ => vec![
            l("7"),
            l("null"),
            l("false"),
            Json::Arr(vec![s("click")]),
            Json::Obj(vec![(spell("t", false), s("click"))]),
        ],
    };
    select(values)
}

fn breakage() -> impl Strategy<Value = Breakage> {
    let field = select(REQUIRED.to_vec());
    prop_oneof![
        field.clone().prop_map(Breakage::Missing),
        field.prop_flat_map(|f| wrong_value(f).prop_map(move |v| Breakage::Wrong(f, v))),
        select(vec![
            "\"\\ud800\"",
            "\"x\\udc00y\"",
            "[\"\\ud83d\"]",
            "\"\\ud83d\\u0041\""
        ])
        .prop_map(|text| Breakage::LoneSurrogate(Json::lit(text))),
        any::<u8>().prop_map(Breakage::NotOneObject),
    ]
}

/// Clicks: all four fields valid in some form, extra fields, repeated keys, some broken.
fn click() -> impl Strategy<Value = Click> {
    let user_id = prop_oneof![
        any::<i64>().prop_map(|n| (Json::Lit(n.to_string()), n.to_string())),
        "-?[1-9][0-9]{19,30}".prop_map(|n| (Json::Lit(n.clone()), n)),
        string_text().prop_map(|text| (Json::Lit(text.clone()), unescape(&text))),
    ];
    let event_type = (
        select(vec![
            "click",
            "view",
            "page_view",
            "Scroll",
            "scroll",
            "hover",
        ]),
        prop::bool::weighted(0.2),
    );
    let fields = (
        timestamp(),
        user_id,
        string_text(),
        event_type,
        prop::option::of(flag()),
        prop::bool::weighted(0.15),
    );
    let extras = (
        prop::collection::vec((key_text(), any_json(true), any::<usize>()), 0..6),
        prop::collection::vec((select(REQUIRED.to_vec()), any_json(false)), 0..2),
        prop::option::of((
            select(vec!["anomaly_detected", "page_url"]),
            any_json(false),
        )),
        0..5usize,
    );
    let shape = (
        whitespace(),
        select(vec!["", "\n", " \r\n\t"]),
        select(vec!["", "\n", "\n", " \r\n\t"]),
        prop::option::weighted(0.3, breakage()),
    );
    (fields, extras, shape).prop_map(
        |(
            ((ts, event_time), (user, user_id), page, (kind, kind_escaped), flag, escape_keys),
            (extras, junk_first, junk_last, rotate),
            (ws, before, after, breakage),
        )| {
            let key = |name: &str| spell(name, escape_keys);
            let mut members = vec![
                (key("timestamp"), ts),
                (key("user_id"), user),
                (key("page_url"), Json::Lit(page.clone())),
                (key("event_type"), Json::Lit(spell(kind, kind_escaped))),
            ];
            if let Some(flag) = flag {
                members.push((key("anomaly_detected"), flag));
            }
            let len = members.len();
            members.rotate_left(rotate % len);
            for (k, value, at) in extras {
                members.insert(at % (members.len() + 1), (k, value));
            }
            // A repeated key: the last value counts, so junk first leaves the click valid...
            for (name, value) in junk_first {
                members.insert(0, (spell(name, !escape_keys), value));
            }
            // ...and a repeat at the end wins: `anomaly_detected` with any value, `page_url` with
            // another string.
            let mut page_url = unescape(&page);
            if let Some((name, value)) = junk_last {
                if name == "page_url" {
                    let text =
                        serde_json::to_string(&format!("/again{}", value.compact())).unwrap();
                    page_url = unescape(&text);
                    members.push((spell(name, true), Json::Lit(text)));
                } else {
                    members.push((spell(name, false), value));
                }
            }
            match &breakage {
                Some(Breakage::Missing(field)) => members.retain(|(k, _)| unescape(k) != *field),
                Some(Breakage::Wrong(field, value)) => {
                    members.retain(|(k, _)| unescape(k) != *field);
                    members.push((spell(field, false), value.clone()));
                }
                Some(Breakage::LoneSurrogate(value)) => {
                    members.push((spell("note", false), value.clone()));
                }
                Some(Breakage::NotOneObject(_)) | None => {}
            }
            Click {
                members,
                ws,
                around: (before, after),
                breakage,
                event_time,
                user_id,
                page_url,
                event_type: kind.to_owned(),
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Records and batches

/// What a record's payload holds.
#[derive(Debug, Clone)]
enum Payload {
    /// Base64 of a click's text.
    Click(Click),
    /// Base64 of random JSON: never a click, it has no `event_type`.
    Json(Json, &'static str),
    /// Base64 of random bytes.
    Bytes(Vec<u8>),
    /// Base64 of a click's text with one byte that is never UTF-8.
    NotUtf8(Click, usize),
    /// A click's base64 with a character outside the alphabet inserted, or cut short.
    NotBase64(Click, usize, char),
}

impl Payload {
    /// The payload text as the record carries it (decoded from its JSON string).
    fn text(&self) -> String {
        match self {
            Self::Click(click) => STANDARD.encode(click.text()),
            Self::Json(json, ws) => STANDARD.encode(json.render(ws)),
            Self::Bytes(bytes) => STANDARD.encode(bytes),
            Self::NotUtf8(click, at) => {
                let mut bytes = click.text().into_bytes();
                bytes.insert(at % (bytes.len() + 1), 0xff);
                STANDARD.encode(bytes)
            }
            Self::NotBase64(click, at, stray) => {
                let mut text = STANDARD.encode(click.text());
                if *stray == '~' {
                    // Padding is required: a length that is no multiple of 4 is not base64.
                    text.truncate(text.len() - 1 - at % 3);
                } else {
                    text.insert(at % (text.len() + 1), *stray);
                }
                text
            }
        }
    }

    fn click(&self) -> Option<&Click> {
        match self {
            Self::Click(click) => Some(click),
            _ => None,
        }
    }
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        10 => click().prop_map(Payload::Click),
        1 => (any_json(true), whitespace()).prop_map(|(json, ws)| Payload::Json(json, ws)),
        1 => prop::collection::vec(any::<u8>(), 0..120).prop_map(Payload::Bytes),
        1 => (click(), any::<usize>()).prop_map(|(click, at)| Payload::NotUtf8(click, at)),
        1 => (click(), any::<usize>(), select(vec!['!', '-', '_', ' ', '\n', '.', '~']))
            .prop_map(|(click, at, stray)| Payload::NotBase64(click, at, stray)),
    ]
}

/// How the record carries its payload.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carrier {
    Data,
    /// An Amazon MSK source.
    Kafka,
    DataTwice,
    KafkaTwice,
    /// `recordId` twice (the first one names the record), payload in `data` or not.
    IdTwice {
        kafka: bool,
    },
    /// Both `data` and `kafkaRecordValue`, in either order.
    Both {
        kafka_first: bool,
    },
    /// No payload field, or one that is not a string.
    Missing,
    NotAString {
        kafka: bool,
    },
}

impl Carrier {
    /// The field the answer must carry.
    fn field(self) -> &'static str {
        match self {
            Self::Kafka | Self::KafkaTwice | Self::IdTwice { kafka: true } => "kafkaRecordValue",
            Self::NotAString { kafka: true } => "kafkaRecordValue",
            _ => "data",
        }
    }

    /// Whether the envelope alone makes the record fail.
    fn fails(self) -> bool {
        !matches!(self, Self::Data | Self::Kafka)
    }

    /// Whether the record has a payload string at all.
    fn has_payload(self) -> bool {
        !matches!(self, Self::Missing | Self::NotAString { .. })
    }
}

fn carrier() -> impl Strategy<Value = Carrier> {
    prop_oneof![
        24 => Just(Carrier::Data),
        8 => Just(Carrier::Kafka),
        1 => Just(Carrier::DataTwice),
        1 => Just(Carrier::KafkaTwice),
        1 => any::<bool>().prop_map(|kafka| Carrier::IdTwice { kafka }),
        1 => any::<bool>().prop_map(|kafka_first| Carrier::Both { kafka_first }),
        1 => Just(Carrier::Missing),
        1 => any::<bool>().prop_map(|kafka| Carrier::NotAString { kafka }),
    ]
}

/// `approximateArrivalTimestamp`.
#[derive(Debug, Clone)]
enum Arrival {
    Missing,
    /// Epoch milliseconds, with a tenth when `Some`.
    Millis(i64, Option<u8>),
    /// Anything Firehose would never send: no `arrival_time` follows.
    Odd(&'static str),
}

impl Arrival {
    /// The `arrival_time` it means.
    fn written(&self) -> Option<String> {
        let Self::Millis(ms, tenth) = *self else {
            return None;
        };
        // The floor of `ms.d`: one less for a negative number with a fraction.
        let floor = if ms < 0 && tenth.is_some_and(|d| d > 0) {
            ms - 1
        } else {
            ms
        };
        WRITABLE_MS.contains(&floor).then(|| written(floor))
    }
}

fn arrival() -> impl Strategy<Value = Arrival> {
    prop_oneof![
        1 => Just(Arrival::Missing),
        6 => (1_700_000_000_000i64..1_800_000_000_000).prop_map(|ms| Arrival::Millis(ms, None)),
        2 => (WRITABLE_MS, prop::option::of(0u8..10)).prop_map(|(ms, d)| Arrival::Millis(ms, d)),
        1 => select(vec![
            "null", "\"soon\"", "\"1764238531000\"", "1e30", "-1e30", "253402300800000",
            "[1]", "{}", "true",
        ])
        .prop_map(Arrival::Odd),
    ]
}

/// One generated record of a batch.
#[derive(Debug, Clone)]
struct Record {
    /// `recordId` as written (JSON string text).
    id: String,
    carrier: Carrier,
    payload: Payload,
    /// Whether the payload's JSON string writes `/` as `\/`.
    slash_escaped: bool,
    arrival: Arrival,
}

/// A payload the record carries besides its own, which must never be answered.
const OTHER: &str = "eyJldmVudF90eXBlIjoic2Nyb2xsIn0=";

impl Record {
    fn envelope(&self) -> String {
        let mut payload = serde_json::to_string(&self.payload.text()).unwrap();
        if self.slash_escaped {
            payload = payload.replace('/', "\\/");
        }
        let other = format!("\"{OTHER}\"");
        let mut members = vec![format!("\"recordId\":{}", self.id)];
        match &self.arrival {
            Arrival::Missing => {}
            Arrival::Millis(ms, tenth) => members.push(format!(
                "\"approximateArrivalTimestamp\":{ms}{}",
                tenth.map(|d| format!(".{d}")).unwrap_or_default()
            )),
            Arrival::Odd(text) => members.push(format!("\"approximateArrivalTimestamp\":{text}")),
        }
        let mut put = |field: &str, value: &str| members.push(format!("\"{field}\":{value}"));
        match self.carrier {
            Carrier::Data => put("data", &payload),
            Carrier::Kafka => {
                put("topic", "\"clicks\"");
                put("kafkaRecordValue", &payload);
                put("kafkaOffset", "\"7\"");
            }
            Carrier::DataTwice => {
                put("data", &payload);
                put("data", &other);
            }
            Carrier::KafkaTwice => {
                put("kafkaRecordValue", &payload);
                put("kafkaRecordValue", &other);
            }
            Carrier::IdTwice { kafka } => {
                put(if kafka { "kafkaRecordValue" } else { "data" }, &payload);
                put("recordId", "\"another-id\"");
            }
            Carrier::Both { kafka_first: true } => {
                put("kafkaRecordValue", &other);
                put("data", &payload);
            }
            Carrier::Both { kafka_first: false } => {
                put("data", &payload);
                put("kafkaRecordValue", &other);
            }
            Carrier::Missing => put("kinesisRecordMetadata", "{\"shardId\":\"s\"}"),
            Carrier::NotAString { kafka } => {
                put(
                    if kafka { "kafkaRecordValue" } else { "data" },
                    "[\"eA==\"]",
                );
            }
        }
        format!("{{{}}}", members.join(","))
    }
}

fn record() -> impl Strategy<Value = Record> {
    (
        string_text(),
        carrier(),
        payload(),
        prop::bool::weighted(0.2),
        arrival(),
    )
        .prop_map(|(id, carrier, payload, slash_escaped, arrival)| Record {
            id,
            carrier,
            payload,
            slash_escaped,
            arrival,
        })
}

fn batch(size: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(record(), size)
}

/// The invocation time, epoch milliseconds.
fn now() -> impl Strategy<Value = i64> {
    1_700_000_000_000i64..4_102_444_800_000
}

fn event(records: &[Record]) -> String {
    let records: Vec<String> = records.iter().map(Record::envelope).collect();
    format!(
        "{{\"invocationId\":\"inv\",\"deliveryStreamArn\":\"arn:aws:firehose:us-east-1:1:deliverystream/s\",\"region\":\"us-east-1\",\"records\":[{}]}}",
        records.join(",")
    )
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// A record's answer as the oracle predicts it.
#[derive(Debug)]
struct Expected {
    id: String,
    result: &'static str,
    field: &'static str,
    /// The payload as the record carried it ("" when it had none).
    payload: String,
    /// For an `Ok` record, its enriched line.
    line: Option<Line>,
}

/// What an `Ok` record's line must hold.
#[derive(Debug)]
struct Line {
    /// Every member, in order: key (unescaped) and value text.
    members: Vec<(String, String)>,
    is_anomaly: bool,
    event_time: String,
    user_id: String,
    page_url: String,
}

fn expect(record: &Record, processed_at: &str) -> Expected {
    let carrier = record.carrier;
    let payload = if carrier.has_payload() {
        record.payload.text()
    } else {
        String::new()
    };
    let click = record.payload.click().filter(|_| !carrier.fails());
    let result = match click {
        None => "ProcessingFailed",
        Some(click) => match &click.breakage {
            Some(b) if b.fails_before_drop() => "ProcessingFailed",
            _ if DROP.contains(&click.event_type.as_str()) => "Dropped",
            Some(_) => "ProcessingFailed",
            None => "Ok",
        },
    };
    let line = click
        .filter(|_| result == "Ok")
        .map(|click| line(click, &record.arrival, processed_at));
    Expected {
        id: unescape(&record.id),
        result,
        field: carrier.field(),
        payload,
        line,
    }
}

/// The enriched line of a valid click.
fn line(click: &Click, arrival: &Arrival, processed_at: &str) -> Line {
    // A repeated key keeps its first position and takes its last value.
    let mut fields: Vec<(String, &Json)> = Vec::new();
    for (key, value) in &click.members {
        let name = unescape(key);
        match fields.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    let is_anomaly = fields
        .iter()
        .find(|(name, _)| name == "anomaly_detected")
        .is_some_and(|(_, flag)| truthy(flag));
    let quoted = |s: &str| format!("\"{s}\"");
    let mut members: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(name, _)| !ADDED.contains(&name.as_str()))
        .map(|(name, value)| (name, value.compact()))
        .collect();
    members.extend([
        ("event_time".to_owned(), quoted(&click.event_time)),
        (
            "arrival_time".to_owned(),
            arrival.written().map_or("null".to_owned(), |t| quoted(&t)),
        ),
        ("processed_at".to_owned(), quoted(processed_at)),
        ("is_anomaly".to_owned(), is_anomaly.to_string()),
        (
            "anomaly_reasons".to_owned(),
            if is_anomaly {
                r#"["producer_flag"]"#
            } else {
                "[]"
            }
            .to_owned(),
        ),
    ]);
    Line {
        members,
        is_anomaly,
        event_time: click.event_time.clone(),
        user_id: click.user_id.clone(),
        page_url: click.page_url.clone(),
    }
}

/// The documented rule for `anomaly_detected`: `true`, `"true"` in any case, `1`, or a list
/// holding any of these.
fn truthy(flag: &Json) -> bool {
    match flag {
        Json::Arr(items) => items.iter().any(truthy_scalar),
        other => truthy_scalar(other),
    }
}

fn truthy_scalar(value: &Json) -> bool {
    let Json::Lit(text) = value else {
        return false;
    };
    match text.as_bytes()[0] {
        b'"' => unescape(text).eq_ignore_ascii_case("true"),
        b'-' | b'0'..=b'9' => is_one(text),
        _ => text == "true",
    }
}

/// Whether a JSON number's exact decimal value is 1 (`1`, `1.00`, `10e-1`...).
fn is_one(number: &str) -> bool {
    if number.starts_with('-') {
        return false;
    }
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap()),
        None => (number, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = digits × 10^scale
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    let scale = exponent - frac.len() as i64 + (digits.len() - significant.len()) as i64;
    significant == "1" && scale == 0
}

/// The serialized length of a `{"records":[...]}` answer of these answers.
fn answer_len(answers: impl IntoIterator<Item = usize>) -> usize {
    let (count, sum) = answers
        .into_iter()
        .fold((0usize, 0), |(count, sum), len| (count + 1, sum + len));
    "{\"records\":[]}".len() + sum + count.saturating_sub(1)
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).unwrap().len()
}

/// One record answered without its result: `result` with the payload, or with `data`.
fn plain_answer(expected: &Expected, result: &str, data: &str) -> Value {
    json!({"recordId": expected.id, "result": result, expected.field: data})
}

// ---------------------------------------------------------------------------------------------
// Running the transform

fn settings(drop: &[String], now_ms: i64, limit: usize) -> TransformSettings<'_> {
    TransformSettings {
        drop_event_types: drop,
        now: DateTime::from_timestamp_millis(now_ms).unwrap(),
        response_limit: limit,
        detect: &DETECT,
    }
}

fn run(text: &str, now_ms: i64, limit: usize) -> Result<Transformed, TooLarge> {
    let drop: Vec<String> = DROP.iter().map(|t| (*t).to_owned()).collect();
    let envelope = Envelope::parse(text).unwrap();
    transform(
        envelope.records.as_deref().unwrap(),
        &settings(&drop, now_ms, limit),
    )
}

fn answers(out: &Transformed) -> Vec<Value> {
    let mut response: Value = serde_json::from_str(out.body.get()).unwrap();
    match response["records"].take() {
        Value::Array(answers) => answers,
        other => panic!("records is {other}"),
    }
}

/// An object's members in order, values as written, repeated keys kept.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// The checks

/// Properties 1-3 over an unconstrained answer.
fn check_answers(
    expected: &[Expected],
    answers: &[Value],
    out: &Transformed,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(answers.len(), expected.len(), "one answer per record");
    for (i, (want, got)) in expected.iter().zip(answers).enumerate() {
        check_answer(want, got).map_err(|e| TestCaseError::fail(format!("record {i}: {e}")))?;
    }
    let count = |result: &str| expected.iter().filter(|e| e.result == result).count();
    let tally = out.tally;
    prop_assert_eq!(
        (tally.ok, tally.dropped, tally.failed, tally.failed_for_size),
        (count("Ok"), count("Dropped"), count("ProcessingFailed"), 0)
    );
    let flagged: Vec<(String, String, String, String)> = expected
        .iter()
        .filter_map(|e| Some((e, e.line.as_ref()?)))
        .filter(|(_, line)| line.is_anomaly)
        .map(|(e, line)| {
            let (user, page, time) = (&line.user_id, &line.page_url, &line.event_time);
            (e.id.clone(), user.clone(), page.clone(), time.clone())
        })
        .collect();
    let got: Vec<(String, String, String, String)> = out
        .flagged()
        .map(|f| {
            let t = written(f.event_time.timestamp_millis());
            prop_assert_eq!(&t, &f.event_time_text(), "flagged event_time");
            Ok((
                expected[f.record].id.clone(),
                f.user_id().to_owned(),
                f.page_url().to_owned(),
                t,
            ))
        })
        .collect::<Result<_, TestCaseError>>()?;
    prop_assert_eq!(got, flagged, "flagged clicks");
    Ok(())
}

fn check_answer(want: &Expected, got: &Value) -> Result<(), TestCaseError> {
    prop_assert_eq!(got["recordId"].as_str(), Some(want.id.as_str()));
    prop_assert_eq!(
        got["result"].as_str(),
        Some(want.result),
        "result of {:?}",
        want
    );
    let mut keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut allowed = vec!["recordId", "result", want.field];
    if want.result == "Ok" {
        allowed.push("metadata");
    }
    allowed.sort_unstable();
    prop_assert_eq!(keys, allowed, "the answer's fields");
    let data = got[want.field].as_str().unwrap();
    let Some(line) = &want.line else {
        prop_assert_eq!(data, want.payload.as_str(), "returned as it came");
        return Ok(());
    };
    let text = String::from_utf8(STANDARD.decode(data).unwrap()).unwrap();
    prop_assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "one line: {:?}",
        text
    );
    let Members(members) = serde_json::from_str(&text).unwrap();
    let members: Vec<(String, String)> = members
        .into_iter()
        .map(|(k, v)| (k, v.get().to_owned()))
        .collect();
    prop_assert_eq!(&members, &line.members, "the enriched line {}", text);
    let event_time = &line.event_time;
    prop_assert_eq!(
        &got["metadata"],
        &json!({"partitionKeys": {
            "status": if line.is_anomaly { "anomaly" } else { "processed" },
            "event_date": &event_time[..10],
            "event_hour": &event_time[11..13],
        }})
    );
    Ok(())
}

/// Property 4: the answer under `limit`, against the unconstrained one.
fn check_squeezed(
    expected: &[Expected],
    full: &Transformed,
    limit: usize,
    squeezed: Result<Transformed, TooLarge>,
) -> Result<(), TestCaseError> {
    let full_answers = answers(full);
    let full_len = full.body.get().len();
    let Sizes {
        full: lens,
        failed: failed_lens,
        least,
        ..
    } = sizes(expected, &full_answers);
    prop_assert_eq!(answer_len(lens.iter().copied()), full_len, "length model");
    if limit >= full_len {
        let out = squeezed.map_err(|e| {
            TestCaseError::fail(format!("TooLarge though the whole answer fits: {e}"))
        })?;
        prop_assert_eq!(
            (out.body.get(), out.tally),
            (full.body.get(), full.tally),
            "nothing changes when it fits"
        );
        return Ok(());
    }
    if least > limit {
        let Err(e) = squeezed else {
            return Err(TestCaseError::fail(format!(
                "answered within {limit} though no answer is under {least} bytes"
            )));
        };
        prop_assert_eq!(
            (e.records, e.needed, e.limit),
            (expected.len(), least, limit)
        );
        return Ok(());
    }
    let out = match squeezed {
        Ok(out) => out,
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "TooLarge though an answer of {least} bytes fits {limit}: {e}"
            )));
        }
    };
    let len = out.body.get().len();
    prop_assert!(len <= limit, "{} > {}", len, limit);
    let got = answers(&out);
    prop_assert_eq!(got.len(), expected.len());
    let (mut turned, mut blanked) = (Vec::new(), Vec::new());
    for (i, (want, answer)) in expected.iter().zip(&got).enumerate() {
        let as_failed = plain_answer(want, "ProcessingFailed", &want.payload);
        let blank = plain_answer(want, "Dropped", "");
        match want.result {
            "Ok" if *answer == as_failed => turned.push(i),
            "Dropped" if *answer == blank && !want.payload.is_empty() => blanked.push(i),
            _ => prop_assert_eq!(answer, &full_answers[i], "record {} changed", i),
        }
    }
    let tally = out.tally;
    prop_assert_eq!(tally.ok + tally.dropped + tally.failed, expected.len());
    prop_assert_eq!(
        (tally.ok, tally.dropped, tally.failed, tally.failed_for_size),
        (
            full.tally.ok - turned.len(),
            full.tally.dropped,
            full.tally.failed + turned.len(),
            turned.len()
        )
    );
    prop_assert_eq!(
        format!("{:?}", out.flagged().collect::<Vec<_>>()),
        format!("{:?}", full.flagged().collect::<Vec<_>>()),
        "flagged whatever the size guard did"
    );
    // No more given up than needed: dropped data before any valid record, and putting back any
    // one turned record (or, when none was, any one blanked data) would not fit.
    if !turned.is_empty() {
        let kept = expected
            .iter()
            .zip(&got)
            .filter(|(e, a)| e.result == "Dropped" && a[e.field] != "")
            .count();
        prop_assert_eq!(kept, 0, "valid records turned while dropped data stayed");
    }
    for &i in &turned {
        prop_assert!(
            len + lens[i] > limit + failed_lens[i],
            "record {} turned though it fitted",
            i
        );
    }
    if turned.is_empty() {
        for &i in &blanked {
            let data_len = expected[i].payload.len();
            prop_assert!(len + data_len > limit, "record {} blanked needlessly", i);
        }
    }
    Ok(())
}

/// The squeeze: a limit relative to the full answer and to the smallest possible one.
#[derive(Debug, Clone, Copy)]
enum Squeeze {
    /// Per mille of the full answer's length.
    OfFull(u32),
    /// Per mille of the way from the smallest possible answer to the full one.
    Between(u32),
    /// Per mille of the way from the smallest possible answer to the full one without the
    /// dropped records' data: some valid records must be turned.
    PastDropped(u32),
    /// The smallest possible answer's length, plus this.
    NearLeast(i64),
    /// The full answer's length, plus this.
    NearFull(i64),
}

fn squeeze() -> impl Strategy<Value = Squeeze> {
    prop_oneof![
        1 => (0u32..=1000).prop_map(Squeeze::OfFull),
        2 => (0u32..=1000).prop_map(Squeeze::Between),
        2 => (0u32..=1000).prop_map(Squeeze::PastDropped),
        1 => (-2i64..=2).prop_map(Squeeze::NearLeast),
        1 => (-2i64..=1).prop_map(Squeeze::NearFull),
    ]
}

impl Squeeze {
    fn limit(self, sizes: &Sizes, full: usize) -> usize {
        let least = sizes.least;
        let offset = |base: usize, delta: i64| base.saturating_add_signed(delta as isize);
        let between = |top: usize, p: u32| least + top.saturating_sub(least) * p as usize / 1000;
        match self {
            Self::OfFull(p) => full * p as usize / 1000,
            Self::Between(p) => between(full, p),
            Self::PastDropped(p) => between(full - sizes.dropped_data, p),
            Self::NearLeast(d) => offset(least, d),
            Self::NearFull(d) => offset(full, d),
        }
    }
}

/// Answer lengths, computed from the oracle and the unconstrained answer alone.
struct Sizes {
    /// Each record's unconstrained answer.
    full: Vec<usize>,
    /// Each record answered ProcessingFailed with its payload.
    failed: Vec<usize>,
    /// The smallest answer there is: dropped records without data, and each valid record
    /// ProcessingFailed with its original data unless that is larger than its Ok answer.
    least: usize,
    /// The data the dropped records carry, which the answer can give up first.
    dropped_data: usize,
}

fn sizes(expected: &[Expected], full_answers: &[Value]) -> Sizes {
    let full: Vec<usize> = full_answers.iter().map(json_len).collect();
    let failed: Vec<usize> = expected
        .iter()
        .map(|e| json_len(&plain_answer(e, "ProcessingFailed", &e.payload)))
        .collect();
    let least = answer_len(expected.iter().enumerate().map(|(i, e)| match e.result {
        "Ok" => full[i].min(failed[i]),
        "Dropped" => json_len(&plain_answer(e, "Dropped", "")),
        _ => full[i],
    }));
    let dropped_data = expected
        .iter()
        .filter(|e| e.result == "Dropped")
        .map(|e| e.payload.len())
        .sum();
    Sizes {
        full,
        failed,
        least,
        dropped_data,
    }
}

fn expectations(batch: &[Record], now_ms: i64) -> Vec<Expected> {
    let processed_at = written(now_ms);
    batch.iter().map(|r| expect(r, &processed_at)).collect()
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn every_record_is_answered_as_the_oracle_says(records in batch(0..24), now_ms in now()) {
        let text = event(&records);
        let out = run(&text, now_ms, LAMBDA_RESPONSE_LIMIT).unwrap();
        check_answers(&expectations(&records, now_ms), &answers(&out), &out)?;
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn the_size_guard_gives_up_only_what_it_must(
        records in batch(0..300),
        now_ms in now(),
        how in squeeze(),
    ) {
        let text = event(&records);
        let expected = expectations(&records, now_ms);
        let full = run(&text, now_ms, LAMBDA_RESPONSE_LIMIT).unwrap();
        check_answers(&expected, &answers(&full), &full)?;
        let limit = how.limit(&sizes(&expected, &answers(&full)), full.body.get().len());
        check_squeezed(&expected, &full, limit, run(&text, now_ms, limit))?;
    }
}

#[test]
fn a_fixed_seed_generates_the_same_batches() {
    let draw = || {
        let mut runner = TestRunner::new(config(1));
        (0..4)
            .map(|_| {
                format!(
                    "{:?}",
                    batch(0..24).new_tree(&mut runner).unwrap().current()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(), draw());
}

/// Where the transform departed from its documented behaviour, found by the properties above
/// and since fixed: they stay fixed.
#[test]
fn former_gaps_stay_fixed() {
    let click = |timestamp: &str, flag: &str| {
        let text = format!(
            r#"{{"timestamp":{timestamp},"user_id":1,"page_url":"/p","event_type":"click","anomaly_detected":{flag}}}"#
        );
        let record = format!(r#"{{"recordId":"r","data":"{}"}}"#, STANDARD.encode(text));
        let event =
            format!(r#"{{"invocationId":"i","deliveryStreamArn":"a","records":[{record}]}}"#);
        let out = run(&event, 1_700_000_000_000, LAMBDA_RESPONSE_LIMIT).unwrap();
        let data = answers(&out)[0]["data"].as_str().unwrap().to_owned();
        // Members keep `1e400` as written, where a `Value` would refuse it.
        let Members(members) = serde_json::from_slice(&STANDARD.decode(data).unwrap()).unwrap();
        let field = |name: &str| {
            let (_, value) = members.iter().find(|(k, _)| k == name).unwrap();
            value.get().to_owned()
        };
        (field("event_time"), field("is_anomaly"))
    };
    let mut gaps = Vec::new();
    // Epoch seconds with milliseconds: `n * 1000.0` then `floor` loses one for ~0.6% of them.
    for (seconds, want) in [
        ("2147483648.673", "\"2038-01-19T03:14:08.673Z\""),
        ("271041745.261", "\"1978-08-04T01:22:25.261Z\""),
    ] {
        let (got, _) = click(seconds, "false");
        if got != want {
            gaps.push(format!("timestamp {seconds}: event_time {got}, not {want}"));
        }
    }
    // A list holding `true` is truthy, whatever else it holds; 1.0000000000000000001 is not 1.
    for (flag, want) in [
        ("[true,1e400]", "true"),
        ("[1e400,\"TRUE\"]", "true"),
        ("1.0000000000000000001", "false"),
    ] {
        let (_, got) = click("1700000000", flag);
        if got != want {
            gaps.push(format!(
                "anomaly_detected {flag}: is_anomaly {got}, not {want}"
            ));
        }
    }
    assert!(gaps.is_empty(), "{gaps:#?}");
}
