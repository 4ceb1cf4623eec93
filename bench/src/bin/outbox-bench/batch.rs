//! Figure 4: how long the delivery handler takes for a batch of 10 when every provider call takes
//! 200 ms, on moto and over the in-memory ports, against the 200 ms of a single call (the batch's
//! calls run concurrently, so the ideal ratio is 1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::Serialize;
use serde_json::json;

use outbox::adapters::memory::{MemoryMedia, MemoryQueue, MemoryStore};
use outbox::deliver::Delivery;
use outbox::deliver::retry::RetryPolicy;
use outbox::domain::ids::OrgId;
use outbox::domain::send::parse_send_request;
use outbox::domain::tenant::{Phone, ProviderSettings};
use outbox::local::event_source::receipts_of;
use outbox::ports::{Clock, SystemClock};
use outbox::providers::Providers;
use outbox::providers::sandbox::FaultySandbox;
use outbox::send::{Enqueuer, QueueDepth, Uploads};
use outbox_bench::median;

use crate::harness::{BATCH, Bench, jobs_source};
use crate::report::{Figure, Measurement};

/// The provider's latency here, also the cost model's delivery wait per batch.
pub const PROVIDER_LATENCY: Duration = Duration::from_millis(200);

#[derive(Debug, Serialize)]
pub struct BatchRatio {
    provider_latency_ms: f64,
    /// handle_batch on 10 records, against moto (DynamoDB transitions through the SDK).
    moto_batches_ms: Vec<f64>,
    /// The same handler over the in-memory ports.
    memory_batches_ms: Vec<f64>,
}

impl Measurement for BatchRatio {
    const TITLE: &'static str = "a batch of 10 with a 200 ms provider";
    const KEY: &'static str = "4_batch";

    fn figures(&self) -> Vec<Figure> {
        let latency = self.provider_latency_ms;
        let moto = median(&self.moto_batches_ms);
        let memory = median(&self.memory_batches_ms);
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
    let memory_batches = memory_batches(batches).await?;
    Ok(BatchRatio {
        provider_latency_ms: PROVIDER_LATENCY.as_secs_f64() * 1e3,
        moto_batches_ms: moto_batches,
        memory_batches_ms: memory_batches,
    })
}

/// The same handler over the in-memory ports: jobs enqueued in memory, handed over as SQS records.
async fn memory_batches(batches: usize) -> Result<Vec<f64>, String> {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let media = Arc::new(MemoryMedia::default());
    let enqueuer = Enqueuer {
        store: store.clone(),
        queue: queue.clone(),
        media: media.clone(),
        clock: clock.clone(),
        retention: Duration::from_secs(3600),
        depth: Arc::new(QueueDepth::new(Duration::from_secs(1))),
        uploads: Uploads { store: store.clone(), media, clock: clock.clone() },
    };
    let org = OrgId::from("org-bench".to_string());
    let phone = Phone {
        org_id: org.clone(),
        phone_id: "phone-bench".into(),
        number: "15550100000".into(),
        provider: ProviderSettings::Sandbox,
        created_at: clock.now(),
    };
    let delivery = Delivery {
        store: store.clone(),
        queue: queue.clone(),
        providers: slow_sandbox()?,
        clock: clock.clone(),
        retry: RetryPolicy { base: Duration::from_secs(1) },
        max_attempts: 3,
        lease: Duration::from_secs(30),
        write_backoff: Duration::from_millis(100),
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
