//! Scenario traffic: a stretch of lab-shaped clicks at a mean rate with a daily rhythm, with
//! labeled anomalies injected, cut into the Firehose events a delivery stream buffering 60 s
//! would send. It streams: about a minute of clicks is held at a time, whatever the duration.
//!
//! Clicks are a Poisson process, second by second: within each second the site's rate (the mean
//! rate times the daily rhythm) is split over the pages by [`PAGE_SHARES`], each page's rate is
//! multiplied by the injections that cover it, and bots add their own rates. Users are drawn
//! uniformly from 1 to 1000, as the lab's producer did; a bot's clicks all carry its own user.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Timelike, Utc};
use thiserror::Error;

use super::labels::{Kind, Label, Labels, PageShare, ScenarioParams};
use super::{Click, FirehoseEventOut, RecordOut, STREAM_ARN, record_id};

/// The lab's pages.
pub(crate) const PAGES: [&str; 10] = [
    "/pagina-1",
    "/pagina-2",
    "/pagina-3",
    "/pagina-4",
    "/pagina-5",
    "/pagina-6",
    "/pagina-7",
    "/pagina-8",
    "/pagina-9",
    "/pagina-10",
];

/// Each page's share of the normal traffic, from 20 % on `/pagina-1` down to 5 % on
/// `/pagina-9` and `/pagina-10`: unequal, as a real site's are, so that a drop is tried on a
/// quiet page (about 30 clicks a minute at 10 a second) as well as on a busy one.
pub(crate) const PAGE_SHARES: [f64; 10] =
    [0.20, 0.16, 0.13, 0.11, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05];

/// The UTC hour the daily rhythm peaks at; it bottoms twelve hours later, at 02:00.
pub(crate) const DAILY_PEAK_HOUR: u32 = 14;

/// The normal users' ids, first and last, as the lab's producer drew them.
pub(crate) const USERS: (u32, u32) = (1, 1000);

/// Seconds of traffic per Firehose event: the delivery stream's buffering interval.
pub(crate) const BATCH_SECONDS: i64 = 60;

/// The longest delay between a click and its arrival at Firehose, exclusive, in microseconds.
const ARRIVAL_DELAY_MAX_US: i64 = 1_500_000;

/// A scenario that cannot be generated.
#[derive(Debug, Clone, PartialEq, Error)]
pub(crate) enum ScenarioError {
    #[error("the duration must be at least 1s")]
    NoDuration,
    #[error("the duration ends past what a date can hold")]
    TooLong,
    #[error("the {kind} from {start:?} to {end:?} is not inside the traffic, {from:?} to {to:?}")]
    Outside {
        kind: Kind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("the {kind} from {start:?} names no page of the lab's (/pagina-1 to /pagina-10)")]
    NoPage { kind: Kind, start: DateTime<Utc> },
}

/// What to generate. Equal scenarios always give equal traffic.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    seed: u64,
    start: DateTime<Utc>,
    seconds: i64,
    rate: f64,
    amplitude: f64,
    flag_rate: f64,
    anomalies: Vec<Label>,
    /// Each anomaly's page, as an index into [`PAGES`].
    pages: Vec<Option<usize>>,
}

/// How a scenario is asked for.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioOptions {
    pub(crate) seed: u64,
    pub(crate) start: DateTime<Utc>,
    pub(crate) duration: std::time::Duration,
    /// Mean clicks per second over a day.
    pub(crate) rate: f64,
    /// The rate runs from `rate × (1 - amplitude)` to `rate × (1 + amplitude)` over a day.
    pub(crate) daily_amplitude: f64,
    /// Share of clicks the producer flags, 0 to 1.
    pub(crate) producer_flag_rate: f64,
    pub(crate) anomalies: Vec<Label>,
}

impl Scenario {
    pub(crate) fn new(options: ScenarioOptions) -> Result<Self, ScenarioError> {
        let seconds =
            i64::try_from(options.duration.as_secs()).map_err(|_| ScenarioError::TooLong)?;
        if seconds == 0 {
            return Err(ScenarioError::NoDuration);
        }
        let end = options
            .start
            .checked_add_signed(Duration::seconds(seconds))
            .ok_or(ScenarioError::TooLong)?;
        let mut pages = Vec::with_capacity(options.anomalies.len());
        for label in &options.anomalies {
            if label.start < options.start || label.end > end || label.end <= label.start {
                return Err(ScenarioError::Outside {
                    kind: label.kind,
                    start: label.start,
                    end: label.end,
                    from: options.start,
                    to: end,
                });
            }
            let page = label
                .page
                .as_deref()
                .and_then(|p| PAGES.iter().position(|known| *known == p));
            if page.is_none() && label.kind != Kind::SiteDrop {
                return Err(ScenarioError::NoPage {
                    kind: label.kind,
                    start: label.start,
                });
            }
            pages.push(page);
        }
        let unit = |x: f64| {
            if x.is_finite() {
                x.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        Ok(Self {
            seed: options.seed,
            start: options.start,
            seconds,
            rate: if options.rate.is_finite() {
                options.rate.max(0.0)
            } else {
                0.0
            },
            amplitude: unit(options.daily_amplitude),
            flag_rate: unit(options.producer_flag_rate),
            anomalies: options.anomalies,
            pages,
        })
    }

    pub(crate) fn end(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.seconds)
    }

    /// The labels file's content.
    pub(crate) fn labels(&self) -> Labels<'_> {
        Labels {
            scenario: ScenarioParams {
                seed: self.seed,
                start: self.start,
                end: self.end(),
                duration_seconds: self.seconds.unsigned_abs(),
                rate: self.rate,
                daily_amplitude: self.amplitude,
                daily_peak_hour_utc: DAILY_PEAK_HOUR,
                producer_flag_rate: self.flag_rate,
                batch_seconds: BATCH_SECONDS.unsigned_abs(),
                users: [USERS.0, USERS.1],
                pages: PAGES
                    .iter()
                    .zip(PAGE_SHARES)
                    .map(|(page, share)| PageShare {
                        page: (*page).to_owned(),
                        share,
                    })
                    .collect(),
                delivery_stream_arn: STREAM_ARN,
            },
            anomalies: &self.anomalies,
        }
    }

    /// The site's normal clicks per second at `at`, before any injection.
    pub(crate) fn rate_at(&self, at: DateTime<Utc>) -> f64 {
        let of_day = f64::from(at.num_seconds_from_midnight()) + f64::from(at.nanosecond()) / 1e9;
        let peak = f64::from(DAILY_PEAK_HOUR) * 3600.0;
        let phase = (of_day - peak) / 86_400.0 * std::f64::consts::TAU;
        self.rate * (1.0 + self.amplitude * phase.cos())
    }

    /// The events, one per [`BATCH_SECONDS`] of traffic that holds any click, in order.
    pub(crate) fn traffic(&self) -> Traffic<'_> {
        Traffic {
            scenario: self,
            rng: fastrand::Rng::with_seed(self.seed),
            slice: 0,
            batch: 0,
            batches: (self.seconds + BATCH_SECONDS - 1) / BATCH_SECONDS,
            start_ms: self.start.timestamp_millis(),
            pending: Vec::new(),
        }
    }
}

/// The scenario's events, made as they are asked for.
#[derive(Debug)]
pub(crate) struct Traffic<'a> {
    scenario: &'a Scenario,
    rng: fastrand::Rng,
    /// The next one-second slice of traffic to make, counted from the start.
    slice: i64,
    /// The next batch to hand out.
    batch: i64,
    batches: i64,
    start_ms: i64,
    /// Records made but not yet handed out: those arriving after the current batch's end.
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    arrival_ms: i64,
    record: RecordOut,
}

/// Where a slice's clicks go: a page at its normal user mix, or a bot.
#[derive(Debug, Clone, Copy)]
struct Source {
    rate: f64,
    page: usize,
    bot: Option<u32>,
}

impl Iterator for Traffic<'_> {
    type Item = FirehoseEventOut;

    fn next(&mut self) -> Option<FirehoseEventOut> {
        while self.batch < self.batches {
            let batch = self.batch;
            self.batch += 1;
            let last = self.batch == self.batches;
            // Every click before the batch's end is made before it is cut: a click made later
            // arrives later still.
            let until = ((batch + 1) * BATCH_SECONDS).min(self.scenario.seconds);
            while self.slice < until {
                self.make_slice(self.slice);
                self.slice += 1;
            }
            // Firehose hands records over in the order they arrived.
            self.pending.sort_by_key(|p| p.arrival_ms);
            let end_ms = self.start_ms + (batch + 1) * BATCH_SECONDS * 1000;
            let cut = if last {
                self.pending.len()
            } else {
                self.pending.partition_point(|p| p.arrival_ms < end_ms)
            };
            if cut == 0 {
                // Firehose never invokes the function for an empty buffer.
                continue;
            }
            let records = self.pending.drain(..cut).map(|p| p.record).collect();
            return Some(FirehoseEventOut {
                invocation_id: invocation_id(&mut self.rng, batch),
                delivery_stream_arn: STREAM_ARN,
                region: "us-east-1",
                records,
            });
        }
        None
    }
}

impl Traffic<'_> {
    /// Makes the clicks of the second `slice` after the start.
    fn make_slice(&mut self, slice: i64) {
        let scenario = self.scenario;
        let begin = scenario.start + Duration::seconds(slice);
        let middle = begin + Duration::milliseconds(500);
        let normal = scenario.rate_at(middle);
        let mut sources: Vec<Source> = PAGE_SHARES
            .iter()
            .enumerate()
            .map(|(page, share)| Source {
                rate: normal * share,
                page,
                bot: None,
            })
            .collect();
        for (label, page) in scenario.anomalies.iter().zip(&scenario.pages) {
            if !label.covers(middle) {
                continue;
            }
            let factor = label.factor.unwrap_or(1.0);
            match (label.kind, page) {
                (Kind::Spike | Kind::Drop, Some(page)) => {
                    if let Some(s) = sources.get_mut(*page) {
                        s.rate *= factor;
                    }
                }
                (Kind::SiteDrop, _) => {
                    for s in sources.iter_mut().filter(|s| s.bot.is_none()) {
                        s.rate *= factor;
                    }
                }
                (Kind::Bot, Some(page)) => sources.push(Source {
                    rate: label.rate.unwrap_or(0.0),
                    page: *page,
                    bot: label.user,
                }),
                _ => {}
            }
        }
        let total: f64 = sources.iter().map(|s| s.rate).sum();
        if !(total > 0.0 && total.is_finite()) {
            return;
        }
        // Exponential gaps at the slice's total rate; each click then picks its source in
        // proportion to the sources' rates, which splits the process into one per source.
        let mut t = 0.0;
        loop {
            t += -(1.0 - self.rng.f64()).ln() / total;
            if t >= 1.0 {
                break;
            }
            let mut pick = self.rng.f64() * total;
            let source = sources
                .iter()
                .find(|s| {
                    pick -= s.rate;
                    pick < 0.0
                })
                .or(sources.last())
                .copied();
            let Some(source) = source else { break };
            let at = begin + Duration::microseconds((t * 1e6) as i64);
            self.push(at, source);
        }
    }

    fn push(&mut self, at: DateTime<Utc>, source: Source) {
        let rng = &mut self.rng;
        let user_id = source.bot.unwrap_or_else(|| rng.u32(USERS.0..=USERS.1));
        let click = Click {
            timestamp: at,
            user_id,
            page: u32::try_from(source.page + 1).unwrap_or(1),
            element: rng.u32(1..=50),
            x: rng.u32(0..=1920),
            y: rng.u32(0..=1080),
            anomaly: rng.f64() < self.scenario.flag_rate,
        };
        let arrival = at + Duration::microseconds(rng.i64(20_000..ARRIVAL_DELAY_MAX_US));
        let arrival_ms = arrival.timestamp_millis();
        self.pending.push(Pending {
            arrival_ms,
            record: RecordOut {
                record_id: record_id(rng),
                approximate_arrival_timestamp: arrival_ms,
                data: STANDARD.encode(click.to_json()),
            },
        });
    }
}

/// A version-4-shaped UUID whose last part is the batch's number, so that no two events of a
/// scenario share one.
fn invocation_id(rng: &mut fastrand::Rng, batch: i64) -> String {
    let mut hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-4{}-a{}-{:012x}",
        hex(8),
        hex(4),
        hex(3),
        hex(3),
        batch & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::labels::Injection;

    fn start() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn scenario(minutes: u64, rate: f64, injections: &[&str]) -> Scenario {
        let anomalies = injections
            .iter()
            .map(|s| s.parse::<Injection>().unwrap().label(start(), 0))
            .collect();
        Scenario::new(ScenarioOptions {
            seed: 5,
            start: start(),
            duration: std::time::Duration::from_secs(minutes * 60),
            rate,
            daily_amplitude: 0.5,
            producer_flag_rate: 0.0,
            anomalies,
        })
        .unwrap()
    }

    /// Every click of the traffic: (time, page, user), decoded from the records.
    fn clicks(s: &Scenario) -> Vec<(DateTime<Utc>, String, u64)> {
        let mut out = Vec::new();
        for event in s.traffic() {
            for r in event.records {
                let text = STANDARD.decode(&r.data).unwrap();
                let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
                let at = format!("{}Z", v["timestamp"].as_str().unwrap());
                out.push((
                    at.parse().unwrap(),
                    v["page_url"].as_str().unwrap().to_owned(),
                    v["user_id"].as_u64().unwrap(),
                ));
            }
        }
        out
    }

    #[test]
    fn the_shares_make_a_whole_and_one_page_carries_five_percent() {
        assert!((PAGE_SHARES.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(PAGE_SHARES.contains(&0.05));
        assert!(PAGE_SHARES.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn the_daily_rhythm_peaks_and_bottoms_as_documented() {
        let s = scenario(1, 10.0, &[]);
        let at = |h: u32| start() + Duration::hours(i64::from(h));
        assert!((s.rate_at(at(14)) - 15.0).abs() < 1e-9);
        assert!((s.rate_at(at(2)) - 5.0).abs() < 1e-9);
        assert!((s.rate_at(at(8)) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn events_cut_every_minute_by_arrival_with_each_click_soon_after_it_was_made() {
        let s = scenario(10, 5.0, &[]);
        let events: Vec<FirehoseEventOut> = s.traffic().collect();
        assert_eq!(events.len(), 10);
        let mut ids: Vec<&str> = events.iter().map(|e| e.invocation_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        let start_ms = start().timestamp_millis();
        for (k, e) in events.iter().enumerate() {
            let arrivals: Vec<i64> = e
                .records
                .iter()
                .map(|r| r.approximate_arrival_timestamp)
                .collect();
            assert!(arrivals.is_sorted());
            let k = k as i64;
            assert!(arrivals[0] >= start_ms + k * 60_000);
            if k < 9 {
                assert!(*arrivals.last().unwrap() < start_ms + (k + 1) * 60_000);
            }
            for r in &e.records {
                let text = STANDARD.decode(&r.data).unwrap();
                let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
                let at: DateTime<Utc> = format!("{}Z", v["timestamp"].as_str().unwrap())
                    .parse()
                    .unwrap();
                let delay = r.approximate_arrival_timestamp * 1000 - at.timestamp_micros();
                assert!((0..1_500_000).contains(&delay), "{delay} µs");
            }
        }
        // About 5 a second at 00:00, where the rhythm is half-way down to its trough.
        let n: usize = events.iter().map(|e| e.records.len()).sum();
        let expected = 600.0 * s.rate_at(start() + Duration::minutes(5));
        assert!(
            (n as f64 - expected).abs() < 4.0 * expected.sqrt(),
            "{n} vs {expected}"
        );
    }

    #[test]
    fn a_spike_triples_its_page_and_a_bot_clicks_at_its_rate() {
        let s = scenario(
            30,
            50.0,
            &[
                "spike:at=10m,page=/pagina-9",
                "bot:at=20m,for=1m,rate=8,page=3",
            ],
        );
        let all = clicks(&s);
        let minute = |m: i64| start() + Duration::minutes(m);
        let count = |from: i64, to: i64, page: &str| {
            all.iter()
                .filter(|(at, p, _)| *at >= minute(from) && *at < minute(to) && p == page)
                .count() as f64
        };
        // Poisson counts: within four standard deviations of what the rates say.
        let expect = |from: i64, to: i64, factor: f64| {
            (from * 60..to * 60)
                .map(|sec| s.rate_at(start() + Duration::milliseconds(sec * 1000 + 500)))
                .sum::<f64>()
                * 0.05
                * factor
        };
        for (from, to, factor) in [(5, 10, 1.0), (10, 13, 3.0), (13, 20, 1.0)] {
            let (n, mean) = (count(from, to, "/pagina-9"), expect(from, to, factor));
            assert!(
                (n - mean).abs() < 4.0 * mean.sqrt(),
                "minutes {from}-{to}: {n} clicks, {mean} expected"
            );
        }
        let bot: Vec<_> = all.iter().filter(|(_, _, u)| *u == 1001).collect();
        assert!((400..560).contains(&bot.len()), "{}", bot.len());
        assert!(
            bot.iter()
                .all(|(at, p, _)| { *at >= minute(20) && *at < minute(21) && p == "/pagina-3" })
        );
    }

    #[test]
    fn labels_outside_the_traffic_are_refused() {
        let label = "spike:at=50m,page=1"
            .parse::<Injection>()
            .unwrap()
            .label(start(), 0);
        let e = Scenario::new(ScenarioOptions {
            seed: 1,
            start: start(),
            duration: std::time::Duration::from_secs(3000),
            rate: 1.0,
            daily_amplitude: 0.0,
            producer_flag_rate: 0.0,
            anomalies: vec![label],
        })
        .unwrap_err();
        assert!(matches!(e, ScenarioError::Outside { .. }), "{e}");
    }
}
