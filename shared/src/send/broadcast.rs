//! Broadcasting: one validated message to up to 1,000 chats. Media is staged once, records are
//! written 25 at a time and jobs queued 10 at a time, concurrently; jobs are spaced by `delay` from
//! `scheduled_at`. The broadcast record says how much of it was queued; once any job is queued the
//! broadcast is accepted, and a summary whose final write failed is settled by its readers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tracing::{error, info, warn};

use super::enqueue::{EnqueueError, Enqueuer, NOT_QUEUED, RECORD_DEADLINE, RecordParts};
use crate::domain::broadcast::ValidatedBroadcast;
use crate::domain::content::Content;
use crate::domain::ids::{BroadcastId, OrgId, QueueId};
use crate::domain::job::Job;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::Phone;
use crate::ports::{BroadcastRecord, EnqueueState, QueueError, StoreError, Tracking};
use crate::telemetry::chain;

/// A broadcast the queue has taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastAccepted {
    pub broadcast_id: BroadcastId,
    /// When its summary (and its last message) expires, epoch seconds.
    pub expires_at: i64,
}

/// Tries of the summary's final write, and the wait before the second (doubling): 0.7 s in all,
/// far inside the API's timeout.
const SUMMARY_WRITE_ATTEMPTS: u32 = 4;
const SUMMARY_RETRY_FIRST_WAIT: Duration = Duration::from_millis(100);

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
    ) -> Result<BroadcastAccepted, EnqueueError> {
        let now = self.enqueuer.clock.now();
        let broadcast_id = BroadcastId::generate();
        let last_due = broadcast.last_due(now);
        let ValidatedBroadcast { mut content, recipients, delay } = broadcast;
        let start = content.scheduled_at.unwrap_or(now);
        // Media first: an upload that cannot be sent leaves no broadcast behind.
        let media = self.enqueuer.stage_media(org, &format!("broadcast-{broadcast_id}"), content.media.take()).await?;
        let shared = content.with_media(media);
        let mut record = BroadcastRecord {
            org_id: org.clone(),
            broadcast_id: broadcast_id.clone(),
            phone_id: phone.phone_id.clone(),
            body: shared.text.clone(),
            message_type: shared.message_type().to_string(),
            performed_by: performed_by.to_string(),
            created_at: now,
            scheduled_at: shared.scheduled_at,
            delay_ms: delay.as_millis() as u64,
            total_chats: recipients.len() as u32,
            queued_chats: 0,
            state: EnqueueState::Queuing,
            // The summary lives as long as its last message.
            expires_at: self.enqueuer.expires_at(last_due),
        };
        self.tracking.put_broadcast(&record).await?;

        let messages: Vec<MessageRecord> = recipients
            .into_iter()
            .enumerate()
            .map(|(i, recipient)| {
                let due = start.plus(delay * i as u32);
                let content = Content { text: recipient.text, scheduled_at: Some(due), ..shared.clone() };
                let parts =
                    RecordParts { chat_id: recipient.chat_id, content, broadcast_id: Some(broadcast_id.clone()) };
                self.enqueuer.queued_record(org, phone, QueueId::generate(), parts, now)
            })
            .collect();

        // Jobs first, then records, as for one message (`Enqueuer::enqueue_message`): a crash
        // between the two leaves jobs that find no record and are dropped, never records without a job.
        let timer = std::time::Instant::now();
        let record_by = now.plus(RECORD_DEADLINE).epoch_secs_ceil();
        let jobs: Vec<_> = messages.iter().map(|m| Job::ahead_of_record(m, record_by)).collect();
        let not_queued = self.enqueuer.queue.enqueue_many(&jobs, now).await;
        let queued: Vec<MessageRecord> = messages.into_iter().filter(|m| !not_queued.contains(&m.queue_id)).collect();
        let queued_in = timer.elapsed();
        let not_written = if queued.is_empty() {
            vec![]
        } else {
            self.tracking.create_many(&queued).await.unwrap_or_else(|err| {
                error!(%broadcast_id, error = %chain(&err), "no message of the broadcast could be recorded");
                queued.iter().map(|m| m.queue_id.clone()).collect()
            })
        };
        info!(%broadcast_id, chats = record.total_chats, ?queued_in, recorded_in = ?(timer.elapsed() - queued_in), "broadcast queued");
        // A write that landed unseen must not be sent: the broadcast does not count it.
        let failures = not_written
            .iter()
            .map(|queue_id| self.enqueuer.store.mark_enqueue_failed(org, queue_id, NOT_QUEUED, record.created_at));
        for (queue_id, result) in not_written.iter().zip(join_all(failures).await) {
            if let Err(err) = result {
                error!(%queue_id, error = %chain(&err), "an unrecorded broadcast message could not be marked failed");
            }
        }

        record.queued_chats = (queued.len() - not_written.len()) as u32;
        record.state = if record.queued_chats == record.total_chats {
            EnqueueState::Queued
        } else {
            EnqueueState::PartiallyQueued
        };
        if record.state == EnqueueState::PartiallyQueued {
            warn!(%broadcast_id, queued = record.queued_chats, total = record.total_chats, "broadcast partially queued");
        }
        let summarised = self.put_final_summary(&record).await;
        if record.queued_chats == 0 {
            let none = format!("none of the broadcast's {} messages could be queued", record.total_chats);
            return Err(EnqueueError::Queue(QueueError::new(none, "every SendMessageBatch entry failed")));
        }
        // Jobs are queued: the broadcast is accepted whatever became of its summary, or a client
        // retrying with its Idempotency-Key would send every message again.
        if let Err(err) = summarised {
            error!(%broadcast_id, error = %chain(&err), "the broadcast's summary stays `queuing`; readers settle it");
        }
        Ok(BroadcastAccepted { broadcast_id, expires_at: record.expires_at })
    }

    /// The summary's final write, retried in-process; a summary left `queuing` is settled by its
    /// readers once no request can still be writing it (`BroadcastRecord::settled_state`).
    async fn put_final_summary(&self, record: &BroadcastRecord) -> Result<(), StoreError> {
        let mut backoff = SUMMARY_RETRY_FIRST_WAIT;
        for _ in 1..SUMMARY_WRITE_ATTEMPTS {
            match self.tracking.put_broadcast(record).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    warn!(broadcast_id = %record.broadcast_id, error = %chain(&err), "retrying the broadcast's summary")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        self.tracking.put_broadcast(record).await
    }
}
