//! Per-user bursts (bots): a user with more clicks in a short span of event time than a person
//! makes. Stateless within a batch: a bot clicking 5 times a second shows up inside one 60 s
//! Firehose batch, so no memory across invocations is needed.
//!
//! Linear in the batch but for one sort: clicks are sorted by (user, time) and each user's run is
//! swept with two pointers, so 100,000 distinct users cost a sort of 100,000 small entries, not a
//! map of vectors. Only clicks of users who may have enough are sorted (counted by a hash of the
//! user first), and the sort puts that hash first: a run only needs one user's clicks together,
//! in time order, not the users in order, and integers compare faster than strings.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A valid click, as the burst detector sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserClick<'a> {
    /// The record's position in the batch.
    pub(crate) index: usize,
    pub(crate) user: &'a str,
    pub(crate) at: DateTime<Utc>,
    /// [`user_hash`] of `user`, computed once.
    key: u64,
}

impl<'a> UserClick<'a> {
    pub(crate) fn new(index: usize, user: &'a str, at: DateTime<Utc>) -> Self {
        Self {
            index,
            user,
            at,
            key: user_hash(user),
        }
    }
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
pub(crate) fn find<'a, I>(clicks: I, min_clicks: usize, span: Duration) -> Vec<Burst>
where
    I: IntoIterator<Item = UserClick<'a>>,
    I::IntoIter: ExactSizeIterator + Clone,
{
    let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
    let clicks = clicks.into_iter();
    // A user with fewer than `min_clicks` clicks in the batch cannot burst. Clicks are counted
    // per bucket of the user's hash, which over-counts (users share buckets) and so never
    // leaves out a user who could burst; only clicks of buckets that reach `min_clicks` are
    // kept, sorted and swept. A batch of people costs two passes, not a sort, and holds no
    // list of its clicks: the clicks are read twice from where they are rather than copied
    // (8,600 of them were 0.4 MB at the batch's peak of memory).
    let bits = clicks
        .len()
        .clamp(1024, 1 << 16)
        .next_power_of_two()
        .trailing_zeros();
    let buckets = 1 << bits;
    // The hash's high bits: its multiplication mixes every input bit into them.
    let bucket = |c: &UserClick<'_>| (c.key >> (64 - bits)) as usize;
    let mut counts = vec![0_u32; buckets];
    for c in clicks.clone() {
        counts[bucket(&c)] += 1;
    }
    let mut clicks: Vec<UserClick<'a>> = clicks
        .filter(|c| counts[bucket(c)] as usize >= min_clicks)
        .collect();
    let clicks = &mut clicks[..];
    // Users with the same hash are still told apart by their text: the hash only orders.
    clicks.sort_unstable_by(|a, b| {
        (a.key.cmp(&b.key))
            .then_with(|| a.user.cmp(b.user))
            .then(a.at.cmp(&b.at))
    });
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

/// A fast, fixed hash of a user id (FxHash's step over 8-byte words). It only orders the sort,
/// so it needs no protection against chosen collisions: they cost a string comparison each.
fn user_hash(user: &str) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = user.len() as u64;
    let mut words = user.as_bytes().chunks_exact(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut last = [0; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K)
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
            clicks.push(UserClick::new(clicks.len(), "777", at(i * 125)));
        }
        // A busy person: one click a second for a minute.
        for i in 0..60 {
            clicks.push(UserClick::new(clicks.len(), "42", at(i * 1000)));
        }
        // Just under: 49 clicks in 10 s, then a pause.
        for i in 0..49 {
            clicks.push(UserClick::new(clicks.len(), "49", at(i * 200)));
        }
        let bursts = find(clicks.iter().copied(), 50, Duration::from_secs(10));
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        let b = &bursts[0];
        assert_eq!(b.user, "777");
        assert_eq!(b.clicks, 160);
        assert_eq!((b.end - b.start).num_milliseconds(), 159 * 125);
        let mut records = b.records.clone();
        records.sort_unstable();
        assert_eq!(records, (0..160).collect::<Vec<_>>());
    }

    /// The bursts, each as (user, clicks, start, end, its records in order), sorted by user.
    type Found = Vec<(String, usize, DateTime<Utc>, DateTime<Utc>, Vec<usize>)>;

    fn canonical(bursts: Vec<Burst>) -> Found {
        let mut found: Found = bursts
            .into_iter()
            .map(|mut b| {
                b.records.sort_unstable();
                (b.user, b.clicks, b.start, b.end, b.records)
            })
            .collect();
        found.sort();
        found
    }

    /// The definition, plainly: per user, every click inside some span holding enough.
    fn by_definition(clicks: &[UserClick<'_>], min_clicks: usize, span_ms: i64) -> Found {
        let mut users: std::collections::BTreeMap<&str, Vec<&UserClick<'_>>> = Default::default();
        for c in clicks {
            users.entry(c.user).or_default().push(c);
        }
        let mut found = Found::new();
        for (user, mut mine) in users {
            mine.sort_by_key(|c| c.at);
            let inside: Vec<&UserClick<'_>> = mine
                .iter()
                .filter(|c| {
                    mine.iter().any(|first| {
                        let window = |x: &&&UserClick<'_>| {
                            x.at >= first.at && (x.at - first.at).num_milliseconds() < span_ms
                        };
                        window(c) && mine.iter().filter(window).count() >= min_clicks
                    })
                })
                .copied()
                .collect();
            if let (Some(head), Some(tail)) = (inside.first(), inside.last()) {
                let mut records: Vec<usize> = inside.iter().map(|c| c.index).collect();
                records.sort_unstable();
                found.push((user.to_owned(), inside.len(), head.at, tail.at, records));
            }
        }
        found
    }

    #[test]
    fn users_are_told_apart_whatever_their_ids_and_hashes() {
        // Ids of every length around the hash's 8-byte words, many sharing long prefixes.
        let mut rng = fastrand::Rng::with_seed(5);
        let ids: Vec<String> = (0..60)
            .map(|i| match i % 4 {
                0 => i.to_string(),
                1 => format!("user-{i:08}"),
                2 => format!("{}{i}", "x".repeat(i % 17)),
                _ => format!("session/{:016x}/{i}", i % 3),
            })
            .collect();
        let mut bursts = 0;
        for round in 0..20 {
            let clicks: Vec<UserClick<'_>> = (0..1_500)
                .map(|index| {
                    // A few users click fast, most slowly.
                    let user = &ids[rng.usize(0..ids.len())];
                    let fast = user.len() % 5 == round % 5;
                    let ms = rng.i64(0..if fast { 8_000 } else { 600_000 });
                    UserClick::new(index, user, at(ms))
                })
                .collect();
            let want = by_definition(&clicks, 12, 10_000);
            bursts += want.len();
            let mut shuffled = clicks.clone();
            rng.shuffle(&mut shuffled);
            let got = canonical(find(shuffled.iter().copied(), 12, Duration::from_secs(10)));
            assert_eq!(got, want, "round {round}");
        }
        assert!((100..1_000).contains(&bursts), "{bursts} bursts in all");
    }

    #[test]
    fn only_the_clicks_inside_a_burst_are_marked() {
        // A user who browses slowly, then bursts: the slow clicks are not part of it.
        let mut clicks: Vec<UserClick<'_>> = (0..10)
            .map(|i| UserClick::new(i, "u", at(i as i64 * 30_000)))
            .collect();
        for i in 0..50 {
            clicks.push(UserClick::new(10 + i, "u", at(400_000 + i as i64 * 100)));
        }
        let bursts = find(clicks.iter().copied(), 50, Duration::from_secs(10));
        assert_eq!(bursts[0].clicks, 50);
        assert!(bursts[0].records.iter().all(|i| *i >= 10));
    }
}
