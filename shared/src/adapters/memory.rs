//! In-memory twins of the stores and queue, for handler tests and benchmarks. They follow the
//! same conditional rules as the DynamoDB adapter, so handler tests exercise real transitions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::job::Job;
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};
use crate::ports::{
    AttemptResult, BeginAttempt, DeadLetterMark, JobQueue, MediaError, MediaStore, QueueError, StatusStore, StoreError,
    TenantStore,
};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct MemoryStore {
    messages: Mutex<HashMap<(OrgId, String), MessageRecord>>,
    keys: Mutex<HashMap<KeyHash, ApiKeyRecord>>,
    phones: Mutex<Vec<Phone>>,
    pub poison: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl StatusStore for MemoryStore {
    async fn create(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let mut messages = lock(&self.messages);
        let key = (record.org_id.clone(), record.queue_id.clone());
        if messages.contains_key(&key) {
            return Err(StoreError::Unavailable("conditional check failed: record exists".into()));
        }
        messages.insert(key, record.clone());
        Ok(())
    }

    async fn get(&self, org: &OrgId, queue_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.messages).get(&(org.clone(), queue_id.to_string())).cloned())
    }

    async fn find_by_unique_id(&self, org: &OrgId, unique_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        Ok(lock(&self.messages).values().find(|r| &r.org_id == org && r.unique_id == unique_id).cloned())
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &str,
        now: &str,
        lease_until: &str,
    ) -> Result<BeginAttempt, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.to_string())) else {
            return Ok(BeginAttempt::Missing);
        };
        let lease_expired = record.lease_until.as_deref().is_some_and(|until| until < now);
        match record.status {
            Status::Queued => {}
            Status::Sending if lease_expired => {}
            Status::Sending => return Ok(BeginAttempt::InFlight(record.clone())),
            _ => return Ok(BeginAttempt::Finished(record.clone())),
        }
        record.status = Status::Sending;
        record.attempts += 1;
        record.attempt_log.push(AttemptLogEntry {
            attempt: record.attempts,
            started_at: now.to_string(),
            outcome: None,
            error: None,
            finished_at: None,
        });
        record.lease_until = Some(lease_until.to_string());
        Ok(BeginAttempt::Started(record.clone()))
    }

    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &str,
        attempt: u32,
        result: AttemptResult,
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.to_string())) else {
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
            entry.finished_at = Some(now.to_string());
        }
        record.lease_until = None;
        match result {
            AttemptResult::Sent { provider_message_id } => {
                record.status = Status::Sent;
                record.provider_message_id = Some(provider_message_id);
                record.status_description = None;
                record.timeline.sent_at = Some(now.to_string());
            }
            AttemptResult::Retry { .. } => record.status = Status::Queued,
            AttemptResult::Failed { error, .. } => {
                record.status = Status::Failed;
                record.status_description = Some(error);
                record.timeline.failed_at = Some(now.to_string());
            }
        }
        Ok(true)
    }

    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        if let Some(record) = lock(&self.messages).get_mut(&(org.clone(), queue_id.to_string())) {
            if record.status == Status::Queued && record.attempts == 0 {
                record.status = Status::Failed;
                record.status_description = Some(reason.to_string());
                record.timeline.failed_at = Some(now.to_string());
            }
        }
        Ok(())
    }

    async fn mark_dead_lettered(&self, org: &OrgId, queue_id: &str, now: &str) -> Result<DeadLetterMark, StoreError> {
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(org.clone(), queue_id.to_string())) else {
            return Ok(DeadLetterMark::Missing);
        };
        let mark = match record.status {
            Status::Queued | Status::Sending => {
                record.status = Status::Failed;
                record.status_description =
                    Some("the job reached the dead-letter queue before an outcome was recorded (its worker crashed or timed out)".into());
                record.timeline.failed_at = Some(now.to_string());
                record.lease_until = None;
                DeadLetterMark::MarkedFailed
            }
            Status::Failed => DeadLetterMark::AlreadyFailed,
            other => return Ok(DeadLetterMark::NotFailed(other)),
        };
        record.dead_lettered_at.get_or_insert_with(|| now.to_string());
        Ok(mark)
    }

    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        _reason: &str,
        _now: &str,
        _expires_at: i64,
    ) -> Result<(), StoreError> {
        lock(&self.poison).push((message_id.to_string(), body.to_string()));
        Ok(())
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn put_org(&self, _org: &OrgId, _name: &str, _now: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError> {
        lock(&self.keys).insert(hash.clone(), record.clone());
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(lock(&self.keys).get(hash).cloned())
    }

    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError> {
        let mut phones = lock(&self.phones);
        phones.retain(|p| !(p.org_id == phone.org_id && p.phone_id == phone.phone_id));
        phones.push(phone.clone());
        Ok(())
    }

    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError> {
        Ok(lock(&self.phones).iter().filter(|p| &p.org_id == org).cloned().collect())
    }
}

/// Records what was enqueued, re-timed and dead-lettered; `fail_enqueue` simulates an SQS outage.
#[derive(Default)]
pub struct MemoryQueue {
    pub jobs: Mutex<Vec<String>>,
    pub visibility: Mutex<Vec<(String, Duration)>>,
    pub dead_letters: Mutex<Vec<(String, String)>>,
    pub fail_enqueue: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        if self.fail_enqueue.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(QueueError("simulated outage".into()));
        }
        lock(&self.jobs).push(job.encode());
        Ok(())
    }

    async fn change_visibility(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        lock(&self.visibility).push((receipt_handle.to_string(), delay));
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        lock(&self.dead_letters).push((body.to_string(), reason.to_string()));
        Ok(())
    }

    async fn approximate_depth(&self) -> Result<u64, QueueError> {
        Ok(lock(&self.jobs).len() as u64)
    }
}

#[derive(Default)]
pub struct MemoryMedia {
    pub objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

#[async_trait]
impl MediaStore for MemoryMedia {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError> {
        lock(&self.objects).insert(key.to_string(), (bytes, content_type.to_string()));
        Ok(())
    }
}
