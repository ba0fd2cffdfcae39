//! When each record is due and when the run ends.
//!
//! Records are scheduled against the start of the run rather than by sleeping between them, so
//! the average rate stays exact however long the calls take: records that fall due during a
//! slow call are taken right after it.

use std::time::Duration;

use tokio::time::Instant;

/// When to stop making records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Count(u64),
    For(Duration),
}

/// Records per second and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    pub(crate) rate: u32,
    pub(crate) limit: Limit,
}

impl Pace {
    /// When record `index` is due, from the start.
    fn due(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// A run's progress through its [`Pace`]: how many records were taken, and from when.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pace: Pace,
    start: Instant,
    taken: u64,
}

impl Schedule {
    pub(crate) fn new(pace: Pace, start: Instant) -> Self {
        Self {
            pace,
            start,
            taken: 0,
        }
    }

    /// Whether no more records are to be taken.
    pub(crate) fn is_over(&self, now: Instant) -> bool {
        match self.pace.limit {
            Limit::Count(count) => self.taken >= count,
            // A run that fell behind its schedule still ends on time.
            Limit::For(length) => {
                self.pace.due(self.taken) >= length || now.duration_since(self.start) >= length
            }
        }
    }

    /// When the next record is due; `None` when that is too far off to be represented, as it
    /// never comes.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.start.checked_add(self.pace.due(self.taken))
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.next_due().is_some_and(|due| due <= now)
    }

    /// Counts the record that was due as taken.
    pub(crate) fn took_one(&mut self) {
        self.taken += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn records_fall_due_at_the_rate_from_the_start() {
        let pace = Pace {
            rate: 4,
            limit: Limit::Count(10),
        };
        let due: Vec<Duration> = (0..5).map(|i| pace.due(i)).collect();
        assert_eq!(due, [0, 250, 500, 750, 1000].map(ms));
        // No rounding drift over a long run: record 3,000,000 at 3 a second is due at 1,000,000 s.
        let thirds = Pace {
            rate: 3,
            limit: Limit::Count(1),
        };
        assert_eq!(thirds.due(3_000_000), Duration::from_secs(1_000_000));
        assert_eq!(thirds.due(1), Duration::from_nanos(333_333_333));
        // Out of range saturates instead of wrapping to an early time.
        let slow = Pace {
            rate: 1,
            limit: Limit::Count(1),
        };
        assert_eq!(slow.due(u64::MAX), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn a_count_ends_after_that_many_records() {
        let start = Instant::now();
        let mut schedule = Schedule::new(
            Pace {
                rate: 10,
                limit: Limit::Count(3),
            },
            start,
        );
        let mut due = Vec::new();
        while !schedule.is_over(start + Duration::from_secs(3600)) {
            due.push(schedule.next_due().unwrap() - start);
            assert!(!schedule.is_due(schedule.next_due().unwrap() - ms(1)));
            assert!(schedule.is_due(schedule.next_due().unwrap()));
            schedule.took_one();
        }
        assert_eq!(due, [0, 100, 200].map(ms));
    }

    #[test]
    fn a_duration_ends_with_the_last_record_due_within_it_or_when_it_has_passed() {
        let start = Instant::now();
        let mut schedule = Schedule::new(
            Pace {
                rate: 10,
                limit: Limit::For(ms(250)),
            },
            start,
        );
        let mut taken = 0;
        while !schedule.is_over(start) {
            schedule.took_one();
            taken += 1;
        }
        assert_eq!(taken, 3, "records due at 0, 100 and 200 ms");

        // Behind schedule (slow calls), the run still stops when its time is up.
        let late = Schedule::new(
            Pace {
                rate: 10,
                limit: Limit::For(ms(250)),
            },
            start,
        );
        assert!(!late.is_over(start + ms(249)));
        assert!(late.is_over(start + ms(250)));
    }
}
