//! Click rates across batches: per event-time window, the site's clicks, each tracked page's
//! clicks and the distinct users, each series scored once the window has closed by its own
//! [`SeriesDetector`] (a rate model and its episodes), the one `detect` runs on a CSV series.
//!
//! Split in three so that several containers can share the work through a store (see
//! `streams` for the protocol, `store` for the trait):
//! - [`Batch`]: one invocation's clicks counted per window ([`WindowCounts`]); counts only
//!   add up (and the distinct-user sketches merge), so batches counted in different containers
//!   sum to what one container would have counted;
//! - the watermark (the latest event time seen) and the first window, which decide when a
//!   window closes; both are monotonic (a maximum and a minimum), so every container agrees;
//! - [`RateState`]: the models, episodes and page activity, changed only when a closed window
//!   is scored, by exactly one container.
//!
//! Windows are counted in event time, so a batch that Firehose held for a minute counts where
//! its clicks belong. A window closes when the watermark passes its end plus the allowed
//! lateness; clicks for a window already scored are counted as late and left out. Clicks more
//! than [`FUTURE_SKEW`] ahead of the invocation's clock are ignored, so one click stamped next
//! year cannot close every window at once; and a gap longer than [`MAX_GAP`] windows (traffic
//! that stopped and came back) is skipped rather than scored window by window.
//!
//! Memory and item sizes are bounded whatever producers send: a window's counts hold at most
//! [`CANDIDATES_MAX`] pages (the rest pooled) and one distinct-count sketch of a few KiB; the
//! state holds at most [`CANDIDATES_MAX`] candidate pages and models for the tracked ones only.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::RangeInclusive;

use cardinality_estimator::CardinalityEstimator;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::episode::Episode;
use super::page::{OTHER_PAGES, normalize};
use super::params::ModelParams;
use super::series::SeriesDetector;
use super::settings::DetectSettings;

/// How far ahead of the invocation's clock event time may run.
const FUTURE_SKEW: Duration = Duration::seconds(60);
/// Closed windows scored per invocation at most; a longer gap is skipped.
pub(crate) const MAX_GAP: i64 = 60;
/// Pages whose activity is counted, the tracked ones among them; also the pages one window's
/// counts keep by name.
pub(crate) const CANDIDATES_MAX: usize = 1_000;
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

/// What one window held, or one batch's share of it. Serialized as JSON in a store's item:
/// `{"site": n, "users": <sketch>, "pages": {"/p": n, ...}, "other": n}`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct WindowCounts {
    pub(crate) site: u64,
    users: CardinalityEstimator<str>,
    /// Sorted, so that merging and serializing are deterministic.
    pages: BTreeMap<String, u64>,
    other: u64,
}

impl WindowCounts {
    fn add_page(&mut self, page: &str, n: u64) {
        if let Some(count) = self.pages.get_mut(page) {
            *count += n;
        } else if self.pages.len() < CANDIDATES_MAX {
            self.pages.insert(page.to_owned(), n);
        } else {
            self.other += n;
        }
    }

    /// Adds another batch's counts of the same window. Sums and a sketch union: the result does
    /// not depend on how the clicks were split, as long as the window holds at most
    /// [`CANDIDATES_MAX`] distinct pages (past that, which pages are pooled depends on the order).
    pub(crate) fn merge(&mut self, other: &WindowCounts) {
        self.site += other.site;
        self.users.merge(&other.users);
        for (page, n) in &other.pages {
            self.add_page(page, *n);
        }
        self.other += other.other;
    }

    /// Distinct users, as the sketch estimates them.
    pub(crate) fn distinct_users(&self) -> usize {
        self.users.estimate()
    }

    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.pages.len()
    }
}

/// One invocation's clicks, counted per window.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) windows: BTreeMap<i64, WindowCounts>,
    /// The latest event time counted: this batch's say on the watermark.
    pub(crate) latest: Option<DateTime<Utc>>,
}

impl Batch {
    /// Counts `clicks` in windows of `settings.window`, leaving out those stamped more than
    /// [`FUTURE_SKEW`] after `now`.
    pub(crate) fn count<'a>(
        clicks: impl IntoIterator<Item = RateClick<'a>>,
        now: DateTime<Utc>,
        settings: &DetectSettings,
    ) -> Self {
        let width = width(settings);
        let horizon = now + FUTURE_SKEW;
        let mut latest: Option<DateTime<Utc>> = None;
        // Each window's place in `counting`; clicks come mostly in time order, so the last
        // window's place is kept at hand and the map is read only when the window changes.
        let mut places: BTreeMap<i64, usize> = BTreeMap::new();
        let mut counting: Vec<(i64, Counting<'_>)> = Vec::new();
        let mut last: Option<(i64, usize)> = None;
        for click in clicks {
            if click.at > horizon {
                continue;
            }
            let w = click.at.timestamp().div_euclid(width);
            let place = match last {
                Some((lw, place)) if lw == w => place,
                _ => {
                    let place = *places.entry(w).or_insert_with(|| {
                        counting.push((w, Counting::default()));
                        counting.len() - 1
                    });
                    last = Some((w, place));
                    place
                }
            };
            if let Some((_, window)) = counting.get_mut(place) {
                window.add(&click);
            }
            latest = Some(latest.map_or(click.at, |m| m.max(click.at)));
        }
        let windows = counting
            .into_iter()
            .map(|(w, window)| (w, window.finish()))
            .collect();
        Batch { windows, latest }
    }

    /// The first window this batch counts in.
    pub(crate) fn first(&self) -> Option<i64> {
        self.windows.keys().next().copied()
    }
}

/// One window's clicks while a batch is counted: its pages keyed by the names the clicks lend,
/// in a hash map, so that a click costs one hash of its page rather than the string comparisons
/// of a walk down the sorted map [`WindowCounts`] keeps (which is built once, at the end).
#[derive(Default)]
struct Counting<'a> {
    /// The window's counts but its pages.
    counts: WindowCounts,
    /// foldhash, seeded per map: several times cheaper than std's SipHash on short names,
    /// and still not a hash a producer can aim collisions at without knowing the seed.
    pages: HashMap<&'a str, u64, foldhash::fast::RandomState>,
}

impl<'a> Counting<'a> {
    fn add(&mut self, click: &RateClick<'a>) {
        self.counts.site += 1;
        self.counts.users.insert(click.user);
        // As `WindowCounts::add_page`: the first pages seen keep their names, the rest pooled.
        let room = self.pages.len() < CANDIDATES_MAX;
        match self.pages.entry(normalize(click.page)) {
            Entry::Occupied(mut count) => *count.get_mut() += 1,
            Entry::Vacant(page) if room => {
                page.insert(1);
            }
            Entry::Vacant(_) => self.counts.other += 1,
        }
    }

    fn finish(self) -> WindowCounts {
        let mut counts = self.counts;
        counts.pages = self
            .pages
            .into_iter()
            .map(|(page, n)| (page.to_owned(), n))
            .collect();
        counts
    }
}

/// The window width in seconds.
pub(crate) fn width(settings: &DetectSettings) -> i64 {
    settings.window.as_secs().max(1) as i64
}

/// What decides which windows are closed, shared by every container: the latest event time
/// seen (a maximum) and the first window ever counted (a minimum), in seconds and windows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clock {
    /// Milliseconds since the epoch.
    pub(crate) watermark: Option<i64>,
    pub(crate) first: Option<i64>,
}

impl Clock {
    /// This clock moved on by a batch: the later watermark, the earlier first window.
    pub(crate) fn with(self, batch: &Batch) -> Self {
        let latest = batch.latest.map(|t| t.timestamp_millis());
        Self {
            watermark: max_opt(self.watermark, latest),
            first: min_opt(self.first, batch.first()),
        }
    }
}

impl Clock {
    /// The later watermark and the earlier first window of two clocks.
    pub(crate) fn merged(self, other: Clock) -> Self {
        Self {
            watermark: max_opt(self.watermark, other.watermark),
            first: min_opt(self.first, other.first),
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Page {
    activity: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    series: Option<SeriesDetector>,
}

/// The rate detector's learned state for one stream: what a store keeps between windows.
/// Serialized as JSON (see `store` for the item it lives in): about 3 KB per tracked series
/// plus a candidate page's name and some 30 bytes each; see [`RateState::shed_to`] for the
/// bound.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct RateState {
    /// The first window not yet scored.
    pub(crate) next: Option<i64>,
    site: SeriesDetector,
    users: SeriesDetector,
    other: SeriesDetector,
    /// Sorted, so that scoring visits pages in the same order everywhere.
    pages: BTreeMap<String, Page>,
}

/// What scoring some windows did.
#[derive(Debug, Default)]
pub(crate) struct Scored {
    pub(crate) findings: Vec<RateFinding>,
    /// The site's clicks and what was expected, in the last window scored.
    pub(crate) last_site: Option<(f64, f64)>,
}

/// Whether clicks of `window` come too late for a state whose next window to score is `next`.
pub(crate) fn is_late(next: Option<i64>, window: i64) -> bool {
    next.is_some_and(|next| window < next)
}

/// The windows `clock` has closed that a state whose next window to score is `next` has not
/// scored yet. Only `next` counts, so a container that knows the state's `next` (or a smaller
/// one: it only grows) knows from the clock alone whether a window may close.
pub(crate) fn closable(
    next: Option<i64>,
    clock: Clock,
    settings: &DetectSettings,
) -> Option<RangeInclusive<i64>> {
    let watermark = clock.watermark?;
    let next = next.or(clock.first)?;
    let width = width(settings);
    let lateness = settings.lateness.as_secs() as i64;
    // The last window whose end plus lateness the watermark has passed.
    let closable = (watermark.div_euclid(1000) - lateness).div_euclid(width) - 1;
    let next = next.max(closable - MAX_GAP + 1);
    (next <= closable).then_some(next..=closable)
}

impl RateState {
    /// The windows `clock` has closed that are not scored yet, oldest first; at most
    /// [`MAX_GAP`] of them (the older ones of a longer gap are skipped).
    pub(crate) fn closable(
        &self,
        clock: Clock,
        settings: &DetectSettings,
    ) -> Option<RangeInclusive<i64>> {
        closable(self.next, clock, settings)
    }

    /// Scores closed windows in order, each with its counts, and says which episodes opened.
    pub(crate) fn score_windows(
        &mut self,
        windows: impl IntoIterator<Item = (i64, WindowCounts)>,
        settings: &DetectSettings,
        params: &ModelParams,
    ) -> Scored {
        let width = width(settings);
        let mut findings = Vec::new();
        let mut last_site = None;
        for (w, counts) in windows {
            let Some(start) = DateTime::from_timestamp(w * width, 0) else {
                continue;
            };
            let mut opened: Vec<SeriesKey> = Vec::new();
            last_site = Some(self.score(start, width, &counts, settings, params, &mut opened));
            self.next = Some(w + 1);
            // Each episode as it stood when it opened, so that what is reported does not depend
            // on how many windows one invocation happened to score.
            findings.extend(opened.into_iter().filter_map(|key| {
                let episode = self.series(&key)?.current()?.clone();
                Some(RateFinding {
                    series: key,
                    episode,
                })
            }));
        }
        Scored {
            findings,
            last_site,
        }
    }

    fn series(&self, key: &SeriesKey) -> Option<&SeriesDetector> {
        match key {
            SeriesKey::Site => Some(&self.site),
            SeriesKey::DistinctUsers => Some(&self.users),
            SeriesKey::Page(p) if p == OTHER_PAGES => Some(&self.other),
            SeriesKey::Page(p) => self.pages.get(p)?.series.as_ref(),
        }
    }

    /// Scores one window; returns the site's clicks and what was expected.
    fn score(
        &mut self,
        start: DateTime<Utc>,
        width: i64,
        counts: &WindowCounts,
        settings: &DetectSettings,
        params: &ModelParams,
        opened: &mut Vec<SeriesKey>,
    ) -> (f64, f64) {
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
        judge(
            &mut self.users,
            counts.distinct_users() as f64,
            SeriesKey::DistinctUsers,
        );
        // Pages new to the candidates join while there is room; the rest of the window's clicks
        // are pooled with the pages that have no series.
        let mut other = counts.other;
        for (name, n) in &counts.pages {
            if !self.pages.contains_key(name) {
                if self.pages.len() < CANDIDATES_MAX {
                    self.pages.insert(name.clone(), Page::default());
                } else {
                    other += n;
                }
            }
        }
        // Activity decays every window, so the tracked pages are the recently active ones; a
        // page that falls silent stays tracked for a while, long enough for its drop to show.
        for (name, page) in &mut self.pages {
            let count = counts.pages.get(name).copied().unwrap_or(0) as f64;
            page.activity = page.activity * ACTIVITY_DECAY + count;
        }
        self.retrack(settings.tracked_pages);
        for (name, page) in &self.pages {
            if page.series.is_none() {
                other += counts.pages.get(name).copied().unwrap_or(0);
            }
        }
        judge(
            &mut self.other,
            other as f64,
            SeriesKey::Page(OTHER_PAGES.to_owned()),
        );
        for (name, page) in &mut self.pages {
            if let Some(series) = &mut page.series {
                let count = counts.pages.get(name).copied().unwrap_or(0) as f64;
                judge(series, count, SeriesKey::Page(name.clone()));
            }
        }
        (counts.site as f64, expected)
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
        let cutoff: std::collections::HashSet<String> = ranked
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

    /// Sheds the least active candidate pages that have no series of their own until the state
    /// serializes to at most `max_bytes` of JSON, and says how many went. Tracked pages are
    /// never shed: with [`TRACKED_PAGES_SHARED_MAX`] of them the series alone fit.
    ///
    /// For a store whose items are bounded (DynamoDB's 400 KB): 1,000 candidate names of up to
    /// 200 bytes, each escaped up to six times over in JSON, are more than an item holds, and a
    /// state that cannot be saved would turn rate detection off. A candidate shed is only one
    /// whose activity is the lowest: it comes back if its page stays busy.
    ///
    /// [`TRACKED_PAGES_SHARED_MAX`]: super::settings::TRACKED_PAGES_SHARED_MAX
    pub(crate) fn shed_to(&mut self, max_bytes: usize) -> usize {
        let size = |state: &Self| serde_json::to_vec(state).map_or(usize::MAX, |v| v.len());
        let mut over = size(self).saturating_sub(max_bytes);
        if over == 0 {
            return 0;
        }
        let mut untracked: Vec<(f64, String)> = self
            .pages
            .iter()
            .filter(|(_, p)| p.series.is_none())
            .map(|(name, p)| (p.activity, name.clone()))
            .collect();
        // Least active first; equal activity by name, so every container sheds the same pages.
        untracked.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut shed = 0;
        let mut candidates = untracked.into_iter();
        while over > 0 {
            let Some((_, name)) = candidates.next() else {
                break;
            };
            if let Some(page) = self.pages.remove(&name) {
                shed += 1;
                // The entry's own JSON: its quoted name, the activity, and punctuation.
                let entry = serde_json::to_vec(&name).map_or(0, |v| v.len())
                    + serde_json::to_vec(&page).map_or(0, |v| v.len())
                    + 2;
                over = over.saturating_sub(entry);
                if over == 0 {
                    over = size(self).saturating_sub(max_bytes);
                }
            }
        }
        shed
    }

    #[cfg(test)]
    pub(crate) fn candidates(&self) -> usize {
        self.pages.len()
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.pages.values().filter(|p| p.series.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol of `streams` run synchronously in one container, as the memory store does.
    #[derive(Default)]
    struct RateDetector {
        state: RateState,
        clock: Clock,
        open: BTreeMap<i64, WindowCounts>,
        late: u64,
        last_site: Option<(f64, f64)>,
    }

    impl RateDetector {
        fn observe(
            &mut self,
            clicks: &[RateClick<'_>],
            now: DateTime<Utc>,
            settings: &DetectSettings,
            params: &ModelParams,
        ) -> Vec<RateFinding> {
            let batch = Batch::count(clicks.iter().copied(), now, settings);
            for (w, counts) in &batch.windows {
                if is_late(self.state.next, *w) {
                    self.late += counts.site;
                } else {
                    self.open.entry(*w).or_default().merge(counts);
                }
            }
            self.clock = self.clock.with(&batch);
            let Some(range) = self.state.closable(self.clock, settings) else {
                return Vec::new();
            };
            let windows: Vec<(i64, WindowCounts)> = range
                .map(|w| (w, self.open.remove(&w).unwrap_or_default()))
                .collect();
            let next = *windows.last().map(|(w, _)| w).unwrap_or(&0) + 1;
            self.open.retain(|w, _| *w >= next);
            let scored = self.state.score_windows(windows, settings, params);
            self.last_site = scored.last_site;
            scored.findings
        }
    }

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
        assert!(d.state.candidates() <= CANDIDATES_MAX);
        assert!(d.open.values().all(|w| w.pages() <= CANDIDATES_MAX));
        let users = d.open.values().map(|w| w.distinct_users()).sum::<usize>();
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
                    + w.pages.len() * (size_of::<(String, u64)>() * 2)
                    + names(&mut w.pages.keys())
            })
            .sum();
        // A B-tree holds its entries in nodes of up to 11; count each entry twice over.
        let pages = d.state.pages.len() * (size_of::<(String, Page)>() * 2)
            + names(&mut d.state.pages.keys());
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
            assert!(d.state.candidates() <= CANDIDATES_MAX);
            let tracked = d.state.tracked();
            assert!(tracked <= settings.tracked_pages, "{tracked} series");
            let lateness_windows =
                (settings.lateness.as_secs() / settings.window.as_secs()) as usize;
            assert!(
                d.open.len() <= lateness_windows + 2,
                "{} open windows",
                d.open.len()
            );
            assert!(d.open.values().all(|w| w.pages() <= CANDIDATES_MAX));
        }
        // Every window was scored but the last three, which wait out their lateness.
        assert_eq!(
            d.state.next,
            Some(t(0.0).timestamp() / 60 + batches as i64 - 3)
        );
        let (clicks, _) = d.last_site.expect("a window was scored");
        assert_eq!(clicks, per_batch as f64);
        assert!(largest <= 2 << 20, "{largest} bytes at the largest");
    }

    /// The stream's state as a store keeps it, at `tracked` pages that have learned every
    /// seasonal slot, and every candidate page named with 200 bytes.
    pub(crate) fn full_state(tracked: usize) -> RateState {
        let params = ModelParams::default();
        let settings = DetectSettings::default();
        let mut series = SeriesDetector::default();
        // Three weeks of hourly windows fill every slot with a learned factor.
        for i in 0..21 * 24 {
            let start = t(60.0 * i as f64);
            let value = 100.0 + (i % 17) as f64 * 3.7;
            series.observe(start, start + Duration::hours(1), value, &params, &settings);
        }
        let mut state = RateState {
            next: Some(1),
            site: series.clone(),
            users: series.clone(),
            other: series.clone(),
            pages: BTreeMap::new(),
        };
        for i in 0..CANDIDATES_MAX {
            let name = format!("/{i:0>199}");
            let page = Page {
                activity: 1_000_000.0 - i as f64,
                series: (i < tracked).then(|| series.clone()),
            };
            state.pages.insert(name, page);
        }
        state
    }

    #[test]
    fn the_state_at_its_bounds_fits_one_dynamodb_item() {
        use super::super::settings::TRACKED_PAGES_SHARED_MAX;
        let size = |state: &RateState| serde_json::to_vec(state).map_or(usize::MAX, |v| v.len());
        // DynamoDB takes items of at most 400 KB; the store adds a few small attributes.
        const BODY_MAX: usize = 380_000;
        // The most pages tracked, every candidate named with 200 bytes: too long as it is, so
        // the least active candidates are shed, never a tracked page.
        let mut state = full_state(TRACKED_PAGES_SHARED_MAX);
        assert!(size(&state) > BODY_MAX);
        let shed = state.shed_to(BODY_MAX);
        assert!(shed > 0 && size(&state) <= BODY_MAX, "{shed} shed");
        assert_eq!(state.tracked(), TRACKED_PAGES_SHARED_MAX);
        let least = (CANDIDATES_MAX - shed..CANDIDATES_MAX).map(|i| format!("/{i:0>199}"));
        assert!(
            least
                .into_iter()
                .all(|name| !state.pages.contains_key(&name))
        );
        // The defaults with names as long as most sites': nothing to shed.
        let mut usual = full_state(DetectSettings::DEFAULT.tracked_pages);
        usual.pages = usual
            .pages
            .into_iter()
            .enumerate()
            .map(|(i, (_, page))| (format!("/products/item-{i}"), page))
            .collect();
        assert_eq!(usual.shed_to(BODY_MAX), 0);
        // And the bound is not loose: the series alone of 30 more pages would not fit.
        let per_series = size(&full_state(1)) - size(&full_state(0));
        let series_alone = size(&full_state(TRACKED_PAGES_SHARED_MAX)) - size(&full_state(0));
        assert!(
            series_alone + 30 * per_series > BODY_MAX,
            "{per_series} a series"
        );
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
        assert_eq!(d.clock.watermark, Some(t(0.1).timestamp_millis()));
        // A day later: the gap is skipped, not scored minute by minute.
        let later = [RateClick {
            at: t(1440.0),
            user: "1",
            page: "/a",
        }];
        d.observe(&later, t(1440.5), &settings, &params);
        assert!(d.state.next.unwrap() > (t(1440.0).timestamp() / 60) - MAX_GAP - 5);
    }
}
