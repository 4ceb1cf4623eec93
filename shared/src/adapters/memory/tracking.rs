//! Broadcasts, listings and purges in memory, with the DynamoDB adapter's conditions.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{BroadcastRecord, StatusStore, StoreError, Tracking};

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

    async fn create_many(&self, records: &[MessageRecord]) -> Result<Vec<QueueId>, StoreError> {
        self.fault("create_many")?;
        let mut failed = vec![];
        for record in records {
            if self.create(record).await.is_err() {
                failed.push(record.queue_id.clone());
            }
        }
        Ok(failed)
    }

    async fn broadcast_messages(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self.messages_where(|r| &r.org_id == org && r.broadcast_id.as_ref() == Some(broadcast_id)))
    }

    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError> {
        Ok(self.messages_where(|r| &r.org_id == org && &r.phone_id == phone_id && !r.status.is_final()))
    }

    async fn finished_since(
        &self,
        org: &OrgId,
        phone_id: &PhoneId,
        since: Timestamp,
    ) -> Result<Vec<Status>, StoreError> {
        let done = self.messages_where(|r| {
            &r.org_id == org && &r.phone_id == phone_id && r.timeline.finished_at().is_some_and(|at| at >= since)
        });
        Ok(done.into_iter().map(|r| r.status).collect())
    }

    async fn dead_lettered_count(&self, org: &OrgId, phone_id: &PhoneId) -> Result<u64, StoreError> {
        let dead = self.messages_where(|r| &r.org_id == org && &r.phone_id == phone_id && r.dead_lettered_at.is_some());
        Ok(dead.len() as u64)
    }

    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError> {
        let mut messages = lock(&self.messages);
        match messages.get_mut(&(org.clone(), queue_id.clone())) {
            Some(record) if record.status == Status::Queued => {
                record.status = Status::Cancelled;
                record.status_description = Some("purged from the queue before it was sent".into());
                record.timeline.cancelled_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
