//! Alert severity: a message attribute that subscription filter policies select on (the
//! README's example sends SMS only for `{"severity": ["critical"]}`), so it must never
//! understate what an alert reports.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The documented rule: `critical` from 100 anomalies or a score of 5; `warning` from 10
    /// anomalies or a score of 3; `info` below.
    pub(crate) fn rate(count: usize, max_score: Option<f64>) -> Self {
        let score = max_score.unwrap_or(0.0);
        if count >= 100 || score >= 5.0 {
            Self::Critical
        } else if count >= 10 || score >= 3.0 {
            Self::Warning
        } else {
            Self::Info
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// The larger of two optional scores.
pub(crate) fn max_score(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_rule() {
        let cases = [
            (1, None, Severity::Info),
            (9, Some(2.99), Severity::Info),
            (10, None, Severity::Warning),
            (1, Some(3.0), Severity::Warning),
            (99, Some(4.9), Severity::Warning),
            (100, None, Severity::Critical),
            (1, Some(5.0), Severity::Critical),
        ];
        for (count, score, want) in cases {
            assert_eq!(Severity::rate(count, score), want, "{count} {score:?}");
        }
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(max_score(Some(1.0), None), Some(1.0));
        assert_eq!(max_score(Some(1.0), Some(4.0)), Some(4.0));
        assert_eq!(max_score(None, None), None);
    }
}
