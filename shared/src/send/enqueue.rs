//! Accepting a validated message: stage its media, record it as `queued`, then put its job on the queue.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{debug, error};

use crate::domain::chat_id::ChatId;
use crate::domain::clock::{parse_rfc3339, rfc3339};
use crate::domain::job::Job;
use crate::domain::media::{Media, MediaSource};
use crate::domain::message::{MessageRecord, Status, StoredMedia, Timeline, generate_unique_id};
use crate::domain::poll::Poll;
use crate::domain::send::ValidatedMessage;
use crate::domain::tenant::{OrgId, Phone};
use crate::ports::{JobQueue, MediaError, MediaStore, QueueError, StatusStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A message the queue has taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub queue_id: String,
    pub unique_id: String,
    pub queue_position: u64,
}

/// The ports and settings the send path needs.
#[derive(Clone)]
pub struct Enqueuer {
    pub store: Arc<dyn StatusStore>,
    pub queue: Arc<dyn JobQueue>,
    pub media: Arc<dyn MediaStore>,
    pub retention: Duration,
    pub depth: Arc<QueueDepth>,
}

/// What one message record is made of, besides its ids and timestamps.
pub struct RecordParts {
    pub chat_id: ChatId,
    pub text: Option<String>,
    pub media: Option<StoredMedia>,
    pub poll: Option<Poll>,
    pub reply_to: Option<String>,
    pub hide_url_preview: bool,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub broadcast_id: Option<String>,
}

/// The reason recorded on a message whose job never reached the queue. The adapter's error
/// (queue ARN, account) stays in the logs.
pub const NOT_QUEUED: &str = "could not be queued for delivery; nothing will be sent, send the message again";

impl Enqueuer {
    pub async fn enqueue_message(
        &self,
        org: &OrgId,
        phone: &Phone,
        message: ValidatedMessage,
    ) -> Result<Accepted, EnqueueError> {
        let now = Utc::now();
        let queue_id = uuid::Uuid::new_v4().to_string();
        let media = self.stage_media(org, &queue_id, message.media).await?;
        let parts = RecordParts {
            chat_id: message.chat_id,
            text: message.text,
            media,
            poll: message.poll,
            reply_to: message.reply_to,
            hide_url_preview: message.hide_url_preview,
            scheduled_at: message.scheduled_at,
            broadcast_id: None,
        };
        let record = self.queued_record(org, phone, queue_id.clone(), parts, now);
        // The queue depth is refreshed alongside the write, never as an extra sequential round trip.
        let (created, queue_position) =
            tokio::join!(self.store.create(&record), self.depth.position(self.queue.as_ref()));
        created?;
        if let Err(err) = self.queue.enqueue(&job_of(&record)).await {
            if let Err(store_err) =
                self.store.mark_enqueue_failed(org, &queue_id, NOT_QUEUED, &rfc3339(Utc::now())).await
            {
                error!(%queue_id, error = %store_err, "the record of an unqueued message could not be marked failed");
            }
            return Err(err.into());
        }
        Ok(Accepted { queue_id, unique_id: record.unique_id, queue_position })
    }

    /// Stores inline media in S3 under `media/{org}/{owner}/…` (owner: a queue_id or a broadcast);
    /// a URL is kept as it is, never fetched.
    pub async fn stage_media(
        &self,
        org: &OrgId,
        owner: &str,
        media: Option<Media>,
    ) -> Result<Option<StoredMedia>, MediaError> {
        let Some(media) = media else { return Ok(None) };
        let (url, s3_key, size) = match media.source {
            MediaSource::Url(url) => (Some(url), None, None),
            MediaSource::Inline(bytes) => {
                let key = media_key(org, owner, &media.filename);
                let size = bytes.len() as u64;
                self.media.put(&key, bytes, &media.mimetype).await?;
                (None, Some(key), Some(size))
            }
        };
        Ok(Some(StoredMedia {
            kind: media.kind,
            filename: media.filename,
            mimetype: media.mimetype,
            url,
            s3_key,
            size,
        }))
    }

    /// A new `queued` record.
    pub fn queued_record(
        &self,
        org: &OrgId,
        phone: &Phone,
        queue_id: String,
        parts: RecordParts,
        now: DateTime<Utc>,
    ) -> MessageRecord {
        MessageRecord {
            org_id: org.clone(),
            queue_id,
            unique_id: generate_unique_id(),
            phone_id: phone.phone_id.clone(),
            provider: phone.provider.kind(),
            chat_id: parts.chat_id,
            text: parts.text,
            media: parts.media,
            poll: parts.poll,
            reply_to: parts.reply_to,
            hide_url_preview: parts.hide_url_preview,
            status: Status::Queued,
            status_description: None,
            provider_message_id: None,
            attempts: 0,
            attempt_log: vec![],
            timeline: Timeline { queued_at: rfc3339(now), ..Timeline::default() },
            lease_until: None,
            dead_lettered_at: None,
            scheduled_at: parts.scheduled_at.filter(|at| *at > now).map(rfc3339),
            broadcast_id: parts.broadcast_id,
            expires_at: now.timestamp() + self.retention.as_secs() as i64,
        }
    }
}

/// The job that delivers `record`: references only, and its due time in whole seconds, rounded
/// up so that it is never delivered before `scheduled_at`.
pub fn job_of(record: &MessageRecord) -> Job {
    let due =
        record.scheduled_at.as_deref().and_then(parse_rfc3339).map(|at| (at.timestamp_millis() + 999).div_euclid(1000));
    Job::new(record.org_id.clone(), record.queue_id.clone(), record.phone_id.clone()).due_at(due)
}

/// `media/{org}/{queue_id}/{filename}`, with the filename reduced to safe characters.
pub fn media_key(org: &OrgId, queue_id: &str, filename: &str) -> String {
    let safe: String = filename
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    format!("media/{org}/{queue_id}/{safe}")
}

/// The approximate queue depth, fetched at most once per `max_age` and counted forward locally.
pub struct QueueDepth {
    max_age: Duration,
    refreshing: AtomicBool,
    state: Mutex<DepthState>,
}

#[derive(Default)]
struct DepthState {
    depth: u64,
    fetched_at: Option<Instant>,
    added_since: u64,
}

impl QueueDepth {
    pub fn new(max_age: Duration) -> QueueDepth {
        QueueDepth { max_age, refreshing: AtomicBool::new(false), state: Mutex::new(DepthState::default()) }
    }

    /// The number of jobs ahead of a new one; counts the new one for the next caller.
    pub async fn position(&self, queue: &dyn JobQueue) -> u64 {
        let stale = self.lock().fetched_at.is_none_or(|at| at.elapsed() >= self.max_age);
        // One refresh at a time; concurrent callers use the previous value.
        if stale && !self.refreshing.swap(true, Ordering::AcqRel) {
            match queue.approximate_depth().await {
                Ok(depth) => *self.lock() = DepthState { depth, fetched_at: Some(Instant::now()), added_since: 0 },
                Err(err) => debug!(error = %err, "queue depth unavailable; keeping the last value"),
            }
            self.refreshing.store(false, Ordering::Release);
        }
        let mut state = self.lock();
        let position = state.depth + state.added_since;
        state.added_since += 1;
        position
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DepthState> {
        // The state is plain numbers: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_keys_name_org_and_queue_id_and_nothing_unsafe() {
        let org = OrgId::from("org-1".to_string());
        assert_eq!(media_key(&org, "q-1", "../a b/é.png"), "media/org-1/q-1/.._a_b__.png");
    }
}
