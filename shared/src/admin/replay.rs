//! Dead-letter replay: failed messages kept for replay go back to `queued` with a fresh job.

use std::time::Duration;

use super::AdminError;
use crate::domain::ids::QueueId;
use crate::domain::job::Job;
use crate::domain::message::{AttemptOutcome, MessageRecord};
use crate::domain::time::Timestamp;
use crate::ports::{JobQueue, StatusStore};
use crate::telemetry::chain;

/// Which dead-lettered messages to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelection {
    QueueId(QueueId),
    All,
}

/// How to replay.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// How long a replayed record is kept after it is due (the deployment's retention).
    pub retention: Duration,
    /// Replay even a message whose last attempt was interrupted (it may have been sent).
    pub force: bool,
}

/// What a replay did, message by message.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Requeued with a fresh job, as they were before the replay.
    pub replayed: Vec<MessageRecord>,
    /// Named or listed, but not (or no longer) dead-lettered: nothing to do.
    pub not_dead_lettered: Vec<QueueId>,
    /// Could not be enqueued: `(queue_id, what happened)`.
    pub failed: Vec<(QueueId, String)>,
    /// Left dead-lettered: the last attempt was interrupted, so the provider may have the message
    /// already; only a forced replay sends it again.
    pub interrupted: Vec<MessageRecord>,
}

/// The last attempt stopped without an outcome: the provider may or may not have accepted it.
fn last_attempt_interrupted(record: &MessageRecord) -> bool {
    record.settled_attempt_log().last().and_then(|entry| entry.outcome) == Some(AttemptOutcome::Interrupted)
}

/// Moves dead-lettered messages back to `queued`, each with a fresh job that gets the queue's
/// full receive count again. The records are the source of truth, found through the `DLQ` index.
/// A scheduled message keeps its due time; each record is kept `retention` past it (or past now).
/// A process killed between a requeue and its enqueue leaves that record queued without a job,
/// the same window the send path has between its write and its enqueue.
pub async fn replay_dead_letters(
    store: &dyn StatusStore,
    queue: &dyn JobQueue,
    selection: &ReplaySelection,
    options: ReplayOptions,
    now: Timestamp,
) -> Result<ReplayReport, AdminError> {
    let wanted = match selection {
        ReplaySelection::QueueId(queue_id) => Some(queue_id),
        ReplaySelection::All => None,
    };
    let records = store.list_dead_lettered(wanted).await?;
    let mut report = ReplayReport::default();
    if let (Some(queue_id), true) = (wanted, records.is_empty()) {
        report.not_dead_lettered.push(queue_id.clone());
    }
    for record in records {
        if last_attempt_interrupted(&record) && !options.force {
            report.interrupted.push(record);
            continue;
        }
        let due = record.due().max(now);
        let expires_at = due.plus(options.retention).epoch_secs();
        // Record first, then job: a job that found the record still `failed` would be acknowledged and lost.
        if !store.requeue_dead_lettered(&record.org_id, &record.queue_id, due, expires_at).await? {
            report.not_dead_lettered.push(record.queue_id);
            continue;
        }
        // The send path's job, of the record's new generation: a scheduled message keeps its due time.
        let Err(err) = queue.enqueue(&Job::for_replay(&record), now).await else {
            report.replayed.push(record);
            continue;
        };
        let failure = match store.restore_dead_lettered(&record).await {
            Ok(true) => format!("{}; it stays dead-lettered, replay it again later", chain(&err)),
            Ok(false) => format!("{}; its record changed meanwhile, check its status", chain(&err)),
            Err(store_err) => format!(
                "{}; putting it back also failed ({}): it is queued without a job, send the message again",
                chain(&err),
                chain(&store_err)
            ),
        };
        report.failed.push((record.queue_id, failure));
    }
    Ok(report)
}
