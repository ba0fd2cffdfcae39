//! How often and how patiently records are put again. One policy serves both kinds of retry:
//! the AWS SDK's, of whole calls (configured from it in `firehose_sink`), and the run loop's
//! resending of failed entries, so what `--help` promises holds wherever a retry happens.

use std::time::Duration;

/// Attempts per record and the waits between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts per record in all, the first included, whichever kind of retry makes them.
    pub(crate) attempts: u32,
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait before resending failed entries after `retry` attempts (1 for the second
    /// attempt): doubling, then capped. The SDK waits a random share of the same.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default();
        let delays: Vec<Duration> = (1..policy.attempts)
            .map(|retry| policy.delay(retry))
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800].map(Duration::from_millis).to_vec()
        );
        assert_eq!(policy.delay(5), Duration::from_millis(1600));
        assert_eq!(policy.delay(6), Duration::from_secs(2));
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(2));
        let total: Duration = delays.iter().sum();
        assert!(total <= Duration::from_secs(2), "{total:?} of waiting");
    }
}
