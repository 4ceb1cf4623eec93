//! The dead-letter consumer: every job that reaches the DLQ ends with a terminal `failed` record,
//! marked so it can be listed and replayed; bodies that name no record are kept as poison evidence.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::future::join_all;
use tracing::{Instrument, error, info, info_span, warn};

use super::sqs_batch::{ReceivedRecord, batch_response};
use crate::domain::job::Job;
use crate::domain::time::Timestamp;
use crate::metrics::{self, Metrics};
use crate::ports::{Clock, DeadLetterMark, StatusStore, StoreError};
use crate::telemetry::chain;

#[derive(Clone)]
pub struct DeadLetters {
    pub store: Arc<dyn StatusStore>,
    pub clock: Arc<dyn Clock>,
    /// How long poison evidence is kept.
    pub retention: Duration,
    /// Where each arrival's metric line goes (`metrics`).
    pub metrics: Metrics,
}

pub async fn handle_batch(dead_letters: &DeadLetters, event: SqsEvent) -> SqsBatchResponse {
    let results = join_all(event.records.into_iter().filter_map(ReceivedRecord::from_sqs).map(|record| async move {
        match settle(dead_letters, &record).await {
            Ok(true) => None,
            Ok(false) => Some(record.message_id),
            Err(err) => {
                error!(message_id = %record.message_id, error = %chain(&err), "could not settle a dead-lettered job; it stays on the DLQ");
                Some(record.message_id)
            }
        }
    }))
    .await;
    batch_response(results.into_iter().flatten())
}

/// `Ok(false)` when the job must stay on the DLQ for now.
async fn settle(dead_letters: &DeadLetters, record: &ReceivedRecord) -> Result<bool, StoreError> {
    let now = dead_letters.clock.now();
    let job = match Job::decode(&record.body) {
        Ok(job) => job,
        Err(err) => {
            keep_poison(dead_letters, record, &format!("malformed job: {err}"), now).await?;
            arrived(dead_letters, now, "poison");
            return Ok(true);
        }
    };
    let span = info_span!("dead_letter", queue_id = %job.queue_id, org_id = %job.org_id);
    let settled = mark(dead_letters, record, &job, now).instrument(span).await?;
    if let Some(outcome) = settled {
        arrived(dead_letters, now, outcome);
    }
    Ok(settled.is_some())
}

/// A settled arrival's metrics (the provider is not known without reading the record): every
/// arrival counts, and one that failed its message counts as a failure too.
fn arrived(dead_letters: &DeadLetters, now: Timestamp, outcome: &str) {
    let mut values = vec![(metrics::DEAD_LETTERED, 1.0)];
    if outcome == DEAD_LETTERED_FAILED {
        values.push((metrics::FAILED, 1.0));
    }
    dead_letters.metrics.emit(now, None, Some(outcome), &values);
}

/// The outcome of an arrival that turned a live message `failed`.
const DEAD_LETTERED_FAILED: &str = "dead_lettered";

/// How the arrival was settled (its metrics' outcome), or `None` when it must stay on the DLQ for now.
async fn mark(
    dead_letters: &DeadLetters,
    record: &ReceivedRecord,
    job: &Job,
    now: Timestamp,
) -> Result<Option<&'static str>, StoreError> {
    let outcome = match dead_letters.store.mark_dead_lettered(&job.org_id, &job.queue_id, job.generation, now).await? {
        DeadLetterMark::MarkedFailed => {
            warn!(
                queue_id = %job.queue_id,
                org_id = %job.org_id,
                outcome = DEAD_LETTERED_FAILED,
                status = "failed",
                "state change: dead-lettered before an outcome was recorded; marked failed"
            );
            DEAD_LETTERED_FAILED
        }
        DeadLetterMark::InFlight => {
            // Left on the DLQ: its visibility timeout outlasts the lease, and then this is settled.
            info!("dead-lettered copy of a message another worker is still delivering; settling it later");
            return Ok(None);
        }
        DeadLetterMark::Stale => {
            info!(generation = job.generation, "dead-lettered copy of a job the message was replayed past; ignored");
            "stale"
        }
        DeadLetterMark::AlreadyFailed => {
            info!("dead-lettered; already failed, kept for replay");
            "already_failed"
        }
        DeadLetterMark::PermanentlyFailed => {
            info!("dead-lettered copy of a permanent failure; not kept for replay");
            "permanently_failed"
        }
        DeadLetterMark::NotFailed(status) => {
            info!(status = status.as_str(), "dead-lettered copy of a finished message; nothing to replay");
            "not_failed"
        }
        DeadLetterMark::Missing => {
            let reason = format!("no message record for queue_id {}", job.queue_id);
            keep_poison(dead_letters, record, &reason, now).await?;
            "poison"
        }
    };
    Ok(Some(outcome))
}

async fn keep_poison(
    dead_letters: &DeadLetters,
    record: &ReceivedRecord,
    reason: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    warn!(message_id = %record.message_id, body_bytes = record.body.len(), %reason, "keeping an unprocessable job as evidence");
    let expires_at = now.epoch_secs() + dead_letters.retention.as_secs() as i64;
    dead_letters.store.record_poison(&record.message_id, &record.body, reason, now, expires_at).await
}
