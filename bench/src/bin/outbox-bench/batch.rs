//! Figure 4: how long the delivery handler takes for a batch of 10 when every provider call takes
//! 200 ms, on moto, over the in-memory ports, and over an in-memory store that answers every call
//! after a constant DynamoDB-like latency, against the 200 ms of a single call (the batch's calls
//! run concurrently, so the ideal ratio is 1, or 1 + 2 store latencies / 200 ms with a store).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::Serialize;
use serde_json::json;

use async_trait::async_trait;

use outbox::adapters::memory::{MemoryMedia, MemoryQueue, MemoryStore};
use outbox::config::DEFAULT_METRICS_NAMESPACE;
use outbox::deliver::Delivery;
use outbox::deliver::retry::RetryPolicy;

use outbox::domain::ids::{OrgId, PhoneId, QueueId, UniqueId};
use outbox::domain::message::MessageRecord;
use outbox::domain::send::parse_send_request;
use outbox::domain::tenant::{Phone, ProviderSettings};
use outbox::domain::time::Timestamp;
use outbox::local::event_source::receipts_of;
use outbox::metrics::Metrics;
use outbox::ports::{
    AttemptResult, BeginAttempt, Clock, Created, DeadLetterMark, StatusStore, StoreError, SystemClock,
};
use outbox::providers::Providers;
use outbox::providers::sandbox::FaultySandbox;
use outbox_bench::median;

use crate::harness::{BATCH, Bench, jobs_source};
use crate::report::{Figure, Measurement};

/// The provider's latency here, also the cost model's delivery wait per batch.
pub const PROVIDER_LATENCY: Duration = Duration::from_millis(200);

/// A conditional UpdateItem from a Lambda to DynamoDB in its region: single-digit milliseconds.
const STORE_LATENCY: Duration = Duration::from_millis(8);

#[derive(Debug, Serialize)]
pub struct BatchRatio {
    provider_latency_ms: f64,
    /// handle_batch on 10 records, against moto (DynamoDB transitions through the SDK).
    moto_batches_ms: Vec<f64>,
    /// The same handler over the in-memory ports.
    memory_batches_ms: Vec<f64>,
    store_latency_ms: f64,
    /// The in-memory ports with every status-store call taking `store_latency_ms`.
    constant_latency_batches_ms: Vec<f64>,
}

impl Measurement for BatchRatio {
    const TITLE: &'static str = "a batch of 10 with a 200 ms provider";
    const KEY: &'static str = "4_batch";

    fn figures(&self) -> Vec<Figure> {
        let latency = self.provider_latency_ms;
        let moto = median(&self.moto_batches_ms);
        let memory = median(&self.memory_batches_ms);
        let fixed = median(&self.constant_latency_batches_ms);
        vec![
            Figure::new("4a", "delivery of a batch of 10, provider 200 ms, on moto", moto, "ms")
                .against(latency)
                .goal("≤ 1.3× 200 ms", moto / latency, 1.3)
                .note(format!(
                    "median of {} batches; 20 conditional UpdateItems to moto run concurrently",
                    self.moto_batches_ms.len()
                )),
            Figure::new("4b", "delivery of a batch of 10, provider 200 ms, in-memory ports", memory, "ms")
                .against(latency)
                .goal("≤ 1.3× 200 ms", memory / latency, 1.3)
                .note("the handler's own overhead: records decoded and delivered concurrently"),
            Figure::new(
                "4c",
                "delivery of a batch of 10, provider 200 ms, store calls of constant latency",
                fixed,
                "ms",
            )
            .against(latency)
            .goal("≤ 1.3× 200 ms", fixed / latency, 1.3)
            .note(format!(
                "every status-store call takes {:.0} ms (an in-region DynamoDB write): {:.2}× the {:.0} ms floor \
                     of provider + three awaited store calls (begin, the batch's purge-marker read, finish); \
                     the rest of 4a's ratio is moto's latency",
                self.store_latency_ms,
                fixed / (latency + 3.0 * self.store_latency_ms),
                latency + 3.0 * self.store_latency_ms
            )),
        ]
    }
}

/// The sandbox, answering every call after `PROVIDER_LATENCY`.
fn slow_sandbox() -> Result<Providers, String> {
    let faults = format!("latency_ms={}", PROVIDER_LATENCY.as_millis()).parse()?;
    let sandbox = FaultySandbox::new(faults).map_err(|err| err.to_string())?;
    Ok(Providers::new(Arc::new(sandbox)))
}

/// `batches` timed batches on moto (after one that warms connections), then as many in memory.
pub async fn batch_ratio(bench: &Bench<'_>, batches: usize) -> Result<BatchRatio, String> {
    let stack = bench.api_stack(&bench.moto.endpoint, "off").await?;
    let delivery = outbox::wiring::delivery(&stack.config, &stack.aws, slow_sandbox()?);
    let (source, arn) = jobs_source(&stack.aws, &stack.config).await;
    let mut moto_batches = vec![];
    for round in 0..batches + 1 {
        for i in 0..BATCH {
            bench.send_text(&stack.base, round * BATCH + i).await?;
        }
        let mut event = SqsEvent::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        while event.records.len() < BATCH && Instant::now() < deadline {
            event.records.extend(source.receive(&arn).await?.records);
        }
        if event.records.len() != BATCH {
            return Err(format!("received {} of {BATCH} jobs", event.records.len()));
        }
        let receipts = receipts_of(&event);
        let started = Instant::now();
        let response = outbox::deliver::handle_batch(&delivery, event, delivery.deadline_from_now()).await;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        if !response.batch_item_failures.is_empty() {
            return Err(format!("{} jobs of the batch failed", response.batch_item_failures.len()));
        }
        source.acknowledge(receipts, &response).await;
        // The first batch warms connections and is not counted.
        if round > 0 {
            moto_batches.push(elapsed);
        }
    }
    drop(stack.api);
    let in_memory = memory_batches(batches, None).await?;
    let constant_latency = memory_batches(batches, Some(STORE_LATENCY)).await?;
    Ok(BatchRatio {
        provider_latency_ms: PROVIDER_LATENCY.as_secs_f64() * 1e3,
        moto_batches_ms: moto_batches,
        memory_batches_ms: in_memory,
        store_latency_ms: STORE_LATENCY.as_secs_f64() * 1e3,
        constant_latency_batches_ms: constant_latency,
    })
}

/// The same handler over the in-memory ports: jobs enqueued in memory, handed over as SQS records;
/// with `store_latency`, every status-store call of the delivery waits that long first.
async fn memory_batches(batches: usize, store_latency: Option<Duration>) -> Result<Vec<f64>, String> {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let media = Arc::new(MemoryMedia::default());
    // Metric lines are kept in memory: formatted as in Lambda, without filling the report's stdout.
    let enqueuer = outbox::wiring::in_memory_enqueuer(store.clone(), queue.clone(), media, clock.clone());
    let org = OrgId::from("org-bench".to_string());
    let phone = Phone {
        org_id: org.clone(),
        phone_id: "phone-bench".into(),
        number: "15550100000".into(),
        provider: ProviderSettings::Sandbox,
        created_at: clock.now(),
    };
    let delivery_store: Arc<dyn StatusStore> = match store_latency {
        Some(latency) => Arc::new(ConstantLatency { inner: store.clone(), latency }),
        None => store.clone(),
    };
    let delivery = Delivery {
        store: delivery_store,
        queue: queue.clone(),
        providers: slow_sandbox()?,
        clock: clock.clone(),
        retry: RetryPolicy { base: Duration::from_secs(1) },
        max_attempts: 3,
        lease: Duration::from_secs(30),
        write_backoff: Duration::from_millis(100),
        metrics: Metrics::capture(DEFAULT_METRICS_NAMESPACE),
    };
    let mut timings = vec![];
    for round in 0..batches {
        let mut event = SqsEvent::default();
        for i in 0..BATCH {
            let body = json!({"chat_id": format!("9188{:08}", round * BATCH + i), "message": "hello"}).to_string();
            let message = parse_send_request(body.as_bytes(), clock.now()).map_err(|err| format!("{err:?}"))?;
            enqueuer.enqueue_message(&org, &phone, message).await.map_err(|err| err.to_string())?;
            let job = queue.jobs.lock().map_err(|_| "poisoned")?.last().cloned().unwrap_or_default();
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m-{round}-{i}"));
            record.receipt_handle = Some(format!("r-{round}-{i}"));
            record.body = Some(job);
            record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
            event.records.push(record);
        }
        let started = Instant::now();
        let response = outbox::deliver::handle_batch(&delivery, event, delivery.deadline_from_now()).await;
        timings.push(started.elapsed().as_secs_f64() * 1e3);
        if !response.batch_item_failures.is_empty() {
            return Err("an in-memory delivery failed".into());
        }
    }
    Ok(timings)
}

/// A status store whose every call answers after a fixed latency, so the handler's share of a
/// batch shows apart from an emulator's latency.
struct ConstantLatency {
    inner: Arc<MemoryStore>,
    latency: Duration,
}

impl ConstantLatency {
    async fn wait(&self) {
        tokio::time::sleep(self.latency).await;
    }
}

#[async_trait]
impl StatusStore for ConstantLatency {
    async fn create(&self, record: &MessageRecord) -> Result<Created, StoreError> {
        self.wait().await;
        self.inner.create(record).await
    }
    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        self.wait().await;
        self.inner.get(org, queue_id).await
    }
    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        unique_id: Option<&UniqueId>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        self.wait().await;
        self.inner.begin_attempt(org, queue_id, unique_id, now, lease_until).await
    }
    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.wait().await;
        self.inner.finish_attempt(org, queue_id, attempt, result, now).await
    }
    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.wait().await;
        self.inner.mark_enqueue_failed(org, queue_id, reason, now).await
    }
    async fn mark_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        generation: u32,
        now: Timestamp,
    ) -> Result<DeadLetterMark, StoreError> {
        self.wait().await;
        self.inner.mark_dead_lettered(org, queue_id, generation, now).await
    }
    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        reason: &str,
        now: Timestamp,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.wait().await;
        self.inner.record_poison(message_id, body, reason, now, expires_at).await
    }
    async fn list_dead_lettered(&self, queue_id: Option<&QueueId>) -> Result<Vec<MessageRecord>, StoreError> {
        self.wait().await;
        self.inner.list_dead_lettered(queue_id).await
    }
    async fn requeue_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        due: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.wait().await;
        self.inner.requeue_dead_lettered(org, queue_id, due, expires_at).await
    }
    async fn restore_dead_lettered(&self, before: &MessageRecord) -> Result<bool, StoreError> {
        self.wait().await;
        self.inner.restore_dead_lettered(before).await
    }
    async fn phone_purged_at(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Timestamp>, StoreError> {
        self.wait().await;
        self.inner.phone_purged_at(org, phone_id).await
    }
}
