//! Click rates across batches: per event-time window, the site's clicks, each tracked page's
//! clicks and the distinct users, each series scored once the window has closed by its own
//! [`SeriesDetector`] (a rate model and its episodes), the one `detect` runs on a CSV series.
//!
//! Windows are counted in event time, so a batch that Firehose held for a minute counts where
//! its clicks belong. A window closes when the latest event time seen passes its end plus the
//! allowed lateness; clicks for a window already closed are counted as late and left out. The
//! watermark never runs more than [`FUTURE_SKEW`] ahead of the invocation's clock, so one click
//! stamped next year cannot close every window at once; and a gap longer than [`MAX_GAP`]
//! windows (traffic that stopped and came back) is skipped rather than scored window by window.
//!
//! Memory is bounded whatever producers send: at most a few open windows, each holding counts
//! for at most [`CANDIDATES_MAX`] pages and one distinct-count sketch of a few KiB; models for the
//! tracked pages only.

use std::collections::{BTreeMap, HashMap};

use cardinality_estimator::CardinalityEstimator;
use chrono::{DateTime, Duration, Utc};

use super::episode::Episode;
use super::model::ModelParams;
use super::page::{OTHER_PAGES, normalize};
use super::series::SeriesDetector;
use super::settings::DetectSettings;

/// How far ahead of the invocation's clock event time may run.
const FUTURE_SKEW: Duration = Duration::seconds(60);
/// Closed windows scored per invocation at most; a longer gap is skipped.
const MAX_GAP: i64 = 60;
/// Pages whose activity is counted, the tracked ones among them.
const CANDIDATES_MAX: usize = 1_000;
/// How fast a page's activity forgets, per window.
const ACTIVITY_DECAY: f64 = 0.95;

/// One valid click, as the rate detector sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateClick<'a> {
    pub(crate) at: DateTime<Utc>,
    pub(crate) user: &'a str,
    pub(crate) page: &'a str,
}

/// Which series a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SeriesKey {
    Site,
    DistinctUsers,
    Page(String),
}

/// A newly opened episode of one series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateFinding {
    pub(crate) series: SeriesKey,
    pub(crate) episode: Episode,
}

/// What one window held.
#[derive(Debug, Default)]
struct WindowCounts {
    site: u64,
    users: CardinalityEstimator<str>,
    pages: HashMap<String, u64>,
    other: u64,
}

#[derive(Debug, Default)]
struct Page {
    activity: f64,
    series: Option<SeriesDetector>,
}

/// The rate detector's state for one stream, held in the warm container.
#[derive(Debug, Default)]
pub(crate) struct RateDetector {
    open: BTreeMap<i64, WindowCounts>,
    /// The first window not yet scored.
    next: Option<i64>,
    watermark: Option<DateTime<Utc>>,
    site: SeriesDetector,
    users: SeriesDetector,
    other: SeriesDetector,
    pages: HashMap<String, Page>,
    /// Clicks that came after their window was scored.
    pub(crate) late: u64,
    /// The site's clicks and what was expected, in the last window scored.
    pub(crate) last_site: Option<(f64, f64)>,
}

impl RateDetector {
    /// Counts `clicks`, scores every window that closed, and returns the episodes they opened.
    pub(crate) fn observe(
        &mut self,
        clicks: &[RateClick<'_>],
        now: DateTime<Utc>,
        settings: &DetectSettings,
        params: &ModelParams,
    ) -> Vec<RateFinding> {
        let width = settings.window.as_secs().max(1) as i64;
        let horizon = now + FUTURE_SKEW;
        for click in clicks {
            if click.at > horizon {
                continue;
            }
            let w = click.at.timestamp().div_euclid(width);
            if self.next.is_some_and(|next| w < next) {
                self.late += 1;
                continue;
            }
            self.next = Some(self.next.map_or(w, |n| n.min(w)));
            self.count(w, click);
            self.watermark = Some(self.watermark.map_or(click.at, |m| m.max(click.at)));
        }
        self.close(width, settings, params)
    }

    fn count(&mut self, window: i64, click: &RateClick<'_>) {
        let counts = self.open.entry(window).or_default();
        counts.site += 1;
        counts.users.insert(click.user);
        let page = normalize(click.page);
        if let Some(p) = self.pages.get_mut(page) {
            p.activity += 1.0;
        } else if self.pages.len() < CANDIDATES_MAX {
            self.pages.insert(
                page.to_owned(),
                Page {
                    activity: 1.0,
                    series: None,
                },
            );
        } else {
            counts.other += 1;
            return;
        }
        match counts.pages.get_mut(page) {
            Some(n) => *n += 1,
            None => {
                counts.pages.insert(page.to_owned(), 1);
            }
        }
    }

    /// Scores the windows the watermark has passed, oldest first.
    fn close(
        &mut self,
        width: i64,
        settings: &DetectSettings,
        params: &ModelParams,
    ) -> Vec<RateFinding> {
        let (Some(watermark), Some(mut next)) = (self.watermark, self.next) else {
            return Vec::new();
        };
        let lateness = settings.lateness.as_secs() as i64;
        // The last window whose end plus lateness the watermark has passed.
        let closable = (watermark.timestamp() - lateness).div_euclid(width) - 1;
        if closable - next >= MAX_GAP {
            next = closable - MAX_GAP + 1;
            self.open.retain(|w, _| *w >= next);
        }
        let mut opened: Vec<SeriesKey> = Vec::new();
        while next <= closable {
            let counts = self.open.remove(&next).unwrap_or_default();
            let start = DateTime::from_timestamp(next * width, 0).unwrap_or(watermark);
            self.score(start, width, &counts, settings, params, &mut opened);
            next += 1;
        }
        self.next = Some(next);
        opened
            .into_iter()
            .filter_map(|key| {
                let episode = self.series(&key)?.current()?.clone();
                Some(RateFinding {
                    series: key,
                    episode,
                })
            })
            .collect()
    }

    fn series(&self, key: &SeriesKey) -> Option<&SeriesDetector> {
        match key {
            SeriesKey::Site => Some(&self.site),
            SeriesKey::DistinctUsers => Some(&self.users),
            SeriesKey::Page(p) if p == OTHER_PAGES => Some(&self.other),
            SeriesKey::Page(p) => self.pages.get(p)?.series.as_ref(),
        }
    }

    fn score(
        &mut self,
        start: DateTime<Utc>,
        width: i64,
        counts: &WindowCounts,
        settings: &DetectSettings,
        params: &ModelParams,
        opened: &mut Vec<SeriesKey>,
    ) {
        let end = start + Duration::seconds(width);
        let mut judge = |series: &mut SeriesDetector, value: f64, key: SeriesKey| {
            let step = series.observe(start, end, value, params, settings);
            if step.opened {
                opened.retain(|k| *k != key);
                opened.push(key);
            }
            step.judgment.expected
        };
        let expected = judge(&mut self.site, counts.site as f64, SeriesKey::Site);
        self.last_site = Some((counts.site as f64, expected));
        judge(
            &mut self.users,
            counts.users.estimate() as f64,
            SeriesKey::DistinctUsers,
        );
        judge(
            &mut self.other,
            counts.other as f64,
            SeriesKey::Page(OTHER_PAGES.to_owned()),
        );
        // Activity decays every window, so the tracked pages are the recently active ones; a
        // page that falls silent stays tracked for a while, long enough for its drop to show.
        for (name, page) in &mut self.pages {
            let count = counts.pages.get(name).copied().unwrap_or(0) as f64;
            page.activity = page.activity * ACTIVITY_DECAY + count;
        }
        self.retrack(settings.tracked_pages);
        for (name, page) in &mut self.pages {
            if let Some(series) = &mut page.series {
                let count = counts.pages.get(name).copied().unwrap_or(0) as f64;
                judge(series, count, SeriesKey::Page(name.clone()));
            }
        }
    }

    /// Keeps models for the `tracked` most active pages only, and forgets pages gone quiet.
    fn retrack(&mut self, tracked: usize) {
        self.pages
            .retain(|_, p| p.activity >= 0.01 || p.series.is_some());
        if self.pages.len() <= tracked {
            for page in self.pages.values_mut() {
                page.series.get_or_insert_with(SeriesDetector::default);
            }
            return;
        }
        let mut ranked: Vec<(f64, &String)> =
            self.pages.iter().map(|(n, p)| (p.activity, n)).collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let cutoff: Vec<String> = ranked
            .iter()
            .take(tracked)
            .map(|(_, n)| (*n).clone())
            .collect();
        for (name, page) in &mut self.pages {
            if cutoff.contains(name) {
                page.series.get_or_insert_with(SeriesDetector::default);
            } else {
                page.series = None;
            }
        }
        self.pages
            .retain(|_, p| p.activity >= 0.01 || p.series.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: f64) -> DateTime<Utc> {
        "2026-11-27T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + Duration::milliseconds((minutes * 60_000.0) as i64)
    }

    /// `per_page` clicks a minute on each of `pages` pages for `minutes`, as batches of one
    /// minute, with the page `quiet` silent and `spiky` at three times its rate from `from`.
    fn traffic(
        d: &mut RateDetector,
        minutes: usize,
        pages: usize,
        per_page: usize,
        anomaly: Option<(&str, usize, usize, f64)>,
    ) -> Vec<(usize, RateFinding)> {
        let settings = DetectSettings::default();
        let params = ModelParams::default();
        let names: Vec<String> = (1..=pages).map(|p| format!("/pagina-{p}?x={p}")).collect();
        let users: Vec<String> = (0..200).map(|u| u.to_string()).collect();
        let mut found = Vec::new();
        let mut rng = fastrand::Rng::with_seed(3);
        for m in 0..minutes {
            let mut clicks = Vec::new();
            for (p, name) in names.iter().enumerate() {
                let mut n = per_page;
                if let Some((page, from, len, factor)) = anomaly
                    && name.starts_with(page)
                    && (from..from + len).contains(&m)
                {
                    n = (n as f64 * factor) as usize;
                }
                for i in 0..n {
                    clicks.push(RateClick {
                        at: t(m as f64 + (i as f64 + 0.5) / n as f64 * 0.99),
                        user: &users[rng.usize(0..users.len())],
                        page: name,
                    });
                    let _ = p;
                }
            }
            let now = t(m as f64 + 1.0);
            for f in d.observe(&clicks, now, &settings, &params) {
                found.push((m, f));
            }
        }
        found
    }

    #[test]
    fn steady_traffic_raises_nothing_and_a_silent_page_is_found() {
        let mut d = RateDetector::default();
        assert!(traffic(&mut d, 120, 10, 60, None).is_empty());
        let mut d = RateDetector::default();
        let found = traffic(&mut d, 120, 10, 60, Some(("/pagina-3", 80, 5, 0.0)));
        assert_eq!(found.len(), 1, "{found:?}");
        let (minute, f) = &found[0];
        assert_eq!(f.series, SeriesKey::Page("/pagina-3".into()));
        assert_eq!(f.episode.direction, super::super::episode::Direction::Drop);
        assert_eq!(f.episode.start, t(80.0));
        // Scored once the window closed: its end plus the lateness, at the next batch.
        assert!(*minute <= 80 + 4, "found at minute {minute}");
    }

    #[test]
    fn a_spike_on_one_page_is_one_episode() {
        let mut d = RateDetector::default();
        let found = traffic(&mut d, 120, 10, 60, Some(("/pagina-7", 70, 3, 3.0)));
        let pages: Vec<_> = found
            .iter()
            .filter(|(_, f)| f.series == SeriesKey::Page("/pagina-7".into()))
            .collect();
        assert_eq!(pages.len(), 1, "{found:?}");
        assert_eq!(pages[0].1.episode.value, 180.0);
    }

    #[test]
    fn memory_stays_bounded_with_a_new_page_per_click() {
        let mut d = RateDetector::default();
        let settings = DetectSettings::default();
        let params = ModelParams::default();
        let names: Vec<String> = (0..100_000).map(|i| format!("/p{i}")).collect();
        let clicks: Vec<RateClick<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| RateClick {
                at: t(i as f64 / 100_000.0),
                user: n,
                page: n,
            })
            .collect();
        d.observe(&clicks, t(1.0), &settings, &params);
        assert!(d.pages.len() <= CANDIDATES_MAX);
        assert!(d.open.values().all(|w| w.pages.len() <= CANDIDATES_MAX));
        let users = d.open.values().map(|w| w.users.estimate()).sum::<usize>();
        assert!((95_000..105_000).contains(&users), "{users}");
    }

    /// Heap and inline bytes the detector holds, counted from its structure: every map at its
    /// capacity (entries plus a control byte each), every key's own bytes, every sketch's.
    fn footprint(d: &RateDetector) -> usize {
        use std::mem::size_of;
        let names =
            |keys: &mut dyn Iterator<Item = &String>| keys.map(String::capacity).sum::<usize>();
        let windows: usize = d
            .open
            .values()
            .map(|w| {
                // A B-tree node holds up to 11 entries; count each as if alone in one.
                size_of::<(i64, WindowCounts)>() * 2
                    + w.users.size_of()
                    + w.pages.capacity() * (size_of::<(String, u64)>() + 1)
                    + names(&mut w.pages.keys())
            })
            .sum();
        let pages =
            d.pages.capacity() * (size_of::<(String, Page)>() + 1) + names(&mut d.pages.keys());
        size_of::<RateDetector>() + windows + pages
    }

    #[test]
    fn a_warm_detector_stays_bounded_after_100_000_distinct_pages_and_users() {
        // What a warm container holds after 100,000 clicks, each of a page and a user never
        // seen before, in 50 one-minute batches: windows closed and scored all along.
        let mut d = RateDetector::default();
        let settings = DetectSettings::default();
        let params = ModelParams::default();
        let (batches, per_batch) = (50, 2_000);
        let names: Vec<String> = (0..batches * per_batch)
            .map(|i| format!("/pagina-{i}?utm_source={i}"))
            .collect();
        let users: Vec<String> = (0..batches * per_batch).map(|i| i.to_string()).collect();
        let mut largest = 0;
        for b in 0..batches {
            let clicks: Vec<RateClick<'_>> = (b * per_batch..(b + 1) * per_batch)
                .map(|i| RateClick {
                    at: t(i as f64 / per_batch as f64),
                    user: &users[i],
                    page: &names[i],
                })
                .collect();
            d.observe(&clicks, t(b as f64 + 1.0), &settings, &params);
            largest = largest.max(footprint(&d));
            // Bounded by the settings, not by what was sent.
            assert!(d.pages.len() <= CANDIDATES_MAX);
            let tracked = d.pages.values().filter(|p| p.series.is_some()).count();
            assert!(tracked <= settings.tracked_pages, "{tracked} series");
            let lateness_windows =
                (settings.lateness.as_secs() / settings.window.as_secs()) as usize;
            assert!(
                d.open.len() <= lateness_windows + 2,
                "{} open windows",
                d.open.len()
            );
            assert!(d.open.values().all(|w| w.pages.len() <= CANDIDATES_MAX));
        }
        // Every window was scored but the last three, which wait out their lateness.
        assert_eq!(d.next, Some(t(0.0).timestamp() / 60 + batches as i64 - 3));
        let (clicks, _) = d.last_site.expect("a window was scored");
        assert_eq!(clicks, per_batch as f64);
        assert!(largest <= 2 << 20, "{largest} bytes at the largest");
    }

    #[test]
    fn far_future_clicks_and_long_gaps_cost_little() {
        let mut d = RateDetector::default();
        let settings = DetectSettings::default();
        let params = ModelParams::default();
        let now = t(0.5);
        let clicks = [
            RateClick {
                at: t(0.1),
                user: "1",
                page: "/a",
            },
            RateClick {
                at: t(60.0 * 24.0 * 365.0),
                user: "1",
                page: "/a",
            },
        ];
        d.observe(&clicks, now, &settings, &params);
        assert_eq!(d.watermark, Some(t(0.1)));
        // A day later: the gap is skipped, not scored minute by minute.
        let later = [RateClick {
            at: t(1440.0),
            user: "1",
            page: "/a",
        }];
        d.observe(&later, t(1440.5), &settings, &params);
        assert!(d.next.unwrap() > (t(1440.0).timestamp() / 60) - MAX_GAP - 5);
    }
}
