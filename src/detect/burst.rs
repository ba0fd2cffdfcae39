//! Per-user bursts (bots): a user with more clicks in a short span of event time than a person
//! makes. Stateless within a batch: a bot clicking 5 times a second shows up inside one 60 s
//! Firehose batch, so no memory across invocations is needed.
//!
//! Linear in the batch but for one sort: clicks are sorted by (user, time) and each user's run is
//! swept with two pointers, so 100,000 distinct users cost a sort of 100,000 small entries, not a
//! map of vectors.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A valid click, as the burst detector sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserClick<'a> {
    /// The record's position in the batch.
    pub(crate) index: usize,
    pub(crate) user: &'a str,
    pub(crate) at: DateTime<Utc>,
}

/// One user's burst in a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Burst {
    pub(crate) user: String,
    /// Clicks inside the burst: every click that falls in some span holding enough.
    pub(crate) clicks: usize,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// The batch positions of those clicks.
    pub(crate) records: Vec<usize>,
}

/// Finds every user with at least `min_clicks` clicks within some `span` of event time.
pub(crate) fn find(clicks: &mut [UserClick<'_>], min_clicks: usize, span: Duration) -> Vec<Burst> {
    let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
    clicks.sort_unstable_by(|a, b| a.user.cmp(b.user).then(a.at.cmp(&b.at)));
    let mut bursts = Vec::new();
    for run in clicks.chunk_by(|a, b| a.user == b.user) {
        if run.len() < min_clicks {
            continue;
        }
        let mut in_burst = vec![false; run.len()];
        let mut first = 0;
        let mut marked_until = 0;
        for last in 0..run.len() {
            while (run[last].at - run[first].at).num_milliseconds() >= span_ms {
                first += 1;
            }
            if last + 1 - first >= min_clicks {
                for flag in &mut in_burst[first.max(marked_until)..=last] {
                    *flag = true;
                }
                marked_until = last + 1;
            }
        }
        let members: Vec<&UserClick<'_>> = run
            .iter()
            .zip(&in_burst)
            .filter(|(_, b)| **b)
            .map(|(c, _)| c)
            .collect();
        if let (Some(head), Some(tail)) = (members.first(), members.last()) {
            bursts.push(Burst {
                user: head.user.to_owned(),
                clicks: members.len(),
                start: head.at,
                end: tail.at,
                records: members.iter().map(|c| c.index).collect(),
            });
        }
    }
    bursts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Span;

    fn at(ms: i64) -> DateTime<Utc> {
        "2026-11-27T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Span::milliseconds(ms)
    }

    #[test]
    fn five_clicks_a_second_for_ten_seconds_is_a_burst_and_a_person_is_not() {
        let mut clicks = Vec::new();
        // The bot: 160 clicks, one every 125 ms (8 a second), for 20 s.
        for i in 0..160 {
            clicks.push(UserClick {
                index: clicks.len(),
                user: "777",
                at: at(i * 125),
            });
        }
        // A busy person: one click a second for a minute.
        for i in 0..60 {
            clicks.push(UserClick {
                index: clicks.len(),
                user: "42",
                at: at(i * 1000),
            });
        }
        // Just under: 49 clicks in 10 s, then a pause.
        for i in 0..49 {
            clicks.push(UserClick {
                index: clicks.len(),
                user: "49",
                at: at(i * 200),
            });
        }
        let bursts = find(&mut clicks, 50, Duration::from_secs(10));
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        let b = &bursts[0];
        assert_eq!(b.user, "777");
        assert_eq!(b.clicks, 160);
        assert_eq!((b.end - b.start).num_milliseconds(), 159 * 125);
        let mut records = b.records.clone();
        records.sort_unstable();
        assert_eq!(records, (0..160).collect::<Vec<_>>());
    }

    #[test]
    fn only_the_clicks_inside_a_burst_are_marked() {
        // A user who browses slowly, then bursts: the slow clicks are not part of it.
        let mut clicks: Vec<UserClick<'_>> = (0..10)
            .map(|i| UserClick {
                index: i,
                user: "u",
                at: at(i as i64 * 30_000),
            })
            .collect();
        for i in 0..50 {
            clicks.push(UserClick {
                index: 10 + i,
                user: "u",
                at: at(400_000 + i as i64 * 100),
            });
        }
        let bursts = find(&mut clicks, 50, Duration::from_secs(10));
        assert_eq!(bursts[0].clicks, 50);
        assert!(bursts[0].records.iter().all(|i| *i >= 10));
    }
}
