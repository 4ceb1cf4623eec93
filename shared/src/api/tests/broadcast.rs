//! `POST /v1/message/broadcast` and `GET /v1/queue/broadcast`: records and jobs per chat, spacing,
//! and a scheduled broadcast's status as the clock moves.

use std::time::Duration;

use axum::http::Method;

use super::*;
use crate::domain::job::Job;
use crate::ports::{EnqueueState, StoreError};

const BROADCAST: &str = "/v1/message/broadcast";

async fn create(app: &Harness, body: Value) -> String {
    let reply = app.json(Method::POST, BROADCAST, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["broadcast_id"].as_str().expect("a broadcast_id").to_string()
}

#[tokio::test]
async fn a_scheduled_broadcast_queues_one_spaced_job_per_chat_and_reports_scheduled_until_due() {
    let app = Harness::new().await;
    let at = app.now().plus(Duration::from_secs(600));
    let id = create(
        &app,
        json!({"chat_ids": ["15550000010", "15550000011"], "message": "Hi {{name}}", "delay": 5,
               "scheduled_at": at.to_string(),
               "variables": [{"chat_id": "15550000010", "values": {"name": "Ana"}},
                             {"chat_id": "15550000011", "values": {"name": "Bo"}}]}),
    )
    .await;
    let due: Vec<Option<i64>> = app.jobs().iter().map(|j| Job::decode(j).expect("a job").due_at).collect();
    assert_eq!(due, [Some(at.epoch_secs_ceil()), Some(at.plus(Duration::from_secs(5)).epoch_secs_ceil())]);

    let status = app.get(KEY, &format!("/v1/queue/broadcast?broadcast_id={id}")).await.json();
    assert_eq!((status["total_chats"].as_u64(), status["pending_chats"].as_u64()), (Some(2), Some(2)));
    assert_eq!(status["broadcast_status"], "scheduled");
    app.clock.advance(Duration::from_secs(601));
    let status = app.get(KEY, &format!("/v1/queue/broadcast?broadcast_id={id}")).await.json();
    assert_eq!(status["broadcast_status"], "in_progress");

    let jobs = app.get(KEY, &format!("/v1/queue/jobs?broadcast_id={id}")).await.json();
    let bodies: Vec<&str> =
        jobs.as_array().expect("jobs").iter().map(|j| j["data"]["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Hi Ana", "Hi Bo"]);
}

#[tokio::test]
async fn a_broadcasts_records_expire_retention_after_their_own_due_time() {
    let app = Harness::new().await;
    let retention = app.accepted(text_to("15550000010")).await.expires_at - app.now().epoch_secs();
    let at = app.now().plus(Duration::from_secs(86_400));
    let chats = ["15550000010", "15550000011", "15550000012"];
    let id =
        create(&app, json!({"chat_ids": chats, "message": "hi", "delay": 3600, "scheduled_at": at.to_string()})).await;
    let broadcast_id = crate::domain::ids::BroadcastId::from(id.as_str());
    let messages = app
        .store
        .broadcast_messages(
            &app.store.get_broadcast(&app.org, &broadcast_id).await.expect("memory store").expect("recorded"),
        )
        .await
        .expect("memory store");
    let expiries: Vec<i64> = messages.iter().map(|m| m.expires_at - m.due().epoch_secs()).collect();
    assert_eq!(expiries, [retention; 3]);
    let last_due = at.plus(Duration::from_secs(2 * 3600)).epoch_secs();
    assert_eq!(messages[2].expires_at, last_due + retention);
    let summary = app.store.get_broadcast(&app.org, &broadcast_id).await.expect("memory store").expect("a broadcast");
    assert_eq!(summary.expires_at, last_due + retention);
}

#[tokio::test]
async fn a_broadcast_whose_last_chat_is_due_past_the_horizon_is_refused() {
    let app = Harness::new().await;
    let at = app.now().plus(Duration::from_secs(29 * 86_400));
    // 26 chats an hour apart from 29 days ahead: the last is due 30 days and 1 hour ahead.
    let chats: Vec<String> = (0..26).map(|i| format!("155500000{i:02}")).collect();
    let reply = app
        .json(
            Method::POST,
            BROADCAST,
            json!({"chat_ids": chats, "message": "hi", "delay": 3600, "scheduled_at": at.to_string()}),
        )
        .await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_delay");
    assert!(body["message"].as_str().unwrap().contains("30 days ahead"), "{body}");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn a_bad_chat_id_queues_nothing() {
    let app = Harness::new().await;
    let reply = app.json(Method::POST, BROADCAST, json!({"chat_ids": ["15550000010", "nope"], "message": "hi"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_chat_ids");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn another_orgs_broadcast_is_not_found() {
    let app = Harness::new().await;
    app.add_org_b().await;
    let id = create(&app, json!({"chat_ids": ["15550000010"], "message": "hi"})).await;
    let reply = app.get("obx_test_key_of_org_b", &format!("/v1/queue/broadcast?broadcast_id={id}")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_failed_summary_write_is_retried_and_the_broadcast_is_accepted() {
    let app = Harness::new().await;
    // The first write (`queuing`) goes through; the final one fails once, then succeeds.
    app.store.inject_fault("put_broadcast", 1, 1, StoreError::unavailable("PutItem", "throttled"));
    let id = create(&app, json!({"chat_ids": ["15550000010", "15550000011"], "message": "hi"})).await;
    let summary = app
        .store
        .get_broadcast(&app.org, &crate::domain::ids::BroadcastId::from(id.as_str()))
        .await
        .expect("memory store")
        .expect("a summary");
    assert_eq!((summary.state, summary.queued_chats), (EnqueueState::Queued, 2));
}

#[tokio::test]
async fn a_broadcast_whose_summary_cannot_be_finished_is_accepted_once_and_settled_by_its_reader() {
    let app = Harness::new().await;
    app.store.inject_fault("put_broadcast", 1, 100, StoreError::unavailable("PutItem", "down"));
    let at = app.now().plus(Duration::from_secs(3600));
    let body = json!({"chat_ids": ["15550000010", "15550000011"], "message": "hi", "scheduled_at": at.to_string()});
    let keyed = |body: &Value| {
        Request::post(BROADCAST)
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", "campaign-7")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let first = app.call(keyed(&body)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(app.jobs().len(), 2);
    // The client's retry replays the answer: nothing is sent twice.
    let again = app.call(keyed(&body)).await;
    assert_eq!((again.status, again.text.as_str()), (StatusCode::OK, first.text.as_str()));
    assert_eq!(app.jobs().len(), 2);

    // The summary still says `queuing`: while its request may be running, it reads in progress;
    // after the API's timeout, the reader settles it from the records.
    let id = first.json()["broadcast_id"].as_str().expect("a broadcast_id").to_string();
    let path = format!("/v1/queue/broadcast?broadcast_id={id}");
    assert_eq!(app.get(KEY, &path).await.json()["broadcast_status"], "in_progress");
    app.clock.advance(LEASE + Duration::from_secs(1));
    let settled = app.get(KEY, &path).await.json();
    assert_eq!((settled["broadcast_status"].as_str(), settled["pending_chats"].as_u64()), (Some("scheduled"), Some(2)));
}

#[tokio::test]
async fn a_broadcast_whose_records_cannot_be_written_after_its_jobs_leaves_no_queued_record() {
    let app = Harness::new().await;
    app.store.inject_fault("create_many", 0, 1, StoreError::unavailable("BatchWriteItem", "the API died here"));
    let reply =
        app.json(Method::POST, BROADCAST, json!({"chat_ids": ["15550000010", "15550000011"], "message": "hi"})).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    // The jobs went first and wait for records that never come; the consumer drops them
    // (`deliver::tests::stranded`). No record claims a job.
    let jobs: Vec<Job> = app.jobs().iter().map(|j| Job::decode(j).expect("a job")).collect();
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        assert!(job.record_by.is_some() && app.record(&app.org, &job.queue_id).await.is_none());
    }
}
