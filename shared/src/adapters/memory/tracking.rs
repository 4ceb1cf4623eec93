//! Broadcasts, listings and purges in memory, with the DynamoDB adapter's conditions.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, PURGED, Status};
use crate::domain::time::Timestamp;
use crate::ports::{BroadcastRecord, Created, StatusStore, StoreError, Tracking};

impl MemoryStore {
    fn messages_where(&self, keep: impl Fn(&MessageRecord) -> bool) -> Vec<MessageRecord> {
        let mut found: Vec<_> = lock(&self.messages).values().filter(|r| keep(r)).cloned().collect();
        found.sort_by_key(MessageRecord::due);
        found
    }
}

#[async_trait]
impl Tracking for MemoryStore {
    async fn put_broadcast(&self, record: &BroadcastRecord) -> Result<(), StoreError> {
        self.fault("put_broadcast")?;
        lock(&self.broadcasts).insert((record.org_id.clone(), record.broadcast_id.clone()), record.clone());
        Ok(())
    }

    async fn get_broadcast(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Option<BroadcastRecord>, StoreError> {
        Ok(lock(&self.broadcasts).get(&(org.clone(), broadcast_id.clone())).cloned())
    }

    async fn create_many(&self, records: &[MessageRecord]) -> Vec<Result<Created, StoreError>> {
        if let Err(err) = self.fault("create_many") {
            return records.iter().map(|_| Err(err.clone())).collect();
        }
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            outcomes.push(self.create(record).await);
        }
        outcomes
    }

    async fn broadcast_messages(&self, broadcast: &BroadcastRecord) -> Result<Vec<MessageRecord>, StoreError> {
        let messages = lock(&self.messages);
        // A queue_id another message took first (a redrawn chat's first draw) is not this broadcast's.
        Ok(broadcast
            .queue_ids()
            .into_iter()
            .filter_map(|queue_id| messages.get(&(broadcast.org_id.clone(), queue_id)).cloned())
            .filter(|m| m.broadcast_id.as_ref() == Some(&broadcast.broadcast_id))
            .collect())
    }

    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self.messages_where(|r| {
            &r.org_id == org && &r.phone_id == phone_id && !r.status.is_final() && r.waits_on_the_queue()
        }))
    }

    async fn mark_phone_purged(&self, org: &OrgId, phone_id: &PhoneId, at: Timestamp) -> Result<(), StoreError> {
        self.fault("mark_phone_purged")?;
        let mut purges = lock(&self.purges);
        let last = purges.entry((org.clone(), phone_id.clone())).or_insert(at);
        *last = (*last).max(at);
        Ok(())
    }

    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError> {
        let mut messages = lock(&self.messages);
        match messages.get_mut(&(org.clone(), queue_id.clone())) {
            Some(record) if record.status == Status::Queued => {
                record.status = Status::Cancelled;
                record.status_description = Some(PURGED.into());
                record.timeline.cancelled_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
