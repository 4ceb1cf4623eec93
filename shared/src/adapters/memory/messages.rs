//! Message records in memory, with the DynamoDB adapter's conditional rules.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::message::PURGED;
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{AttemptResult, BeginAttempt, Created, DeadLetterMark, StatusStore, StoreError};

#[async_trait]
impl StatusStore for MemoryStore {
    async fn create(&self, record: &MessageRecord) -> Result<Created, StoreError> {
        self.fault("create")?;
        let mut messages = lock(&self.messages);
        let key = (record.org_id.clone(), record.queue_id.clone());
        if messages.contains_key(&key) {
            return Ok(Created::IdTaken);
        }
        messages.insert(key, record.clone());
        Ok(Created::Created)
    }

    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.messages).get(&(org.clone(), queue_id.clone())).cloned())
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        unique_id: Option<&UniqueId>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        self.fault("begin_attempt")?;
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.clone())) else {
            return Ok(BeginAttempt::Missing);
        };
        if unique_id.is_some_and(|id| *id != record.unique_id) {
            return Ok(BeginAttempt::Missing);
        }
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
        let entry = AttemptLogEntry {
            attempt: record.attempts,
            started_at: now,
            outcome: None,
            error: None,
            finished_at: None,
        };
        (record.attempt_log, record.attempt_log_dropped) = record.attempt_log_with(entry);
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
        // The attempt's entry, if the bounded log still has it (the latest one always has); the
        // status changes either way, as in the DynamoDB adapter.
        let position = record.attempt_position(attempt);
        if matches!(result, AttemptResult::Released | AttemptResult::Purged) {
            if record.status != Status::Sending || record.attempts != attempt {
                return Ok(false);
            }
            record.attempts -= 1;
            if let Some(position) = position {
                record.attempt_log.remove(position);
            }
            record.lease_until = None;
            record.status = Status::Queued;
            if result == AttemptResult::Purged {
                record.status = Status::Cancelled;
                record.status_description = Some(PURGED.into());
                record.timeline.cancelled_at = Some(now);
            }
            return Ok(true);
        }
        let (outcome, error) = match &result {
            AttemptResult::Sent { .. } if live => (AttemptOutcome::Sent, None),
            AttemptResult::Retry { error } if record.status == Status::Sending && record.attempts == attempt => {
                (AttemptOutcome::TransientError, Some(error.clone()))
            }
            AttemptResult::Failed { outcome, error } if live => (*outcome, Some(error.clone())),
            _ => return Ok(false),
        };
        if let Some(entry) = position.and_then(|position| record.attempt_log.get_mut(position)) {
            entry.outcome = Some(outcome);
            entry.error = error.clone();
            entry.finished_at = Some(now);
        }
        record.lease_until = None;
        match result {
            AttemptResult::Sent { provider_message_id, findable } => {
                if findable {
                    lock(&self.provider_ids).insert((org.clone(), provider_message_id.clone()), queue_id.clone());
                }
                record.status = Status::Sent;
                record.provider_message_id = Some(provider_message_id);
                record.status_description = None;
                record.timeline.sent_at = Some(now);
            }
            AttemptResult::Retry { .. } | AttemptResult::Released | AttemptResult::Purged => {
                record.status = Status::Queued
            }
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
        due: Timestamp,
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
        record.requeued_at = Some(due);
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
        record.requeued_at = before.requeued_at;
        record.expires_at = before.expires_at;
        record.dead_lettered_at.clone_from(&before.dead_lettered_at);
        record.status_description.clone_from(&before.status_description);
        record.timeline.failed_at.clone_from(&before.timeline.failed_at);
        Ok(true)
    }

    async fn phone_purged_at(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Timestamp>, StoreError> {
        self.fault("phone_purged_at")?;
        Ok(lock(&self.purges).get(&(org.clone(), phone_id.clone())).copied())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::message::{MAX_ATTEMPT_LOG, sending_fixture};
    use crate::domain::tenant::ProviderKind;

    #[tokio::test]
    async fn the_attempt_log_keeps_the_first_and_latest_entries_across_retries_and_slow_downs() {
        let store = MemoryStore::default();
        let mut record = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
        (record.status, record.attempts) = (Status::Queued, 0);
        store.create(&record).await.unwrap();
        let (org, queue_id) = (record.org_id.clone(), record.queue_id.clone());
        let mut now = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
        for attempt in 1..=12u32 {
            now = now.plus(Duration::from_secs(60));
            let begun =
                store.begin_attempt(&org, &queue_id, None, now, now.plus(Duration::from_secs(30))).await.unwrap();
            assert!(matches!(begun, BeginAttempt::Started(_)), "{begun:?}");
            let retry = AttemptResult::Retry { error: format!("error {attempt}") };
            assert!(store.finish_attempt(&org, &queue_id, attempt, retry, now).await.unwrap());
        }
        let stored = store.get(&org, &queue_id).await.unwrap().unwrap();
        assert_eq!((stored.attempts, stored.attempt_log.len(), stored.attempt_log_dropped), (12, MAX_ATTEMPT_LOG, 2));
        let errors: Vec<String> = stored.settled_attempt_log().iter().filter_map(|e| e.error.clone()).collect();
        let expected: Vec<String> = [1, 4, 5, 6, 7, 8, 9, 10, 11, 12].iter().map(|n| format!("error {n}")).collect();
        assert_eq!(errors, expected, "each entry is its own attempt's");
        // A slow-down on the full log undoes the attempt and its entry, and no other.
        now = now.plus(Duration::from_secs(60));
        store.begin_attempt(&org, &queue_id, None, now, now.plus(Duration::from_secs(30))).await.unwrap();
        assert!(store.finish_attempt(&org, &queue_id, 13, AttemptResult::Released, now).await.unwrap());
        let released = store.get(&org, &queue_id).await.unwrap().unwrap();
        assert_eq!((released.attempts, released.attempt_log_dropped), (12, 3));
        let shown: Vec<u32> = released.settled_attempt_log().iter().map(|e| e.attempt).collect();
        assert_eq!(shown, [1, 5, 6, 7, 8, 9, 10, 11, 12]);
    }
}
