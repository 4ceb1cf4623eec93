//! `GET /v1/message/{id}/status`: by either id, its shape, attempts, and org isolation.

use std::sync::atomic::Ordering;

use base64::Engine as _;

use super::*;
use crate::ports::AttemptResult;

#[tokio::test]
async fn status_by_queue_id_has_the_contracts_shape() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let reply = app.status_of(KEY, &record.queue_id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        keys(&body),
        BTreeSet::from([
            "unique_id",
            "queue_id",
            "chat_id",
            "status",
            "status_description",
            "attempts",
            "attempt_log",
            "timeline"
        ])
    );
    assert_eq!(body["unique_id"], record.unique_id.as_str());
    assert_eq!(body["queue_id"], record.queue_id.as_str());
    assert_eq!(body["chat_id"], "15550000010@c.us");
    assert_eq!(body["status"], "queued");
    assert!(body["status_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_eq!((&body["attempts"], &body["attempt_log"]), (&json!(0), &json!([])));
    assert_eq!(keys(&body["timeline"]), BTreeSet::from(["queued_at"]));
    assert_eq!(body["timeline"]["queued_at"], app.now().to_string());
}

#[tokio::test]
async fn status_by_unique_id_finds_the_same_message() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let by_unique_id = app.status_of(KEY, &record.unique_id).await;
    let by_queue_id = app.status_of(KEY, &record.queue_id).await;
    assert_eq!(by_unique_id.status, StatusCode::OK, "{}", by_unique_id.text);
    assert_eq!(by_unique_id.json(), by_queue_id.json());
}

#[tokio::test]
async fn status_of_a_retried_then_sent_message_shows_its_attempts_message_id_and_sent_at() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let (org, queue_id) = (&app.org, &record.queue_id);
    let at = |seconds: u32| Timestamp::parse(&format!("2030-01-01T00:00:{seconds:02}.000Z")).expect("a time");
    app.store.begin_attempt(org, queue_id, None, at(1), at(31)).await.expect("memory store");
    let retry = AttemptResult::Retry { error: "provider timed out".into() };
    assert!(app.store.finish_attempt(org, queue_id, 1, retry, at(2)).await.expect("memory store"));
    app.store.begin_attempt(org, queue_id, None, at(3), at(33)).await.expect("memory store");
    let sent = AttemptResult::Sent { provider_message_id: "wamid.123".into(), findable: true };
    assert!(app.store.finish_attempt(org, queue_id, 2, sent, at(4)).await.expect("memory store"));

    let body = app.status_of(KEY, queue_id.as_str()).await.json();
    assert_eq!(
        (&body["status"], &body["message_id"], &body["attempts"]),
        (&json!("sent"), &json!("wamid.123"), &json!(2))
    );
    assert_eq!(body["timeline"]["sent_at"], at(4).to_string());
    let log = body["attempt_log"].as_array().expect("an attempt_log array");
    assert_eq!(log.len(), 2, "{body}");
    assert_eq!(
        (&log[0]["attempt"], &log[0]["started_at"], &log[0]["outcome"]),
        (&json!(1), &json!(at(1).to_string()), &json!("transient_error"))
    );
    assert_eq!(log[0]["error"], "provider timed out");
    assert_eq!((&log[1]["attempt"], &log[1]["outcome"]), (&json!(2), &json!("sent")));
}

#[tokio::test]
async fn an_unqueued_message_is_not_found_and_its_answer_does_not_expose_the_queue_error() {
    let app = Harness::new().await;
    app.queue.fail_enqueue.store(true, Ordering::Relaxed);
    let filedata = base64::engine::general_purpose::STANDARD.encode(b"bytes");
    let sent = app.send(image(json!({"filedata": filedata}))).await;
    assert!(!sent.text.contains("simulated outage"), "{}", sent.text);
    let reply = app.status_of(KEY, app.queue_id_of_staged_media().as_str()).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn another_orgs_message_is_not_found_by_either_id() {
    let app = Harness::new().await;
    app.add_org_b().await;
    let record = app.accepted(json!({"chat_id": "15550000010", "message": "for org A's eyes only"})).await;
    for id in [record.queue_id.as_str(), record.unique_id.as_str()] {
        let reply = app.status_of("obx_test_key_of_org_b", id).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        for data in ["15550000010", "for org A's eyes only", "queued", app.org.as_str()] {
            assert!(!reply.text.contains(data), "{id}: {}", reply.text);
        }
    }
}

#[tokio::test]
async fn an_unknown_message_id_is_not_found() {
    let app = Harness::new().await;
    for id in [uuid::Uuid::new_v4().to_string(), "3EB0000000000000000000".to_string()] {
        assert_error(&app.status_of(KEY, &id).await, StatusCode::NOT_FOUND, "not_found");
    }
}
