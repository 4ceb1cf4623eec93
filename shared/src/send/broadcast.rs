//! Broadcasting: one validated message to up to 1,000 chats. Media is staged once; each chat's
//! ids follow from the broadcast's id and its position (so its messages are found without an
//! index); jobs are queued 10 at a time and records written with conditional PutItems (a taken
//! id is drawn again, never overwritten), concurrently; jobs are spaced by `delay` from
//! `scheduled_at`. The broadcast record says how much of it was queued; once any job is queued the
//! broadcast is accepted, and a summary whose final write failed is settled by its readers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tracing::{error, info, warn};

use super::enqueue::{EnqueueError, Enqueuer, MAX_DRAWS, NOT_QUEUED, RECORD_DEADLINE, RecordParts};
use crate::domain::broadcast::ValidatedBroadcast;
use crate::domain::capabilities::{Shape, UNSUPPORTED, refusal};
use crate::domain::content::Content;
use crate::domain::ids::{BroadcastId, OrgId, QueueId, UniqueId};
use crate::domain::job::Job;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::Phone;
use crate::domain::validation::ValidationError;
use crate::metrics;
use crate::ports::{BroadcastRecord, Created, EnqueueState, QueueError, Redraw, StoreError, Tracking};
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
        // Every chat before anything is stored: a broadcast is accepted whole or refused.
        for (index, recipient) in recipients.iter().enumerate() {
            if let Some(reason) = refusal(phone.provider.kind(), Shape::of_content(&recipient.chat_id, &content)) {
                let message = format!("chat {index} ({}): {reason}", recipient.chat_id.as_str());
                return Err(EnqueueError::Unsupported(ValidationError::bad_request(UNSUPPORTED, None, message)));
            }
        }
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
            redrawn: vec![],
        };
        self.tracking.put_broadcast(&record).await?;

        let mut messages: Vec<MessageRecord> = recipients
            .into_iter()
            .enumerate()
            .map(|(i, recipient)| {
                let due = start.plus(delay * i as u32);
                let content = Content { text: recipient.text, scheduled_at: Some(due), ..shared.clone() };
                let parts =
                    RecordParts { chat_id: recipient.chat_id, content, broadcast_id: Some(broadcast_id.clone()) };
                let unique_id = UniqueId::for_broadcast(&broadcast_id, i as u32, 0);
                self.enqueuer.queued_record(org, phone, unique_id, parts, now)
            })
            .collect();

        let timer = std::time::Instant::now();
        let written = self.queue_and_record(&mut record, &mut messages).await;
        info!(%broadcast_id, chats = record.total_chats, elapsed = ?timer.elapsed(), "broadcast queued");

        record.queued_chats = written;
        let accepted = [(metrics::ACCEPTED, f64::from(record.queued_chats))];
        self.enqueuer.metrics.emit(now, Some(phone.provider.kind().as_str()), None, &accepted);
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

    /// Queues each message's job, then writes its record, as for one message
    /// (`Enqueuer::enqueue_message`): a crash between the two leaves jobs that find no record and
    /// are dropped, never records without a job. A chat whose id is taken draws again (noted in
    /// `broadcast.redrawn`, so that its message is still found) with a job of its own. Returns
    /// how many messages were queued and recorded.
    async fn queue_and_record(&self, broadcast: &mut BroadcastRecord, messages: &mut [MessageRecord]) -> u32 {
        let (org, now) = (&broadcast.org_id, broadcast.created_at);
        let record_by = now.plus(RECORD_DEADLINE).epoch_secs_ceil();
        let mut written = 0;
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        for draw in 1..=MAX_DRAWS {
            let jobs: Vec<_> = pending.iter().map(|&i| Job::ahead_of_record(&messages[i], record_by)).collect();
            let not_queued = self.enqueuer.queue.enqueue_many(&jobs, now).await;
            let queued: Vec<usize> =
                pending.into_iter().filter(|&i| !not_queued.contains(&messages[i].queue_id)).collect();
            let records: Vec<MessageRecord> = queued.iter().map(|&i| messages[i].clone()).collect();
            let outcomes = if records.is_empty() { vec![] } else { self.tracking.create_many(&records).await };
            let (mut taken, mut not_written) = (vec![], vec![]);
            for (&i, outcome) in queued.iter().zip(outcomes) {
                match outcome {
                    Ok(Created::Created) => written += 1,
                    Ok(Created::IdTaken) => taken.push(i),
                    Err(err) => {
                        error!(queue_id = %messages[i].queue_id, error = %chain(&err), "a broadcast message could not be recorded");
                        not_written.push(messages[i].queue_id.clone());
                    }
                }
            }
            // A write that landed unseen must not be sent: the broadcast does not count it.
            let failures = not_written
                .iter()
                .map(|queue_id| self.enqueuer.store.mark_enqueue_failed(org, queue_id, NOT_QUEUED, now));
            for (queue_id, result) in not_written.iter().zip(join_all(failures).await) {
                if let Err(err) = result {
                    error!(%queue_id, error = %chain(&err), "an unrecorded broadcast message could not be marked failed");
                }
            }
            if taken.is_empty() {
                break;
            }
            // The jobs just queued for taken ids find records with other unique_ids and never deliver them.
            warn!(broadcast_id = %broadcast.broadcast_id, chats = taken.len(), draw, "drawn unique_ids are taken; drawing again");
            if draw == MAX_DRAWS {
                break;
            }
            for &i in &taken {
                let position = i as u32;
                let message = &mut messages[i];
                message.unique_id = UniqueId::for_broadcast(&broadcast.broadcast_id, position, draw);
                message.queue_id = QueueId::of(&message.unique_id);
                broadcast.redrawn.retain(|r| r.position != position);
                broadcast.redrawn.push(Redraw { position, draw });
            }
            pending = taken;
        }
        written
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryMedia, MemoryQueue, MemoryStore};
    use crate::domain::chat_id::ChatId;
    use crate::domain::tenant::ProviderSettings;
    use crate::ports::{Clock, StatusStore};

    #[tokio::test]
    async fn a_chat_whose_derived_id_is_taken_draws_again_and_is_still_found() {
        let (store, queue) = (Arc::new(MemoryStore::default()), Arc::new(MemoryQueue::default()));
        let (clock, media) = (Arc::new(ManualClock::starting_now()), Arc::new(MemoryMedia::default()));
        let enqueuer = crate::wiring::in_memory_enqueuer(store.clone(), queue.clone(), media, clock.clone());
        let broadcaster = Broadcaster { enqueuer: enqueuer.clone(), tracking: store.clone() };
        let (org, now) = (OrgId::from("org-a"), clock.now());
        let phone = Phone {
            org_id: org.clone(),
            phone_id: "phone-a".into(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: now,
        };
        let mut broadcast = BroadcastRecord {
            org_id: org.clone(),
            broadcast_id: BroadcastId::generate(),
            phone_id: phone.phone_id.clone(),
            body: Some("hi".into()),
            message_type: "text".into(),
            performed_by: "key-1".into(),
            created_at: now,
            scheduled_at: None,
            delay_ms: 0,
            total_chats: 3,
            queued_chats: 0,
            state: EnqueueState::Queuing,
            expires_at: 0,
            redrawn: vec![],
        };
        let record = |position: u32, unique_id: UniqueId, broadcast_id: Option<BroadcastId>| {
            let content = Content {
                text: Some(format!("chat {position}")),
                media: None,
                poll: None,
                reply_to: None,
                hide_url_preview: false,
                link_preview: Default::default(),
                scheduled_at: None,
            };
            let chat_id = ChatId::parse(&format!("1555000000{position}")).expect("a chat id");
            enqueuer.queued_record(&org, &phone, unique_id, RecordParts { chat_id, content, broadcast_id }, now)
        };
        // Another message of the org drew the id of position 1 first.
        let squatter = record(9, UniqueId::for_broadcast(&broadcast.broadcast_id, 1, 0), None);
        assert_eq!(store.create(&squatter).await.unwrap(), Created::Created);
        let mut messages: Vec<MessageRecord> = (0..3)
            .map(|p| {
                record(p, UniqueId::for_broadcast(&broadcast.broadcast_id, p, 0), Some(broadcast.broadcast_id.clone()))
            })
            .collect();

        assert_eq!(broadcaster.queue_and_record(&mut broadcast, &mut messages).await, 3);
        assert_eq!(broadcast.redrawn, [Redraw { position: 1, draw: 1 }]);
        assert_eq!(store.get(&org, &squatter.queue_id).await.unwrap(), Some(squatter), "never overwritten");
        let found = store.broadcast_messages(&broadcast).await.unwrap();
        let texts: Vec<_> = found.iter().map(|m| m.text.clone().unwrap_or_default()).collect();
        assert_eq!(texts, ["chat 0", "chat 1", "chat 2"]);
        // Four jobs: one per chat, and the first of position 1, which finds another message's record.
        assert_eq!(queue.jobs.lock().unwrap().len(), 4);
    }
}
