//! The dead-letter consumer: every dead-lettered job ends `failed` and replayable, once.

use super::*;
use crate::deliver::dead_letter;
use crate::providers::sandbox;

async fn settle_dead_letters(app: &Harness, records: Vec<SqsMessage>) -> Vec<String> {
    failed_ids(&dead_letter::handle_batch(&app.dead_letter_handler(), event(records)).await)
}

#[tokio::test]
async fn a_dead_lettered_sending_record_becomes_failed() {
    let app = Harness::new();
    let now = app.now();
    let stuck = sending_record(app.org(), now, Duration::from_secs(300), now.minus(Duration::from_secs(240)));
    let job = app.put(&stuck).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    let record = app.record(&stuck.queue_id).await;
    assert_eq!(record.status, Status::Failed);
    assert!(record.dead_lettered_at.is_some() && record.timeline.failed_at.is_some(), "{record:?}");
    assert!(record.status_description.as_deref().is_some_and(|d| !d.is_empty()));
    assert_eq!(record.settled_attempt_log()[0].outcome, Some(AttemptOutcome::Interrupted));
}

#[tokio::test]
async fn a_dead_lettered_failed_record_keeps_its_description() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    for receive_count in 1..=3 {
        app.receive(&job, receive_count).await;
    }
    let failed = app.record(&queue_id).await;
    assert_eq!(failed.status, Status::Failed);

    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    let record = app.record(&queue_id).await;
    assert!(record.dead_lettered_at.is_some());
    assert_eq!(MessageRecord { dead_lettered_at: None, ..record }, failed);
}

#[tokio::test]
async fn a_dead_lettered_copy_of_a_sent_message_changes_nothing() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    app.receive(&job, 1).await;
    let sent = app.record(&queue_id).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    assert_eq!(app.record(&queue_id).await, sent);
}

#[tokio::test]
async fn a_dead_lettered_copy_of_a_permanent_failure_is_not_kept_for_replay() {
    // A consumer killed after recording the failure but before the delete lets the job reach the DLQ.
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::PERMANENT).await;
    app.receive(&job, 3).await;
    let failed = app.record(&queue_id).await;
    assert_eq!(failed.status, Status::Failed);
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    assert_eq!(app.record(&queue_id).await, failed);
}

#[tokio::test]
async fn settling_a_dead_letter_twice_changes_nothing_more() {
    let app = Harness::new();
    let now = app.now();
    let stuck = sending_record(app.org(), now, Duration::from_secs(300), now.minus(Duration::from_secs(240)));
    let job = app.put(&stuck).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    let once = app.record(&stuck.queue_id).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 2)]).await.is_empty());
    assert_eq!(app.record(&stuck.queue_id).await, once);
}

#[tokio::test]
async fn a_malformed_dead_letter_is_kept_as_poison() {
    let app = Harness::new();
    let missing = Job::for_record(&record_in(app.org(), NORMAL, Status::Queued, app.now())).encode();
    let batch = vec![sqs_message("dlq-bad", "not json at all", 1), sqs_message("dlq-missing", &missing, 1)];
    assert!(settle_dead_letters(&app, batch).await.is_empty());
    let mut poison = app.store.poison.lock().expect("lock").clone();
    poison.sort();
    assert_eq!(poison, [("dlq-bad".to_string(), "not json at all".to_string()), ("dlq-missing".to_string(), missing)]);
}

// --- only the copy that died ---

#[tokio::test]
async fn a_dead_copy_of_a_job_the_message_was_replayed_past_changes_nothing() {
    let app = Harness::new();
    let mut replayed = record_in(app.org(), NORMAL, Status::Queued, app.now());
    // Replayed once: its live job is of generation 1; the dead copy is of generation 0.
    replayed.generation = 1;
    replayed.attempts = 3;
    let stale = Job { generation: 0, ..Job::for_record(&replayed) }.encode();
    app.put(&replayed).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &stale, 1)]).await.is_empty());
    assert_eq!(app.record(&replayed.queue_id).await, replayed);
}

#[tokio::test]
async fn a_dead_copy_of_a_message_under_a_live_lease_waits_for_the_lease() {
    let app = Harness::new();
    let now = app.now();
    let busy = sending_record(app.org(), now, Duration::from_secs(5), now.plus(Duration::from_secs(25)));
    let job = app.put(&busy).await;
    assert_eq!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await, ["dlq-1"]);
    assert_eq!(app.record(&busy.queue_id).await, busy, "the live worker's record is left alone");
    // The worker died after all: once its lease has passed, the dead copy fails the record.
    app.clock.advance(Duration::from_secs(26));
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 2)]).await.is_empty());
    let record = app.record(&busy.queue_id).await;
    assert_eq!((record.status, record.dead_lettered_at.is_some()), (Status::Failed, true));
}
