//! Timestamps as stored and shown: RFC 3339 in UTC with milliseconds, so they also sort as strings.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_rfc3339(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_a_fixed_width_so_they_sort_as_strings() {
        let a = rfc3339(DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let b = rfc3339(DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap());
        assert_eq!(a, "2023-11-14T22:13:20.000Z");
        assert_eq!(a.len(), b.len());
        assert!(a < b);
        assert_eq!(parse_rfc3339(&b).map(rfc3339), Some(b));
    }
}
