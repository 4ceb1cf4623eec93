//! The counts the queue routes answer with, kept as counters instead of counted from records:
//! per phone the gauges (`pending`, `active`, dead letters) and the finished messages by hour,
//! per broadcast its sent, failed and cancelled chats. The status-stream consumer adds one
//! stream window's changes at a time (`Changes`), at most once per counter item and shard
//! window (`StreamSpan`); the routes read them back (`PhoneCounts`, `BroadcastTally`).
//!
//! A counter is one numeric attribute of its item, named here: `pending`, `active`, `dead`,
//! `c{hour}` / `f{hour}` (completed / failed in that hour since the epoch), `sent`, `failed`,
//! `cancelled`; the stream position a counter item has taken in is `w{shard hash}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::{BroadcastId, OrgId, PhoneId};
use super::time::Timestamp;

const HOUR_SECS: i64 = 3600;
/// `completed` and `failed` count this many whole hours back, and the current one.
pub const FINISHED_WINDOW_HOURS: i64 = 24;
/// Hour buckets and stream positions older than this are never read or retried again: DynamoDB
/// Streams keeps a record 24 hours, so no window older than that can be retried.
const KEPT_HOURS: i64 = 26;

/// The hour `at` falls in, counted from the epoch.
pub fn hour_of(at: Timestamp) -> i64 {
    at.epoch_secs().div_euclid(HOUR_SECS)
}

/// One counter of a counter item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// The phone's messages waiting in the queue.
    Pending,
    /// The phone's messages being handed to a provider.
    Active,
    /// The phone's failed messages kept for replay.
    DeadLetter,
    /// The phone's messages that reached `sent` (or beyond) in this hour.
    Completed {
        hour: i64,
    },
    /// The phone's messages that failed or were cancelled in this hour.
    Failed {
        hour: i64,
    },
    BroadcastSent,
    BroadcastFailed,
    BroadcastCancelled,
}

impl Counter {
    /// The attribute that holds it.
    pub fn attribute(&self) -> String {
        match self {
            Counter::Pending => "pending".into(),
            Counter::Active => "active".into(),
            Counter::DeadLetter => "dead".into(),
            Counter::Completed { hour } => format!("c{hour}"),
            Counter::Failed { hour } => format!("f{hour}"),
            Counter::BroadcastSent => "sent".into(),
            Counter::BroadcastFailed => "failed".into(),
            Counter::BroadcastCancelled => "cancelled".into(),
        }
    }

    /// The counter an attribute holds; `None` for anything else (keys, stream positions).
    pub fn parse(attribute: &str) -> Option<Counter> {
        let hour = |rest: &str| rest.parse::<i64>().ok();
        match attribute {
            "pending" => Some(Counter::Pending),
            "active" => Some(Counter::Active),
            "dead" => Some(Counter::DeadLetter),
            "sent" => Some(Counter::BroadcastSent),
            "failed" => Some(Counter::BroadcastFailed),
            "cancelled" => Some(Counter::BroadcastCancelled),
            _ => match attribute.split_at_checked(1) {
                Some(("c", rest)) => hour(rest).map(|hour| Counter::Completed { hour }),
                Some(("f", rest)) => hour(rest).map(|hour| Counter::Failed { hour }),
                _ => None,
            },
        }
    }
}

/// The item that holds a set of counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum CounterItem {
    Phone { org: OrgId, phone: PhoneId },
    Broadcast { org: OrgId, broadcast: BroadcastId },
}

/// Counter changes by item and attribute, as one stream window adds them up; zero changes are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    items: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    item: CounterItem,
    tally: BTreeMap<String, i64>,
    /// When the item may go (epoch seconds): a broadcast's counts expire with its records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl Changes {
    fn entry(&mut self, item: &CounterItem) -> &mut Entry {
        let index = match self.items.iter().position(|entry| entry.item == *item) {
            Some(index) => index,
            None => {
                self.items.push(Entry { item: item.clone(), tally: BTreeMap::new(), expires_at: None });
                self.items.len() - 1
            }
        };
        &mut self.items[index]
    }

    pub fn add(&mut self, item: &CounterItem, counter: Counter, by: i64) {
        if by == 0 {
            return;
        }
        let tally = &mut self.entry(item).tally;
        let attribute = counter.attribute();
        let sum = tally.get(&attribute).copied().unwrap_or(0) + by;
        if sum == 0 {
            tally.remove(&attribute);
        } else {
            tally.insert(attribute, sum);
        }
    }

    /// Keeps `item` at least until `expires_at` (the latest one given wins).
    pub fn keep_until(&mut self, item: &CounterItem, expires_at: i64) {
        let entry = self.entry(item);
        entry.expires_at = Some(entry.expires_at.map_or(expires_at, |known| known.max(expires_at)));
    }

    /// Each item with its non-zero changes, attribute → amount.
    pub fn items(&self) -> impl Iterator<Item = (&CounterItem, &BTreeMap<String, i64>)> {
        self.items.iter().filter(|entry| !entry.tally.is_empty()).map(|entry| (&entry.item, &entry.tally))
    }

    /// When `item` may expire, if it ever does.
    pub fn expiry(&self, item: &CounterItem) -> Option<i64> {
        self.items.iter().find(|entry| entry.item == *item).and_then(|entry| entry.expires_at)
    }

    pub fn is_empty(&self) -> bool {
        self.items().next().is_none()
    }
}

/// Which stream records a window's changes come from: one shard's, from `first` to `last`
/// (sequence numbers), in the window starting at `window_start`. Within a shard sequence numbers
/// grow, so a counter item that has taken in a span (its watermark) can tell a retry from what
/// follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpan {
    pub shard: String,
    pub window_start: Timestamp,
    pub first: String,
    pub last: String,
}

impl StreamSpan {
    /// The attribute that holds this shard's watermark on a counter item: `w` and 8 hex digits of
    /// a SHA-256 of the shard id (shard ids are ~40 characters; items stay small).
    pub fn watermark_attribute(&self) -> String {
        format!("w{}", hex::encode(&Sha256::digest(self.shard.as_bytes())[..4]))
    }

    /// The watermark an item holds once it has taken this span in: its last sequence number,
    /// then `@` and the window's start (which dates it for pruning).
    pub fn last_mark(&self) -> String {
        format!("{}@{}", ordered(&self.last), self.window_start.epoch_secs())
    }

    /// Below this, an item's watermark means the span is new to it; at or above, a retry.
    pub fn first_mark(&self) -> String {
        ordered(&self.first)
    }
}

/// A sequence number (up to 40 digits) as text that orders like the number: its digit count first.
fn ordered(sequence: &str) -> String {
    format!("{:02}{sequence}", sequence.len())
}

fn is_watermark(attribute: &str) -> bool {
    attribute.len() == 9 && attribute.starts_with('w')
}

/// Attributes of a counter item (name and, for watermarks, value) that nothing reads or
/// retries any more at `now`: hour buckets older than `KEPT_HOURS`, watermarks of windows older.
pub fn stale_attributes<'a>(
    attributes: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    now: Timestamp,
) -> Vec<String> {
    let oldest_hour = hour_of(now) - KEPT_HOURS;
    let oldest_window = now.epoch_secs() - KEPT_HOURS * HOUR_SECS;
    attributes
        .filter(|(name, value)| match Counter::parse(name) {
            Some(Counter::Completed { hour } | Counter::Failed { hour }) => hour < oldest_hour,
            Some(_) => false,
            None => {
                let dated = value.and_then(|v| v.rsplit_once('@')).and_then(|(_, t)| t.parse::<i64>().ok());
                is_watermark(name) && dated.is_some_and(|t| t < oldest_window)
            }
        })
        .map(|(name, _)| name.to_string())
        .collect()
}

/// A phone's counts as `GET /v1/queue` answers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhoneCounts {
    pub pending: u64,
    pub active: u64,
    pub dead_letter: u64,
    /// In the current hour and the 24 before it.
    pub completed: u64,
    pub failed: u64,
}

impl PhoneCounts {
    /// From a phone's counter item (attribute → value) at `now`.
    pub fn of<'a>(counters: impl Iterator<Item = (&'a str, i64)>, now: Timestamp) -> PhoneCounts {
        let recent = |hour: i64| (hour_of(now) - FINISHED_WINDOW_HOURS..=hour_of(now)).contains(&hour);
        let mut counts = PhoneCounts::default();
        // A gauge is never negative once its window is in; clamp what a lagging window could show.
        let count = |value: i64| value.max(0) as u64;
        for (attribute, value) in counters {
            match Counter::parse(attribute) {
                Some(Counter::Pending) => counts.pending = count(value),
                Some(Counter::Active) => counts.active = count(value),
                Some(Counter::DeadLetter) => counts.dead_letter = count(value),
                Some(Counter::Completed { hour }) if recent(hour) => counts.completed += count(value),
                Some(Counter::Failed { hour }) if recent(hour) => counts.failed += count(value),
                _ => {}
            }
        }
        counts
    }
}

/// A broadcast's finished chats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastTally {
    pub sent: u32,
    pub failed: u32,
    pub cancelled: u32,
}

impl BroadcastTally {
    pub fn of<'a>(counters: impl Iterator<Item = (&'a str, i64)>) -> BroadcastTally {
        let mut tally = BroadcastTally::default();
        let count = |value: i64| value.clamp(0, i64::from(u32::MAX)) as u32;
        for (attribute, value) in counters {
            match Counter::parse(attribute) {
                Some(Counter::BroadcastSent) => tally.sent = count(value),
                Some(Counter::BroadcastFailed) => tally.failed = count(value),
                Some(Counter::BroadcastCancelled) => tally.cancelled = count(value),
                _ => {}
            }
        }
        tally
    }

    pub fn finished(&self) -> u32 {
        self.sent + self.failed + self.cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Timestamp {
        Timestamp::parse(raw).unwrap()
    }

    #[test]
    fn counters_round_trip_through_their_attribute_names() {
        for counter in [
            Counter::Pending,
            Counter::Active,
            Counter::DeadLetter,
            Counter::Completed { hour: 493_800 },
            Counter::Failed { hour: 7 },
            Counter::BroadcastSent,
            Counter::BroadcastFailed,
            Counter::BroadcastCancelled,
        ] {
            assert_eq!(Counter::parse(&counter.attribute()), Some(counter));
        }
        for other in ["pk", "sk", "w0a1b2c3d", "c", "fx", "expires_at"] {
            assert_eq!(Counter::parse(other), None, "{other}");
        }
    }

    #[test]
    fn changes_add_up_per_item_and_drop_what_cancels_out() {
        let phone = CounterItem::Phone { org: "o".into(), phone: "p".into() };
        let mut changes = Changes::default();
        changes.add(&phone, Counter::Pending, 1);
        changes.add(&phone, Counter::Pending, -1);
        assert!(changes.is_empty(), "queued and picked up within one window: no write");
        changes.add(&phone, Counter::Completed { hour: 3 }, 1);
        changes.add(&phone, Counter::Completed { hour: 3 }, 1);
        let items: Vec<_> = changes.items().collect();
        assert_eq!(items, [(&phone, &BTreeMap::from([("c3".to_string(), 2)]))]);
        let json = serde_json::to_string(&changes).unwrap();
        assert_eq!(serde_json::from_str::<Changes>(&json).unwrap(), changes);
    }

    #[test]
    fn watermarks_order_spans_of_a_shard_and_date_themselves() {
        let span = |start: &str, first: &str, last: &str| StreamSpan {
            shard: "shardId-00000001541626099285-f35f62ef".into(),
            window_start: at(start),
            first: first.into(),
            last: last.into(),
        };
        let one = span("2026-01-01T00:00:00Z", "1100000000017454423009", "1100000000017454423012");
        let next = span("2026-01-01T00:00:10Z", "1100000000017454423013", "1100000000017454423020");
        assert!(one.last_mark() >= one.first_mark(), "a retried span is recognised");
        assert!(one.last_mark() < next.first_mark(), "the next span is new");
        let longer = span("2026-01-01T00:00:10Z", "99000000000000000000001", "99000000000000000000001");
        assert!(one.last_mark() < longer.first_mark(), "more digits is a later number");
        assert_eq!(one.watermark_attribute().len(), 9);
        // Kept while the stream could still retry its window (24 hours, and two to spare).
        let mark = one.last_mark();
        let now = at("2026-01-02T01:59:00Z");
        assert!(stale_attributes([("w00000000", Some(mark.as_str()))].into_iter(), now).is_empty());
        let later = at("2026-01-02T02:00:01Z");
        assert_eq!(stale_attributes([("w00000000", Some(mark.as_str()))].into_iter(), later), ["w00000000"]);
    }

    #[test]
    fn a_phone_counts_its_gauges_and_the_last_24_hours_of_finished_messages() {
        let now = at("2026-01-02T12:30:00Z");
        let hour = hour_of(now);
        let attributes = [
            ("pending".to_string(), 3),
            ("active".to_string(), -1),
            ("dead".to_string(), 2),
            (format!("c{hour}"), 5),
            (format!("c{}", hour - 24), 1),
            (format!("c{}", hour - 25), 100),
            (format!("f{}", hour - 1), 4),
            ("pk".to_string(), 9),
        ];
        let counts = PhoneCounts::of(attributes.iter().map(|(k, v)| (k.as_str(), *v)), now);
        assert_eq!(counts, PhoneCounts { pending: 3, active: 0, dead_letter: 2, completed: 6, failed: 4 });
        let names = attributes.iter().map(|(k, _)| (k.as_str(), None));
        assert!(stale_attributes(names, now).is_empty(), "26 hours are kept");
        let names = [(format!("c{}", hour - 27), None::<&str>)];
        assert_eq!(stale_attributes(names.iter().map(|(k, v)| (k.as_str(), *v)), now), [format!("c{}", hour - 27)]);
    }
}
