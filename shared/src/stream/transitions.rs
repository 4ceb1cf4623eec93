//! What one change of a message record does to the counters: the old and the new record (either
//! may be absent: created, deleted) as the stream shows them, turned into counter changes. Pure.
//!
//! Gauges (`pending`, `active`, dead letters) follow the records that exist, so a deletion (TTL)
//! takes a message out of them; the finished counts (per hour, per broadcast) are history, which a
//! deletion does not rewrite. A change within a class (`sent → delivered → read`) changes nothing.

use crate::domain::counters::{Changes, Counter, CounterItem, hour_of};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId};
use crate::domain::message::{MessageRecord, Status, Timeline};
use crate::domain::time::Timestamp;

/// The parts of a message record the counters depend on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct MessageView {
    pub org_id: OrgId,
    pub phone_id: PhoneId,
    #[serde(default)]
    pub broadcast_id: Option<BroadcastId>,
    pub status: Status,
    pub timeline: Timeline,
    #[serde(default)]
    pub dead_lettered_at: Option<Timestamp>,
    pub expires_at: i64,
}

impl From<&MessageRecord> for MessageView {
    fn from(record: &MessageRecord) -> MessageView {
        MessageView {
            org_id: record.org_id.clone(),
            phone_id: record.phone_id.clone(),
            broadcast_id: record.broadcast_id.clone(),
            status: record.status,
            timeline: record.timeline.clone(),
            dead_lettered_at: record.dead_lettered_at,
            expires_at: record.expires_at,
        }
    }
}

/// The counters a message counts in while it is in `view`'s state, each once. `at` dates a
/// finish the record does not (it always does; a lagging or foreign writer might not).
fn counted_in(view: &MessageView, at: Timestamp) -> (Vec<Counter>, Vec<Counter>) {
    let finished = |when: Option<Timestamp>| hour_of(when.unwrap_or(at));
    let timeline = &view.timeline;
    let mut gauges = vec![];
    let mut history = vec![];
    match view.status {
        Status::Queued => gauges.push(Counter::Pending),
        Status::Sending => gauges.push(Counter::Active),
        Status::Sent | Status::Delivered | Status::Read => {
            history.extend([Counter::Completed { hour: finished(timeline.sent_at) }, Counter::BroadcastSent]);
        }
        Status::Failed => {
            history.extend([Counter::Failed { hour: finished(timeline.failed_at) }, Counter::BroadcastFailed]);
        }
        Status::Cancelled => {
            history.extend([Counter::Failed { hour: finished(timeline.cancelled_at) }, Counter::BroadcastCancelled]);
        }
    }
    if view.dead_lettered_at.is_some() {
        gauges.push(Counter::DeadLetter);
    }
    (gauges, history)
}

/// The counter item a counter of `view`'s lives on: broadcast counters on the broadcast's, the rest on the phone's.
fn item_of(view: &MessageView, counter: Counter) -> Option<CounterItem> {
    match counter {
        Counter::BroadcastSent | Counter::BroadcastFailed | Counter::BroadcastCancelled => view
            .broadcast_id
            .as_ref()
            .map(|broadcast| CounterItem::Broadcast { org: view.org_id.clone(), broadcast: broadcast.clone() }),
        _ => Some(CounterItem::Phone { org: view.org_id.clone(), phone: view.phone_id.clone() }),
    }
}

/// Adds what a record's change from `old` to `new` does to the counters; `at` is when the stream saw it.
pub fn add_change(changes: &mut Changes, old: Option<&MessageView>, new: Option<&MessageView>, at: Timestamp) {
    let mut apply = |view: &MessageView, counters: Vec<Counter>, by: i64| {
        for counter in counters {
            if let Some(item) = item_of(view, counter) {
                changes.add(&item, counter, by);
            }
        }
    };
    if let Some(old) = old {
        let (gauges, history) = counted_in(old, at);
        apply(old, gauges, -1);
        // A deletion leaves the history as it was.
        if new.is_some() {
            apply(old, history, -1);
        }
    }
    if let Some(new) = new {
        let (gauges, history) = counted_in(new, at);
        apply(new, gauges, 1);
        apply(new, history, 1);
    }
    if let Some(view) = new.filter(|view| view.broadcast_id.is_some()) {
        if let Some(item) = item_of(view, Counter::BroadcastSent) {
            changes.keep_until(&item, view.expires_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn at(raw: &str) -> Timestamp {
        Timestamp::parse(raw).unwrap()
    }

    fn view(status: Status) -> MessageView {
        MessageView {
            org_id: "org-1".into(),
            phone_id: "phone-1".into(),
            broadcast_id: None,
            status,
            timeline: Timeline::queued(at("2026-01-01T00:00:00Z")),
            dead_lettered_at: None,
            expires_at: 1_800_000_000,
        }
    }

    fn finished(status: Status, when: &str) -> MessageView {
        let mut view = view(status);
        match status {
            Status::Sent => view.timeline.sent_at = Some(at(when)),
            Status::Failed => view.timeline.failed_at = Some(at(when)),
            _ => view.timeline.cancelled_at = Some(at(when)),
        }
        view
    }

    fn phone() -> CounterItem {
        CounterItem::Phone { org: "org-1".into(), phone: "phone-1".into() }
    }

    /// The changes of a sequence of record states (`None`: absent), as attribute → amount per item.
    fn run(states: &[Option<MessageView>]) -> Vec<(CounterItem, BTreeMap<String, i64>)> {
        let mut changes = Changes::default();
        for pair in states.windows(2) {
            add_change(&mut changes, pair[0].as_ref(), pair[1].as_ref(), at("2026-01-01T05:00:00Z"));
        }
        changes.items().map(|(item, tally)| (item.clone(), tally.clone())).collect()
    }

    fn tally(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_message_moves_from_pending_through_active_to_its_finished_hour() {
        let hour = hour_of(at("2026-01-01T01:30:00Z"));
        let sent = finished(Status::Sent, "2026-01-01T01:30:00Z");
        assert_eq!(run(&[None, Some(view(Status::Queued))]), [(phone(), tally(&[("pending", 1)]))]);
        assert_eq!(
            run(&[Some(view(Status::Queued)), Some(view(Status::Sending))]),
            [(phone(), tally(&[("active", 1), ("pending", -1)]))]
        );
        assert_eq!(
            run(&[None, Some(view(Status::Queued)), Some(view(Status::Sending)), Some(sent.clone())]),
            [(phone(), tally(&[(&format!("c{hour}"), 1)]))],
            "within one window only the finish remains"
        );
        let mut delivered = sent.clone();
        delivered.status = Status::Delivered;
        assert_eq!(run(&[Some(sent), Some(delivered)]), [], "delivered is still completed");
    }

    #[test]
    fn failures_cancellations_and_replays_move_the_failed_counts() {
        let failed_hour = hour_of(at("2026-01-01T02:00:00Z"));
        let mut dead = finished(Status::Failed, "2026-01-01T02:00:00Z");
        dead.dead_lettered_at = Some(at("2026-01-01T02:00:01Z"));
        assert_eq!(
            run(&[Some(view(Status::Sending)), Some(dead.clone())]),
            [(phone(), tally(&[("active", -1), ("dead", 1), (&format!("f{failed_hour}"), 1)]))]
        );
        // A replay: failed and dead-lettered → queued again.
        assert_eq!(
            run(&[Some(dead), Some(view(Status::Queued))]),
            [(phone(), tally(&[("dead", -1), (&format!("f{failed_hour}"), -1), ("pending", 1)]))]
        );
        let cancelled = finished(Status::Cancelled, "2026-01-01T03:00:00Z");
        let hour = hour_of(at("2026-01-01T03:00:00Z"));
        assert_eq!(
            run(&[Some(view(Status::Queued)), Some(cancelled)]),
            [(phone(), tally(&[("pending", -1), (&format!("f{hour}"), 1)]))]
        );
    }

    #[test]
    fn a_deletion_leaves_the_gauges_but_not_the_history() {
        let sent = finished(Status::Sent, "2026-01-01T01:00:00Z");
        assert_eq!(run(&[Some(sent), None]), [], "an expired sent record changes nothing");
        assert_eq!(run(&[Some(view(Status::Queued)), None]), [(phone(), tally(&[("pending", -1)]))]);
    }

    #[test]
    fn a_broadcast_message_counts_on_its_phone_and_on_its_broadcast() {
        let broadcast = CounterItem::Broadcast { org: "org-1".into(), broadcast: "b-1".into() };
        let mut queued = view(Status::Queued);
        queued.broadcast_id = Some("b-1".into());
        let mut sent = finished(Status::Sent, "2026-01-01T01:00:00Z");
        sent.broadcast_id = Some("b-1".into());
        let hour = hour_of(at("2026-01-01T01:00:00Z"));
        assert_eq!(
            run(&[Some(queued), Some(sent)]),
            [
                (phone(), tally(&[("pending", -1), (&format!("c{hour}"), 1)])),
                (broadcast.clone(), tally(&[("sent", 1)]))
            ]
        );
        let mut changes = Changes::default();
        let mut queued = view(Status::Queued);
        queued.broadcast_id = Some("b-1".into());
        add_change(&mut changes, None, Some(&queued), at("2026-01-01T00:00:00Z"));
        assert_eq!(changes.expiry(&broadcast), Some(1_800_000_000), "its counts expire with its records");
    }
}
