//! Accepting a validated message, whichever dialect it came in: stage its media (or resolve the
//! upload it names), put its job on the queue, then record it as `queued` (the job waits for its
//! record, see `Job::record_by`). The broadcast path builds its records with the same
//! `queued_record` and jobs with `Job::ahead_of_record`.

use std::sync::Arc;
use std::time::Duration;

use tracing::{Span, error, info, warn};

use super::queue_depth::QueueDepth;
use super::uploads::{UploadError, Uploads};
use crate::domain::capabilities::{self, Shape};
use crate::domain::chat_id::ChatId;
use crate::domain::content::Content;
use crate::domain::ids::{BroadcastId, OrgId, QueueId, UniqueId};
use crate::domain::job::Job;
use crate::domain::media::{Attachment, MediaSource};
use crate::domain::message::{MessageRecord, Status, StoredMedia, Timeline};
use crate::domain::send::ValidatedMessage;
use crate::domain::tenant::Phone;
use crate::domain::time::Timestamp;
use crate::domain::upload::safe_file_name;
use crate::domain::validation::ValidationError;
use crate::metrics::{self, Metrics};
use crate::ports::{Clock, Created, JobQueue, MediaError, MediaStore, QueueError, StatusStore, StoreError};
use crate::telemetry::chain;

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The upload the media names cannot be sent (missing, not the caller's, too large).
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The phone's provider cannot send this message (`domain::capabilities`).
    #[error(transparent)]
    Unsupported(ValidationError),
}

/// A message the queue has taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub queue_id: QueueId,
    pub unique_id: UniqueId,
    pub queue_position: u64,
    pub queued_at: Timestamp,
    /// When its record expires (epoch seconds): an answer naming it is kept as long.
    pub expires_at: i64,
}

/// The ports and settings the send path needs.
#[derive(Clone)]
pub struct Enqueuer {
    pub store: Arc<dyn StatusStore>,
    pub queue: Arc<dyn JobQueue>,
    pub media: Arc<dyn MediaStore>,
    pub clock: Arc<dyn Clock>,
    pub retention: Duration,
    pub depth: Arc<QueueDepth>,
    /// Resolves the uploads that media names.
    pub uploads: Uploads,
    /// Where each acceptance's metric line goes (`metrics`).
    pub metrics: Metrics,
}

/// What one message record is made of, besides its ids and timestamps: its chat, its content
/// with the media staged already (a URL or an S3 key, never bytes), and its broadcast.
pub struct RecordParts {
    pub chat_id: ChatId,
    pub content: Content<StoredMedia>,
    pub broadcast_id: Option<BroadcastId>,
}

/// How long after its job is queued a message's record is certainly written or never will be:
/// longer than any API request runs (API Gateway stops waiting at 29 s, the function's timeout).
pub const RECORD_DEADLINE: Duration = Duration::from_secs(60);

/// How many unique_ids a send draws before it gives up: a drawn one is taken (its queue_id in use)
/// with odds of the org's retained messages in 2^72, so even a second draw is all but unheard of.
pub const MAX_DRAWS: u32 = 3;

/// The reason recorded on a message that was not accepted (its job, or its record's write,
/// failed). The adapter's error (queue ARN, account) stays in the logs.
pub const NOT_QUEUED: &str = "could not be queued for delivery; nothing will be sent, send the message again";

impl Enqueuer {
    pub async fn enqueue_message(
        &self,
        org: &OrgId,
        phone: &Phone,
        message: ValidatedMessage,
    ) -> Result<Accepted, EnqueueError> {
        let now = self.clock.now();
        let unique_id = UniqueId::generate();
        let ValidatedMessage { chat_id, mut content } = message;
        let provider = phone.provider.kind();
        capabilities::check(provider, Shape::of_content(&chat_id, &content)).map_err(EnqueueError::Unsupported)?;
        // Staged under the first draw's queue_id; the record keeps the key, whichever draw it gets.
        let media = self.stage_media(org, QueueId::of(&unique_id).as_str(), content.media.take()).await?;
        let parts = RecordParts { chat_id, content: content.with_media(media), broadcast_id: None };
        let mut record = self.queued_record(org, phone, unique_id, parts, now);
        let record_by = now.plus(RECORD_DEADLINE).epoch_secs_ceil();
        // The queue depth is refreshed alongside the first job, never as an extra round trip.
        let mut queue_position = None;
        for draw in 1..=MAX_DRAWS {
            // The request's span (see `api`) carries the queue_id from here on.
            Span::current().record("queue_id", tracing::field::display(&record.queue_id));
            // The job first, then the record: a crash between the two leaves a job that finds no
            // record by `record_by` and is dropped, never a `queued` record without a job (README,
            // "Failure windows").
            let job = Job::ahead_of_record(&record, record_by);
            if queue_position.is_none() {
                let (position, enqueued) =
                    tokio::join!(self.depth.position(self.queue.as_ref()), self.queue.enqueue(&job, now));
                enqueued?;
                queue_position = Some(position);
            } else {
                self.queue.enqueue(&job, now).await?;
            }
            match self.store.create(&record).await {
                Ok(Created::Created) => break,
                // Another message has this queue_id: its record is left alone, and the job just
                // queued finds a record with another unique_id, which it never delivers.
                Ok(Created::IdTaken) if draw < MAX_DRAWS => {
                    warn!(draw, "the drawn unique_id is taken; drawing again");
                    record.unique_id = UniqueId::generate();
                    record.queue_id = QueueId::of(&record.unique_id);
                }
                Ok(Created::IdTaken) => {
                    return Err(
                        StoreError::unavailable("PutItem", format!("{MAX_DRAWS} drawn unique_ids were taken")).into()
                    );
                }
                Err(err) => {
                    // The write may have landed unseen: then it must not be sent either, as the
                    // caller is told nothing was accepted.
                    let marked =
                        self.store.mark_enqueue_failed(org, &record.queue_id, NOT_QUEUED, self.clock.now()).await;
                    if let Err(store_err) = marked {
                        error!(error = %chain(&store_err), "a record whose write failed could not be marked failed");
                    }
                    return Err(err.into());
                }
            }
        }
        let (queue_id, queue_position) = (record.queue_id, queue_position.unwrap_or_default());
        let provider = record.provider.as_str();
        info!(queue_id = %queue_id, org_id = %org, attempt = 0, provider, outcome = "accepted", status = "queued", "state change");
        self.metrics.emit(now, Some(provider), None, &[(metrics::ACCEPTED, 1.0)]);
        Ok(Accepted {
            queue_id,
            unique_id: record.unique_id,
            queue_position,
            queued_at: now,
            expires_at: record.expires_at,
        })
    }

    /// Stores inline media in S3 under `media/{org}/{owner}/…` (owner: a queue_id or a broadcast);
    /// a URL is kept as it is, never fetched; an upload is checked and referenced where it is.
    pub async fn stage_media(
        &self,
        org: &OrgId,
        owner: &str,
        media: Option<Attachment>,
    ) -> Result<Option<StoredMedia>, EnqueueError> {
        let media = match media {
            None => return Ok(None),
            Some(Attachment::Upload(reference)) => return Ok(Some(self.uploads.resolve(org, reference).await?)),
            Some(Attachment::Media(media)) => media,
        };
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

    /// A new `queued` record with `unique_id` (and the queue_id it leads to); a schedule that is
    /// not in the future is dropped (due now).
    pub fn queued_record(
        &self,
        org: &OrgId,
        phone: &Phone,
        unique_id: UniqueId,
        parts: RecordParts,
        now: Timestamp,
    ) -> MessageRecord {
        let content = parts.content;
        let scheduled_at = content.scheduled_at.filter(|at| *at > now);
        MessageRecord {
            org_id: org.clone(),
            queue_id: QueueId::of(&unique_id),
            unique_id,
            phone_id: phone.phone_id.clone(),
            provider: phone.provider.kind(),
            chat_id: parts.chat_id,
            text: content.text,
            media: content.media,
            poll: content.poll,
            reply_to: content.reply_to,
            hide_url_preview: content.hide_url_preview,
            link_preview: content.link_preview,
            status: Status::Queued,
            status_description: None,
            provider_message_id: None,
            attempts: 0,
            attempt_log: vec![],
            attempt_log_dropped: 0,
            timeline: Timeline::queued(now),
            lease_until: None,
            dead_lettered_at: None,
            generation: 0,
            attempts_before_replay: 0,
            requeued_at: None,
            scheduled_at,
            broadcast_id: parts.broadcast_id,
            expires_at: self.expires_at(scheduled_at.unwrap_or(now)),
        }
    }

    /// When a record due at `due` expires (DynamoDB TTL, epoch seconds): retention counts from
    /// the due time, so a scheduled message outlives its wait.
    pub fn expires_at(&self, due: Timestamp) -> i64 {
        due.epoch_secs() + self.retention.as_secs() as i64
    }
}

/// `media/{org}/{queue_id}/{filename}`, with the filename reduced to safe characters.
pub fn media_key(org: &OrgId, queue_id: &str, filename: &str) -> String {
    format!("media/{org}/{queue_id}/{}", safe_file_name(filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_keys_name_org_and_queue_id_and_nothing_unsafe() {
        let org = OrgId::from("org-1");
        assert_eq!(media_key(&org, "q-1", "../a b/é.png"), "media/org-1/q-1/.._a_b__.png");
    }
}
