//! DynamoDB throttles for the soak: a wrapper around the message store's ports (`StatusStore`,
//! `Tracking`) that refuses a share of the writes the way a throttled table does, before they
//! reach the store. moto never throttles, so this is how the local stack meets one.
//!
//! Switched on by `OUTBOX_STORE_FAULTS=writes=0.05[,seed=7][,log=PATH]` (off unless set; only
//! the local runner reads it, never a Lambda). Reads pass through: a throttled read is answered
//! 503 or retried like a write, and the windows worth testing are where a write is refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::message::MessageRecord;
use crate::domain::time::Timestamp;
use crate::ports::{
    AttemptResult, BeginAttempt, BroadcastRecord, Created, DeadLetterMark, StatusStore, StoreError, Tracking,
};
use crate::wiring::MessageStore;

/// The environment variable that switches the faults on.
pub const STORE_FAULTS_VAR: &str = "OUTBOX_STORE_FAULTS";

/// What share of writes to refuse, seeded so that a run can be repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreFaults {
    /// The probability that one write is refused.
    pub writes: f64,
    pub seed: u64,
    /// Gets one line per refused write, the operation's name, so a soak can count them.
    pub log: Option<PathBuf>,
}

impl FromStr for StoreFaults {
    type Err = String;

    fn from_str(spec: &str) -> Result<StoreFaults, String> {
        let mut faults = StoreFaults { writes: 0.0, seed: 0, log: None };
        for pair in spec.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
            let value = value.trim();
            match name.trim() {
                "writes" => {
                    faults.writes = value
                        .parse()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| format!("writes: {value:?} is not a probability between 0 and 1"))?;
                }
                "seed" => faults.seed = value.parse().map_err(|_| format!("seed: {value:?} is not a whole number"))?,
                "log" => faults.log = Some(PathBuf::from(value)),
                other => return Err(format!("unknown setting {other:?} (known: writes, seed, log)")),
            }
        }
        Ok(faults)
    }
}

impl StoreFaults {
    /// `OUTBOX_STORE_FAULTS` as set; `None` when unset, empty or `off`.
    pub fn from_env() -> Result<Option<StoreFaults>, String> {
        match std::env::var(STORE_FAULTS_VAR).ok().filter(|v| !v.is_empty() && v != "off") {
            None => Ok(None),
            Some(spec) => spec.parse().map(Some).map_err(|reason| format!("{STORE_FAULTS_VAR}: {reason}")),
        }
    }

    /// `messages` behind the fault injector; fails only when the log cannot be opened.
    pub fn wrap(self, messages: MessageStore) -> std::io::Result<MessageStore> {
        let log = match &self.log {
            None => None,
            Some(path) => Some(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?)),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(self.seed));
        let store = Arc::new(ThrottledStore { inner: messages, faults: self, rng, log });
        Ok(MessageStore { status: store.clone(), tracking: store })
    }
}

/// The message store with some writes refused.
struct ThrottledStore {
    inner: MessageStore,
    faults: StoreFaults,
    rng: Mutex<fastrand::Rng>,
    log: Option<Mutex<File>>,
}

impl ThrottledStore {
    /// Refuses this write with the error the DynamoDB adapter gives for a throttle, or lets it through.
    fn admit(&self, operation: &'static str) -> Result<(), StoreError> {
        let roll = self.rng.lock().map(|mut rng| rng.f64()).unwrap_or(1.0);
        if roll >= self.faults.writes {
            return Ok(());
        }
        if let Some(log) = &self.log
            && let Ok(mut file) = log.lock()
        {
            // One short append per line, so the API's and the consumers' lines never interleave.
            let _ = file.write_all(format!("{operation}\n").as_bytes());
        }
        Err(StoreError::unavailable(
            operation,
            "ProvisionedThroughputExceededException: injected by OUTBOX_STORE_FAULTS",
        ))
    }
}

#[async_trait]
impl StatusStore for ThrottledStore {
    async fn create(&self, record: &MessageRecord) -> Result<Created, StoreError> {
        self.admit("create")?;
        self.inner.status.create(record).await
    }

    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        self.inner.status.get(org, queue_id).await
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        unique_id: Option<&UniqueId>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        self.admit("begin_attempt")?;
        self.inner.status.begin_attempt(org, queue_id, unique_id, now, lease_until).await
    }

    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.admit("finish_attempt")?;
        self.inner.status.finish_attempt(org, queue_id, attempt, result, now).await
    }

    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.admit("mark_enqueue_failed")?;
        self.inner.status.mark_enqueue_failed(org, queue_id, reason, now).await
    }

    async fn mark_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        generation: u32,
        now: Timestamp,
    ) -> Result<DeadLetterMark, StoreError> {
        self.admit("mark_dead_lettered")?;
        self.inner.status.mark_dead_lettered(org, queue_id, generation, now).await
    }

    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        reason: &str,
        now: Timestamp,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.admit("record_poison")?;
        self.inner.status.record_poison(message_id, body, reason, now, expires_at).await
    }

    async fn list_dead_lettered(&self, queue_id: Option<&QueueId>) -> Result<Vec<MessageRecord>, StoreError> {
        self.inner.status.list_dead_lettered(queue_id).await
    }

    async fn requeue_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        due: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.admit("requeue_dead_lettered")?;
        self.inner.status.requeue_dead_lettered(org, queue_id, due, expires_at).await
    }

    async fn restore_dead_lettered(&self, before: &MessageRecord) -> Result<bool, StoreError> {
        self.admit("restore_dead_lettered")?;
        self.inner.status.restore_dead_lettered(before).await
    }

    async fn phone_purged_at(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Timestamp>, StoreError> {
        self.inner.status.phone_purged_at(org, phone_id).await
    }
}

#[async_trait]
impl Tracking for ThrottledStore {
    async fn put_broadcast(&self, record: &BroadcastRecord) -> Result<(), StoreError> {
        self.admit("put_broadcast")?;
        self.inner.tracking.put_broadcast(record).await
    }

    async fn get_broadcast(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Option<BroadcastRecord>, StoreError> {
        self.inner.tracking.get_broadcast(org, broadcast_id).await
    }

    /// Each record's write is refused or let through on its own, as concurrent PutItems are.
    async fn create_many(&self, records: &[MessageRecord]) -> Vec<Result<Created, StoreError>> {
        let admitted: Vec<Result<(), StoreError>> = records.iter().map(|_| self.admit("create_many")).collect();
        let through: Vec<MessageRecord> =
            records.iter().zip(&admitted).filter(|(_, a)| a.is_ok()).map(|(r, _)| r.clone()).collect();
        let mut written = self.inner.tracking.create_many(&through).await.into_iter();
        admitted
            .into_iter()
            .map(|a| {
                a.and_then(|()| {
                    written
                        .next()
                        .unwrap_or_else(|| Err(StoreError::unavailable("create_many", "no outcome for a record")))
                })
            })
            .collect()
    }

    async fn broadcast_messages(&self, broadcast: &BroadcastRecord) -> Result<Vec<MessageRecord>, StoreError> {
        self.inner.tracking.broadcast_messages(broadcast).await
    }

    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError> {
        self.inner.tracking.live_messages(org, phone_id).await
    }

    async fn mark_phone_purged(&self, org: &OrgId, phone_id: &PhoneId, at: Timestamp) -> Result<(), StoreError> {
        self.admit("mark_phone_purged")?;
        self.inner.tracking.mark_phone_purged(org, phone_id, at).await
    }

    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError> {
        self.admit("cancel")?;
        self.inner.tracking.cancel(org, queue_id, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;

    fn epoch() -> Timestamp {
        Timestamp::from_epoch_secs(0).unwrap()
    }

    fn memory() -> MessageStore {
        let store = Arc::new(MemoryStore::default());
        MessageStore { status: store.clone(), tracking: store }
    }

    #[test]
    fn the_spec_is_parsed_and_bad_values_are_named() {
        let faults: StoreFaults = "writes=0.25, seed=9, log=/tmp/x".parse().unwrap();
        assert_eq!(faults, StoreFaults { writes: 0.25, seed: 9, log: Some("/tmp/x".into()) });
        assert!("writes=1.5".parse::<StoreFaults>().unwrap_err().contains("writes"));
        assert!("reads=0.1".parse::<StoreFaults>().unwrap_err().contains("unknown setting"));
        assert!("writes".parse::<StoreFaults>().unwrap_err().contains("name=value"));
    }

    #[tokio::test]
    async fn every_write_is_refused_at_one_and_none_reaches_the_store() {
        let inner = memory();
        let store = StoreFaults { writes: 1.0, seed: 1, log: None }.wrap(inner.clone()).unwrap();
        let org = OrgId::from("org-a");
        let queue_id = QueueId::of(&UniqueId::generate());
        let err = store.tracking.cancel(&org, &queue_id, epoch()).await.unwrap_err();
        assert!(err.to_string().contains("unavailable"), "{err}");
        // Reads pass through.
        assert_eq!(store.status.get(&org, &queue_id).await.unwrap(), None);
        assert_eq!(store.status.list_dead_lettered(None).await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn a_share_of_writes_is_refused_and_logged() {
        let dir = std::env::temp_dir().join(format!("outbox-store-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("throttles.log");
        let _ = std::fs::remove_file(&log);
        let store = StoreFaults { writes: 0.3, seed: 5, log: Some(log.clone()) }.wrap(memory()).unwrap();
        let org = OrgId::from("org-a");
        let mut refused = 0;
        for _ in 0..1_000 {
            let queue_id = QueueId::of(&UniqueId::generate());
            refused += usize::from(store.tracking.cancel(&org, &queue_id, epoch()).await.is_err());
        }
        // 1,000 draws at 0.3: 300 expected, far outside [200, 400] only by a broken injector.
        assert!((200..=400).contains(&refused), "{refused} of 1,000 refused");
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(lines.lines().count(), refused);
        assert!(lines.lines().all(|line| line == "cancel"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
