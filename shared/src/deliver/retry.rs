//! Retry timing: attempt n waits `base × 2^(n-1)` seconds, with at most ±20% jitter.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
}

/// Spreads retries of jobs that failed together so they do not come back together.
const JITTER: f64 = 0.2;

impl RetryPolicy {
    /// How long a job stays hidden after its attempt `attempt` (from 1) failed transiently.
    /// Whole seconds, because that is what SQS visibility takes; at least 1 s.
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let nominal = self.base.as_secs_f64() * f64::from(1u32 << exponent);
        let jitter = 1.0 + JITTER * (2.0 * fastrand::f64() - 1.0);
        Duration::from_secs((nominal * jitter).round().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_attempt_within_the_jitter() {
        let policy = RetryPolicy { base: Duration::from_secs(10) };
        for _ in 0..200 {
            for (attempt, nominal) in [(1u32, 10.0f64), (2, 20.0), (3, 40.0)] {
                let delay = policy.delay_for(attempt).as_secs_f64();
                assert!(
                    delay >= (nominal * 0.8).floor() && delay <= (nominal * 1.2).ceil(),
                    "attempt {attempt}: {delay}"
                );
            }
        }
    }

    #[test]
    fn a_one_second_base_still_grows_and_never_reaches_zero() {
        let policy = RetryPolicy { base: Duration::from_secs(1) };
        for _ in 0..200 {
            assert_eq!(policy.delay_for(1), Duration::from_secs(1));
            assert_eq!(policy.delay_for(2), Duration::from_secs(2));
            assert!((3..=5).contains(&policy.delay_for(3).as_secs()));
        }
    }
}
