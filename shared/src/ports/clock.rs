//! The clock: every rule that depends on the time (leases, schedules, TTLs, rate windows) asks
//! one of these, so a test can move time instead of sleeping.

use crate::domain::time::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock: what every deployment uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from(chrono::Utc::now())
    }
}
