//! The delivery path against moto: retries through SQS visibility, redrive to the DLQ,
//! duplicate deliveries and malformed jobs.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use outbox_tests::outbox::domain::ids::{OrgId, QueueId};
use outbox_tests::outbox::domain::time::Timestamp;
use outbox_tests::outbox::local::event_source::receipts_of;
use outbox_tests::outbox::ports::StatusStore;
use outbox_tests::outbox::providers::Providers;
use outbox_tests::{Consumers, CountingProvider, Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send_text(stack: &Stack, chat_id: &str) -> String {
    let (code, accepted) = stack.send(json!({"chat_id": chat_id, "message": "hi"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    accepted["queue_id"].as_str().unwrap().to_string()
}

fn started_at(status: &Value, index: usize) -> Timestamp {
    Timestamp::parse(status["attempt_log"][index]["started_at"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_always_transient_recipient_fails_after_three_attempts_with_growing_gaps_and_lands_in_the_dlq() {
    // Only the delivery consumer runs, so the DLQ keeps what the redrive policy put there.
    let stack = Stack::start_with(StackOptions { consumers: Consumers::DeliveryOnly, ..Default::default() }).await;
    let queue_id = send_text(&stack, "15550000001").await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(40), |s| s["status"] == "failed").await;
    assert_eq!(status["attempts"], 3, "{status}");
    let log = status["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|a| a["outcome"] == "transient_error"), "{status}");
    assert!(status["status_description"].as_str().unwrap().contains("15550000001 is always temporarily unavailable"));
    assert!(status["timeline"]["failed_at"].is_string());
    let first_gap = started_at(&status, 1).since(started_at(&status, 0));
    let second_gap = started_at(&status, 2).since(started_at(&status, 1));
    assert!(first_gap >= Duration::from_millis(750), "first gap {first_gap:?}");
    assert!(second_gap > first_gap, "gaps {first_gap:?} then {second_gap:?}");

    let dlq = stack.dlq_source();
    let event = stack.receive_records(&dlq, 1, Duration::from_secs(15)).await;
    let body = event.records[0].body.clone().unwrap();
    assert!(body.contains(&queue_id), "{body}");

    // The dead-letter handler marks it for replay, idempotently, and keeps its failure reason.
    let dead_letters = outbox_tests::outbox::wiring::dead_letters(&stack.config, &stack.aws);
    for _ in 0..2 {
        let response = outbox_tests::outbox::deliver::dead_letter::handle_batch(&dead_letters, event.clone()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let record =
        stack.store().get(&OrgId::from("org-local"), &QueueId::from(queue_id.as_str())).await.unwrap().unwrap();
    assert!(record.dead_lettered_at.is_some());
    assert_eq!(record.status_description.as_deref(), status["status_description"].as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_is_not_retried() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::DeliveryOnly, ..Default::default() }).await;
    let queue_id = send_text(&stack, "15550000002").await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "failed").await;
    assert_eq!(status["attempts"], 1);
    assert_eq!(status["attempt_log"][0]["outcome"], "permanent_error");
    // Still one attempt a while later, and nothing in the DLQ.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, later) = stack.status(&queue_id).await;
    assert_eq!(later["attempts"], 1);
    let dlq = stack.dlq_source();
    let arn = dlq.queue_arn().await;
    assert!(dlq.receive(&arn).await.unwrap().records.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_failing_twice_is_sent_on_the_third_attempt() {
    let stack = Stack::start().await;
    let queue_id = send_text(&stack, "15550000003").await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(40), |s| s["status"] == "sent").await;
    assert_eq!(status["attempts"], 3);
    let outcomes: Vec<&str> =
        status["attempt_log"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["transient_error", "transient_error", "sent"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_sqs_message_delivered_twice_calls_the_provider_once() {
    let provider = CountingProvider::new(Duration::from_millis(300));
    let stack = Stack::start_with(StackOptions {
        consumers: Consumers::None,
        providers: Providers::new(provider.clone()),
        ..Default::default()
    })
    .await;
    let delivery = outbox_tests::outbox::wiring::delivery(&stack.config, &stack.aws, Providers::new(provider.clone()));

    // Twice in one batch, concurrently: one delivers, the duplicate is passed on past the lease.
    let first = send_text(&stack, "919537851844").await;
    let source = stack.jobs_source();
    let mut event = stack.receive_records(&source, 1, Duration::from_secs(10)).await;
    event.records.push(event.records[0].clone());
    let response = outbox_tests::outbox::deliver::handle_batch(&delivery, event.clone(), stack.deadline()).await;
    assert_eq!(provider.calls_for(&first), 1);
    assert!(response.batch_item_failures.is_empty(), "the duplicate costs no receive: {response:?}");
    // Its fresh copy waits on the queue, delayed until the lease has passed.
    let delayed = stack
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.config.queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = delayed.attributes.unwrap_or_default();
    assert_eq!(delayed.get(&QueueAttributeName::ApproximateNumberOfMessagesDelayed).map(String::as_str), Some("1"));
    // Delivered again after it was sent: acknowledged without a call.
    let again = outbox_tests::outbox::deliver::handle_batch(&delivery, event, stack.deadline()).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(provider.calls_for(&first), 1);
    let (_, status) = stack.status(&first).await;
    assert_eq!((status["status"].as_str(), status["attempts"].as_u64()), (Some("sent"), Some(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_job_does_not_fail_its_batch_mates() {
    let provider = CountingProvider::new(Duration::ZERO);
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let delivery = outbox_tests::outbox::wiring::delivery(&stack.config, &stack.aws, Providers::new(provider.clone()));
    let queue_id = send_text(&stack, "919537851844").await;
    for garbage in ["this is not a job", "{\"v\":1,\"org_id\":\"org-local\"}"] {
        stack.aws.sqs.send_message().queue_url(&stack.config.queue_url).message_body(garbage).send().await.unwrap();
    }
    let source = stack.jobs_source();
    let event = stack.receive_records(&source, 3, Duration::from_secs(10)).await;
    let receipts = receipts_of(&event);
    let response = outbox_tests::outbox::deliver::handle_batch(&delivery, event, stack.deadline()).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    source.acknowledge(receipts, &response).await;
    assert_eq!(provider.calls_for(&queue_id), 1);
    let (_, status) = stack.status(&queue_id).await;
    assert_eq!(status["status"], "sent");

    // Both malformed bodies went straight to the DLQ, and the jobs queue is empty.
    let dlq = stack.dlq_source();
    let dead = stack.receive_records(&dlq, 2, Duration::from_secs(10)).await;
    let mut bodies: Vec<String> = dead.records.iter().map(|r| r.body.clone().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["this is not a job", "{\"v\":1,\"org_id\":\"org-local\"}"]);
    let arn = source.queue_arn().await;
    assert!(source.receive(&arn).await.unwrap().records.is_empty());

    // The dead-letter consumer keeps them as evidence instead of failing forever.
    let dead_letters = outbox_tests::outbox::wiring::dead_letters(&stack.config, &stack.aws);
    let response = outbox_tests::outbox::deliver::dead_letter::handle_batch(&dead_letters, dead).await;
    assert!(response.batch_item_failures.is_empty());
    let _ = Arc::clone(&provider);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_takeover_marks_the_dead_workers_attempt_interrupted_in_the_table() {
    use outbox_tests::outbox::domain::message::AttemptOutcome;
    use outbox_tests::outbox::ports::BeginAttempt;
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let queue_id = QueueId::from(send_text(&stack, "919537851844").await.as_str());
    let (org, store) = (OrgId::from("org-local"), stack.store());
    let t0 = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
    // A worker starts attempt 1 with a 30 s lease, then dies.
    let first = store.begin_attempt(&org, &queue_id, None, t0, t0.plus(Duration::from_secs(30))).await.unwrap();
    assert!(matches!(first, BeginAttempt::Started(_)), "{first:?}");
    // Within the lease, another copy is left alone.
    let busy =
        store.begin_attempt(&org, &queue_id, None, t0.plus(Duration::from_secs(10)), t0.plus(Duration::from_secs(40)));
    assert!(matches!(busy.await.unwrap(), BeginAttempt::InFlight(_)));
    // After it, the next copy takes over and the stored log says attempt 1 was interrupted.
    let later = t0.plus(Duration::from_secs(31));
    let BeginAttempt::Started(record) =
        store.begin_attempt(&org, &queue_id, None, later, later.plus(Duration::from_secs(30))).await.unwrap()
    else {
        panic!("not taken over");
    };
    let outcomes: Vec<_> = record.attempt_log.iter().map(|entry| entry.outcome).collect();
    assert_eq!((record.attempts, outcomes), (2, vec![Some(AttemptOutcome::Interrupted), None]));
    assert_eq!(store.get(&org, &queue_id).await.unwrap().unwrap(), record);
    // A second takeover of the same lease loses: only one worker starts attempt 2.
    let again = store.begin_attempt(&org, &queue_id, None, later, later.plus(Duration::from_secs(30))).await.unwrap();
    assert!(matches!(again, BeginAttempt::InFlight(_)), "{again:?}");
}

/// The item stored under a message's key, as DynamoDB returns it.
async fn stored_item(
    stack: &Stack,
    org: &OrgId,
    queue_id: &QueueId,
) -> std::collections::HashMap<String, AttributeValue> {
    let key = [("pk", format!("MSG#{org}#{queue_id}")), ("sk", "MSG".to_string())];
    let output = stack
        .aws
        .dynamodb
        .get_item()
        .table_name(&stack.config.table)
        .set_key(Some(key.into_iter().map(|(name, value)| (name.to_string(), AttributeValue::S(value))).collect()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output.item.expect("the message item")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_items_the_cost_model_sizes_are_the_items_the_adapter_stores() {
    use outbox_tests::outbox::adapters::dynamodb::stored_message_item;
    use outbox_tests::outbox::ports::AttemptResult;
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let (org, store) = (OrgId::from("org-local"), stack.store());
    let t0 = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
    let lease = t0.plus(Duration::from_secs(30));
    let same = |record: &outbox_tests::outbox::domain::message::MessageRecord, stored| {
        assert_eq!(stored_message_item(record).unwrap(), stored, "{:?}", record.status);
    };
    // Sent: created, begun, finished.
    let queue_id = QueueId::from(send_text(&stack, "919537851844").await.as_str());
    same(&store.get(&org, &queue_id).await.unwrap().unwrap(), stored_item(&stack, &org, &queue_id).await);
    store.begin_attempt(&org, &queue_id, None, t0, lease).await.unwrap();
    same(&store.get(&org, &queue_id).await.unwrap().unwrap(), stored_item(&stack, &org, &queue_id).await);
    let sent = AttemptResult::Sent { provider_message_id: "wamid.1".into(), findable: false };
    assert!(store.finish_attempt(&org, &queue_id, 1, sent, t0.plus(Duration::from_secs(1))).await.unwrap());
    same(&store.get(&org, &queue_id).await.unwrap().unwrap(), stored_item(&stack, &org, &queue_id).await);
    // Dead-lettered after its worker's lease ran out.
    let queue_id = QueueId::from(send_text(&stack, "919537851845").await.as_str());
    store.begin_attempt(&org, &queue_id, None, t0, lease).await.unwrap();
    store.mark_dead_lettered(&org, &queue_id, 0, lease.plus(Duration::from_secs(1))).await.unwrap();
    same(&store.get(&org, &queue_id).await.unwrap().unwrap(), stored_item(&stack, &org, &queue_id).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_attempt_log_stays_bounded_by_the_same_rules_as_the_memory_store() {
    use outbox_tests::outbox::adapters::memory::MemoryStore;
    use outbox_tests::outbox::domain::message::{AttemptOutcome, MAX_ATTEMPT_LOG, MessageRecord};
    use outbox_tests::outbox::ports::{AttemptResult, BeginAttempt};
    enum Step {
        Begin,
        Finish(AttemptResult),
    }
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let queue_id = QueueId::from(send_text(&stack, "919537851844").await.as_str());
    let (org, dynamo) = (OrgId::from("org-local"), stack.store());
    let memory = MemoryStore::default();
    memory.create(&dynamo.get(&org, &queue_id).await.unwrap().unwrap()).await.unwrap();
    let stores: [&dyn StatusStore; 2] = [&dynamo, &memory];
    let retry = || Step::Finish(AttemptResult::Retry { error: "transient".into() });
    // Ten failed attempts fill the log; the 11th is a slow-down (undone); the next 11th's worker
    // dies; the 12th takes the full log over and fails; the 13th is sent.
    let mut steps: Vec<Step> = (0..10).flat_map(|_| [Step::Begin, retry()]).collect();
    steps.extend([Step::Begin, Step::Finish(AttemptResult::Released), Step::Begin, Step::Begin, retry()]);
    steps.extend([
        Step::Begin,
        Step::Finish(AttemptResult::Sent { provider_message_id: "wamid.1".into(), findable: false }),
    ]);
    // What a client sees of a record, on which both stores must agree.
    let shown = |r: MessageRecord| (r.status, r.attempts, r.attempt_log_dropped, r.settled_attempt_log());
    let mut now = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
    for (i, step) in steps.into_iter().enumerate() {
        // A minute between steps: past each 30 s lease.
        now = now.plus(Duration::from_secs(60));
        let attempts = dynamo.get(&org, &queue_id).await.unwrap().unwrap().attempts;
        for store in stores {
            match &step {
                Step::Begin => {
                    let begun = store.begin_attempt(&org, &queue_id, None, now, now.plus(Duration::from_secs(30)));
                    assert!(matches!(begun.await.unwrap(), BeginAttempt::Started(_)), "step {i}");
                }
                Step::Finish(result) => {
                    assert!(
                        store.finish_attempt(&org, &queue_id, attempts, result.clone(), now).await.unwrap(),
                        "step {i}"
                    );
                }
            }
        }
        let stored = dynamo.get(&org, &queue_id).await.unwrap().unwrap();
        assert!(stored.attempt_log.len() <= MAX_ATTEMPT_LOG, "step {i}: {} entries", stored.attempt_log.len());
        assert_eq!(shown(stored), shown(memory.get(&org, &queue_id).await.unwrap().unwrap()), "step {i}");
    }
    let record = dynamo.get(&org, &queue_id).await.unwrap().unwrap();
    let log = record.settled_attempt_log();
    assert_eq!((record.attempts, record.attempt_log_dropped, log.len()), (13, 3, MAX_ATTEMPT_LOG));
    let kept: Vec<(u32, Option<AttemptOutcome>)> = log.iter().map(|entry| (entry.attempt, entry.outcome)).collect();
    let transient = Some(AttemptOutcome::TransientError);
    let mut expected: Vec<_> = [1, 5, 6, 7, 8, 9, 10].into_iter().map(|n| (n, transient)).collect();
    expected.extend([(11, Some(AttemptOutcome::Interrupted)), (12, transient), (13, Some(AttemptOutcome::Sent))]);
    assert_eq!(kept, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_fails_the_record_only_for_its_own_generation_after_the_lease() {
    use outbox_tests::outbox::domain::message::Status;
    use outbox_tests::outbox::ports::DeadLetterMark;
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let queue_id = QueueId::from(send_text(&stack, "919537851844").await.as_str());
    let (org, store) = (OrgId::from("org-local"), stack.store());
    let t0 = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
    store.begin_attempt(&org, &queue_id, None, t0, t0.plus(Duration::from_secs(30))).await.unwrap();
    let inside = t0.plus(Duration::from_secs(10));
    assert_eq!(store.mark_dead_lettered(&org, &queue_id, 0, inside).await.unwrap(), DeadLetterMark::InFlight);
    // A job of another generation never fails it, lease or not.
    let after = t0.plus(Duration::from_secs(31));
    assert_eq!(store.mark_dead_lettered(&org, &queue_id, 7, after).await.unwrap(), DeadLetterMark::Stale);
    assert_eq!(store.get(&org, &queue_id).await.unwrap().unwrap().status, Status::Sending);
    assert_eq!(store.mark_dead_lettered(&org, &queue_id, 0, after).await.unwrap(), DeadLetterMark::MarkedFailed);
    let record = store.get(&org, &queue_id).await.unwrap().unwrap();
    assert_eq!((record.status, record.dead_lettered_at, record.generation), (Status::Failed, Some(after), 0));
    // A replay moves it to generation 1; the old job's dead copy is then stale.
    assert!(store.requeue_dead_lettered(&org, &queue_id, after, after.epoch_secs() + 3600).await.unwrap());
    assert_eq!(store.get(&org, &queue_id).await.unwrap().unwrap().generation, 1);
    assert_eq!(store.mark_dead_lettered(&org, &queue_id, 0, after).await.unwrap(), DeadLetterMark::Stale);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_queue_redrives_only_after_the_crash_allowance_beyond_the_attempt_budget() {
    use outbox_tests::outbox::deliver::max_receives;
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let attributes = stack
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.config.queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let policy: Value = serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    let count = policy["maxReceiveCount"].as_u64().or_else(|| policy["maxReceiveCount"].as_str()?.parse().ok());
    assert_eq!(count, Some(u64::from(max_receives(stack.config.max_attempts))), "{policy}");
    assert_eq!(max_receives(3), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_queued_before_its_record_waits_for_it_through_sqs_and_is_sent_once() {
    use outbox_tests::outbox::domain::ids::UniqueId;
    use outbox_tests::outbox::domain::job::Job;
    use outbox_tests::outbox::local::LOCAL_ORG;
    use outbox_tests::outbox::ports::{Clock, SystemClock};

    let provider = CountingProvider::new(Duration::ZERO);
    let stack = Stack::start_with(StackOptions {
        consumers: Consumers::DeliveryOnly,
        providers: Providers::new(provider.clone()),
        ..Default::default()
    })
    .await;
    // A record to copy, scheduled a day ahead so that its own job does not deliver it meanwhile.
    let tomorrow = SystemClock.now().plus(Duration::from_secs(86_400));
    let (code, held) = stack
        .send(json!({"chat_id": "919537851844", "message": "late record", "scheduled_at": tomorrow.to_string()}))
        .await;
    assert_eq!(code, StatusCode::OK, "{held}");
    let (store, org) = (stack.store(), OrgId::from(LOCAL_ORG));
    let template = store.get(&org, &QueueId::from(held["queue_id"].as_str().unwrap())).await.unwrap().unwrap();
    let mut record = template.clone();
    record.unique_id = UniqueId::generate();
    (record.queue_id, record.scheduled_at) = (QueueId::of(&record.unique_id), None);

    // The job goes out as the API sends it, ahead of a record that is written 3 s later.
    let job = Job::ahead_of_record(&record, SystemClock.now().plus(Duration::from_secs(60)).epoch_secs_ceil());
    stack.aws.sqs.send_message().queue_url(&stack.config.queue_url).message_body(job.encode()).send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(provider.calls_for(record.queue_id.as_str()), 0);
    store.create(&record).await.unwrap();
    let status = stack.wait_for(record.queue_id.as_str(), Duration::from_secs(20), |s| s["status"] == "sent").await;
    assert_eq!(status["attempts"], 1, "{status}");
    assert_eq!(provider.calls_for(record.queue_id.as_str()), 1);
}
