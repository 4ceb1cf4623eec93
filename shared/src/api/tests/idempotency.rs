//! `Idempotency-Key`: a retry gets the first answer, a different request a 409, a failure frees the key.

use std::sync::atomic::Ordering;

use super::*;
use crate::domain::message::Status;

async fn send_keyed(h: &Harness, idempotency_key: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
    let request = Request::post("/v1/message/send")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", idempotency_key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(h.state.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_enqueues_once() {
    let h = Harness::new().await;
    let body = json!({"chat_id": "919537851844", "message": "once"});
    let (first_status, _, first) = send_keyed(&h, "order-1", body.clone()).await;
    assert_eq!(first_status, StatusCode::OK);
    // Key order and white space do not make a different request.
    let reordered = json!({"message": "once", "chat_id": "919537851844"});
    let (second_status, headers, second) = send_keyed(&h, "order-1", reordered).await;
    assert_eq!(second_status, StatusCode::OK);
    assert_eq!(second, first);
    assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(h.queue.jobs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_409() {
    let h = Harness::new().await;
    send_keyed(&h, "order-2", json!({"chat_id": "919537851844", "message": "a"})).await;
    let (status, _, answer) = send_keyed(&h, "order-2", json!({"chat_id": "919537851844", "message": "b"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["code"], "idempotency_key_reused");
    assert_eq!(h.queue.jobs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_request_that_fails_validation_does_not_consume_its_key() {
    let h = Harness::new().await;
    let (status, _, _) = send_keyed(&h, "order-3", json!({"chat_id": "nope", "message": "a"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send_keyed(&h, "order-3", json!({"chat_id": "919537851844", "message": "a"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, answer) =
        send_keyed(&h, "bad key with spaces", json!({"chat_id": "919537851844", "message": "a"})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key")));
}

#[tokio::test]
async fn a_failed_enqueue_releases_the_key_for_the_retry() {
    let h = Harness::new().await;
    h.queue.fail_enqueue.store(true, Ordering::SeqCst);
    let body = json!({"chat_id": "919537851844", "message": "retry me"});
    let (status, _, _) = send_keyed(&h, "order-4", body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    h.queue.fail_enqueue.store(false, Ordering::SeqCst);
    let (status, _, _) = send_keyed(&h, "order-4", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.queue.jobs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_send_whose_answer_cannot_be_kept_still_answers_200_and_its_retry_waits_for_the_lease() {
    let h = Harness::new().await;
    h.idempotency.fail_complete.store(true, Ordering::SeqCst);
    let body = json!({"chat_id": "919537851844", "message": "accepted once"});
    let (status, _, answer) = send_keyed(&h, "order-5", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let queue_id = QueueId::from(answer["queue_id"].as_str().expect("the work's queue_id"));
    assert_eq!(h.record(&h.org, &queue_id).await.expect("recorded").status, Status::Queued);
    h.idempotency.fail_complete.store(false, Ordering::SeqCst);
    // The claim holds for the lease, then the same request may run again (at least once).
    h.clock.advance(LEASE + std::time::Duration::from_secs(1));
    let (status, headers, _) = send_keyed(&h, "order-5", body).await;
    assert_eq!((status, headers.get("idempotent-replayed")), (StatusCode::OK, None));
    assert_eq!(h.queue.jobs.lock().unwrap().len(), 2);
}
