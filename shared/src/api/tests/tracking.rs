//! The tracking surface: the message object, queue jobs, queue health and purge.

use axum::http::Method;

use super::*;
use crate::domain::message::Status;

#[tokio::test]
async fn the_message_object_has_periskopes_fields() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let body = app.get(KEY, &format!("/v1/message/{}", record.unique_id)).await.json();
    assert_eq!(body["queue_id"], record.queue_id.as_str());
    assert_eq!((&body["type"], &body["status"], &body["from_me"]), (&json!("text"), &json!("queued"), &json!(true)));
    assert_eq!(body["timestamp"], app.now().to_string());
}

#[tokio::test]
async fn a_job_shows_its_status_in_periskopes_words_and_epoch_milliseconds() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let jobs = app.get(KEY, &format!("/v1/queue/jobs?queue_id={}", record.queue_id)).await.json();
    assert_eq!(jobs[0]["id"], record.queue_id.as_str());
    assert_eq!(jobs[0]["status"], "waiting");
    assert_eq!(jobs[0]["addedTimestamp"], app.now().epoch_millis());
    let reply = app.get(KEY, "/v1/queue/jobs").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "missing_field");
}

#[tokio::test]
async fn queue_health_counts_the_phones_messages_and_a_purge_cancels_the_queued_ones() {
    let app = Harness::new().await;
    let first = app.accepted(text_to("15550000010")).await;
    let second = app.accepted(text_to("15550000011")).await;
    let health = app.get(KEY, "/v1/queue").await.json();
    assert_eq!((health["pending"].as_u64(), health["active"].as_u64()), (Some(2), Some(0)));

    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": [first.unique_id.as_str()]})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let purged = app.record(&app.org, &first.queue_id).await.expect("a record");
    assert_eq!((purged.status, purged.timeline.cancelled_at), (Status::Cancelled, Some(app.now())));
    assert_eq!(app.record(&app.org, &second.queue_id).await.expect("a record").status, Status::Queued);

    let health = app.get(KEY, "/v1/queue").await.json();
    assert_eq!((health["pending"].as_u64(), health["failed"].as_u64()), (Some(1), Some(1)));
    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": "3EB0000000000000000000"})).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_purge_list_names_1_to_1000_ids() {
    let app = Harness::new().await;
    let queued = app.accepted(text_to("15550000010")).await;
    let mut ids = vec![json!(queued.queue_id.as_str()); 1001];
    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": ids})).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_queue_ids");
    assert!(body["message"].as_str().unwrap().contains("1 to 1000"), "{body}");
    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": []})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_queue_ids");
    assert_eq!(app.record(&app.org, &queued.queue_id).await.expect("a record").status, Status::Queued);
    ids.truncate(1000);
    let mut with_empty = ids.clone();
    with_empty[7] = json!(" ");
    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": with_empty})).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_queue_ids");
    assert_eq!(body["field"], "queue_id[7]");
    let reply = app.json(Method::DELETE, "/v1/queue/purge", json!({"queue_id": ids})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(app.record(&app.org, &queued.queue_id).await.expect("a record").status, Status::Cancelled);
}

#[tokio::test]
async fn queue_health_counts_dead_letters_from_the_phones_counters_only() {
    use crate::domain::counters::{Changes, Counter, CounterItem, StreamSpan};
    use crate::ports::Counters;

    let app = Harness::new().await;
    assert_eq!(app.get(KEY, "/v1/queue").await.json()["dead_letter"], 0);
    // What the status stream adds for two dead letters of this phone and one of another org's.
    let mut changes = Changes::default();
    let mine = CounterItem::Phone { org: app.org.clone(), phone: PHONE_ID.into() };
    changes.add(&mine, Counter::DeadLetter, 2);
    changes.add(&CounterItem::Phone { org: "org-b".into(), phone: PHONE_ID.into() }, Counter::DeadLetter, 1);
    let span = StreamSpan { shard: "s".into(), window_start: app.now(), first: "1".into(), last: "2".into() };
    app.store.add(&span, &changes, app.now()).await.expect("memory store");
    assert_eq!(app.get(KEY, "/v1/queue").await.json()["dead_letter"], 2);
}
