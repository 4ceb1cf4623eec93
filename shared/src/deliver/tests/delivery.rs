//! The delivery consumer: one attempt's outcomes, retries, duplicates, finished messages and
//! bodies that cannot be delivered.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::adapters::memory::ManualClock;

use super::*;
use crate::ports::StoreError;
use crate::providers::sandbox;

// --- outcomes of one attempt ---

#[tokio::test]
async fn a_normal_chat_is_sent_on_one_attempt() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    assert!(app.receive(&job, 1).await.is_empty());
    let record = app.record(&queue_id).await;
    assert_eq!(record.status, Status::Sent);
    assert!(record.provider_message_id.as_deref().is_some_and(|id| !id.is_empty()), "{record:?}");
    assert_eq!((record.attempts, outcomes(&record)), (1, vec![Some(AttemptOutcome::Sent)]));
    assert!(record.timeline.sent_at.is_some() && record.lease_until.is_none(), "{record:?}");
    assert_eq!(app.calls(&queue_id), 1);
    assert!(app.visibility_changes().is_empty());
}

#[tokio::test]
async fn a_permanent_error_fails_at_once_and_is_acknowledged() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::PERMANENT).await;
    assert!(app.receive(&job, 1).await.is_empty());
    let record = app.record(&queue_id).await;
    assert_eq!(record.status, Status::Failed);
    assert_eq!((record.attempts, outcomes(&record)), (1, vec![Some(AttemptOutcome::PermanentError)]));
    assert!(record.status_description.as_deref().is_some_and(|d| d.contains("does not exist")), "{record:?}");
    assert!(record.timeline.failed_at.is_some());
    assert!(app.visibility_changes().is_empty());
    assert!(app.dead_letters().is_empty());
}

// --- retries ---

#[tokio::test]
async fn a_transient_error_requeues_and_hides_the_job_for_a_growing_backoff() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    for (receive_count, nominal) in [(1, 1.0), (2, 2.0)] {
        assert_eq!(app.receive(&job, receive_count).await, ["msg-1"], "receive {receive_count}");
        let record = app.record(&queue_id).await;
        assert_eq!((record.status, record.attempts), (Status::Queued, receive_count), "{record:?}");
        assert_eq!(record.attempt_log.last().and_then(|entry| entry.outcome), Some(AttemptOutcome::TransientError));
        let (receipt_handle, delay) = app.visibility_changes().last().cloned().expect("a visibility change");
        assert_eq!(receipt_handle, receipt("msg-1", receive_count));
        assert_backoff(delay, nominal);
    }
    assert_eq!(app.visibility_changes().len(), 2);
}

#[tokio::test]
async fn the_third_real_attempt_fails_the_record_and_moves_the_job_to_the_dlq() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    app.receive(&job, 1).await;
    app.receive(&job, 2).await;

    // SQS's count says 3 here, but the record's is what counts (see the simulation below).
    assert!(app.receive(&job, 3).await.is_empty(), "moved, not retried");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Failed, 3));
    let description = record.status_description.as_deref().unwrap_or_default();
    assert!(description.contains("attempt 3") && description.contains("temporarily unavailable"), "{description}");
    assert_eq!(app.dead_letters(), [(job, "failed after 3 attempts".to_string())]);
    assert_eq!(app.calls(&queue_id), 3);
}

#[tokio::test]
async fn attempts_are_counted_on_the_record_not_by_sqs_receives() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    // A high receive count (earlier crashes) with no attempt yet: attempt 1, first backoff, no DLQ.
    assert_eq!(app.receive(&job, 9).await, ["msg-1"]);
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Queued, 1));
    assert_backoff(app.visibility_changes()[0].1, 1.0);
    assert!(app.dead_letters().is_empty());
}

#[tokio::test]
async fn transient_twice_is_sent_on_the_third_receive() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::TRANSIENT_TWICE).await;
    assert_eq!(app.receive(&job, 1).await, ["msg-1"]);
    assert_eq!(app.receive(&job, 2).await, ["msg-1"]);
    assert!(app.receive(&job, 3).await.is_empty());
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 3));
    use AttemptOutcome::{Sent, TransientError};
    assert_eq!(outcomes(&record), [Some(TransientError), Some(TransientError), Some(Sent)]);
    assert_eq!(record.attempt_log.iter().map(|entry| entry.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(record.provider_message_id.is_some());
}

#[tokio::test]
async fn a_batch_is_delivered_concurrently() {
    let app = Harness::with_slow_provider();
    let (first, first_job) = app.accept(NORMAL).await;
    let (second, second_job) = app.accept("15550000011").await;
    let response = app.deliver(vec![sqs_message("m-1", &first_job, 1), sqs_message("m-2", &second_job, 1)]).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(app.provider.most_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!((app.record(&first).await.status, app.record(&second).await.status), (Status::Sent, Status::Sent));
}

// --- duplicates and finished messages ---

#[tokio::test]
async fn the_same_record_delivered_twice_calls_the_provider_once() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    assert!(app.receive(&job, 1).await.is_empty());
    assert!(app.receive(&job, 1).await.is_empty());
    assert_eq!(app.calls(&queue_id), 1);
    assert_eq!(app.record(&queue_id).await.attempts, 1);
}

#[tokio::test]
async fn two_copies_in_one_batch_call_the_provider_once_and_retry_the_duplicate_after_the_lease() {
    let app = Harness::with_slow_provider();
    let (queue_id, job) = app.accept(NORMAL).await;
    let due = app.now().plus(LEASE).epoch_secs();
    let response = app.deliver(vec![sqs_message("copy-1", &job, 1), sqs_message("copy-2", &job, 1)]).await;

    assert_eq!(app.calls(&queue_id), 1);
    // The duplicate is passed on as a fresh copy due after the lease, so it consumes no receive.
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert!(app.visibility_changes().is_empty());
    let fresh = app.take_jobs();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].due_at.is_some_and(|at| (due..=due + 2).contains(&at)), "{fresh:?}");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 1));
}

#[tokio::test]
async fn a_cancelled_message_is_acknowledged_without_calling_the_provider() {
    let app = Harness::new();
    let cancelled = record_in(app.org(), NORMAL, Status::Cancelled, app.now());
    let job = app.put(&cancelled).await;
    assert!(app.receive(&job, 1).await.is_empty());
    assert_eq!(app.calls(&cancelled.queue_id), 0);
    assert_eq!(app.record(&cancelled.queue_id).await, cancelled);
}

#[tokio::test]
async fn a_sent_message_is_acknowledged_without_calling_the_provider() {
    let app = Harness::new();
    let mut sent = record_in(app.org(), NORMAL, Status::Sent, app.now());
    sent.provider_message_id = Some("sandbox.earlier".into());
    let job = app.put(&sent).await;
    assert!(app.receive(&job, 2).await.is_empty());
    assert_eq!(app.calls(&sent.queue_id), 0);
    assert_eq!(app.record(&sent.queue_id).await, sent);
}

#[tokio::test]
async fn a_sending_record_whose_lease_expired_is_taken_over() {
    let app = Harness::new();
    let now = app.now();
    let abandoned = sending_record(app.org(), now, Duration::from_secs(120), now.plus(Duration::from_secs(30)));
    // The worker died: its lease ran out a minute and a half ago.
    app.clock.advance(Duration::from_secs(120));
    let job = app.put(&abandoned).await;
    assert!(app.receive(&job, 2).await.is_empty());
    assert_eq!(app.calls(&abandoned.queue_id), 1);
    let record = app.record(&abandoned.queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 2));
    let settled: Vec<_> = record.settled_attempt_log().iter().map(|entry| (entry.attempt, entry.outcome)).collect();
    assert_eq!(settled, [(1, Some(AttemptOutcome::Interrupted)), (2, Some(AttemptOutcome::Sent))]);
    // Stored so, not only shown so: a replay reads the stored log.
    assert_eq!(outcomes(&record), [Some(AttemptOutcome::Interrupted), Some(AttemptOutcome::Sent)]);
}

#[tokio::test]
async fn a_sending_record_with_a_live_lease_is_left_to_its_worker() {
    let app = Harness::new();
    let now = app.now();
    let busy = sending_record(app.org(), now, Duration::from_secs(5), now.plus(Duration::from_secs(25)));
    let job = app.put(&busy).await;
    assert!(app.receive(&job, 2).await.is_empty());
    assert_eq!(app.calls(&busy.queue_id), 0);
    assert_eq!(app.record(&busy.queue_id).await, busy);
    // Passed on, due after the rest of the lease plus one second (the clock does not move).
    let due = app.now().plus(Duration::from_secs(26)).epoch_secs_ceil();
    assert_eq!(app.take_jobs(), [Job { due_at: Some(due), ..Job::for_record(&busy) }]);
}

// --- bodies that cannot be delivered ---

#[tokio::test]
async fn a_malformed_body_is_dead_lettered_without_failing_its_batch_mate() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    let response = app.deliver(vec![sqs_message("bad", "{not a job", 1), sqs_message("good", &job, 1)]).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(app.record(&queue_id).await.status, Status::Sent);
    let dead = app.dead_letters();
    assert_eq!(dead.iter().map(|(body, _)| body.as_str()).collect::<Vec<_>>(), ["{not a job"]);
    assert!(dead[0].1.contains("malformed"), "{dead:?}");
}

#[tokio::test]
async fn a_job_naming_a_missing_record_is_dead_lettered() {
    let app = Harness::new();
    let missing = record_in(app.org(), NORMAL, Status::Queued, app.now());
    let job = Job::for_record(&missing).encode();
    assert!(app.receive(&job, 1).await.is_empty());
    let dead = app.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, job);
    assert!(dead[0].1.contains(missing.queue_id.as_str()), "{dead:?}");
}

#[tokio::test]
async fn batch_item_failures_name_only_the_batchs_retried_messages() {
    let app = Harness::new();
    let (_, sent) = app.accept(NORMAL).await;
    let (_, permanent) = app.accept(sandbox::PERMANENT).await;
    let (_, transient) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    let batch = vec![
        sqs_message("m-sent", &sent, 1),
        sqs_message("m-permanent", &permanent, 1),
        sqs_message("m-transient", &transient, 1),
        sqs_message("m-malformed", "[]", 1),
    ];
    let response = app.deliver(batch).await;
    assert_eq!(failed_ids(&response), ["m-transient"]);
}

// --- deadlines ---

#[test]
fn the_provider_gets_the_smaller_of_its_timeout_and_what_the_invocation_leaves() {
    use crate::deliver::{WRITE_MARGIN, call_budget};
    let own = Duration::from_secs(20);
    // A fresh 30 s invocation: the provider's own timeout is the smaller.
    assert_eq!(call_budget(own, Duration::from_secs(30)), Some(own));
    // 12 s left: what remains minus the margin for the final write.
    assert_eq!(call_budget(own, Duration::from_secs(12)), Some(Duration::from_secs(12) - WRITE_MARGIN));
    // Less than a second for the call: not worth an attempt.
    assert_eq!(call_budget(own, WRITE_MARGIN + Duration::from_millis(999)), None);
    assert_eq!(call_budget(own, Duration::ZERO), None);
}

#[test]
fn the_runtimes_deadline_is_used_when_it_lies_ahead_and_the_timeout_when_it_does_not() {
    use crate::deliver::invocation_deadline;
    let now = Timestamp::parse("2030-01-01T00:00:00Z").expect("a time");
    let timeout = Duration::from_secs(30);
    let ahead = now.plus(Duration::from_secs(12));
    let ms = |at: Timestamp| u64::try_from(at.epoch_millis()).expect("after 1970");
    assert_eq!(invocation_deadline(ms(ahead), now, timeout), ahead);
    // An emulator's deadline of 0, or of the invocation's own start, is no deadline.
    assert_eq!(invocation_deadline(0, now, timeout), now.plus(timeout));
    assert_eq!(invocation_deadline(ms(now), now, timeout), now.plus(timeout));
    assert_eq!(invocation_deadline(u64::MAX, now, timeout), now.plus(timeout));
}

#[tokio::test]
async fn an_invocation_near_its_deadline_starts_no_attempt() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    let deadline = app.now().plus(Duration::from_secs(3));
    let response = app.deliver_by(vec![sqs_message("msg-1", &job, 1)], deadline).await;
    assert!(failed_ids(&response).is_empty(), "passed on to the next invocation");
    assert_eq!(app.calls(&queue_id), 0);
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Queued, 0), "no attempt consumed");
    assert_eq!(app.take_jobs().len(), 1);
}

#[tokio::test]
async fn the_lease_lasts_at_least_until_the_invocations_deadline() {
    let app = Harness::with_slow_provider();
    let (queue_id, job) = app.accept(NORMAL).await;
    let deadline = app.now().plus(LEASE * 3);
    let copies = vec![sqs_message("copy-1", &job, 1), sqs_message("copy-2", &job, 1)];
    let response = app.deliver_by(copies, deadline).await;
    // The duplicate waits for the whole invocation, not for the configured lease.
    assert!(failed_ids(&response).is_empty());
    let fresh = app.take_jobs();
    assert!(fresh[0].due_at.is_some_and(|at| at >= deadline.epoch_secs()), "{fresh:?} {deadline}");
    assert_eq!(app.calls(&queue_id), 1);
}

// --- provider accepted, record not written ---

/// The sandbox, but each call takes `by` on the manual clock (a slow provider, without sleeping).
struct TakesTime {
    clock: Arc<ManualClock>,
    by: Duration,
}

#[async_trait]
impl Provider for TakesTime {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        self.clock.advance(self.by);
        Sandbox.deliver(message, attempt).await
    }
}

#[tokio::test]
async fn an_accepted_message_whose_record_write_fails_is_recorded_by_retrying_not_sent_again() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    app.store.inject_fault("finish_attempt", 0, 3, StoreError::unavailable("UpdateItem", "simulated throttling"));
    assert!(app.receive(&job, 1).await.is_empty(), "acknowledged once the write went through");
    assert_eq!(app.store.faults_left("finish_attempt"), 0, "three failed writes, then the fourth");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 1));
    assert_eq!(app.calls(&queue_id), 1);
}

#[tokio::test]
async fn an_outcome_write_that_keeps_failing_gives_up_before_the_deadline() {
    let mut app = Harness::new();
    // The provider answers 8.95 s into a 10 s invocation: 50 ms remain for writes beyond the answer margin.
    app.delivery.providers =
        Providers::new(Arc::new(TakesTime { clock: app.clock.clone(), by: Duration::from_millis(8_950) }));
    let (queue_id, job) = app.accept(NORMAL).await;
    app.store.inject_fault(
        "finish_attempt",
        0,
        usize::MAX,
        StoreError::unavailable("UpdateItem", "simulated throttling"),
    );
    let deadline = app.now().plus(Duration::from_secs(10));
    let started = std::time::Instant::now();
    let response = app.deliver_by(vec![sqs_message("msg-1", &job, 1)], deadline).await;
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(failed_ids(&response), ["msg-1"], "seen again after the visibility timeout");
    assert!(usize::MAX - app.store.faults_left("finish_attempt") > 1, "the write was retried");
    let record = app.record(&queue_id).await;
    assert_eq!(record.status, Status::Sending, "left to the lease: a takeover marks it interrupted");
    assert!(app.visibility_changes().is_empty());
}

// --- scheduled jobs hopping on ---

#[tokio::test]
async fn a_job_not_due_yet_hops_on_while_its_message_is_queued() {
    let app = Harness::new();
    let mut scheduled = record_in(app.org(), NORMAL, Status::Queued, app.now());
    scheduled.scheduled_at = Some(app.now().plus(Duration::from_secs(3600)));
    let job = app.put(&scheduled).await;
    assert!(app.receive(&job, 1).await.is_empty());
    assert_eq!(app.queue.jobs.lock().expect("lock").clone(), [job]);
    assert_eq!(app.calls(&scheduled.queue_id), 0);
}

#[tokio::test]
async fn a_purged_scheduled_message_stops_hopping() {
    let app = Harness::new();
    let mut purged = record_in(app.org(), NORMAL, Status::Cancelled, app.now());
    purged.scheduled_at = Some(app.now().plus(Duration::from_secs(3600)));
    let job = app.put(&purged).await;
    assert!(app.receive(&job, 1).await.is_empty(), "acknowledged");
    assert!(app.queue.jobs.lock().expect("lock").is_empty(), "no hop enqueued");
    assert!(app.dead_letters().is_empty());
}

// --- attempts are attempts ---

/// What happens to the job copy on one SQS receive.
#[derive(Debug, Clone, Copy)]
enum Receive {
    /// DynamoDB throttles the `queued → sending` write.
    Throttled,
    /// Another worker holds the lease (a duplicate delivery of the same job).
    Duplicate,
    /// The invocation dies before answering (its own crash or a batch-mate's): SQS counts the receive.
    Crash,
    /// A real attempt (the recipient is always temporarily unavailable).
    Attempt,
}

/// Drives one message through `script` as SQS would: each receive raises the copy's receive count,
/// a copy acknowledged with a fresh job passed on is replaced by it (counted from zero), and the
/// redrive policy moves a copy received more than `max_receives(3)` times. Returns the record's
/// attempts when the job reached the DLQ, by the handler or by the redrive.
async fn run_script(app: &Harness, script: &[Receive]) -> Option<u32> {
    use crate::deliver::max_receives;
    let (queue_id, mut job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    let mut receive_count = 0;
    for step in script {
        receive_count += 1;
        if receive_count > max_receives(3) {
            return Some(app.record(&queue_id).await.attempts);
        }
        let holder = match step {
            Receive::Crash => continue,
            Receive::Throttled => {
                app.store.inject_fault(
                    "begin_attempt",
                    0,
                    1,
                    StoreError::unavailable("UpdateItem", "simulated throttling"),
                );
                None
            }
            Receive::Duplicate => {
                let now = app.now();
                let started =
                    app.store.begin_attempt(app.org(), &queue_id, None, now, now.plus(LEASE)).await.expect("memory");
                let crate::ports::BeginAttempt::Started(other) = started else { panic!("{started:?}") };
                Some(other.attempts)
            }
            Receive::Attempt => None,
        };
        let failed = app.receive(&job, receive_count).await;
        if let Some(attempt) = holder {
            // The other worker's attempt ends transiently too.
            let result = crate::ports::AttemptResult::Retry { error: "busy".into() };
            app.store.finish_attempt(app.org(), &queue_id, attempt, result, app.now()).await.expect("memory");
        }
        if !app.dead_letters().is_empty() {
            return Some(app.record(&queue_id).await.attempts);
        }
        if failed.is_empty() {
            let mut fresh = app.take_jobs();
            let next = fresh.pop()?;
            job = Job { due_at: None, ..next }.encode();
            receive_count = 0;
        }
    }
    None
}

#[tokio::test]
async fn a_job_reaches_the_dlq_only_after_three_real_attempts() {
    use Receive::*;
    let scripts: [&[Receive]; 4] = [
        // Throttles and duplicates in any number cost no receive that counts.
        &[Throttled; 40],
        &[
            Duplicate, Duplicate, Throttled, Duplicate, Throttled, Throttled, Throttled, Throttled, Throttled,
            Throttled, Throttled, Throttled,
        ],
        // Batch-mate crashes between throttles and attempts.
        &[
            Crash, Throttled, Crash, Crash, Throttled, Attempt, Crash, Crash, Crash, Throttled, Crash, Crash, Crash,
            Attempt, Crash, Crash, Throttled, Attempt,
        ],
        &[
            Attempt, Crash, Crash, Crash, Crash, Crash, Crash, Attempt, Throttled, Crash, Crash, Crash, Crash, Crash,
            Crash, Crash, Attempt,
        ],
    ];
    for script in scripts {
        let app = Harness::new();
        let attempts = run_script(&app, script).await;
        assert!(attempts.is_none_or(|n| n >= 3), "dead-lettered after {attempts:?} attempts: {script:?}");
    }
    // And with attempts enough, it does get there, after exactly three.
    let app = Harness::new();
    let script = [Throttled, Crash, Attempt, Duplicate, Crash, Throttled, Attempt, Crash, Attempt];
    assert_eq!(run_script(&app, &script).await, Some(3));
}

#[test]
fn the_templates_max_receive_count_leaves_room_beyond_the_attempt_budget() {
    let template = include_str!("../../../../template.yaml");
    let wanted = format!("maxReceiveCount: {}", crate::deliver::max_receives(3));
    assert!(template.contains(&wanted), "template.yaml must say {wanted}");
    // The functions run with the default budget of 3 (`Config`'s default).
    assert!(!template.contains("OUTBOX_MAX_ATTEMPTS:"), "the template overrides the attempt budget");
}

#[tokio::test]
async fn a_replayed_message_gets_the_full_attempt_budget_again() {
    let app = Harness::new();
    let mut replayed = record_in(app.org(), sandbox::ALWAYS_TRANSIENT, Status::Queued, app.now());
    (replayed.attempts, replayed.attempts_before_replay, replayed.generation) = (3, 3, 1);
    let job = app.put(&replayed).await;
    for receive_count in 1..=2 {
        assert_eq!(app.receive(&job, receive_count).await, ["msg-1"], "attempt {} retried", receive_count + 3);
    }
    assert!(app.dead_letters().is_empty());
    assert!(app.receive(&job, 3).await.is_empty());
    let record = app.record(&replayed.queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Failed, 6));
    assert_eq!(app.dead_letters().len(), 1);
}

// --- a job whose record's queue_id another message drew first ---

#[tokio::test]
async fn a_job_made_for_another_unique_id_never_moves_the_record_at_its_queue_id() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    // The job a send queued before finding its drawn queue_id taken by this message.
    let mut other = app.record(&queue_id).await;
    other.unique_id = UniqueId::generate();
    let stray = Job::ahead_of_record(&other, app.now().epoch_secs() + 60).encode();
    assert!(app.receive(&stray, 1).await.is_empty(), "passed on until its record is due, then dropped");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts, app.calls(&queue_id)), (Status::Queued, 0, 0));
    app.clock.advance(Duration::from_secs(61));
    assert!(app.receive(&stray, 2).await.is_empty());
    assert_eq!(app.record(&queue_id).await.attempts, 0, "dropped: no record of its own by record_by");
    // The message's own job still delivers it.
    assert!(app.receive(&job, 1).await.is_empty());
    assert_eq!((app.record(&queue_id).await.status, app.calls(&queue_id)), (Status::Sent, 1));
}
