//! The detectors' findings said in words, for the person on call: what happened first, then
//! the details. "clicks on /pagina-7: 96 per minute, expected 31 (3.1×), 10:02–10:05 UTC";
//! "user 777: 160 clicks in 20 s". No record ids or field dumps here: those stay in the
//! e-mail's examples.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::anomaly::Anomaly;
use super::sanitize::{number, unicode_text};

/// Longest page or user name put in a sentence.
const NAME_MAX: usize = 60;

/// The typography a sentence is written with: the e-mail takes Unicode, SMS and subjects take
/// plain ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Unicode,
    Ascii,
}

impl Style {
    fn times(self) -> &'static str {
        match self {
            Self::Unicode => "×",
            Self::Ascii => "x",
        }
    }

    fn dash(self) -> &'static str {
        match self {
            Self::Unicode => "–",
            Self::Ascii => "-",
        }
    }
}

/// What the detectors put in `details`, as far as words need it.
#[derive(Debug, Default, Deserialize)]
struct Details {
    direction: Option<String>,
    window_seconds: Option<u64>,
    seconds: Option<f64>,
}

/// `finding` in one sentence, or `None` for metrics without words (such as `producer_flag`).
pub(crate) fn sentence(finding: &Anomaly, style: Style) -> Option<String> {
    let details: Details = finding
        .details
        .as_ref()
        .and_then(|d| serde_json::from_str(d.get()).ok())
        .unwrap_or_default();
    match finding.metric.as_deref()? {
        "click_rate" => {
            let what = match &finding.page_url {
                Some(page) => format!("clicks on {}", unicode_text(page, NAME_MAX)),
                None => "clicks on the whole site".to_owned(),
            };
            Some(rate(&what, finding, &details, style))
        }
        "distinct_users" => Some(rate("distinct users", finding, &details, style)),
        "user_burst" => {
            let user = unicode_text(finding.user_id.as_deref()?, NAME_MAX);
            let clicks = number(finding.value?);
            let seconds = details
                .seconds
                .map_or_else(String::new, |s| format!(" in {} s", number(s.round())));
            Some(format!("user {user}: {clicks} clicks{seconds}"))
        }
        _ => None,
    }
}

fn rate(what: &str, f: &Anomaly, details: &Details, style: Style) -> String {
    let per = match details.window_seconds {
        Some(60) | None => "per minute".to_owned(),
        Some(s) if s % 60 == 0 => format!("per {} minutes", s / 60),
        Some(s) => format!("per {s} s"),
    };
    let mut text = format!("{what}: {} {per}", number(f.value.unwrap_or(0.0).round()));
    if let Some(expected) = f.expected {
        text.push_str(&format!(", expected {}", number(expected.round())));
        if expected > 0.0 {
            let ratio = f.value.unwrap_or(0.0) / expected;
            text.push_str(&format!(
                " ({}{})",
                number((ratio * 10.0).round() / 10.0),
                style.times()
            ));
        }
    }
    if let Some(direction) = &details.direction
        && direction == "drop"
        && f.value == Some(0.0)
    {
        text.push_str(", silent");
    }
    if let (Some(start), Some(end)) = (f.window_start, f.window_end) {
        text.push_str(&format!(", {}", span(start, end, style)));
    }
    text
}

fn span(start: DateTime<Utc>, end: DateTime<Utc>, style: Style) -> String {
    format!(
        "{}{}{} UTC",
        start.format("%H:%M"),
        style.dash(),
        end.format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details(v: serde_json::Value) -> Option<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(&v).ok()
    }

    #[test]
    fn each_metric_reads_as_a_sentence() {
        let page = Anomaly {
            metric: Some("click_rate".into()),
            page_url: Some("/pagina-7".into()),
            value: Some(96.0),
            expected: Some(31.2),
            score: Some(12.0),
            window_start: Some("2026-11-27T10:02:00Z".parse().unwrap()),
            window_end: Some("2026-11-27T10:05:00Z".parse().unwrap()),
            details: details(json!({"direction": "spike", "window_seconds": 60})),
            ..Anomaly::default()
        };
        assert_eq!(
            sentence(&page, Style::Unicode).unwrap(),
            "clicks on /pagina-7: 96 per minute, expected 31 (3.1×), 10:02–10:05 UTC"
        );
        assert_eq!(
            sentence(&page, Style::Ascii).unwrap(),
            "clicks on /pagina-7: 96 per minute, expected 31 (3.1x), 10:02-10:05 UTC"
        );
        let site = Anomaly {
            page_url: None,
            value: Some(290.0),
            expected: Some(600.0),
            details: details(json!({"direction": "drop", "window_seconds": 300})),
            ..page.clone()
        };
        assert_eq!(
            sentence(&site, Style::Unicode).unwrap(),
            "clicks on the whole site: 290 per 5 minutes, expected 600 (0.5×), 10:02–10:05 UTC"
        );
        let silent = Anomaly {
            value: Some(0.0),
            details: details(json!({"direction": "drop", "window_seconds": 60})),
            ..page.clone()
        };
        assert!(
            sentence(&silent, Style::Unicode)
                .unwrap()
                .contains("(0×), silent")
        );
        let users = Anomaly {
            metric: Some("distinct_users".into()),
            page_url: None,
            ..page.clone()
        };
        assert!(
            sentence(&users, Style::Unicode)
                .unwrap()
                .starts_with("distinct users: 96 per minute")
        );
        let bot = Anomaly {
            metric: Some("user_burst".into()),
            user_id: Some("777".into()),
            value: Some(160.0),
            details: details(json!({"seconds": 19.875, "clicks_per_second": 8.05})),
            ..Anomaly::default()
        };
        assert_eq!(
            sentence(&bot, Style::Ascii).unwrap(),
            "user 777: 160 clicks in 20 s"
        );
        let flag = Anomaly {
            metric: Some("producer_flag".into()),
            ..Anomaly::default()
        };
        assert_eq!(sentence(&flag, Style::Unicode), None);
    }
}
