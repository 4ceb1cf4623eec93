//! `Timestamp`: a point in time as Outbox stores and shows it, RFC 3339 in UTC with milliseconds.
//! The text has a fixed width (`2026-01-01T00:00:00.000Z`), so it also sorts as a string: index
//! sort keys rely on that.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whole milliseconds, like its stored text, so a time read back equals the time written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Any RFC 3339 time, converted to UTC; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(raw).ok().map(|at| Timestamp::from(at.with_timezone(&Utc)))
    }

    pub fn from_epoch_secs(secs: i64) -> Option<Timestamp> {
        DateTime::from_timestamp(secs, 0).map(Timestamp::from)
    }

    pub fn from_epoch_millis(millis: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_millis(millis).map(Timestamp::from)
    }

    pub fn epoch_secs(&self) -> i64 {
        self.0.timestamp()
    }

    pub fn epoch_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Whole epoch seconds, rounded up: a time never comes before the moment it names.
    pub fn epoch_secs_ceil(&self) -> i64 {
        (self.epoch_millis() + 999).div_euclid(1000)
    }

    /// `by` later; saturates at chrono's far future rather than failing.
    pub fn plus(&self, by: Duration) -> Timestamp {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        Timestamp::from(self.0.checked_add_signed(delta).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }

    /// `by` earlier; saturates at chrono's distant past rather than failing.
    pub fn minus(&self, by: Duration) -> Timestamp {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        Timestamp::from(self.0.checked_sub_signed(delta).unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    /// How long from `earlier` to this; zero when `earlier` is not earlier.
    pub fn since(&self, earlier: Timestamp) -> Duration {
        (self.0 - earlier.0).to_std().unwrap_or_default()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Truncated to whole milliseconds.
    fn from(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Timestamp::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not an RFC 3339 time")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> Timestamp {
        Timestamp::from(DateTime::from_timestamp(secs, nanos).unwrap())
    }

    #[test]
    fn timestamps_have_a_fixed_width_so_they_sort_as_strings() {
        let (a, b) = (at(1_700_000_000, 0), at(1_700_000_000, 5_000_000));
        assert_eq!(a.to_string(), "2023-11-14T22:13:20.000Z");
        assert_eq!(a.to_string().len(), b.to_string().len());
        assert!(a.to_string() < b.to_string() && a < b);
        assert_eq!(Timestamp::parse(&b.to_string()), Some(b));
    }

    #[test]
    fn serde_is_the_stored_string_and_other_offsets_become_utc() {
        let stored = "\"2026-01-01T00:00:00.000Z\"";
        let parsed: Timestamp = serde_json::from_str(stored).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), stored);
        let shifted: Timestamp = serde_json::from_str("\"2026-01-01T02:00:00+02:00\"").unwrap();
        assert_eq!(shifted, parsed);
        assert!(serde_json::from_str::<Timestamp>("\"tomorrow\"").is_err());
    }

    #[test]
    fn a_time_keeps_whole_milliseconds_like_its_text() {
        let t = at(1_700_000_000, 5_678_901);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.005Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
    }

    #[test]
    fn arithmetic_and_epoch_seconds() {
        let t = at(1_000, 1_000_000);
        assert_eq!((t.epoch_secs(), t.epoch_secs_ceil(), t.epoch_millis()), (1_000, 1_001, 1_000_001));
        assert_eq!(at(1_000, 0).epoch_secs_ceil(), 1_000);
        assert_eq!(t.plus(Duration::from_secs(5)).since(t), Duration::from_secs(5));
        assert_eq!(t.minus(Duration::from_secs(5)).since(t), Duration::ZERO);
    }
}
