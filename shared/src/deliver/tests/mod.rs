//! Delivery and dead-letter handler tests with in-memory ports, a manual clock and a
//! call-counting sandbox provider: the harness here, the tests by consumer in `delivery` and
//! `dead_letter`.

mod dead_letter;
mod delivery;
mod purge;
mod slow_down;
mod stranded;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::json;

use super::dead_letter::DeadLetters;
use super::retry::RetryPolicy;
use super::{Delivery, handle_batch};
use crate::adapters::memory::{ManualClock, MemoryMedia, MemoryQueue, MemoryStore};
use crate::domain::chat_id::ChatId;
use crate::domain::ids::{OrgId, QueueId, UniqueId};
use crate::domain::job::Job;
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status, Timeline};
use crate::domain::send::parse_send_request;
use crate::domain::tenant::{Phone, ProviderKind, ProviderSettings};
use crate::domain::time::Timestamp;
use crate::metrics::Metrics;
use crate::ports::{Clock, StatusStore};
use crate::providers::sandbox::Sandbox;
use crate::providers::{DeliveryError, Provider, Providers, Receipt};
use crate::send::Enqueuer;

const LEASE: Duration = Duration::from_secs(30);
const NORMAL: &str = "15550000010";

/// The sandbox, counting its calls per queue_id and optionally taking its time or first asking
/// `slow_downs` times to slow down (with `retry_after`).
#[derive(Default)]
struct CountingSandbox {
    delay: Duration,
    slow_downs: u32,
    retry_after: Option<Duration>,
    calls: Mutex<HashMap<QueueId, u32>>,
    in_flight: AtomicU32,
    most_in_flight: AtomicU32,
}

#[async_trait]
impl Provider for CountingSandbox {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        let call = {
            let mut calls = self.calls.lock().expect("lock");
            let count = calls.entry(message.queue_id.clone()).or_default();
            *count += 1;
            *count
        };
        if call <= self.slow_downs {
            let reason = format!("sandbox: HTTP 429 on call {call}");
            return Err(DeliveryError::SlowDown { retry_after: self.retry_after, reason });
        }
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Sandbox.deliver(message, attempt).await
    }
}

/// The delivery handler over fresh in-memory ports and a manual clock, one org and one sandbox phone.
struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
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
        let clock = Arc::new(ManualClock::starting_now());
        let delivery = Delivery {
            store: store.clone(),
            queue: queue.clone(),
            providers: Providers::new(provider.clone()),
            clock: clock.clone(),
            retry: RetryPolicy { base: Duration::from_secs(1) },
            max_attempts: 3,
            lease: LEASE,
            write_backoff: Duration::from_millis(1),
            metrics: Metrics::capture("Outbox/test"),
        };
        let media = Arc::new(MemoryMedia::default());
        let enqueuer = crate::wiring::in_memory_enqueuer(store.clone(), queue.clone(), media, clock.clone());
        let phone = Phone {
            org_id: OrgId::from("org-a"),
            phone_id: "phone-a".into(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: clock.now(),
        };
        Harness { store, queue, clock, provider, delivery, enqueuer, phone }
    }

    fn org(&self) -> &OrgId {
        &self.phone.org_id
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Accepts a text to `chat` as the API would; returns its queue_id and the job body it queued.
    async fn accept(&self, chat: &str) -> (QueueId, String) {
        let body = json!({"chat_id": chat, "message": "hello"}).to_string();
        let message = parse_send_request(body.as_bytes(), self.now()).expect("a valid request");
        let accepted = self.enqueuer.enqueue_message(self.org(), &self.phone, message).await.expect("accepted");
        let job = self.queue.jobs.lock().expect("lock").pop().expect("a queued job");
        (accepted.queue_id, job)
    }

    /// Stores `record` as is, for states the send path cannot produce.
    async fn put(&self, record: &MessageRecord) -> String {
        self.store.create(record).await.expect("memory store");
        Job::for_record(record).encode()
    }

    async fn deliver(&self, records: Vec<SqsMessage>) -> SqsBatchResponse {
        self.deliver_by(records, self.now().plus(LEASE)).await
    }

    /// Delivers within an invocation that must end at `deadline`.
    async fn deliver_by(&self, records: Vec<SqsMessage>, deadline: Timestamp) -> SqsBatchResponse {
        handle_batch(&self.delivery, event(records), deadline).await
    }

    /// Delivers `job` alone, as SQS's `receive_count`-th receive, and returns the failed message ids.
    async fn receive(&self, job: &str, receive_count: u32) -> Vec<String> {
        failed_ids(&self.deliver(vec![sqs_message("msg-1", job, receive_count)]).await)
    }

    async fn record(&self, queue_id: &QueueId) -> MessageRecord {
        self.store.get(self.org(), queue_id).await.expect("memory store").expect("a record")
    }

    fn calls(&self, queue_id: &QueueId) -> u32 {
        self.provider.calls.lock().expect("lock").get(queue_id).copied().unwrap_or(0)
    }

    fn visibility_changes(&self) -> Vec<(String, Duration)> {
        self.queue.visibility.lock().expect("lock").clone()
    }

    /// The jobs put on the queue since the last call (fresh copies, hops), decoded.
    fn take_jobs(&self) -> Vec<Job> {
        let jobs = std::mem::take(&mut *self.queue.jobs.lock().expect("lock"));
        jobs.iter().map(|body| Job::decode(body).expect("a job")).collect()
    }

    fn dead_letters(&self) -> Vec<(String, String)> {
        self.queue.dead_letters.lock().expect("lock").clone()
    }

    fn dead_letter_handler(&self) -> DeadLetters {
        DeadLetters {
            store: self.store.clone(),
            clock: self.clock.clone(),
            retention: Duration::from_secs(3600),
            metrics: self.delivery.metrics.clone(),
        }
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

/// A record in `status` to `chat`, as if accepted a minute before `now` and never attempted.
fn record_in(org: &OrgId, chat: &str, status: Status, now: Timestamp) -> MessageRecord {
    let queued_at = now.minus(Duration::from_secs(60));
    let unique_id = UniqueId::generate();
    MessageRecord {
        org_id: org.clone(),
        queue_id: QueueId::of(&unique_id),
        unique_id,
        phone_id: "phone-a".into(),
        provider: ProviderKind::Sandbox,
        chat_id: ChatId::parse(chat).expect("a valid chat id"),
        text: Some("hello".into()),
        media: None,
        poll: None,
        reply_to: None,
        hide_url_preview: false,
        link_preview: Default::default(),
        status,
        status_description: None,
        provider_message_id: None,
        attempts: 0,
        attempt_log: vec![],
        attempt_log_dropped: 0,
        timeline: Timeline::queued(queued_at),
        lease_until: None,
        dead_lettered_at: None,
        generation: 0,
        attempts_before_replay: 0,
        requeued_at: None,
        scheduled_at: None,
        broadcast_id: None,
        expires_at: queued_at.epoch_secs() + 3600,
    }
}

/// A record whose first attempt started `started_ago` before `now` and holds a lease until `lease_until`.
fn sending_record(org: &OrgId, now: Timestamp, started_ago: Duration, lease_until: Timestamp) -> MessageRecord {
    let mut record = record_in(org, NORMAL, Status::Sending, now);
    record.attempts = 1;
    record.attempt_log = vec![AttemptLogEntry {
        attempt: 1,
        started_at: now.minus(started_ago),
        outcome: None,
        error: None,
        finished_at: None,
    }];
    record.lease_until = Some(lease_until);
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
