//! The tracking surface's reads and writes: broadcasts, a broadcast's or phone's messages, purges.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Created, StoreError};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::message::MessageRecord;
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

/// A chat of a broadcast whose first unique_id was taken, and the draw that was free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redraw {
    pub position: u32,
    pub draw: u32,
}

/// One broadcast: what was sent to whom, and when. Its messages' ids follow from its id and each
/// chat's position (`UniqueId::for_broadcast`), so they are found without an index.
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
    /// Almost always empty: the chats whose first id was taken (see `UniqueId::for_broadcast`),
    /// written with the final summary (a summary whose final write failed lists them at draw 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redrawn: Vec<Redraw>,
}

impl BroadcastRecord {
    /// The unique_id of the chat at `position`.
    pub fn unique_id(&self, position: u32) -> UniqueId {
        let draw = self.redrawn.iter().find(|r| r.position == position).map_or(0, |r| r.draw);
        UniqueId::for_broadcast(&self.broadcast_id, position, draw)
    }

    /// The queue_id of every chat, in position order (recorded or not).
    pub fn queue_ids(&self) -> Vec<QueueId> {
        (0..self.total_chats).map(|position| QueueId::of(&self.unique_id(position))).collect()
    }

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
    /// Writes new message records, each only where no record has its queue_id, concurrently;
    /// the outcome of each, in order.
    async fn create_many(&self, records: &[MessageRecord]) -> Vec<Result<Created, StoreError>>;
    /// The broadcast's recorded messages, in position (so due) order, read consistently.
    async fn broadcast_messages(&self, broadcast: &BroadcastRecord) -> Result<Vec<MessageRecord>, StoreError>;
    /// The phone's messages still `queued` or `sending`, in due order.
    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError>;
    /// Records that the phone's whole queue was purged at `at` (a later purge moves it on): a
    /// delivery that starts a message which entered the queue by then cancels it instead.
    async fn mark_phone_purged(&self, org: &OrgId, phone_id: &PhoneId, at: Timestamp) -> Result<(), StoreError>;
    /// `queued → cancelled`; `false` when the message was already sending or finished.
    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError>;
}
