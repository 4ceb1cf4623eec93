//! Message records in memory, with the DynamoDB adapter's conditional rules.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, QueueId, UniqueId};
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{AttemptResult, BeginAttempt, DeadLetterMark, StatusStore, StoreError};

#[async_trait]
impl StatusStore for MemoryStore {
    async fn create(&self, record: &MessageRecord) -> Result<(), StoreError> {
        self.fault("create")?;
        let mut messages = lock(&self.messages);
        let key = (record.org_id.clone(), record.queue_id.clone());
        if messages.contains_key(&key) {
            return Err(StoreError::unavailable("PutItem", "conditional check failed: the record exists"));
        }
        messages.insert(key, record.clone());
        Ok(())
    }

    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.messages).get(&(org.clone(), queue_id.clone())).cloned())
    }

    async fn find_by_unique_id(&self, org: &OrgId, unique_id: &UniqueId) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.messages).values().find(|r| &r.org_id == org && &r.unique_id == unique_id).cloned())
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        self.fault("begin_attempt")?;
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.clone())) else {
            return Ok(BeginAttempt::Missing);
        };
        let lease_expired = record.lease_until.is_some_and(|until| until < now);
        match record.status {
            Status::Queued => {}
            Status::Sending if lease_expired => {
                // Its worker died: whether the provider got that attempt is unknown.
                if let Some(last) = record.attempt_log.last_mut().filter(|entry| entry.outcome.is_none()) {
                    last.outcome = Some(AttemptOutcome::Interrupted);
                }
            }
            Status::Sending => return Ok(BeginAttempt::InFlight(record.clone())),
            _ => return Ok(BeginAttempt::Finished(record.clone())),
        }
        record.status = Status::Sending;
        record.attempts += 1;
        record.attempt_log.push(AttemptLogEntry {
            attempt: record.attempts,
            started_at: now,
            outcome: None,
            error: None,
            finished_at: None,
        });
        record.lease_until = Some(lease_until);
        Ok(BeginAttempt::Started(record.clone()))
    }

    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.fault("finish_attempt")?;
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.clone())) else {
            return Ok(false);
        };
        let live = matches!(record.status, Status::Queued | Status::Sending);
        let (outcome, error) = match &result {
            AttemptResult::Sent { .. } if live => (AttemptOutcome::Sent, None),
            AttemptResult::Retry { error } if record.status == Status::Sending && record.attempts == attempt => {
                (AttemptOutcome::TransientError, Some(error.clone()))
            }
            AttemptResult::Failed { outcome, error } if live => (*outcome, Some(error.clone())),
            _ => return Ok(false),
        };
        if let Some(entry) = record.attempt_log.get_mut(attempt.saturating_sub(1) as usize) {
            entry.outcome = Some(outcome);
            entry.error = error.clone();
            entry.finished_at = Some(now);
        }
        record.lease_until = None;
        match result {
            AttemptResult::Sent { provider_message_id } => {
                record.status = Status::Sent;
                record.provider_message_id = Some(provider_message_id);
                record.status_description = None;
                record.timeline.sent_at = Some(now);
            }
            AttemptResult::Retry { .. } => record.status = Status::Queued,
            AttemptResult::Failed { error, .. } => {
                record.status = Status::Failed;
                record.status_description = Some(error);
                record.timeline.failed_at = Some(now);
            }
        }
        Ok(true)
    }

    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(record) = lock(&self.messages).get_mut(&(org.clone(), queue_id.clone())) {
            if record.status == Status::Queued && record.attempts == 0 {
                record.status = Status::Failed;
                record.status_description = Some(reason.to_string());
                record.timeline.failed_at = Some(now);
            }
        }
        Ok(())
    }

    async fn mark_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        generation: u32,
        now: Timestamp,
    ) -> Result<DeadLetterMark, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.clone())) else {
            return Ok(DeadLetterMark::Missing);
        };
        if record.generation != generation {
            return Ok(DeadLetterMark::Stale);
        }
        let lease_expired = record.lease_until.is_none_or(|until| until < now);
        let mark = match record.status {
            Status::Sending if !lease_expired => return Ok(DeadLetterMark::InFlight),
            Status::Queued | Status::Sending => {
                record.status = Status::Failed;
                record.status_description =
                    Some("the job reached the dead-letter queue before an outcome was recorded (its worker crashed or timed out)".into());
                record.timeline.failed_at = Some(now);
                record.lease_until = None;
                DeadLetterMark::MarkedFailed
            }
            Status::Failed
                if record.attempt_log.last().and_then(|a| a.outcome) == Some(AttemptOutcome::PermanentError) =>
            {
                return Ok(DeadLetterMark::PermanentlyFailed);
            }
            Status::Failed => DeadLetterMark::AlreadyFailed,
            other => return Ok(DeadLetterMark::NotFailed(other)),
        };
        record.dead_lettered_at.get_or_insert(now);
        Ok(mark)
    }

    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        _reason: &str,
        _now: Timestamp,
        _expires_at: i64,
    ) -> Result<(), StoreError> {
        lock(&self.poison).push((message_id.to_string(), body.to_string()));
        Ok(())
    }

    async fn list_dead_lettered(&self, queue_id: Option<&QueueId>) -> Result<Vec<MessageRecord>, StoreError> {
        let mut found: Vec<MessageRecord> = lock(&self.messages)
            .values()
            .filter(|r| r.dead_lettered_at.is_some() && queue_id.is_none_or(|id| &r.queue_id == id))
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (&a.dead_lettered_at, &a.org_id, &a.queue_id).cmp(&(&b.dead_lettered_at, &b.org_id, &b.queue_id))
        });
        Ok(found)
    }

    async fn requeue_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        _due: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.clone())) else {
            return Ok(false);
        };
        if record.status != Status::Failed || record.dead_lettered_at.is_none() {
            return Ok(false);
        }
        record.status = Status::Queued;
        record.generation += 1;
        record.attempts_before_replay = record.attempts;
        record.expires_at = expires_at;
        record.dead_lettered_at = None;
        record.status_description = None;
        record.timeline.failed_at = None;
        record.lease_until = None;
        Ok(true)
    }

    async fn restore_dead_lettered(&self, before: &MessageRecord) -> Result<bool, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(before.org_id.clone(), before.queue_id.clone())) else {
            return Ok(false);
        };
        if before.dead_lettered_at.is_none() || record.status != Status::Queued || record.attempts != before.attempts {
            return Ok(false);
        }
        record.status = Status::Failed;
        record.generation = before.generation;
        record.attempts_before_replay = before.attempts_before_replay;
        record.expires_at = before.expires_at;
        record.dead_lettered_at.clone_from(&before.dead_lettered_at);
        record.status_description.clone_from(&before.status_description);
        record.timeline.failed_at.clone_from(&before.timeline.failed_at);
        Ok(true)
    }
}
