//! Delivery and dead-letter handler tests with in-memory ports and a call-counting sandbox provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use serde_json::json;

use super::retry::RetryPolicy;
use super::{Delivery, handle_batch};
use crate::adapters::memory::{MemoryMedia, MemoryQueue, MemoryStore};
use crate::dead_letter::{self, DeadLetters};
use crate::domain::chat_id::ChatId;
use crate::domain::clock::rfc3339;
use crate::domain::job::Job;
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status, Timeline, generate_unique_id};
use crate::domain::send::parse_send_request;
use crate::domain::tenant::{OrgId, Phone, ProviderKind, ProviderSettings};
use crate::enqueue::{Enqueuer, QueueDepth};
use crate::ports::StatusStore;
use crate::providers::sandbox::{self, Sandbox};
use crate::providers::{DeliveryError, Provider, Providers, Receipt};

const LEASE: Duration = Duration::from_secs(30);
const NORMAL: &str = "15550000010";

/// The sandbox, counting its calls per queue_id and optionally taking its time.
#[derive(Default)]
struct CountingSandbox {
    delay: Duration,
    calls: Mutex<HashMap<String, u32>>,
    in_flight: AtomicU32,
    most_in_flight: AtomicU32,
}

#[async_trait]
impl Provider for CountingSandbox {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        *self.calls.lock().expect("lock").entry(message.queue_id.clone()).or_default() += 1;
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Sandbox.deliver(message, attempt).await
    }
}

/// The delivery handler over fresh in-memory ports, one org and one sandbox phone.
struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    provider: Arc<CountingSandbox>,
    delivery: Delivery,
    enqueuer: Enqueuer,
    phone: Phone,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_provider(CountingSandbox::default())
    }

    /// A provider slow enough that a batch-mate runs while it is still delivering.
    fn with_slow_provider() -> Harness {
        Harness::with_provider(CountingSandbox { delay: Duration::from_millis(100), ..CountingSandbox::default() })
    }

    fn with_provider(provider: CountingSandbox) -> Harness {
        let store = Arc::new(MemoryStore::default());
        let queue = Arc::new(MemoryQueue::default());
        let provider = Arc::new(provider);
        let delivery = Delivery {
            store: store.clone(),
            queue: queue.clone(),
            providers: Providers::new(provider.clone()),
            retry: RetryPolicy { base: Duration::from_secs(1) },
            max_attempts: 3,
            lease: LEASE,
        };
        let enqueuer = Enqueuer {
            store: store.clone(),
            queue: queue.clone(),
            media: Arc::new(MemoryMedia::default()),
            retention: Duration::from_secs(3600),
            depth: Arc::new(QueueDepth::new(Duration::from_secs(60))),
        };
        let phone = Phone {
            org_id: OrgId::from("org-a".to_string()),
            phone_id: "phone-a".into(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: rfc3339(Utc::now()),
        };
        Harness { store, queue, provider, delivery, enqueuer, phone }
    }

    fn org(&self) -> &OrgId {
        &self.phone.org_id
    }

    /// Accepts a text to `chat` as the API would; returns its queue_id and the job body it queued.
    async fn accept(&self, chat: &str) -> (String, String) {
        let body = json!({"chat_id": chat, "message": "hello"}).to_string();
        let message = parse_send_request(body.as_bytes()).expect("a valid request");
        let accepted = self.enqueuer.enqueue_message(self.org(), &self.phone, message).await.expect("accepted");
        let job = self.queue.jobs.lock().expect("lock").pop().expect("a queued job");
        (accepted.queue_id, job)
    }

    /// Stores `record` as is, for states the send path cannot produce.
    async fn put(&self, record: &MessageRecord) -> String {
        self.store.create(record).await.expect("memory store");
        Job::new(record.org_id.clone(), record.queue_id.clone(), record.phone_id.clone()).encode()
    }

    async fn deliver(&self, records: Vec<SqsMessage>) -> SqsBatchResponse {
        handle_batch(&self.delivery, event(records)).await
    }

    /// Delivers `job` alone, as SQS's `receive_count`-th receive, and returns the failed message ids.
    async fn receive(&self, job: &str, receive_count: u32) -> Vec<String> {
        failed_ids(&self.deliver(vec![sqs_message("msg-1", job, receive_count)]).await)
    }

    async fn record(&self, queue_id: &str) -> MessageRecord {
        self.store.get(self.org(), queue_id).await.expect("memory store").expect("a record")
    }

    fn calls(&self, queue_id: &str) -> u32 {
        self.provider.calls.lock().expect("lock").get(queue_id).copied().unwrap_or(0)
    }

    fn visibility_changes(&self) -> Vec<(String, Duration)> {
        self.queue.visibility.lock().expect("lock").clone()
    }

    fn dead_letters(&self) -> Vec<(String, String)> {
        self.queue.dead_letters.lock().expect("lock").clone()
    }

    fn dead_letter_handler(&self) -> DeadLetters {
        DeadLetters { store: self.store.clone(), retention: Duration::from_secs(3600) }
    }
}

/// One SQS record; its receipt handle names the message id and receive, so visibility changes can be traced.
fn sqs_message(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.into());
    message.receipt_handle = Some(receipt(message_id, receive_count));
    message.body = Some(body.into());
    message.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message
}

fn receipt(message_id: &str, receive_count: u32) -> String {
    format!("receipt-{message_id}-{receive_count}")
}

fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|failure| failure.item_identifier.clone()).collect()
}

/// A record in `status` to `chat`, as if accepted a minute ago and never attempted.
fn record_in(org: &OrgId, chat: &str, status: Status) -> MessageRecord {
    let queued_at = Utc::now() - chrono::Duration::minutes(1);
    MessageRecord {
        org_id: org.clone(),
        queue_id: uuid::Uuid::new_v4().to_string(),
        unique_id: generate_unique_id(),
        phone_id: "phone-a".into(),
        provider: ProviderKind::Sandbox,
        chat_id: ChatId::parse(chat).expect("a valid chat id"),
        text: Some("hello".into()),
        media: None,
        poll: None,
        reply_to: None,
        hide_url_preview: false,
        status,
        status_description: None,
        provider_message_id: None,
        attempts: 0,
        attempt_log: vec![],
        timeline: Timeline { queued_at: rfc3339(queued_at), ..Timeline::default() },
        lease_until: None,
        dead_lettered_at: None,
        scheduled_at: None,
        broadcast_id: None,
        expires_at: queued_at.timestamp() + 3600,
    }
}

/// A record whose first attempt started `started_ago` and holds a lease until `lease_in` from now.
fn sending_record(org: &OrgId, started_ago: chrono::Duration, lease_in: chrono::Duration) -> MessageRecord {
    let now = Utc::now();
    let mut record = record_in(org, NORMAL, Status::Sending);
    record.attempts = 1;
    record.attempt_log = vec![AttemptLogEntry {
        attempt: 1,
        started_at: rfc3339(now - started_ago),
        outcome: None,
        error: None,
        finished_at: None,
    }];
    record.lease_until = Some(rfc3339(now + lease_in));
    record
}

fn outcomes(record: &MessageRecord) -> Vec<Option<AttemptOutcome>> {
    record.attempt_log.iter().map(|entry| entry.outcome).collect()
}

/// A retry delay of `base × 2^(n-1)` with at most ±20% jitter, in whole seconds.
#[track_caller]
fn assert_backoff(delay: Duration, nominal_secs: f64) {
    let secs = delay.as_secs_f64();
    assert!(
        secs >= (nominal_secs * 0.8).floor() && secs <= (nominal_secs * 1.2).ceil(),
        "{delay:?} for nominal {nominal_secs} s"
    );
}

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
async fn the_last_transient_error_fails_the_record_and_releases_the_job_for_redrive() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(sandbox::ALWAYS_TRANSIENT).await;
    app.receive(&job, 1).await;
    app.receive(&job, 2).await;

    assert_eq!(app.receive(&job, 3).await, ["msg-1"]);
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Failed, 3));
    let description = record.status_description.as_deref().unwrap_or_default();
    assert!(description.contains("attempt 3") && description.contains("temporarily unavailable"), "{description}");
    assert_eq!(app.visibility_changes().last(), Some(&(receipt("msg-1", 3), Duration::ZERO)));
    // The redrive policy moves it on the next receive; the handler does not dead-letter it itself.
    assert!(app.dead_letters().is_empty());
    assert_eq!(app.calls(&queue_id), 3);
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
    let response = app.deliver(vec![sqs_message("copy-1", &job, 1), sqs_message("copy-2", &job, 1)]).await;

    assert_eq!(app.calls(&queue_id), 1);
    let failed = failed_ids(&response);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let visibility = app.visibility_changes();
    assert_eq!(visibility.len(), 1, "{visibility:?}");
    assert_eq!(visibility[0].0, receipt(&failed[0], 1));
    assert!(visibility[0].1 >= LEASE && visibility[0].1 <= LEASE + Duration::from_secs(1), "{visibility:?}");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 1));
}

#[tokio::test]
async fn a_cancelled_message_is_acknowledged_without_calling_the_provider() {
    let app = Harness::new();
    let cancelled = record_in(app.org(), NORMAL, Status::Cancelled);
    let job = app.put(&cancelled).await;
    assert!(app.receive(&job, 1).await.is_empty());
    assert_eq!(app.calls(&cancelled.queue_id), 0);
    assert_eq!(app.record(&cancelled.queue_id).await, cancelled);
}

#[tokio::test]
async fn a_sent_message_is_acknowledged_without_calling_the_provider() {
    let app = Harness::new();
    let mut sent = record_in(app.org(), NORMAL, Status::Sent);
    sent.provider_message_id = Some("sandbox.earlier".into());
    let job = app.put(&sent).await;
    assert!(app.receive(&job, 2).await.is_empty());
    assert_eq!(app.calls(&sent.queue_id), 0);
    assert_eq!(app.record(&sent.queue_id).await, sent);
}

#[tokio::test]
async fn a_sending_record_whose_lease_expired_is_taken_over() {
    let app = Harness::new();
    let abandoned = sending_record(app.org(), chrono::Duration::minutes(2), chrono::Duration::seconds(-90));
    let job = app.put(&abandoned).await;
    assert!(app.receive(&job, 2).await.is_empty());
    assert_eq!(app.calls(&abandoned.queue_id), 1);
    let record = app.record(&abandoned.queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Sent, 2));
    let settled: Vec<_> = record.settled_attempt_log().iter().map(|entry| (entry.attempt, entry.outcome)).collect();
    assert_eq!(settled, [(1, Some(AttemptOutcome::Interrupted)), (2, Some(AttemptOutcome::Sent))]);
}

#[tokio::test]
async fn a_sending_record_with_a_live_lease_is_left_to_its_worker() {
    let app = Harness::new();
    let busy = sending_record(app.org(), chrono::Duration::seconds(5), chrono::Duration::seconds(25));
    let job = app.put(&busy).await;
    assert_eq!(app.receive(&job, 2).await, ["msg-1"]);
    assert_eq!(app.calls(&busy.queue_id), 0);
    assert_eq!(app.record(&busy.queue_id).await, busy);
    let (_, delay) = app.visibility_changes().pop().expect("a visibility change");
    assert!(delay >= Duration::from_secs(25) && delay <= Duration::from_secs(26), "{delay:?}");
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
    let missing = uuid::Uuid::new_v4().to_string();
    let job = Job::new(app.org().clone(), missing.clone(), "phone-a".into()).encode();
    assert!(app.receive(&job, 1).await.is_empty());
    let dead = app.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, job);
    assert!(dead[0].1.contains(&missing), "{dead:?}");
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

// --- the dead-letter consumer ---

async fn settle_dead_letters(app: &Harness, records: Vec<SqsMessage>) -> Vec<String> {
    failed_ids(&dead_letter::handle_batch(&app.dead_letter_handler(), event(records)).await)
}

#[tokio::test]
async fn a_dead_lettered_sending_record_becomes_failed() {
    let app = Harness::new();
    let stuck = sending_record(app.org(), chrono::Duration::minutes(5), chrono::Duration::minutes(-4));
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
    let stuck = sending_record(app.org(), chrono::Duration::minutes(5), chrono::Duration::minutes(-4));
    let job = app.put(&stuck).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 1)]).await.is_empty());
    let once = app.record(&stuck.queue_id).await;
    assert!(settle_dead_letters(&app, vec![sqs_message("dlq-1", &job, 2)]).await.is_empty());
    assert_eq!(app.record(&stuck.queue_id).await, once);
}

#[tokio::test]
async fn a_malformed_dead_letter_is_kept_as_poison() {
    let app = Harness::new();
    let missing = Job::new(app.org().clone(), uuid::Uuid::new_v4().to_string(), "phone-a".into()).encode();
    let batch = vec![sqs_message("dlq-bad", "not json at all", 1), sqs_message("dlq-missing", &missing, 1)];
    assert!(settle_dead_letters(&app, batch).await.is_empty());
    let mut poison = app.store.poison.lock().expect("lock").clone();
    poison.sort();
    assert_eq!(poison, [("dlq-bad".to_string(), "not json at all".to_string()), ("dlq-missing".to_string(), missing)]);
}
