//! What an alert needs to know of an invocation's anomalies, gathered one anomaly at a time.
//!
//! An alert reports a count, the highest score, the time span, the top pages and users and a
//! few examples; none of that needs every anomaly kept. A 6 MB direct event holds half a
//! million tiny anomalies, which as parsed values would not fit the function's 128 MB, so
//! anomalies are folded in here as they are read and then dropped. Only `replay`, which prints
//! every anomaly of an alert, asks for them all to be kept.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::anomaly::Anomaly;
use super::severity::max_score;

/// How many examples, top pages and top users the alert lists.
pub(crate) const LIST_MAX: usize = 5;
/// Distinct pages (and users) counted for the top lists; values first seen past this many are
/// not counted, which bounds memory whatever the anomalies hold and only matters when more
/// than this many distinct values compete for the top five.
const DISTINCT_MAX: usize = 1_000;

#[derive(Debug, Default)]
pub(crate) struct Digest {
    count: usize,
    max_score: Option<f64>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    pages: Counter,
    users: Counter,
    examples: Vec<Anomaly>,
    /// The detectors' own findings (every metric but `producer_flag`), highest score first:
    /// what the alert puts in words.
    findings: Vec<Anomaly>,
    /// Every anomaly, when asked for.
    all: Option<Vec<Anomaly>>,
}

impl Digest {
    pub(crate) fn new(keep_all: bool) -> Self {
        Self {
            all: keep_all.then(Vec::new),
            ..Self::default()
        }
    }

    pub(crate) fn add(&mut self, anomaly: Anomaly) {
        self.count += 1;
        self.max_score = max_score(self.max_score, anomaly.score);
        // The span an alert reports is when things happened: a window when there is one, the
        // detection time only for anomalies without one.
        let times = if anomaly.window_start.is_some() || anomaly.window_end.is_some() {
            [anomaly.window_start, anomaly.window_end]
        } else {
            [anomaly.detected_at, None]
        };
        for t in times.into_iter().flatten() {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if let Some(page) = &anomaly.page_url {
            self.pages.add(page);
        }
        if let Some(user) = &anomaly.user_id {
            self.users.add(user);
        }
        if anomaly
            .metric
            .as_deref()
            .is_some_and(|m| m != "producer_flag")
        {
            self.keep_finding(&anomaly);
        }
        if let Some(all) = &mut self.all {
            if self.examples.len() < LIST_MAX {
                self.examples.push(anomaly.clone());
            }
            all.push(anomaly);
        } else if self.examples.len() < LIST_MAX {
            self.examples.push(anomaly);
        }
    }

    fn keep_finding(&mut self, anomaly: &Anomaly) {
        let score = anomaly.score.unwrap_or(0.0);
        let at = self
            .findings
            .iter()
            .position(|f| f.score.unwrap_or(0.0) < score)
            .unwrap_or(self.findings.len());
        if at < LIST_MAX {
            self.findings.insert(at, anomaly.clone());
            self.findings.truncate(LIST_MAX);
        }
    }

    /// The detectors' findings worth saying in words, highest score first.
    pub(crate) fn findings(&self) -> &[Anomaly] {
        &self.findings
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn max_score(&self) -> Option<f64> {
        self.max_score
    }

    pub(crate) fn span(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.first, self.last)
    }

    pub(crate) fn top_pages(&self) -> Vec<(&str, usize)> {
        self.pages.top()
    }

    pub(crate) fn top_users(&self) -> Vec<(&str, usize)> {
        self.users.top()
    }

    pub(crate) fn examples(&self) -> &[Anomaly] {
        &self.examples
    }

    /// Whether every anomaly is kept.
    pub(crate) fn keeps_all(&self) -> bool {
        self.all.is_some()
    }

    /// Every anomaly, when the digest was asked to keep them.
    pub(crate) fn into_all(self) -> Vec<Anomaly> {
        self.all.unwrap_or_default()
    }
}

/// Counts of at most [`DISTINCT_MAX`] distinct values.
#[derive(Debug, Default)]
struct Counter(HashMap<String, usize>);

impl Counter {
    fn add(&mut self, value: &str) {
        if let Some(n) = self.0.get_mut(value) {
            *n += 1;
        } else if self.0.len() < DISTINCT_MAX {
            self.0.insert(value.to_owned(), 1);
        }
    }

    /// The most frequent values, most frequent first, ties by value.
    fn top(&self) -> Vec<(&str, usize)> {
        let mut ranked: Vec<(&str, usize)> = self.0.iter().map(|(v, n)| (v.as_str(), *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.truncate(LIST_MAX);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(page: &str, score: f64, at: &str) -> Anomaly {
        Anomaly {
            page_url: Some(page.into()),
            score: Some(score),
            detected_at: Some(at.parse().unwrap()),
            ..Anomaly::default()
        }
    }

    #[test]
    fn folds_counts_scores_span_and_tops_without_keeping_everything() {
        let mut d = Digest::new(false);
        for (i, page) in ["/a", "/b", "/a", "/c", "/a", "/b", "/d"]
            .iter()
            .enumerate()
        {
            d.add(anomaly(page, i as f64, &format!("2026-11-27T10:0{i}:00Z")));
        }
        assert_eq!(d.count(), 7);
        assert_eq!(d.max_score(), Some(6.0));
        let (first, last) = d.span();
        assert_eq!(first, Some("2026-11-27T10:00:00Z".parse().unwrap()));
        assert_eq!(last, Some("2026-11-27T10:06:00Z".parse().unwrap()));
        assert_eq!(d.top_pages()[..2], [("/a", 3), ("/b", 2)]);
        assert_eq!(d.examples().len(), LIST_MAX);
        assert!(d.into_all().is_empty());
    }

    #[test]
    fn keeps_every_anomaly_only_when_asked() {
        let mut d = Digest::new(true);
        for i in 0..8 {
            d.add(anomaly("/p", f64::from(i), "2026-11-27T10:00:00Z"));
        }
        assert_eq!(d.examples().len(), LIST_MAX);
        assert_eq!(d.into_all().len(), 8);
    }

    #[test]
    fn distinct_values_are_bounded() {
        let mut d = Digest::new(false);
        for i in 0..(DISTINCT_MAX + 500) {
            d.add(anomaly(&format!("/p{i}"), 1.0, "2026-11-27T10:00:00Z"));
        }
        assert_eq!(d.pages.0.len(), DISTINCT_MAX);
        assert_eq!(d.count(), DISTINCT_MAX + 500);
    }
}
