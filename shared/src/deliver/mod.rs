//! The deliver flow. The delivery consumer takes jobs off the queue, hands each message to its
//! provider once, records the outcome, and leaves retries to SQS visibility and redrive
//! (`retry`); the dead-letter consumer settles what reaches the DLQ (`dead_letter`). Both read
//! their batches through `sqs_batch`.

pub mod dead_letter;
pub mod purge_markers;
pub mod retry;
pub mod sqs_batch;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::future::join_all;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::domain::job::Job;
use crate::domain::message::{AttemptOutcome, MessageRecord};
use crate::domain::tenant::ProviderKind;
use crate::domain::time::Timestamp;
use crate::metrics::{self, Metrics};
use crate::ports::{AttemptResult, BeginAttempt, Clock, JobQueue, StatusStore, StoreError};
use crate::providers::{DeliveryError, Providers, REQUEST_TIMEOUT};
use crate::telemetry::chain;
use purge_markers::{PurgeMarkers, Ticket};
use retry::RetryPolicy;
use sqs_batch::{ReceivedRecord, batch_response};

/// Receives beyond the attempt budget that a job copy may spend in crashed invocations (its
/// own, or a batch-mate's) before SQS's redrive moves it: every other receive that makes no
/// attempt passes the job on as a fresh copy, which SQS counts from zero.
pub const CRASH_ALLOWANCE: u32 = 7;

/// The jobs queue's `maxReceiveCount` for an attempt budget: `template.yaml` and the local queue.
pub fn max_receives(max_attempts: u32) -> u32 {
    max_attempts + CRASH_ALLOWANCE
}

/// Time kept back from the invocation's deadline for recording the outcome after the provider call.
pub const WRITE_MARGIN: Duration = Duration::from_secs(5);
/// Kept back from the deadline when retrying the outcome write: the batch response and the
/// retry's `ChangeMessageVisibility` still have to go out.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// The longest pause between outcome write retries.
const MAX_WRITE_BACKOFF: Duration = Duration::from_secs(1);
/// Less provider time than this is not worth an attempt: the job is retried without one.
const MIN_CALL_BUDGET: Duration = Duration::from_secs(1);
/// Slow-downs a job may wait out without using an attempt; past them each one counts as a
/// transient failure, so a provider that always answers 429 still ends the message (after at
/// most this many waits plus the attempt budget).
pub const MAX_SLOW_DOWNS: u32 = 10;
/// The longest wait for one slow-down, whatever `Retry-After` says: SQS's longest delay, so
/// the fresh copy needs no extra hop.
pub const MAX_SLOW_DOWN_WAIT: Duration = Duration::from_secs(900);

/// How long a job waits after its `slow_downs`-th slow-down (from 1): the provider's
/// `Retry-After` when it gave one, else the retry backoff for that count; 1 s to 15 minutes.
pub fn slow_down_wait(retry_after: Option<Duration>, retry: RetryPolicy, slow_downs: u32) -> Duration {
    retry_after.unwrap_or_else(|| retry.delay_for(slow_downs)).clamp(Duration::from_secs(1), MAX_SLOW_DOWN_WAIT)
}

/// How long the provider call may take: its own timeout, or what remains of the invocation
/// minus the margin for the final write, whichever is smaller; `None` when too little remains.
pub fn call_budget(provider_timeout: Duration, remaining: Duration) -> Option<Duration> {
    let budget = provider_timeout.min(remaining.saturating_sub(WRITE_MARGIN));
    (budget >= MIN_CALL_BUDGET).then_some(budget)
}

/// What the delivery handler needs, built once per process.
#[derive(Clone)]
pub struct Delivery {
    pub store: Arc<dyn StatusStore>,
    pub queue: Arc<dyn JobQueue>,
    pub providers: Providers,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Real attempts (counted on the record, not by SQS) after which a message fails and its job
    /// is moved to the dead-letter queue. The queue's `maxReceiveCount` is `max_receives` of it.
    pub max_attempts: u32,
    /// How long an attempt may take before another worker may take the job over.
    pub lease: Duration,
    /// The first pause before retrying a failed outcome write; doubles up to `MAX_WRITE_BACKOFF`.
    pub write_backoff: Duration,
    /// Where each outcome's metric line goes (`metrics`).
    pub metrics: Metrics,
}

impl Delivery {
    /// The deadline Lambda would give an invocation starting now (the function's timeout), for
    /// callers without a `Context`: benchmarks and tools that drive the handler by hand.
    pub fn deadline_from_now(&self) -> Timestamp {
        self.clock.now().plus(self.lease)
    }
}

/// What becomes of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished with: the event source deletes it.
    Acknowledge,
    /// Reported as a batch item failure; visible again after `visible_in`, or after the
    /// queue's own visibility timeout when `None`.
    Retry { visible_in: Option<Duration> },
    /// Cannot ever be processed: moved to the dead-letter queue at once.
    DeadLetter { reason: String },
    /// Not due yet: passed on as a fresh message (so waiting never counts toward the redrive
    /// policy's receives), then this one is deleted.
    Defer,
    /// No attempt was made (throttled, a duplicate of a copy in flight, too little time left):
    /// passed on as a fresh copy due `after` from now, so the receive is not counted toward the
    /// redrive policy; retried on this copy if that cannot be enqueued.
    PassOn { after: Duration },
    /// The provider asked to slow down and the attempt was undone: passed on like `PassOn`,
    /// with the job's slow-down count one higher.
    SlowDown { after: Duration },
}

/// How long a job queued ahead of its record waits before looking for it again.
const RECORD_POLL: Duration = Duration::from_secs(2);

/// The invocation's deadline from the runtime's `deadline_ms` (epoch milliseconds). Lambda's is
/// always ahead of the invocation; a Runtime API emulator may send none or one already past (cargo
/// lambda watch does), which would starve every attempt, so such a value means `now + timeout`.
pub fn invocation_deadline(deadline_ms: u64, now: Timestamp, timeout: Duration) -> Timestamp {
    i64::try_from(deadline_ms)
        .ok()
        .and_then(Timestamp::from_epoch_millis)
        .filter(|deadline| *deadline > now)
        .unwrap_or_else(|| now.plus(timeout))
}

/// The Lambda handler: every record decoded and delivered on its own, concurrently, each within
/// the invocation's `deadline` (Lambda's `Context::deadline`; the local event source's own). The
/// batch's jobs share one read of each phone's purge marker (`purge_markers`).
pub async fn handle_batch(delivery: &Delivery, event: SqsEvent, deadline: Timestamp) -> SqsBatchResponse {
    let records: Vec<ReceivedRecord> = event.records.into_iter().filter_map(ReceivedRecord::from_sqs).collect();
    let tickets = PurgeMarkers::for_batch(delivery.store.clone(), records.len());
    let results = join_all(records.into_iter().zip(tickets).map(|(record, ticket)| async move {
        let failed = !handle_record(delivery, &record, ticket, deadline).await;
        failed.then_some(record.message_id)
    }))
    .await;
    batch_response(results.into_iter().flatten())
}

/// Processes one record; `true` when it may be deleted.
async fn handle_record(delivery: &Delivery, record: &ReceivedRecord, marker: Ticket, deadline: Timestamp) -> bool {
    let (job, outcome) = match Job::decode(&record.body) {
        Ok(job) => {
            let span = info_span!("deliver", queue_id = %job.queue_id, org_id = %job.org_id, receive_count = record.receive_count);
            let outcome = deliver_job(delivery, &job, marker, deadline).instrument(span).await;
            (Some(job), outcome)
        }
        Err(err) => (None, JobOutcome::DeadLetter { reason: format!("malformed job: {err}") }),
    };
    match outcome {
        JobOutcome::Acknowledge => true,
        JobOutcome::Retry { visible_in } => {
            if let Some(delay) = visible_in {
                if let Err(err) = delivery.queue.change_visibility(&record.receipt_handle, delay).await {
                    warn!(message_id = %record.message_id, error = %chain(&err), "could not set the retry delay; the queue's visibility timeout applies");
                }
            }
            false
        }
        JobOutcome::Defer => {
            let Some(job) = job else { return false };
            let now = delivery.clock.now();
            match delivery.queue.enqueue(&job, now).await {
                Ok(()) => true,
                Err(err) => {
                    warn!(message_id = %record.message_id, error = %chain(&err), "could not pass a scheduled job on; it will be seen again");
                    false
                }
            }
        }
        JobOutcome::PassOn { after } | JobOutcome::SlowDown { after } => {
            let Some(job) = job else { return false };
            let now = delivery.clock.now();
            let due = now.plus(after).epoch_secs_ceil();
            let slow_downs = job.slow_downs + u32::from(matches!(outcome, JobOutcome::SlowDown { .. }));
            let fresh = Job { due_at: Some(job.due_at.map_or(due, |at| at.max(due))), slow_downs, ..job };
            match delivery.queue.enqueue(&fresh, now).await {
                Ok(()) => true,
                Err(err) => {
                    warn!(message_id = %record.message_id, error = %chain(&err), "could not pass the job on; retrying this copy");
                    if let Err(err) = delivery.queue.change_visibility(&record.receipt_handle, after).await {
                        warn!(message_id = %record.message_id, error = %chain(&err), "could not set the retry delay either");
                    }
                    false
                }
            }
        }
        JobOutcome::DeadLetter { reason } => {
            error!(message_id = %record.message_id, body_bytes = record.body.len(), %reason, "moving the job to the dead-letter queue");
            match delivery.queue.dead_letter(&record.body, &reason).await {
                Ok(()) => true,
                Err(err) => {
                    error!(message_id = %record.message_id, error = %chain(&err), "could not dead-letter the job; leaving it on the queue");
                    false
                }
            }
        }
    }
}

/// Delivers one job: the conditional `queued → sending` transition, one provider call, the outcome.
/// The record's attempt count, not SQS's receive count, decides the backoff and when to give up:
/// throttles, duplicates and crashed batch-mates consume receives without an attempt.
/// Nothing is started that could not be finished and recorded before `deadline`. `marker` is the
/// job's share of its batch's purge-marker reads (`PurgeMarkers::for_batch`).
pub async fn deliver_job(delivery: &Delivery, job: &Job, marker: Ticket, deadline: Timestamp) -> JobOutcome {
    let started = delivery.clock.now();
    if job.is_early(started.epoch_secs()) {
        return defer(delivery, job).await;
    }
    let Some(budget) = call_budget(REQUEST_TIMEOUT, deadline.since(started)) else {
        info!(remaining = ?deadline.since(started), "too little of the invocation left for an attempt; passing it on");
        return JobOutcome::PassOn { after: Duration::from_secs(1) };
    };
    // Never before the invocation's end: a takeover must not race a worker that is still running.
    let lease_until = started.plus(delivery.lease).max(deadline);
    let begin =
        delivery.store.begin_attempt(&job.org_id, &job.queue_id, job.unique_id.as_ref(), started, lease_until).await;
    let message = match begin {
        Ok(BeginAttempt::Started(message)) => message,
        Ok(BeginAttempt::Finished(message)) => {
            info!(status = message.status.as_str(), "already finished; acknowledging without calling the provider");
            return JobOutcome::Acknowledge;
        }
        Ok(BeginAttempt::InFlight(message)) => {
            // A duplicate delivery while another worker holds the lease: look again once it has expired.
            let remaining = message.lease_until.map_or(delivery.lease, |until| until.since(started));
            info!(?remaining, "another worker is delivering this message; passing it on past its lease");
            return JobOutcome::PassOn { after: remaining + Duration::from_secs(1) };
        }
        Ok(BeginAttempt::Missing) => return missing_record(job, started),
        Err(err) => {
            warn!(error = %chain(&err), "could not start the attempt; passing it on");
            return JobOutcome::PassOn { after: delivery.retry.delay_for(1) };
        }
    };

    let attempt = message.attempts;
    // Read after the attempt began, so a purge either saw this message sending or is seen here.
    match marker.purged_at(&job.org_id, &message.phone_id).await {
        Ok(Some(purged_at)) if message.purged_by(purged_at) => {
            let recorded = record_outcome(delivery, job, attempt, AttemptResult::Purged, deadline).await;
            if let Ok(true) = recorded {
                observe(delivery, &message, attempt, &AttemptResult::Purged, Duration::ZERO);
            }
            return match recorded {
                Ok(_) => JobOutcome::Acknowledge,
                // Its lease expires and the next delivery finds the purge again.
                Err(_) => JobOutcome::Retry { visible_in: None },
            };
        }
        Ok(_) => {}
        Err(err) => {
            warn!(error = %chain(&err), "could not read the phone's purge marker; undoing the attempt and passing it on");
            // If the undo fails too, the lease expires and a takeover reads the marker again.
            let _ = record_outcome(delivery, job, attempt, AttemptResult::Released, deadline).await;
            return JobOutcome::PassOn { after: delivery.retry.delay_for(1) };
        }
    }
    // The wait for the batch's marker reads came out of the same invocation.
    let Some(budget) = call_budget(budget, deadline.since(delivery.clock.now())) else {
        info!("too little of the invocation left after the purge-marker read; undoing the attempt and passing it on");
        let _ = record_outcome(delivery, job, attempt, AttemptResult::Released, deadline).await;
        return JobOutcome::PassOn { after: Duration::from_secs(1) };
    };
    // The budget and the backoff count this generation's attempts: a replay gets the full budget again.
    let this_round = attempt.saturating_sub(message.attempts_before_replay);
    let provider = message.provider.as_str();
    // Bounded so the outcome is recorded before the invocation's deadline.
    let call = delivery.providers.deliver(&message, attempt);
    let called = std::time::Instant::now();
    let result = tokio::time::timeout(budget, call).await.unwrap_or_else(|_| {
        Err(DeliveryError::Transient(format!("the provider did not answer within {} ms", budget.as_millis())))
    });
    let latency = called.elapsed();
    let result = result.map_err(|err| match err {
        DeliveryError::SlowDown { reason, .. } if job.slow_downs >= MAX_SLOW_DOWNS => DeliveryError::Transient(
            format!("{reason} (asked to slow down {} times already: this one counts as an attempt)", job.slow_downs),
        ),
        err => err,
    });
    let (record, outcome) = match result {
        Ok(receipt) => {
            info!(attempt, provider, provider_message_id = %receipt.provider_message_id, "sent");
            {
                let findable = message.provider != ProviderKind::Sandbox;
                (
                    AttemptResult::Sent { provider_message_id: receipt.provider_message_id, findable },
                    JobOutcome::Acknowledge,
                )
            }
        }
        Err(DeliveryError::Permanent(error)) => {
            warn!(attempt, provider, %error, "permanent failure; not retrying");
            (AttemptResult::Failed { outcome: AttemptOutcome::PermanentError, error }, JobOutcome::Acknowledge)
        }
        Err(DeliveryError::Transient(error)) if this_round >= delivery.max_attempts => {
            warn!(attempt, provider, %error, "transient failure on the last attempt; giving up");
            let error = format!("failed after {attempt} attempts; last error: {error}");
            // Kept on the dead-letter queue for inspection and replay, after exactly this many attempts.
            let reason = format!("failed after {this_round} attempts");
            (
                AttemptResult::Failed { outcome: AttemptOutcome::TransientError, error },
                JobOutcome::DeadLetter { reason },
            )
        }
        Err(DeliveryError::Transient(error)) => {
            let delay = delivery.retry.delay_for(this_round);
            warn!(attempt, provider, %error, ?delay, "transient failure; will retry");
            (AttemptResult::Retry { error }, JobOutcome::Retry { visible_in: Some(delay) })
        }
        Err(DeliveryError::SlowDown { retry_after, reason }) => {
            let wait = slow_down_wait(retry_after, delivery.retry, job.slow_downs + 1);
            warn!(attempt, provider, %reason, ?wait, slow_downs = job.slow_downs + 1, "the provider asked to slow down; waiting without using an attempt");
            (AttemptResult::Released, JobOutcome::SlowDown { after: wait })
        }
    };
    let recorded = record_outcome(delivery, job, attempt, record.clone(), deadline).await;
    if let Ok(true) = recorded {
        observe(delivery, &message, attempt, &record, latency);
    }
    match recorded {
        Ok(true) => outcome,
        Ok(false) => {
            // Someone else moved the record on (a purge, or a worker that took over the lease).
            info!(attempt, "the record moved on during the attempt; keeping what it says");
            JobOutcome::Acknowledge
        }
        Err(err) => {
            // The lease expires and a takeover sends again: at least once, never silently lost.
            error!(attempt, error = %chain(&err), "could not record the outcome before the deadline; the job will be seen again");
            JobOutcome::Retry { visible_in: None }
        }
    }
}

/// The state change an attempt's outcome made, as one log line (the fields a search needs) and
/// its metrics.
fn observe(delivery: &Delivery, message: &MessageRecord, attempt: u32, result: &AttemptResult, latency: Duration) {
    let now = delivery.clock.now();
    let provider = message.provider.as_str();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let (outcome, status, values) = match result {
        AttemptResult::Sent { .. } => {
            let end_to_end = now.since(message.due()).as_secs_f64() * 1000.0;
            let values = vec![
                (metrics::SENT, 1.0),
                (metrics::ATTEMPTS, f64::from(attempt)),
                (metrics::PROVIDER_LATENCY, latency_ms),
                (metrics::END_TO_END, end_to_end),
            ];
            ("sent", "sent", values)
        }
        AttemptResult::Failed { outcome, .. } => {
            let values = vec![
                (metrics::FAILED, 1.0),
                (metrics::ATTEMPTS, f64::from(attempt)),
                (metrics::PROVIDER_LATENCY, latency_ms),
            ];
            (outcome.as_str(), "failed", values)
        }
        AttemptResult::Retry { .. } => {
            ("transient_error", "queued", vec![(metrics::RETRIED, 1.0), (metrics::PROVIDER_LATENCY, latency_ms)])
        }
        AttemptResult::Released => {
            ("slow_down", "queued", vec![(metrics::SLOWED_DOWN, 1.0), (metrics::PROVIDER_LATENCY, latency_ms)])
        }
        // No provider call was made: nothing to measure.
        AttemptResult::Purged => ("purged", "cancelled", vec![]),
    };
    info!(
        queue_id = %message.queue_id,
        org_id = %message.org_id,
        attempt,
        provider,
        outcome,
        status,
        "state change"
    );
    delivery.metrics.emit(now, Some(provider), Some(outcome), &values);
}

/// A job not due yet hops on only while its record may still be delivered: a purged (cancelled)
/// or otherwise finished message stops hopping, and a missing record is poison.
/// What a job whose record is not there becomes. The API queues the job before it records the
/// message, so until the job's `record_by` the record is on its way; after it, the request never
/// recorded it and so never answered that the message was accepted. A job without `record_by`
/// (a replay's) always had its record first.
fn missing_record(job: &Job, now: Timestamp) -> JobOutcome {
    match job.record_by {
        Some(by) if now.epoch_secs() <= by => JobOutcome::PassOn { after: RECORD_POLL },
        Some(_) => {
            info!("no record by its deadline: the message was never accepted; dropping the job");
            JobOutcome::Acknowledge
        }
        None => JobOutcome::DeadLetter { reason: format!("no message record for queue_id {}", job.queue_id) },
    }
}

async fn defer(delivery: &Delivery, job: &Job) -> JobOutcome {
    // A record with another unique_id is another message's (see `Job::unique_id`): none of this job's.
    let found = delivery.store.get(&job.org_id, &job.queue_id).await;
    let found = found.map(|record| record.filter(|r| job.unique_id.as_ref().is_none_or(|id| *id == r.unique_id)));
    match found {
        Ok(Some(record)) if record.status.is_final() => {
            info!(status = record.status.as_str(), "not due yet, but already finished; dropping the job");
            JobOutcome::Acknowledge
        }
        Ok(Some(_)) => {
            debug!(due_at = ?job.due_at, "not due yet; passing it on");
            JobOutcome::Defer
        }
        Ok(None) => match missing_record(job, delivery.clock.now()) {
            // Not due yet anyway: it hops on as scheduled and looks for its record next time.
            JobOutcome::PassOn { .. } => JobOutcome::Defer,
            outcome => outcome,
        },
        Err(err) => {
            warn!(error = %chain(&err), "could not read the record of a job not due yet");
            JobOutcome::Retry { visible_in: None }
        }
    }
}

/// `finish_attempt`, retried with backoff until shortly before `deadline`: once the provider
/// has accepted a message, a DynamoDB hiccup must not turn into a second send by a takeover.
async fn record_outcome(
    delivery: &Delivery,
    job: &Job,
    attempt: u32,
    result: AttemptResult,
    deadline: Timestamp,
) -> Result<bool, StoreError> {
    let window = deadline.since(delivery.clock.now()).saturating_sub(ANSWER_MARGIN);
    let give_up = tokio::time::Instant::now() + window;
    let mut backoff = delivery.write_backoff;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let write =
            delivery.store.finish_attempt(&job.org_id, &job.queue_id, attempt, result.clone(), delivery.clock.now());
        let err = match tokio::time::timeout_at(give_up, write).await {
            Ok(Ok(applied)) => return Ok(applied),
            Ok(Err(err @ StoreError::Corrupt { .. })) => return Err(err),
            Ok(Err(err)) => err,
            Err(_) => return Err(StoreError::unavailable("UpdateItem", format!("no answer within {window:?}"))),
        };
        if tokio::time::Instant::now() + backoff >= give_up {
            warn!(attempt, tries, "giving up on recording the outcome: the invocation's deadline is near");
            return Err(err);
        }
        warn!(attempt, tries, ?backoff, error = %chain(&err), "could not record the outcome; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_WRITE_BACKOFF);
    }
}

#[cfg(test)]
mod tests;
