//! Counter items in memory, with the DynamoDB adapter's watermark rule: an item takes a stream
//! span in once. The in-memory table has a stream too: before each read of a counter item the
//! changes of the message records since the last read are folded in by the status stream's own
//! rules (`transitions`), so handler tests see the counts a deployment shows once its stream caught up.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::counters::{BroadcastTally, Changes, CounterItem, PhoneCounts, StreamSpan};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId};
use crate::domain::time::Timestamp;
use crate::ports::{Counters, StoreError};
use crate::stream::transitions::{MessageView, add_change};

/// One counter item: its counters and its watermarks, by attribute name.
#[derive(Debug, Default)]
pub(super) struct CounterItemState {
    counters: BTreeMap<String, i64>,
    watermarks: BTreeMap<String, String>,
}

impl MemoryStore {
    fn counters_of(&self, item: &CounterItem) -> BTreeMap<String, i64> {
        self.catch_up_stream();
        lock(&self.counters).get(item).map(|state| state.counters.clone()).unwrap_or_default()
    }

    /// Folds the message records' changes since the last call into the counters, as the status
    /// stream would: each record's last seen view against its view now (deletions included). The
    /// records date their own finishes, so the stream's time only stands in for a missing date.
    fn catch_up_stream(&self) {
        let messages = lock(&self.messages);
        let mut streamed = lock(&self.streamed);
        let mut changes = Changes::default();
        for (key, record) in messages.iter() {
            let view = MessageView::from(record);
            if streamed.get(key) != Some(&view) {
                add_change(&mut changes, streamed.get(key), Some(&view), record.timeline.queued_at);
                streamed.insert(key.clone(), view);
            }
        }
        streamed.retain(|key, view| {
            let kept = messages.contains_key(key);
            if !kept {
                add_change(&mut changes, Some(view), None, view.timeline.queued_at);
            }
            kept
        });
        let mut counters = lock(&self.counters);
        for (item, tally) in changes.items() {
            let state = counters.entry(item.clone()).or_default();
            for (attribute, by) in tally {
                *state.counters.entry(attribute.clone()).or_default() += by;
            }
        }
    }
}

#[async_trait]
impl Counters for MemoryStore {
    async fn add(&self, span: &StreamSpan, changes: &Changes, _now: Timestamp) -> Result<(), StoreError> {
        let failing = lock(&self.failing_counters).clone();
        let mut counters = lock(&self.counters);
        let mut result = Ok(());
        for (item, tally) in changes.items() {
            if failing.contains(item) {
                result = Err(StoreError::unavailable("UpdateItem", "simulated failure of a counter item"));
                continue;
            }
            let state = counters.entry(item.clone()).or_default();
            let watermark = span.watermark_attribute();
            if state.watermarks.get(&watermark).is_some_and(|mark| *mark >= span.first_mark()) {
                continue;
            }
            for (attribute, by) in tally {
                *state.counters.entry(attribute.clone()).or_default() += by;
            }
            state.watermarks.insert(watermark, span.last_mark());
        }
        result
    }

    async fn phone_counts(&self, org: &OrgId, phone: &PhoneId, now: Timestamp) -> Result<PhoneCounts, StoreError> {
        let item = CounterItem::Phone { org: org.clone(), phone: phone.clone() };
        let counters = self.counters_of(&item);
        Ok(PhoneCounts::of(counters.iter().map(|(k, v)| (k.as_str(), *v)), now))
    }

    async fn broadcast_tally(&self, org: &OrgId, broadcast: &BroadcastId) -> Result<BroadcastTally, StoreError> {
        let item = CounterItem::Broadcast { org: org.clone(), broadcast: broadcast.clone() };
        let counters = self.counters_of(&item);
        Ok(BroadcastTally::of(counters.iter().map(|(k, v)| (k.as_str(), *v))))
    }
}
