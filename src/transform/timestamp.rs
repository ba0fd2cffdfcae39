//! Reading the many ways producers write a moment in time, and writing it back one way.
//!
//! Everything the function emits (`event_time`, `arrival_time`, `processed_at`) is RFC 3339 in
//! UTC with exactly three fractional digits and a `Z`, because that sorts lexically, parses in
//! Athena and Glue without a custom format, and makes the partition keys a plain slice of it.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};
use thiserror::Error;

/// Epoch numbers below this are seconds, at or above it milliseconds. 10^11 seconds is the year
/// 5138 and 10^11 milliseconds is March 1973, so neither reading is plausible on the other side.
pub(crate) const EPOCH_MILLIS_THRESHOLD: f64 = 100_000_000_000.0;

/// Why a `timestamp` value could not become an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum TimestampError {
    #[error("timestamp is not RFC 3339 or ISO 8601")]
    Unparseable,
    /// Second 60 outside the last minute of 30 June or 31 December (UTC), the only minutes a
    /// leap second can end: chrono accepts `:60` anywhere, which would put two instants on one
    /// written time.
    #[error(
        "timestamp has second 60, which only a leap-second minute (23:59 UTC on 30 June or 31 December) has"
    )]
    SecondSixty,
    #[error("timestamp is not a finite epoch number")]
    NotAnEpoch,
    /// A valid instant outside the years 0000–9999, which RFC 3339 cannot write.
    #[error("timestamp is outside the years 0000-9999")]
    OutOfRange,
    #[error("timestamp is neither a string nor a number")]
    WrongType,
}

/// Parses a `timestamp` field as it appears in the record: `text` is its raw JSON text.
///
/// Accepted: RFC 3339 with any offset; ISO 8601 date-time without offset, taken as UTC (Python's
/// `datetime.now().isoformat()`, which the lab's producer sends); epoch seconds or milliseconds
/// as a JSON number, integer or fractional.
pub(crate) fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    match text.as_bytes().first() {
        Some(b'"') => {
            // Borrowed unless the string holds escapes: no allocation per record.
            let s = super::fields::json_string(text).ok_or(TimestampError::Unparseable)?;
            parse_text(&s)
        }
        Some(b'-' | b'0'..=b'9') => {
            let n: f64 = text.parse().map_err(|_| TimestampError::NotAnEpoch)?;
            match exact_epoch_millis(text, n) {
                Some(ms) => from_epoch_millis(ms).ok_or(TimestampError::OutOfRange),
                None => from_epoch_number(n),
            }
        }
        _ => Err(TimestampError::WrongType),
    }
}

/// [`parse_timestamp`], and the instant as [`millis`] writes it. For the lab producer's form
/// the text is cut from the input instead (the same 24 bytes, tested below): turning the
/// instant back into digits was 1.5 % of a batch's instructions.
pub(crate) fn parse_timestamp_millis(
    text: &str,
) -> Result<(DateTime<Utc>, Millis), TimestampError> {
    // A string with escapes is not this form (a backslash is no digit): it takes the long way.
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    if let Some((instant, s)) = inner.and_then(|s| Some((iso_naive(s)?, s))) {
        return Ok((instant, iso_millis(s)));
    }
    let instant = parse_timestamp(text)?;
    Ok((instant, millis(&instant)))
}

/// What [`millis`] writes for a string [`iso_naive`] accepted: its first 19 bytes, and the
/// first three digits of its fraction, padded with zeros (truncated, as `millis` does).
fn iso_millis(s: &str) -> Millis {
    let b = s.as_bytes();
    let mut out = MILLIS_LAYOUT;
    if let (Some(head), Some(out_head)) = (b.get(..19), out.get_mut(..19)) {
        out_head.copy_from_slice(head);
    }
    let digits = b.get(20..).unwrap_or_default();
    let n = digits.len().min(3);
    out[20..20 + n].copy_from_slice(&digits[..n]);
    Millis::Inline(Ascii(out))
}

/// Parses a date-time string: RFC 3339 first, then an offset-less ISO 8601 form taken as UTC.
pub(crate) fn parse_text(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    // The lab producer's form, read directly: 8 % of a batch's instructions went into chrono's
    // general parser failing RFC 3339 and then reading the ISO form. Same result, tested below.
    if let Some(instant) = iso_naive(s) {
        return Ok(instant);
    }
    parse_text_general(s)
}

/// `YYYY-MM-DDTHH:MM:SS` with an optional fraction of 1 to 9 digits and no offset (Python's
/// `isoformat()`), taken as UTC; `None` for anything else, second 60 included, which
/// [`parse_text_general`] then reads or refuses. Four-digit years are always in range.
fn iso_naive(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let (head, fraction) = b.split_at_checked(19)?;
    if [head[4], head[7], head[10], head[13], head[16]] != *b"--T::" {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0_u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nano = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10_u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let second = number(&head[17..19])?;
    if second >= 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        number(&head[0..4])? as i32,
        number(&head[5..7])?,
        number(&head[8..10])?,
    )?;
    let time =
        NaiveTime::from_hms_nano_opt(number(&head[11..13])?, number(&head[14..16])?, second, nano)?;
    Some(date.and_time(time).and_utc())
}

/// Every accepted string form, through chrono.
fn parse_text_general(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    let instant = match DateTime::parse_from_rfc3339(s) {
        Ok(with_offset) => with_offset.with_timezone(&Utc),
        Err(_) => naive(s).ok_or(TimestampError::Unparseable)?.and_utc(),
    };
    if instant.nanosecond() >= 1_000_000_000 && !in_leap_second_minute(&instant) {
        return Err(TimestampError::SecondSixty);
    }
    in_range(instant)
}

/// 23:59 UTC on 30 June or 31 December, where IERS inserts leap seconds.
fn in_leap_second_minute(t: &DateTime<Utc>) -> bool {
    (t.hour(), t.minute()) == (23, 59) && matches!((t.month(), t.day()), (6, 30) | (12, 31))
}

fn naive(s: &str) -> Option<NaiveDateTime> {
    // `FromStr` for NaiveDateTime takes `T` as separator and any fraction; Python's isoformat()
    // may also have been called with sep=' ', which costs one more attempt only on that path.
    s.parse::<NaiveDateTime>()
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

/// Interprets an epoch number: below [`EPOCH_MILLIS_THRESHOLD`] seconds, otherwise milliseconds.
pub(crate) fn from_epoch_number(n: f64) -> Result<DateTime<Utc>, TimestampError> {
    if !n.is_finite() {
        return Err(TimestampError::NotAnEpoch);
    }
    let millis = if n.abs() < EPOCH_MILLIS_THRESHOLD {
        n * 1000.0
    } else {
        n
    };
    // Beyond ±2^53 an f64 no longer holds whole milliseconds; such values are far outside the
    // representable years anyway, so range-check before the cast instead of saturating.
    if millis.abs() > 9_007_199_254_740_992.0 {
        return Err(TimestampError::OutOfRange);
    }
    from_epoch_millis(millis.floor() as i64).ok_or(TimestampError::OutOfRange)
}

/// Epoch milliseconds from a plain decimal (`1700000000.673`, no exponent) read digit by digit:
/// `n * 1000.0` in binary floating point turns .673 into .672999… for about one value in 200,
/// and the floor then loses a millisecond. `None` for other forms, which take the f64 path.
fn exact_epoch_millis(text: &str, n: f64) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || whole.len() > 15
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let seconds = n.abs() < EPOCH_MILLIS_THRESHOLD;
    // The digits below a millisecond (or below the unit, for milliseconds) only decide the floor.
    let kept = if seconds { 3 } else { 0 };
    let head: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(kept)
        .collect();
    let rest_nonzero = fraction.bytes().skip(kept).any(|b| b != b'0');
    let mut millis = if seconds {
        whole
            .checked_mul(1000)?
            .checked_add(head.parse::<i64>().unwrap_or(0))?
    } else {
        whole
    };
    if negative {
        millis = -millis - i64::from(rest_nonzero);
    }
    Some(millis)
}

/// An instant from epoch milliseconds, if RFC 3339 can write it.
pub(crate) fn from_epoch_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).and_then(|t| in_range(t).ok())
}

fn in_range(t: DateTime<Utc>) -> Result<DateTime<Utc>, TimestampError> {
    if (0..=9999).contains(&t.year()) {
        Ok(t)
    } else {
        Err(TimestampError::OutOfRange)
    }
}

/// `2026-11-27T21:56:24.123Z`: RFC 3339, UTC, milliseconds (truncated), `Z`.
///
/// Written digit by digit (chrono's formatter cost 5 % of a batch's instructions for the two
/// calls per record); chrono still writes a leap second and years outside 0000–9999, which
/// never come from the parsers here.
pub(crate) fn format_millis(t: &DateTime<Utc>) -> String {
    millis(t).as_str().to_owned()
}

/// A time as [`format_millis`] writes it, kept inline: a record's `event_time` and
/// `arrival_time` are two of these, and were two allocations per record as `String`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Millis {
    /// A year from 0000 to 9999.
    Inline(Ascii),
    /// Anything else, as chrono writes it.
    Other(String),
}

/// The 24 ASCII bytes of an inline [`Millis`]; only [`millis`] makes one (the field is private
/// to this module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ascii([u8; 24]);

impl Millis {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Inline(Ascii(bytes)) => {
                debug_assert!(bytes.is_ascii());
                // SAFETY: `millis`, the only maker of an `Ascii`, writes ASCII digits and
                // separators, and ASCII is UTF-8. std's check of these 24 bytes, three times a
                // record, was 2.6 % of a batch's instructions (unaligned, byte by byte).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Self::Other(text) => text,
        }
    }
}

/// What [`millis`] fills in, digit by digit.
const MILLIS_LAYOUT: [u8; 24] = *b"0000-00-00T00:00:00.000Z";

/// `t` as [`format_millis`] writes it, without allocating for the usual years.
pub(crate) fn millis(t: &DateTime<Utc>) -> Millis {
    // Each field read once from the naive date and time: `DateTime`'s own accessors convert
    // to local time on every call.
    let (date, time) = (t.date_naive(), t.time());
    let (year, nano) = (date.year(), time.nanosecond());
    let other = || Millis::Other(t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let Ok(year) = u32::try_from(year) else {
        return other();
    };
    if year > 9999 || nano >= 1_000_000_000 {
        return other();
    }
    let mut out = MILLIS_LAYOUT;
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, date.month());
    put(8, 2, date.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    put(17, 2, time.second());
    put(20, 3, nano / 1_000_000);
    Millis::Inline(Ascii(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// `s` checked to be one JSON value, as a field's raw text always is.
    fn raw(s: &str) -> String {
        RawValue::from_string(s.to_owned())
            .unwrap()
            .get()
            .to_owned()
    }

    fn parsed(s: &str) -> Result<String, TimestampError> {
        parse_timestamp(&raw(s)).map(|t| format_millis(&t))
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            // Python's datetime.now().isoformat(), the lab producer's form: taken as UTC.
            (
                r#""2026-11-27T10:15:30.123456""#,
                "2026-11-27T10:15:30.123Z",
            ),
            (r#""2026-11-27T10:15:30""#, "2026-11-27T10:15:30.000Z"),
            (r#""2026-11-27 10:15:30.5""#, "2026-11-27T10:15:30.500Z"),
            (r#""2026-11-27T10:15:30Z""#, "2026-11-27T10:15:30.000Z"),
            (
                r#""2026-11-27T10:15:30.999999999z""#,
                "2026-11-27T10:15:30.999Z",
            ),
            (r#""2026-11-27T10:15:30+02:00""#, "2026-11-27T08:15:30.000Z"),
            (
                r#""2026-11-27T23:15:30.1-03:30""#,
                "2026-11-28T02:45:30.100Z",
            ),
            (
                r#""2026-11-27T10:15:30\u002b00:00""#,
                "2026-11-27T10:15:30.000Z",
            ),
            // Epoch seconds, integer and fractional.
            ("1700000000", "2023-11-14T22:13:20.000Z"),
            ("1700000000.25", "2023-11-14T22:13:20.250Z"),
            ("0", "1970-01-01T00:00:00.000Z"),
            // The threshold: just below is seconds, at it milliseconds.
            ("99999999999", "5138-11-16T09:46:39.000Z"),
            ("100000000000", "1973-03-03T09:46:40.000Z"),
            // Epoch milliseconds.
            ("1700000000123", "2023-11-14T22:13:20.123Z"),
            ("1.700000000123e12", "2023-11-14T22:13:20.123Z"),
            // Decimal digits are read exactly: f64 arithmetic would give .672 and .260.
            ("2147483648.673", "2038-01-19T03:14:08.673Z"),
            ("271041745.261", "1978-08-04T01:22:25.261Z"),
            ("-1.5", "1969-12-31T23:59:58.500Z"),
            ("-0.0001", "1969-12-31T23:59:59.999Z"),
            ("1700000000123.9", "2023-11-14T22:13:20.123Z"),
            // A leap second where one can be: 31 December and 30 June, 23:59:60 UTC.
            (r#""2016-12-31T23:59:60Z""#, "2016-12-31T23:59:60.000Z"),
            (
                r#""2015-07-01T01:59:60.5+02:00""#,
                "2015-06-30T23:59:60.500Z",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parsed(input).as_deref(), Ok(want), "input {input}");
        }
    }

    #[test]
    fn rejected_forms() {
        let cases = [
            (r#""yesterday""#, TimestampError::Unparseable),
            (r#""""#, TimestampError::Unparseable),
            (r#""2026-13-01T00:00:00""#, TimestampError::Unparseable),
            (r#""2026-11-27""#, TimestampError::Unparseable),
            (r#""2026-11-27T10:15:60""#, TimestampError::SecondSixty),
            (r#""2026-11-27T10:15:60Z""#, TimestampError::SecondSixty),
            (
                r#""2026-06-30T23:59:60+01:00""#,
                TimestampError::SecondSixty,
            ),
            (r#""2026-11-27 10:15:60.5""#, TimestampError::SecondSixty),
            (r#""1700000000""#, TimestampError::Unparseable),
            ("1e300", TimestampError::OutOfRange),
            ("-1e17", TimestampError::OutOfRange),
            ("true", TimestampError::WrongType),
            ("null", TimestampError::WrongType),
            ("[1700000000]", TimestampError::WrongType),
            (r#"{"s":1}"#, TimestampError::WrongType),
        ];
        for (input, want) in cases {
            assert_eq!(parsed(input), Err(want), "input {input}");
        }
    }

    #[test]
    fn the_direct_paths_agree_with_chrono() {
        let mut rng = fastrand::Rng::with_seed(9);
        // Writing: instants across the years RFC 3339 can write, with sub-millisecond parts,
        // and leap seconds (which chrono still writes).
        let last = 253_402_300_799_999_i64; // 9999-12-31T23:59:59.999Z
        for i in 0..20_000 {
            let ms = match i {
                0 => 0,
                1 => last,
                2 => -62_167_219_200_000, // 0000-01-01T00:00:00.000Z
                _ => rng.i64(-62_167_219_200_000..=last),
            };
            let t = DateTime::from_timestamp_millis(ms).unwrap();
            let t = t
                .with_nanosecond(t.nanosecond() + rng.u32(0..1_000_000))
                .unwrap();
            let general = t.to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(format_millis(&t), general);
            if i % 100 == 0 {
                let leap = t.with_nanosecond(1_000_000_000 + rng.u32(0..999_999_999));
                if let Some(leap) = leap {
                    let general = leap.to_rfc3339_opts(SecondsFormat::Millis, true);
                    assert_eq!(format_millis(&leap), general);
                }
            }
        }
        // Reading: the ISO form with every field in and out of range, fractions of 0 to 12
        // digits, and single bytes changed; whatever the direct path reads, chrono reads alike,
        // and whatever it leaves, the general path still decides.
        let digits = |rng: &mut fastrand::Rng, n: usize| -> String {
            (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
        };
        let mut direct = 0;
        for i in 0..50_000 {
            let mut s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                rng.u32(0..10_000),
                rng.u32(0..14),
                rng.u32(0..33),
                rng.u32(0..26),
                rng.u32(0..62),
                rng.u32(0..62),
            );
            match rng.usize(0..14) {
                0 => {}
                n @ 1..=12 => s.push_str(&format!(".{}", digits(&mut rng, n))),
                _ => s.push('.'),
            }
            if i % 5 == 0 {
                let mut bytes = s.into_bytes();
                let at = rng.usize(0..bytes.len());
                bytes[at] = b"0123456789-:T .Zz+"[rng.usize(0..18)];
                s = String::from_utf8(bytes).unwrap();
            }
            let got = iso_naive(&s);
            if got.is_some() {
                direct += 1;
                assert_eq!(
                    got.ok_or(TimestampError::Unparseable),
                    parse_text_general(&s),
                    "{s}"
                );
            }
            assert_eq!(parse_text(&s), parse_text_general(&s), "{s}");
        }
        assert!(direct > 5_000, "{direct} read directly");
    }

    #[test]
    fn the_producers_form_is_cut_to_what_millis_writes() {
        let mut cases = Vec::new();
        for date in [
            "0000-01-01",
            "1970-01-01",
            "2024-02-29",
            "2026-11-27",
            "9999-12-31",
        ] {
            for time in ["00:00:00", "10:15:30", "23:59:59"] {
                cases.push(format!("{date}T{time}"));
                for len in 1..=9 {
                    let fraction: String = "987654321".chars().take(len).collect();
                    cases.push(format!("{date}T{time}.{fraction}"));
                    cases.push(format!("{date}T{time}.{}", "0".repeat(len)));
                }
            }
        }
        for case in cases {
            let (instant, text) = parse_timestamp_millis(&raw(&format!("\"{case}\""))).unwrap();
            assert_eq!(text, millis(&instant), "{case}");
            assert_eq!(Ok(instant), parse_text(&case), "{case}");
        }
        // Other forms and refusals come out as parse_timestamp says.
        for other in [
            "\"2026-11-27T10:15:30Z\"",
            "\"2026-11-27T10:15:3\\u0030\"",
            "1764238531000",
            "\"2026-02-30T00:00:00\"",
            "\"2026-06-30T23:59:60\"",
            "true",
        ] {
            let got = parse_timestamp_millis(&raw(other));
            let want = parse_timestamp(&raw(other)).map(|t| (t, millis(&t)));
            assert_eq!(got, want, "{other}");
        }
    }

    #[test]
    fn epoch_millis_outside_rfc3339_years_are_refused() {
        assert!(from_epoch_millis(253_402_300_799_999).is_some()); // 9999-12-31T23:59:59.999Z
        assert!(from_epoch_millis(253_402_300_800_000).is_none());
        assert!(from_epoch_millis(i64::MAX).is_none());
        assert!(from_epoch_millis(i64::MIN).is_none());
    }
}
