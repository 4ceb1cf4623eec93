//! Message status records and their conditional transitions.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, QueueId, UniqueId};
use crate::domain::message::{AttemptOutcome, MessageRecord, Status};
use crate::domain::time::Timestamp;

/// What `StatusStore::begin_attempt` found.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginAttempt {
    /// The record moved to `sending`; it is returned as updated, `attempts` counting this attempt.
    Started(MessageRecord),
    /// Another worker holds a live lease on this message: a duplicate delivery.
    InFlight(MessageRecord),
    /// Already sent, failed or cancelled: nothing to do.
    Finished(MessageRecord),
    /// No such record.
    Missing,
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Sent {
        provider_message_id: String,
    },
    /// A transient error with attempts left: back to `queued`.
    Retry {
        error: String,
    },
    /// A permanent error, or the last attempt's transient one: `failed`.
    Failed {
        outcome: AttemptOutcome,
        error: String,
    },
}

/// What `StatusStore::mark_dead_lettered` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterMark {
    /// The record was still queued, or sending with an expired lease (a crash or timeout): now `failed`.
    MarkedFailed,
    /// Sending under a live lease: another copy's worker is still at it; settle this one later.
    InFlight,
    /// The dead job is of an older generation than the record (it was replayed since): not its job.
    Stale,
    /// The record was already `failed`; the dead-letter marker was added (or already there).
    AlreadyFailed,
    /// Sent or cancelled: nothing to replay.
    NotFailed(Status),
    /// Failed permanently (a late copy of its job reached the DLQ): never replayed.
    PermanentlyFailed,
    Missing,
}

/// Message status records.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Stores a new record; a record with the same queue_id is never overwritten.
    async fn create(&self, record: &MessageRecord) -> Result<(), StoreError>;
    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError>;
    async fn find_by_unique_id(&self, org: &OrgId, unique_id: &UniqueId) -> Result<Option<MessageRecord>, StoreError>;
    /// The conditional `queued → sending` transition that records a new attempt with a lease.
    /// A `sending` record whose lease has passed is taken over (its worker died).
    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError>;
    /// Records how attempt `attempt` ended; `false` when the record had moved on meanwhile.
    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The job never reached the queue: the record must not claim a queued job.
    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The job of `generation` reached the dead-letter queue: make sure the record is `failed` and
    /// findable for replay, but only when that job was the record's live one (same generation)
    /// and no worker still holds a lease on it.
    async fn mark_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        generation: u32,
        now: Timestamp,
    ) -> Result<DeadLetterMark, StoreError>;
    /// Keeps an undecodable dead-lettered body as evidence.
    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        reason: &str,
        now: Timestamp,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Dead-lettered records of every org (the sparse `DLQ` index), oldest first; only `queue_id`'s when given.
    async fn list_dead_lettered(&self, queue_id: Option<&QueueId>) -> Result<Vec<MessageRecord>, StoreError>;
    /// The conditional `failed` + dead-lettered → `queued` transition of a replay: drops the
    /// dead-letter marker and the failure, keeps `attempts` and `attempt_log` as history.
    /// `false` when the record is not (or no longer) dead-lettered. It is live again, due at `due`
    /// (its schedule, or now), expires at `expires_at` (epoch seconds), and its generation goes
    /// up by one: the replay's job carries the new one.
    async fn requeue_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        due: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Undoes `requeue_dead_lettered` when the replayed job could not be enqueued: back to `failed`
    /// and dead-lettered as `before` (the record as listed), unless an attempt has started since.
    async fn restore_dead_lettered(&self, before: &MessageRecord) -> Result<bool, StoreError>;
}
