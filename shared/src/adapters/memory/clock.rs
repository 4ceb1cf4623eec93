//! A clock that tests move by hand: leases, schedules, rate windows and idempotency expiry are
//! tested by setting the time instead of sleeping.

use std::sync::Mutex;
use std::time::Duration;

use super::lock;
use crate::domain::time::Timestamp;
use crate::ports::{Clock, SystemClock};

#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn at(now: Timestamp) -> ManualClock {
        ManualClock { now: Mutex::new(now) }
    }

    /// Starts at the system's current time, then only moves when told.
    pub fn starting_now() -> ManualClock {
        ManualClock::at(SystemClock.now())
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now = now.plus(by);
    }

    pub fn set(&self, to: Timestamp) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_moves_only_when_told() {
        let start = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().to_string(), "2026-01-01T00:01:30.000Z");
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
