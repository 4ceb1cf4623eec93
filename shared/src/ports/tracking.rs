//! The tracking surface's reads and writes: broadcasts, a broadcast's or phone's messages, purges.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::time::Timestamp;

/// How far the enqueueing of a broadcast got; a broadcast is never partially queued silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnqueueState {
    /// Its messages are being written and queued.
    Queuing,
    /// Every message is recorded and its job queued.
    Queued,
    /// Some messages could not be queued; they are recorded as failed.
    PartiallyQueued,
}

/// One broadcast: what was sent to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastRecord {
    pub org_id: OrgId,
    pub broadcast_id: BroadcastId,
    pub phone_id: PhoneId,
    /// The message template, before variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub message_type: String,
    /// The key_id of the API key that created it.
    pub performed_by: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
    pub delay_ms: u64,
    pub total_chats: u32,
    pub queued_chats: u32,
    pub state: EnqueueState,
    pub expires_at: i64,
}

impl BroadcastRecord {
    /// Its state as readers should take it: a summary still `queuing` after `api_timeout` has no
    /// request left to finish it (its final write failed), so whatever was recorded is all there
    /// is, as if `partially_queued`.
    pub fn settled_state(&self, now: Timestamp, api_timeout: std::time::Duration) -> EnqueueState {
        match self.state {
            EnqueueState::Queuing if now > self.created_at.plus(api_timeout) => EnqueueState::PartiallyQueued,
            state => state,
        }
    }
}

#[async_trait]
pub trait Tracking: Send + Sync {
    async fn put_broadcast(&self, record: &BroadcastRecord) -> Result<(), StoreError>;
    async fn get_broadcast(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Option<BroadcastRecord>, StoreError>;
    /// Writes new message records in batches, retrying what the store could not take at once;
    /// returns the queue_ids that still could not be written.
    async fn create_many(&self, records: &[MessageRecord]) -> Result<Vec<QueueId>, StoreError>;
    /// Every message of a broadcast, in due order.
    async fn broadcast_messages(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Vec<MessageRecord>, StoreError>;
    /// The phone's messages still `queued` or `sending`, in due order.
    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError>;
    /// Statuses of the phone's messages that finished (sent, failed, cancelled) at or after `since`.
    async fn finished_since(
        &self,
        org: &OrgId,
        phone_id: &PhoneId,
        since: Timestamp,
    ) -> Result<Vec<Status>, StoreError>;
    /// How many of the phone's messages are dead-lettered (failed and kept for replay).
    async fn dead_lettered_count(&self, org: &OrgId, phone_id: &PhoneId) -> Result<u64, StoreError>;
    /// `queued → cancelled`; `false` when the message was already sending or finished.
    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError>;
}
