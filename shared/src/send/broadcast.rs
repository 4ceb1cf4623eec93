//! Broadcasting: one validated message to up to 1,000 chats. Media is staged once, records are
//! written 25 at a time and jobs queued 10 at a time, concurrently; jobs are spaced by `delay` from
//! `scheduled_at`. The broadcast record always says how much of it was queued.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tracing::{error, info, warn};

use crate::domain::broadcast::ValidatedBroadcast;
use crate::domain::clock::rfc3339;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::{OrgId, Phone};
use crate::enqueue::{EnqueueError, Enqueuer, NOT_QUEUED, RecordParts, job_of};
use crate::ports::{BroadcastRecord, EnqueueState, QueueError, Tracking};

#[derive(Clone)]
pub struct Broadcaster {
    pub enqueuer: Enqueuer,
    pub tracking: Arc<dyn Tracking>,
}

impl Broadcaster {
    /// Queues the broadcast and returns its id. Fails (nothing to retry but the whole request)
    /// only when no message at all could be queued.
    pub async fn broadcast(
        &self,
        org: &OrgId,
        phone: &Phone,
        performed_by: &str,
        broadcast: ValidatedBroadcast,
    ) -> Result<String, EnqueueError> {
        let now = Utc::now();
        let broadcast_id = uuid::Uuid::new_v4().to_string();
        let ValidatedBroadcast { content, recipients, delay } = broadcast;
        let start = content.scheduled_at.unwrap_or(now);
        let mut record = BroadcastRecord {
            org_id: org.clone(),
            broadcast_id: broadcast_id.clone(),
            phone_id: phone.phone_id.clone(),
            body: content.text.clone(),
            message_type: match (&content.media, &content.poll) {
                (Some(media), _) => media.kind.as_str().to_string(),
                (None, Some(_)) => "poll".into(),
                (None, None) => "text".into(),
            },
            performed_by: performed_by.to_string(),
            created_at: rfc3339(now),
            scheduled_at: content.scheduled_at.map(rfc3339),
            delay_ms: delay.as_millis() as u64,
            total_chats: recipients.len() as u32,
            queued_chats: 0,
            state: EnqueueState::Queuing,
            expires_at: now.timestamp() + self.enqueuer.retention.as_secs() as i64,
        };
        self.tracking.put_broadcast(&record).await?;
        let media = self.enqueuer.stage_media(org, &format!("broadcast-{broadcast_id}"), content.media).await?;

        let messages: Vec<MessageRecord> = recipients
            .into_iter()
            .enumerate()
            .map(|(i, recipient)| {
                let due: DateTime<Utc> = start + chrono::Duration::from_std(delay * i as u32).unwrap_or_default();
                let parts = RecordParts {
                    chat_id: recipient.chat_id,
                    text: recipient.text,
                    media: media.clone(),
                    poll: content.poll.clone(),
                    reply_to: content.reply_to.clone(),
                    hide_url_preview: content.hide_url_preview,
                    scheduled_at: Some(due),
                    broadcast_id: Some(broadcast_id.clone()),
                };
                self.enqueuer.queued_record(org, phone, uuid::Uuid::new_v4().to_string(), parts, now)
            })
            .collect();

        let timer = std::time::Instant::now();
        let not_written = self.tracking.create_many(&messages).await.unwrap_or_else(|err| {
            error!(%broadcast_id, error = %err, "no message of the broadcast could be recorded");
            messages.iter().map(|m| m.queue_id.clone()).collect()
        });
        let written: Vec<&MessageRecord> = messages.iter().filter(|m| !not_written.contains(&m.queue_id)).collect();
        let recorded_in = timer.elapsed();
        let jobs: Vec<_> = written.iter().map(|m| job_of(m)).collect();
        let not_queued = self.enqueuer.queue.enqueue_many(&jobs).await;
        info!(%broadcast_id, chats = messages.len(), ?recorded_in, queued_in = ?(timer.elapsed() - recorded_in), "broadcast queued");
        // Recorded but never queued: the record must not claim a job that will never run.
        let failures = not_queued
            .iter()
            .map(|queue_id| self.enqueuer.store.mark_enqueue_failed(org, queue_id, NOT_QUEUED, &record.created_at));
        for (queue_id, result) in not_queued.iter().zip(join_all(failures).await) {
            if let Err(err) = result {
                error!(%queue_id, error = %err, "an unqueued broadcast message could not be marked failed");
            }
        }

        record.queued_chats = (written.len() - not_queued.len()) as u32;
        record.state = if record.queued_chats == record.total_chats {
            EnqueueState::Queued
        } else {
            EnqueueState::PartiallyQueued
        };
        if record.state == EnqueueState::PartiallyQueued {
            warn!(%broadcast_id, queued = record.queued_chats, total = record.total_chats, "broadcast partially queued");
        }
        self.tracking.put_broadcast(&record).await?;
        if record.queued_chats == 0 {
            return Err(EnqueueError::Queue(QueueError("no message of the broadcast could be queued".into())));
        }
        Ok(broadcast_id)
    }
}
