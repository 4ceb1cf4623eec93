//! Message status records and their conditional transitions.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::message::{AttemptOutcome, MessageRecord, Status};
use crate::domain::time::Timestamp;

/// What `StatusStore::create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// A record with this queue_id exists (another message drew the same unique_id): draw again.
    IdTaken,
}

/// What `StatusStore::begin_attempt` found.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginAttempt {
    /// The record moved to `sending`; it is returned as updated, `attempts` counting this attempt.
    Started(MessageRecord),
    /// Another worker holds a live lease on this message: a duplicate delivery.
    InFlight(MessageRecord),
    /// Already sent, failed or cancelled: nothing to do.
    Finished(MessageRecord),
    /// No such record (or, for a job made for another unique_id, not that job's record).
    Missing,
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Sent {
        provider_message_id: String,
        /// Findable by that id (a real provider's receipts name it); the sandbox's are not.
        findable: bool,
    },
    /// A transient error with attempts left: back to `queued`.
    Retry { error: String },
    /// A permanent error, or the last attempt's transient one: `failed`.
    Failed { outcome: AttemptOutcome, error: String },
    /// The provider asked to slow down: the attempt is undone (back to `queued`, `attempts` one
    /// lower, its log entry dropped), so a rate limit never uses up the message's attempts.
    Released,
    /// Its phone was purged while it was queued: `cancelled`, and the attempt undone as for
    /// `Released` (the provider was never called).
    Purged,
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
    /// Stores a new record; a record with the same queue_id is never overwritten (`IdTaken`).
    async fn create(&self, record: &MessageRecord) -> Result<Created, StoreError>;
    /// The record, read consistently; a lookup by unique_id derives the queue_id (`QueueId::of`).
    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError>;
    /// The conditional `queued → sending` transition that records a new attempt with a lease.
    /// A `sending` record whose lease has passed is taken over (its worker died). Given
    /// `unique_id` (the job's, see `Job::unique_id`), a record with another one is `Missing`.
    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        unique_id: Option<&UniqueId>,
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
    /// When the phone's queue was last purged whole (`Tracking::mark_phone_purged`), read consistently.
    async fn phone_purged_at(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Timestamp>, StoreError>;
}
