//! In-memory twins of the stores and queue, for handler tests and benchmarks. They follow the
//! same conditional rules as the DynamoDB adapter, so handler tests exercise real transitions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::counters::CounterItem;
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId, UploadId, WebhookId};
use crate::domain::job::Job;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Org, Phone};
use crate::domain::time::Timestamp;
use crate::domain::upload::UploadRecord;
use crate::domain::webhook::WebhookRecord;
use crate::ports::{
    BroadcastRecord, JobQueue, MediaError, MediaStore, ObjectInfo, PresignedPut, QueueError, SecretError, SecretStore,
    StoreError,
};
use crate::stream::transitions::MessageView;

mod clock;
mod counters;
mod events;
mod idempotency;
mod messages;
mod rate_counter;
mod receipts;
mod tenants;
mod tracking;
mod uploads;
mod webhooks;

pub use clock::ManualClock;
pub use events::{MemoryDeadEvents, MemoryEvents};
pub use idempotency::MemoryIdempotency;
pub use rate_counter::MemoryRateCounter;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct MemoryStore {
    messages: Mutex<HashMap<(OrgId, QueueId), MessageRecord>>,
    orgs: Mutex<HashMap<OrgId, Org>>,
    keys: Mutex<HashMap<KeyHash, ApiKeyRecord>>,
    phones: Mutex<Vec<Phone>>,
    pub poison: Mutex<Vec<(String, String)>>,
    broadcasts: Mutex<HashMap<(OrgId, BroadcastId), BroadcastRecord>>,
    /// When each phone's whole queue was last purged.
    purges: Mutex<HashMap<(OrgId, PhoneId), Timestamp>>,
    uploads: Mutex<HashMap<(OrgId, UploadId), UploadRecord>>,
    webhooks: Mutex<HashMap<(OrgId, WebhookId), WebhookRecord>>,
    /// The sparse provider-message-id index (gsi6): real providers' messages once sent.
    provider_ids: Mutex<HashMap<(OrgId, String), QueueId>>,
    faults: Mutex<Vec<Fault>>,
    /// Calls of each operation that can be faulted, counted (tests).
    calls: Mutex<HashMap<String, usize>>,
    counters: Mutex<HashMap<CounterItem, counters::CounterItemState>>,
    /// Each message record as the in-memory stream last passed it to the counters.
    streamed: Mutex<HashMap<(OrgId, QueueId), MessageView>>,
    /// Counter items whose update fails, as a DynamoDB error would, while listed (tests).
    pub failing_counters: Mutex<Vec<CounterItem>>,
}

/// A fault a test injects: calls of operation `op` (the port method's name) fail with `error`,
/// `times` times, after `skip` calls went through.
struct Fault {
    op: &'static str,
    skip: usize,
    times: usize,
    error: StoreError,
}

impl MemoryStore {
    /// Makes `op` fail with `error` `times` times, after `skip` calls succeed.
    pub fn inject_fault(&self, op: &'static str, skip: usize, times: usize, error: StoreError) {
        lock(&self.faults).push(Fault { op, skip, times, error });
    }

    /// How many injected failures of `op` are still to come.
    pub fn faults_left(&self, op: &str) -> usize {
        lock(&self.faults).iter().filter(|f| f.op == op).map(|f| f.times).sum()
    }

    /// How many times `op` has been called (an operation that can be faulted).
    pub fn calls_of(&self, op: &str) -> usize {
        lock(&self.calls).get(op).copied().unwrap_or(0)
    }

    /// The injected failure of this call of `op`, if any.
    pub(super) fn fault(&self, op: &str) -> Result<(), StoreError> {
        *lock(&self.calls).entry(op.to_string()).or_default() += 1;
        let mut faults = lock(&self.faults);
        let Some(fault) = faults.iter_mut().find(|f| f.op == op && (f.skip > 0 || f.times > 0)) else { return Ok(()) };
        if fault.skip > 0 {
            fault.skip -= 1;
            return Ok(());
        }
        fault.times -= 1;
        Err(fault.error.clone())
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
    async fn enqueue(&self, job: &Job, _now: Timestamp) -> Result<(), QueueError> {
        if self.fail_enqueue.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(QueueError::new("SendMessage", "simulated outage"));
        }
        lock(&self.jobs).push(job.encode());
        Ok(())
    }

    async fn enqueue_many(&self, jobs: &[Job], now: Timestamp) -> Vec<QueueId> {
        let mut failed = vec![];
        for job in jobs {
            if self.enqueue(job, now).await.is_err() {
                failed.push(job.queue_id.clone());
            }
        }
        failed
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

/// Secrets by name; the reference is the name.
#[derive(Default)]
pub struct MemorySecrets {
    pub secrets: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn put(&self, name: &str, value: &str) -> Result<String, SecretError> {
        lock(&self.secrets).insert(name.to_string(), value.to_string());
        Ok(name.to_string())
    }

    async fn get(&self, reference: &str) -> Result<String, SecretError> {
        lock(&self.secrets).get(reference).cloned().ok_or_else(|| SecretError::NotFound(reference.to_string()))
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretError> {
        lock(&self.secrets).remove(reference);
        Ok(())
    }
}

/// Objects by key; a presigned PUT is recorded in `presigned_puts`, and a test stores its bytes with `put`.
#[derive(Default)]
pub struct MemoryMedia {
    pub objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
    pub presigned_puts: Mutex<Vec<(String, String, u64)>>,
}

#[async_trait]
impl MediaStore for MemoryMedia {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError> {
        lock(&self.objects).insert(key.to_string(), (bytes, content_type.to_string()));
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, MediaError> {
        Ok(lock(&self.objects).get(key).map(|(bytes, content_type)| ObjectInfo {
            size: bytes.len() as u64,
            content_type: Some(content_type.clone()),
        }))
    }

    async fn presigned_url(&self, key: &str, ttl: Duration) -> Result<String, MediaError> {
        Ok(format!("https://media.invalid/{key}?expires_in={}", ttl.as_secs()))
    }

    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedPut, MediaError> {
        lock(&self.presigned_puts).push((key.to_string(), content_type.to_string(), content_length));
        Ok(PresignedPut {
            url: format!("https://media.invalid/{key}?put&expires_in={}", ttl.as_secs()),
            headers: vec![
                ("content-type".to_string(), content_type.to_string()),
                ("content-length".to_string(), content_length.to_string()),
            ],
        })
    }
}
