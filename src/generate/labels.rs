//! The labels of a generated scenario: its parameters and every anomaly injected into its
//! traffic, written as JSON beside the traffic by `generate --labels` and read back by
//! `evaluate`; and the two small languages that say them on the command line, durations (`90s`,
//! `5m`, `1h30m`) and `--inject KIND:key=value,...`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::scenario::PAGES;

/// What kind of anomaly was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// One page at `factor` times its normal rate.
    Spike,
    /// One page silent (`factor` 0) or at `factor` of its normal rate.
    Drop,
    /// Every page at `factor` of its normal rate.
    SiteDrop,
    /// One user clicking `rate` times a second on one page.
    Bot,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Spike, Kind::Drop, Kind::SiteDrop, Kind::Bot];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Drop => "drop",
            Self::SiteDrop => "site-drop",
            Self::Bot => "bot",
        }
    }

    /// How long it lasts when `for` is not given: the lengths the quality targets are stated for.
    fn default_length(self) -> Duration {
        match self {
            Self::Spike => Duration::from_secs(180),
            Self::Drop | Self::SiteDrop => Duration::from_secs(300),
            Self::Bot => Duration::from_secs(120),
        }
    }

    /// The keys `--inject` takes for this kind, besides `at` and `for`.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Spike | Self::Drop => &["page", "factor"],
            Self::SiteDrop => &["factor"],
            Self::Bot => &["user", "rate", "page"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One injected anomaly, as the labels file holds it: `[start, end)` of event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Label {
    pub(crate) kind: Kind,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// The page, for `spike`, `drop` and `bot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) page: Option<String>,
    /// The bot's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<u32>,
    /// The multiplier of the normal rate, for `spike`, `drop` and `site-drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) factor: Option<f64>,
    /// The bot's clicks per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate: Option<f64>,
}

impl Label {
    /// Whether `at` falls inside `[start, end)`.
    pub(crate) fn covers(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// The labels file: what the traffic was, and what was injected into it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Labels<'a> {
    pub(crate) scenario: ScenarioParams,
    pub(crate) anomalies: &'a [Label],
}

/// The parameters a scenario was generated with, so that its labels say how to make it again.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScenarioParams {
    pub(crate) seed: u64,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) duration_seconds: u64,
    /// Mean clicks per second over a day.
    pub(crate) rate: f64,
    pub(crate) daily_amplitude: f64,
    /// The UTC hour the daily rhythm peaks at; it bottoms twelve hours later.
    pub(crate) daily_peak_hour_utc: u32,
    pub(crate) producer_flag_rate: f64,
    pub(crate) batch_seconds: u64,
    /// The normal users' ids, first and last.
    pub(crate) users: [u32; 2],
    pub(crate) pages: Vec<PageShare>,
    pub(crate) delivery_stream_arn: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PageShare {
    pub(crate) page: String,
    pub(crate) share: f64,
}

/// A duration that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a duration such as 90s, 5m, 24h, 1h30m or 2d")]
pub(crate) struct DurationError(String);

/// Reads a duration: whole numbers, each with its unit (`d`, `h`, `m`, `s`), largest first.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError(text.to_owned());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    let mut seconds: u64 = 0;
    let mut last_unit = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        let n: u64 = rest[..digits].parse().map_err(|_| error())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let unit = match &rest[digits..digits + unit_len] {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            _ => return Err(error()),
        };
        // `5m1h` is more likely a typo than a sum.
        if unit >= last_unit {
            return Err(error());
        }
        last_unit = unit;
        seconds = n
            .checked_mul(unit)
            .and_then(|s| s.checked_add(seconds))
            .ok_or_else(error)?;
        rest = &rest[digits + unit_len..];
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration as `parse_duration` reads it, shortest form.
pub(crate) fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")] {
        if s >= unit {
            out.push_str(&format!("{}{name}", s / unit));
            s %= unit;
        }
    }
    out
}

/// An `--inject` that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub(crate) enum SpecError {
    #[error("{0:?} is not KIND:key=value,... with KIND one of spike, drop, site-drop, bot")]
    Shape(String),
    #[error("{0:?} is not a kind of anomaly: spike, drop, site-drop or bot")]
    UnknownKind(String),
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    #[error("`{key}` does not apply to {kind} (it takes at, for, {takes})")]
    UnknownKey {
        kind: Kind,
        key: String,
        takes: String,
    },
    #[error("`{0}` is given twice")]
    Twice(String),
    #[error(
        "`at` is missing: when the anomaly starts, as a duration after --start (2h30m) or an RFC 3339 time"
    )]
    NoStart,
    #[error("`page` is missing: which page, /pagina-1 to /pagina-10")]
    NoPage,
    #[error("`at`: {0:?} is neither a duration after --start (2h30m) nor an RFC 3339 time")]
    BadStart(String),
    #[error("`for`: {0}")]
    BadLength(DurationError),
    #[error("`for` must be longer than 0s")]
    ZeroLength,
    #[error("`page`: {0:?} is not one of the lab's pages, /pagina-1 to /pagina-10 (or 1 to 10)")]
    BadPage(String),
    #[error("`user`: {0:?} is not a user id from 1 to 4294967295")]
    BadUser(String),
    #[error("`{key}`: {value:?} is not {expected}")]
    BadNumber {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// When an injection starts: after the scenario's start, or at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    After(Duration),
    Time(DateTime<Utc>),
}

/// One `--inject`, read before the scenario's start is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Injection {
    kind: Kind,
    at: At,
    length: Duration,
    /// A page number, 1 to 10.
    page: Option<usize>,
    user: Option<u32>,
    factor: Option<f64>,
    rate: Option<f64>,
}

/// The first bot's user id when `user` is not given: just past the normal users, so that its
/// clicks are told apart from theirs.
pub(crate) const FIRST_BOT_USER: u32 = 1001;

impl Injection {
    /// The label of this injection in a scenario starting at `start`; `bots_before` is how many
    /// bots come before it on the command line, so each default bot has its own user.
    pub(crate) fn label(&self, start: DateTime<Utc>, bots_before: u32) -> Label {
        // Out of range only past year 262143; the scenario then refuses the label as outside.
        let later = |t: DateTime<Utc>, d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| t.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let begin = match self.at {
            At::After(d) => later(start, d),
            At::Time(t) => t,
        };
        let page = |n: usize| {
            n.checked_sub(1)
                .and_then(|i| PAGES.get(i))
                .map(|p| (*p).to_owned())
        };
        let (page, user, factor, rate) = match self.kind {
            Kind::Spike => (
                self.page.and_then(page),
                None,
                Some(self.factor.unwrap_or(3.0)),
                None,
            ),
            Kind::Drop => (
                self.page.and_then(page),
                None,
                Some(self.factor.unwrap_or(0.0)),
                None,
            ),
            Kind::SiteDrop => (None, None, Some(self.factor.unwrap_or(0.5)), None),
            Kind::Bot => (
                page(self.page.unwrap_or(1)),
                Some(
                    self.user
                        .unwrap_or_else(|| FIRST_BOT_USER.saturating_add(bots_before)),
                ),
                None,
                Some(self.rate.unwrap_or(8.0)),
            ),
        };
        Label {
            kind: self.kind,
            start: begin,
            end: later(begin, self.length),
            page,
            user,
            factor,
            rate,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }
}

impl FromStr for Injection {
    type Err = SpecError;

    /// `KIND:key=value,...`: `at` (required), `for`, and by kind `page`, `factor`, `user`,
    /// `rate`.
    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let (kind, pairs) = spec
            .split_once(':')
            .ok_or_else(|| SpecError::Shape(spec.to_owned()))?;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind.trim())
            .ok_or_else(|| SpecError::UnknownKind(kind.to_owned()))?;
        let mut injection = Injection {
            kind,
            at: At::After(Duration::ZERO),
            length: kind.default_length(),
            page: None,
            user: None,
            factor: None,
            rate: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| SpecError::NotKeyValue(pair.to_owned()))?;
            let (key, value) = (key.trim(), value.trim());
            if !matches!(key, "at" | "for") && !kind.keys().contains(&key) {
                return Err(SpecError::UnknownKey {
                    kind,
                    key: key.to_owned(),
                    takes: kind.keys().join(", "),
                });
            }
            if seen.contains(&key) {
                return Err(SpecError::Twice(key.to_owned()));
            }
            seen.push(key);
            match key {
                "at" => injection.at = parse_at(value)?,
                "for" => {
                    injection.length = parse_duration(value).map_err(SpecError::BadLength)?;
                    if injection.length.is_zero() {
                        return Err(SpecError::ZeroLength);
                    }
                }
                "page" => injection.page = Some(parse_page(value)?),
                "user" => {
                    injection.user = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|u| *u > 0)
                            .ok_or_else(|| SpecError::BadUser(value.to_owned()))?,
                    );
                }
                "factor" => injection.factor = Some(factor(kind, value)?),
                _ => {
                    injection.rate = Some(number(value, "rate", "a rate above 0", |r| {
                        r > 0.0 && r <= 10_000.0
                    })?);
                }
            }
        }
        if !seen.contains(&"at") {
            return Err(SpecError::NoStart);
        }
        if matches!(kind, Kind::Spike | Kind::Drop) && injection.page.is_none() {
            return Err(SpecError::NoPage);
        }
        Ok(injection)
    }
}

fn parse_at(value: &str) -> Result<At, SpecError> {
    if let Ok(d) = parse_duration(value) {
        return Ok(At::After(d));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| At::Time(t.with_timezone(&Utc)))
        .map_err(|_| SpecError::BadStart(value.to_owned()))
}

/// A page number from `/pagina-N` or `N`.
fn parse_page(value: &str) -> Result<usize, SpecError> {
    let number = value.strip_prefix("/pagina-").unwrap_or(value);
    number
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=PAGES.len()).contains(n))
        .ok_or_else(|| SpecError::BadPage(value.to_owned()))
}

fn factor(kind: Kind, value: &str) -> Result<f64, SpecError> {
    match kind {
        Kind::Spike => number(value, "factor", "a factor above 1, at most 1000", |f| {
            f > 1.0 && f <= 1000.0
        }),
        _ => number(value, "factor", "a factor from 0 to below 1", |f| {
            (0.0..1.0).contains(&f)
        }),
    }
}

fn number(
    value: &str,
    key: &'static str,
    expected: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<f64, SpecError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && ok(*n))
        .ok_or_else(|| SpecError::BadNumber {
            key,
            value: value.to_owned(),
            expected,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn durations_read_and_print_alike() {
        let cases = [
            ("90s", 90),
            ("5m", 300),
            ("24h", 86_400),
            ("1h30m", 5_400),
            ("2d", 172_800),
            ("0s", 0),
            ("1d2h3m4s", 93_784),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
            assert_eq!(
                parse_duration(&format_duration(Duration::from_secs(secs))),
                Ok(Duration::from_secs(secs))
            );
        }
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "1.5h",
            "5m1h",
            "1h1h",
            "-5m",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn injections_take_their_defaults() {
        let spike: Injection = "spike:at=2h,page=/pagina-3".parse().unwrap();
        let label = spike.label(start(), 0);
        assert_eq!(label.kind, Kind::Spike);
        assert_eq!(
            label.start,
            "2026-01-01T02:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(label.end - label.start, chrono::Duration::minutes(3));
        assert_eq!(label.page.as_deref(), Some("/pagina-3"));
        assert_eq!(label.factor, Some(3.0));

        let drop = "drop:at=2026-01-01T05:00:00Z,page=9"
            .parse::<Injection>()
            .unwrap();
        let label = drop.label(start(), 0);
        assert_eq!(
            label.start,
            "2026-01-01T05:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(label.end - label.start, chrono::Duration::minutes(5));
        assert_eq!(
            (label.page.as_deref(), label.factor),
            (Some("/pagina-9"), Some(0.0))
        );

        let site = "site-drop:at=1h"
            .parse::<Injection>()
            .unwrap()
            .label(start(), 0);
        assert_eq!((site.page, site.factor), (None, Some(0.5)));

        let bot = "bot:at=10m,for=90s".parse::<Injection>().unwrap();
        let label = bot.label(start(), 2);
        assert_eq!(label.user, Some(FIRST_BOT_USER + 2));
        assert_eq!(label.rate, Some(8.0));
        assert_eq!(label.page.as_deref(), Some("/pagina-1"));
        assert_eq!(label.end - label.start, chrono::Duration::seconds(90));

        let bot = "bot: at=10m, user=77, rate=12.5, page=/pagina-4"
            .parse::<Injection>()
            .unwrap()
            .label(start(), 0);
        assert_eq!((bot.user, bot.rate), (Some(77), Some(12.5)));
        assert_eq!(bot.page.as_deref(), Some("/pagina-4"));
    }

    #[test]
    fn bad_injections_say_what_is_wrong() {
        type Check = fn(&SpecError) -> bool;
        let cases: [(&str, Check); 12] = [
            ("spike", |e| matches!(e, SpecError::Shape(_))),
            ("burst:at=1h", |e| matches!(e, SpecError::UnknownKind(_))),
            ("spike:at=1h,page", |e| {
                matches!(e, SpecError::NotKeyValue(_))
            }),
            ("site-drop:at=1h,page=3", |e| {
                matches!(e, SpecError::UnknownKey { .. })
            }),
            ("spike:at=1h,at=2h,page=1", |e| {
                matches!(e, SpecError::Twice(_))
            }),
            ("spike:page=1", |e| matches!(e, SpecError::NoStart)),
            ("drop:at=1h", |e| matches!(e, SpecError::NoPage)),
            ("spike:at=soon,page=1", |e| {
                matches!(e, SpecError::BadStart(_))
            }),
            ("spike:at=1h,page=11", |e| {
                matches!(e, SpecError::BadPage(_))
            }),
            ("spike:at=1h,page=1,factor=0.5", |e| {
                matches!(e, SpecError::BadNumber { key: "factor", .. })
            }),
            ("drop:at=1h,page=1,factor=1", |e| {
                matches!(e, SpecError::BadNumber { key: "factor", .. })
            }),
            ("bot:at=1h,for=0s", |e| matches!(e, SpecError::ZeroLength)),
        ];
        for (spec, expected) in cases {
            let e = spec.parse::<Injection>().unwrap_err();
            assert!(expected(&e), "{spec}: {e}");
        }
        assert!("bot:at=1h,user=0".parse::<Injection>().is_err());
        assert!("bot:at=1h,rate=NaN".parse::<Injection>().is_err());
    }

    #[test]
    fn labels_read_back_as_written() {
        let label = "bot:at=10m,user=7"
            .parse::<Injection>()
            .unwrap()
            .label(start(), 0);
        let text = serde_json::to_string(&label).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"bot","start":"2026-01-01T00:10:00Z","end":"2026-01-01T00:12:00Z","page":"/pagina-1","user":7,"rate":8.0}"#
        );
        assert_eq!(serde_json::from_str::<Label>(&text).unwrap(), label);
    }
}
