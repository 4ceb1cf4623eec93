//! Periskope's tracking surface against moto: the message object, queue jobs, queue health,
//! purge, and broadcasts with variables, scheduling and spacing.

use std::time::{Duration, Instant};

use outbox_tests::outbox::local::{LOCAL_ORG, LOCAL_PHONE_ID};
use outbox_tests::outbox::ports::Tracking;
use outbox_tests::outbox::providers::Providers;
use outbox_tests::{Consumers, CountingProvider, Stack, StackOptions, assert_error_shape, json_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn no_consumers() -> StackOptions {
    StackOptions { consumers: Consumers::None, ..Default::default() }
}

async fn call(stack: &Stack, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = stack.http.request(method, format!("{}{path}", stack.base_url)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let code = response.status();
    if code == StatusCode::NO_CONTENT {
        return (code, Value::Null);
    }
    json_of(response).await
}

async fn get(stack: &Stack, path: &str) -> (StatusCode, Value) {
    call(stack, "local-dev-key", Method::GET, path, None).await
}

async fn send(stack: &Stack, body: Value) -> String {
    let (code, answer) = stack.send(body).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    answer["queue_id"].as_str().unwrap().to_string()
}

async fn broadcast(stack: &Stack, body: Value) -> String {
    let (code, answer) = call(stack, "local-dev-key", Method::POST, "/v1/message/broadcast", Some(body)).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    answer["broadcast_id"].as_str().unwrap().to_string()
}

async fn purge(stack: &Stack, body: Option<Value>) -> StatusCode {
    call(stack, "local-dev-key", Method::DELETE, "/v1/queue/purge", body).await.0
}

async fn job(stack: &Stack, queue_id: &str) -> Value {
    let (code, jobs) = get(stack, &format!("/v1/queue/jobs?queue_id={queue_id}")).await;
    assert_eq!(code, StatusCode::OK, "{jobs}");
    jobs[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_message_object_and_job_have_periskopes_shapes() {
    let stack = Stack::start().await;
    let queue_id = send(&stack, json!({"chat_id": "919537851844", "message": "shape", "reply_to": "3EB0ABC"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let (code, message) = get(&stack, &format!("/v1/message/{queue_id}")).await;
    assert_eq!(code, StatusCode::OK);
    for (field, expected) in [
        ("queue_id", json!(queue_id)),
        ("body", json!("shape")),
        ("type", json!("text")),
        ("chat_id", json!("919537851844@c.us")),
        ("reply_to", json!("3EB0ABC")),
        ("status", json!("sent")),
    ] {
        assert_eq!(message[field], expected, "{field}: {message}");
    }
    assert_eq!(message["message_id"], status["message_id"]);
    let (_, by_unique_id) = get(&stack, &format!("/v1/message/{}", message["unique_id"].as_str().unwrap())).await;
    assert_eq!(by_unique_id["queue_id"], json!(queue_id));

    let job = job(&stack, &queue_id).await;
    assert_eq!((job["id"].as_str(), job["status"].as_str()), (Some(queue_id.as_str()), Some("completed")));
    assert_eq!((job["attemptsMade"].as_u64(), job["attemptsStarted"].as_u64()), (Some(1), Some(1)));
    for stamp in ["addedTimestamp", "processedTimestamp", "finishedTimestamp"] {
        assert!(job[stamp].as_i64().is_some_and(|ms| ms > 1_700_000_000_000), "{stamp}: {job}");
    }
    assert_eq!(job["data"]["body"], "shape");
    assert_eq!(job["data"]["chat_id"], "919537851844@c.us");
    assert_eq!(job["stacktrace"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn job_statuses_map_from_ours() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::DeliveryOnly, ..Default::default() }).await;
    let sent = send(&stack, json!({"chat_id": "919537851844", "message": "a"})).await;
    let failed = send(&stack, json!({"chat_id": "15550000002", "message": "b"})).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let waiting = send(&stack, json!({"chat_id": "919537851845", "message": "c", "scheduled_at": later})).await;
    let cancelled = send(&stack, json!({"chat_id": "919537851846", "message": "d", "scheduled_at": later})).await;
    assert_eq!(purge(&stack, Some(json!({"queue_id": cancelled}))).await, StatusCode::NO_CONTENT);
    stack.wait_for(&sent, Duration::from_secs(20), |s| s["status"] == "sent").await;
    stack.wait_for(&failed, Duration::from_secs(20), |s| s["status"] == "failed").await;
    assert_eq!(job(&stack, &sent).await["status"], "completed");
    let failed_job = job(&stack, &failed).await;
    assert_eq!(failed_job["status"], "failed");
    assert!(failed_job["stacktrace"][0].as_str().unwrap().contains("does not exist"), "{failed_job}");
    assert!(failed_job["failedReason"].is_string());
    let waiting_job = job(&stack, &waiting).await;
    assert_eq!(waiting_job["status"], "waiting");
    assert!(waiting_job["delayUntil"].as_i64().is_some());
    let cancelled_job = job(&stack, &cancelled).await;
    assert_eq!(cancelled_job["status"], "failed");
    assert!(cancelled_job["stacktrace"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("purged")));
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_health_counts_the_phone_from_its_counters() {
    // Both: the status-stream consumer keeps the counters, as in a deployment.
    let stack = Stack::start_with(StackOptions { consumers: Consumers::Both, ..Default::default() }).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for chat in ["919537851844", "919537851845"] {
        send(&stack, json!({"chat_id": chat, "message": "now"})).await;
    }
    let failed = send(&stack, json!({"chat_id": "15550000002", "message": "no"})).await;
    for chat in ["919537851846", "919537851847", "919537851848"] {
        send(&stack, json!({"chat_id": chat, "message": "later", "scheduled_at": later})).await;
    }
    stack.wait_for(&failed, Duration::from_secs(20), |s| s["status"] == "failed").await;
    health_reaches(&stack, json!({"pending": 3, "active": 0, "completed": 2, "failed": 1})).await;
}

/// Waits until `GET /v1/queue` shows exactly `counts` (and no dead letter): the counters follow the
/// records seconds behind, so a test waits for the whole picture, never a partial one.
async fn health_reaches(stack: &Stack, counts: Value) {
    let mut expected = json!({"dead_letter": 0, "is_running": true, "phone_id": "phone-local"});
    expected.as_object_mut().unwrap().extend(counts.as_object().unwrap().clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, health) = get(stack, "/v1/queue").await;
        assert_eq!(code, StatusCode::OK);
        if health == expected {
            return;
        }
        assert!(Instant::now() < deadline, "the counts never reached {expected}: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_cancels_one_a_list_a_broadcast_or_everything_and_nothing_purged_is_delivered() {
    let provider = CountingProvider::new(Duration::ZERO);
    let stack = Stack::start_with(StackOptions {
        consumers: Consumers::StreamOnly,
        providers: Providers::new(provider.clone()),
        ..Default::default()
    })
    .await;
    let one = send(&stack, json!({"chat_id": "919537851801", "message": "1"})).await;
    let list = [
        send(&stack, json!({"chat_id": "919537851802", "message": "2"})).await,
        send(&stack, json!({"chat_id": "919537851803", "message": "3"})).await,
    ];
    let bid =
        broadcast(&stack, json!({"chat_ids": ["919537851804", "919537851805"], "message": "b", "delay": 0})).await;
    // The phone's purge cancels one scheduled ahead at once (its live index lists it) and one due
    // now when its delivery comes (it reads the phone's purge marker).
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (due_now, scheduled) = (
        send(&stack, json!({"chat_id": "919537851806", "message": "4"})).await,
        send(&stack, json!({"chat_id": "919537851807", "message": "5", "scheduled_at": later})).await,
    );

    assert_eq!(purge(&stack, Some(json!({"queue_id": one}))).await, StatusCode::NO_CONTENT);
    assert_eq!(purge(&stack, Some(json!({"queue_id": list}))).await, StatusCode::NO_CONTENT);
    assert_eq!(purge(&stack, Some(json!({"broadcast_id": bid}))).await, StatusCode::NO_CONTENT);
    assert_eq!(purge(&stack, None).await, StatusCode::NO_CONTENT);
    let (_, jobs) = get(&stack, &format!("/v1/queue/jobs?broadcast_id={bid}")).await;
    let mut all: Vec<String> = jobs.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
    all.extend([one].into_iter().chain(list).chain([scheduled]));
    for queue_id in &all {
        let (_, status) = stack.status(queue_id).await;
        assert_eq!(status["status"], "cancelled", "{status}");
        assert!(status["timeline"]["cancelled_at"].is_string());
    }
    assert_eq!(stack.status(&due_now).await.1["status"], "queued", "cancelled by its delivery, not before");
    // The jobs due now are still on the queue: delivering them must not reach the provider.
    let delivery = outbox_tests::outbox::wiring::delivery(&stack.config, &stack.aws, Providers::new(provider.clone()));
    let source = stack.jobs_source();
    let event = stack.receive_records(&source, all.len(), Duration::from_secs(20)).await;
    let response = outbox_tests::outbox::deliver::handle_batch(&delivery, event, stack.deadline()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    all.push(due_now);
    assert!(all.iter().all(|q| provider.calls_for(q) == 0));
    let (_, status) = stack.status(all.last().unwrap()).await;
    assert_eq!((&status["status"], status["attempts"].as_u64()), (&json!("cancelled"), Some(0)), "{status}");
    // Cancelled messages count as failed.
    health_reaches(&stack, json!({"pending": 0, "active": 0, "completed": 0, "failed": all.len()})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_leaves_a_message_already_sent_alone() {
    let stack = Stack::start().await;
    let sent = send(&stack, json!({"chat_id": "919537851844", "message": "gone"})).await;
    stack.wait_for(&sent, Duration::from_secs(20), |s| s["status"] == "sent").await;
    assert_eq!(purge(&stack, Some(json!({"queue_id": sent}))).await, StatusCode::NO_CONTENT);
    assert_eq!(stack.status(&sent).await.1["status"], "sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadcast_to_1000_chats_is_accepted_quickly_and_every_job_is_accounted_for() {
    let stack = Stack::start_with(no_consumers()).await;
    let chat_ids: Vec<String> = (0..1000).map(|i| format!("1555700{i:04}")).collect();
    let started = Instant::now();
    let bid = broadcast(&stack, json!({"chat_ids": chat_ids, "message": "Hello", "delay": 0})).await;
    eprintln!("1,000-chat broadcast accepted in {:?}", started.elapsed());
    let (code, jobs) = get(&stack, &format!("/v1/queue/jobs?broadcast_id={bid}")).await;
    assert_eq!(code, StatusCode::OK);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 1000);
    let distinct: std::collections::HashSet<&str> =
        jobs.iter().map(|j| j["data"]["chat_id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 1000);
    let (_, status) = get(&stack, &format!("/v1/queue/broadcast?broadcast_id={bid}")).await;
    assert_eq!(status["total_chats"], 1000);
    let (sent, failed, pending) = (
        status["sent_chats"].as_u64().unwrap(),
        status["failed_chats"].as_u64().unwrap(),
        status["pending_chats"].as_u64().unwrap(),
    );
    assert_eq!(sent + failed + pending, 1000, "{status}");
    assert_eq!(pending, 1000);
    assert_eq!(status["broadcast_status"], "in_progress");
    assert_eq!(status["message_payload"]["body"], "Hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadcast_substitutes_variables_respects_its_schedule_and_spaces_deliveries() {
    let stack = Stack::start().await;
    // Far enough ahead that a loaded machine still asks before it is due.
    let at = chrono::Utc::now() + chrono::Duration::seconds(8);
    // Stored times have millisecond precision.
    let at = chrono::DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap();
    let bid = broadcast(
        &stack,
        json!({
            "chat_ids": ["919537851811", "919537851812", "919537851813"],
            "message": "Hi {{name}}!",
            "scheduled_at": at.to_rfc3339(),
            "delay": 2,
            "variables": [
                {"chat_id": "919537851811", "values": {"name": "Ana"}},
                {"chat_id": "919537851812", "values": {"name": "Bo"}},
                {"chat_id": "919537851813", "values": {"name": "Cy"}}
            ]
        }),
    )
    .await;
    let (_, status) = get(&stack, &format!("/v1/queue/broadcast?broadcast_id={bid}")).await;
    assert_eq!(status["broadcast_status"], "scheduled", "{status}");
    let (_, jobs) = get(&stack, &format!("/v1/queue/jobs?broadcast_id={bid}")).await;
    let mut delivered = vec![];
    for (i, job) in jobs.as_array().unwrap().iter().enumerate() {
        let queue_id = job["id"].as_str().unwrap();
        let status = stack.wait_for(queue_id, Duration::from_secs(40), |s| s["status"] == "sent").await;
        let (_, message) = get(&stack, &format!("/v1/message/{queue_id}")).await;
        let name = ["Ana", "Bo", "Cy"][i];
        assert_eq!(message["body"], format!("Hi {name}!"), "{message}");
        let due = chrono::DateTime::parse_from_rfc3339(message["scheduled_at"].as_str().unwrap()).unwrap().to_utc();
        assert_eq!((due - at).num_milliseconds(), 2000 * i as i64, "due times are spaced by delay");
        let started = chrono::DateTime::parse_from_rfc3339(status["attempt_log"][0]["started_at"].as_str().unwrap())
            .unwrap()
            .to_utc();
        assert!(started >= due, "delivered at {started} before it was due at {due}");
        delivered.push(started);
    }
    eprintln!(
        "broadcast deliveries, seconds after scheduled_at: {:?}",
        delivered.iter().map(|d| (*d - at).num_milliseconds() as f64 / 1000.0).collect::<Vec<_>>()
    );
    let (_, status) = get(&stack, &format!("/v1/queue/broadcast?broadcast_id={bid}")).await;
    assert_eq!(
        (status["sent_chats"].as_u64(), status["broadcast_status"].as_str()),
        (Some(3), Some("completed")),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_scheduled_seconds_ahead_is_not_delivered_before_it() {
    let stack = Stack::start().await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(2500);
    let queue_id =
        send(&stack, json!({"chat_id": "919537851844", "message": "later", "scheduled_at": at.to_rfc3339()})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let started =
        chrono::DateTime::parse_from_rfc3339(status["attempt_log"][0]["started_at"].as_str().unwrap()).unwrap();
    assert!(started >= at, "started {started}, scheduled {at}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadcast_with_one_bad_chat_id_queues_nothing_and_names_it() {
    let stack = Stack::start_with(no_consumers()).await;
    let (code, answer) = call(
        &stack,
        "local-dev-key",
        Method::POST,
        "/v1/message/broadcast",
        Some(json!({"chat_ids": ["919537851844", "not-a-chat", "919537851845"], "message": "x"})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_error_shape(&answer);
    assert!(answer["message"].as_str().unwrap().contains("chat_ids[1] \"not-a-chat\""), "{answer}");
    let live = Tracking::live_messages(&stack.store(), &LOCAL_ORG.into(), &LOCAL_PHONE_ID.into()).await;
    assert!(live.expect("the phone's live messages").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_queue_ids_and_broadcasts_are_404_on_every_tracking_route() {
    let stack = Stack::start_with(no_consumers()).await;
    let (_, other_key, _) = stack.add_org("15559990002").await;
    let theirs = {
        let (code, answer) = stack.send_as(&other_key, json!({"chat_id": "919537851844", "message": "theirs"})).await;
        assert_eq!(code, StatusCode::OK);
        answer["queue_id"].as_str().unwrap().to_string()
    };
    let (code, answer) = call(
        &stack,
        &other_key,
        Method::POST,
        "/v1/message/broadcast",
        Some(json!({"chat_ids": ["919537851844"], "message": "b"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let their_broadcast = answer["broadcast_id"].as_str().unwrap().to_string();
    for path in [
        format!("/v1/message/{theirs}"),
        format!("/v1/queue/jobs?queue_id={theirs}"),
        format!("/v1/queue/jobs?broadcast_id={their_broadcast}"),
        format!("/v1/queue/broadcast?broadcast_id={their_broadcast}"),
    ] {
        let (code, answer) = get(&stack, &path).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert!(!answer.to_string().contains("919537851844"), "{path} leaks: {answer}");
    }
    assert_eq!(purge(&stack, Some(json!({"queue_id": theirs}))).await, StatusCode::NOT_FOUND);
    assert_eq!(purge(&stack, Some(json!({"broadcast_id": their_broadcast}))).await, StatusCode::NOT_FOUND);
    // Nothing of theirs was touched.
    let (_, status) = stack.get_as(&other_key, &format!("/v1/message/{theirs}/status")).await;
    assert_eq!(status["status"], "queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_takes_a_unique_id_as_well_as_a_queue_id() {
    let stack = Stack::start_with(no_consumers()).await;
    let (code, accepted) = stack.send(json!({"chat_id": "919537851844", "message": "by unique id"})).await;
    assert_eq!(code, StatusCode::OK);
    let unique_id = accepted["unique_id"].as_str().unwrap();
    assert_eq!(purge(&stack, Some(json!({"queue_id": [unique_id]}))).await, StatusCode::NO_CONTENT);
    assert_eq!(stack.status(unique_id).await.1["status"], "cancelled");
}

/// The status-stream consumer reads moto's table stream and keeps the phone's counters: a sent
/// message leaves `pending` and counts as completed in its hour.
#[tokio::test]
async fn the_status_stream_counts_a_sent_message_on_its_phone() {
    use outbox_tests::outbox::domain::ids::{OrgId, PhoneId};
    use outbox_tests::outbox::local::{LOCAL_ORG, LOCAL_PHONE_ID};
    use outbox_tests::outbox::ports::{Clock, Counters, SystemClock};

    let stack = Stack::start().await;
    let queue_id = send(&stack, json!({"chat_id": "919537851844", "message": "counted"})).await;
    stack.wait_for(&queue_id, Duration::from_secs(30), |s| s["status"] == "sent").await;
    let (store, org, phone) = (stack.store(), OrgId::from(LOCAL_ORG), PhoneId::from(LOCAL_PHONE_ID));
    let started = Instant::now();
    loop {
        let counts = store.phone_counts(&org, &phone, SystemClock.now()).await.expect("counters");
        if counts.completed == 1 && counts.pending == 0 && counts.active == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the counters never caught up: {counts:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
