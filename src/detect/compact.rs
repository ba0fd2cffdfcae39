//! Numbers stored with the precision they carry: the shared state is one DynamoDB item of at
//! most 400 KB, and a learned estimate that moves by a tenth of a percent a window does not
//! need the seventeen digits a double prints with.
//!
//! A number that single precision holds (finite, within its range) is written as a single; any
//! other (a score of 1e300 is possible on hostile input) as it is, so every stored number reads
//! back, and never as the `null` JSON gives a number it cannot write. The value kept in memory
//! is not rounded: the state read back differs from it in the eighth digit at most.

use serde::Serializer;

/// Writes `value` as a single-precision number where that holds it, as a double otherwise.
pub(crate) fn number<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    let single = *value as f32;
    if single.is_finite() && (single != 0.0 || *value == 0.0) {
        s.serialize_f32(single)
    } else {
        s.serialize_f64(*value)
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    #[derive(Serialize)]
    struct One(#[serde(serialize_with = "super::number")] f64);

    fn text(v: f64) -> String {
        serde_json::to_string(&One(v)).unwrap_or_default()
    }

    #[test]
    fn singles_where_they_hold_the_value_doubles_elsewhere() {
        assert_eq!(text(13.915_843_371_669_474), "13.915843");
        assert_eq!(text(0.0), "0.0");
        // Beyond single precision's range, or below its smallest: the double.
        assert_eq!(text(1e300), "1e+300");
        assert_eq!(text(1e-300), "1e-300");
        assert_eq!(text(f64::MAX), "1.7976931348623157e+308");
        // Every case reads back as a number.
        for v in [13.9, 1e300, 1e-300, f64::MAX, 0.0, 1e-12] {
            let back: f64 = serde_json::from_str(&text(v)).unwrap_or(f64::NAN);
            assert!((back - v).abs() <= v.abs() * 1e-6, "{v} -> {back}");
        }
    }
}
