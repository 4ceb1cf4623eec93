//! The edge itself: body checks and validation errors, a dependency down, routing.

use std::sync::atomic::Ordering;

use axum::http::Method;
use base64::Engine as _;

use super::*;
use crate::domain::media::MediaKind;
use crate::ports::StoreError;

#[tokio::test]
async fn a_non_json_content_type_is_unsupported() {
    let app = Harness::new().await;
    let request = Request::post(SEND)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text_to("15550000010").to_string()))
        .expect("request");
    assert_error(&app.call(request).await, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_too_large_and_names_the_upload_endpoint() {
    let app = Harness::with_body_limit(1024).await;
    let body = json!({"chat_id": "15550000010", "message": "x".repeat(2000)}).to_string();
    let declared = send_request(body.clone()).body(Body::from(body.clone())).expect("request");
    // Without Content-Length the limit is enforced while reading.
    let streamed = Request::post(SEND)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    for request in [declared, streamed] {
        let reply = app.call(request).await;
        let error = assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
        assert!(error["message"].as_str().is_some_and(|m| m.contains("POST /v1/media/uploads")), "{error}");
    }
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn json_with_parameters_is_json() {
    let app = Harness::new().await;
    let body = text_to("15550000010").to_string();
    let request = send_request(body.clone()).header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    let reply = app.call(request.body(Body::from(body)).expect("request")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn oversized_media_is_413_and_names_the_upload_endpoint() {
    let app = Harness::with_body_limit(8 * 1024 * 1024).await;
    let filedata = "A".repeat((MediaKind::Image.max_bytes() + 3) / 3 * 4);
    let reply = app.send(image(json!({"filedata": filedata}))).await;
    let error = assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large");
    assert_eq!(error["field"], "media.filedata");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("POST /v1/media/uploads")), "{error}");
    assert!(app.staged_media().is_empty() && app.jobs().is_empty());
}

#[tokio::test]
async fn invalid_bodies_are_400_with_a_code_and_the_field_at_fault() {
    let app = Harness::new().await;
    let png = json!({"type": "image", "filename": "a.png", "mimetype": "image/png"});
    let with_media = |extra: Value| {
        let mut media = png.clone();
        media.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"chat_id": "15550000010", "media": media}).to_string()
    };
    let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "invalid chat_id",
            json!({"chat_id": "+1 555", "message": "hi"}).to_string(),
            "invalid_chat_id",
            Some("chat_id"),
        ),
        ("empty message", json!({"chat_id": "15550000010", "message": ""}).to_string(), "empty_message", None),
        (
            "4097 characters",
            json!({"chat_id": "15550000010", "message": "x".repeat(4097)}).to_string(),
            "message_too_long",
            Some("message"),
        ),
        (
            "bad media type",
            with_media(json!({"type": "sticker", "url": "https://example.com/a.png"})),
            "invalid_media_type",
            Some("media.type"),
        ),
        (
            "url and filedata",
            with_media(json!({"url": "https://example.com/a.png", "filedata": "aGk="})),
            "invalid_media_source",
            Some("media"),
        ),
        ("invalid base64", with_media(json!({"filedata": "not base64!"})), "invalid_base64", Some("media.filedata")),
        (
            "a poll with one option",
            json!({"chat_id": "15550000010", "poll": {"pollName": "Lunch?", "pollOptions": ["Pizza"]}}).to_string(),
            "invalid_poll",
            Some("poll.pollOptions"),
        ),
        (
            "a wrongly typed field",
            r#"{"chat_id": "15550000010", "message": 42}"#.into(),
            "invalid_type",
            Some("message"),
        ),
        ("bad JSON syntax", r#"{"chat_id": "15550000010", "message": "hi""#.into(), "invalid_json", None),
    ];
    for (case, body, code, field) in cases {
        let reply = app.call(send_request(body.clone()).body(Body::from(body)).expect("request")).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert_eq!(error.get("field").and_then(Value::as_str), field, "{case}: {error}");
    }
    assert!(app.jobs().is_empty());
    assert!(app.staged_media().is_empty());
}

// --- dependencies down ---

#[tokio::test]
async fn an_enqueue_failure_is_503_with_retry_after_and_records_nothing() {
    let app = Harness::new().await;
    app.queue.fail_enqueue.store(true, Ordering::Relaxed);
    // Inline media, so the staged key tells the queue_id.
    let filedata = base64::engine::general_purpose::STANDARD.encode(b"bytes");
    let reply = app.send(image(json!({"filedata": filedata}))).await;

    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(reply.headers.get(header::RETRY_AFTER).is_some(), "{:?}", reply.headers);
    // The job goes first: without it nothing is recorded, so no record claims a queued job.
    assert!(app.record(&app.org, &app.queue_id_of_staged_media()).await.is_none());
}

#[tokio::test]
async fn a_write_the_store_refuses_as_too_large_is_a_400_not_a_503() {
    let app = Harness::new().await;
    let too_large =
        StoreError::rejected("DynamoDB: Item size has exceeded the maximum allowed size", "ValidationException");
    app.store.inject_fault("create", 0, 1, too_large);
    let reply = app.send(text_to("15550000010")).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("Item size has exceeded"), "{body}");
    assert!(reply.headers.get(header::RETRY_AFTER).is_none());
    // Its job went out first and finds no record: the consumer drops it (`deliver::tests::stranded`).
    let job = crate::domain::job::Job::decode(&app.jobs()[0]).expect("a job");
    assert!(job.record_by.is_some() && app.record(&app.org, &job.queue_id).await.is_none());
    // An outage is still a 503 to retry.
    app.store.inject_fault("create", 0, 1, StoreError::unavailable("PutItem", "timed out"));
    assert_error(&app.send(text_to("15550000010")).await, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
}

// --- routing ---

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = Harness::new().await;
    for authorization in [None, Some(format!("Bearer {KEY}"))] {
        let mut request = Request::get("/v1/no/such/route");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        assert_error(
            &app.call(request.body(Body::empty()).expect("request")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = Harness::new().await;
    for (method, path) in
        [(Method::GET, SEND.to_string()), (Method::DELETE, format!("/v1/message/{}/status", uuid::Uuid::new_v4()))]
    {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .body(Body::empty())
            .expect("request");
        let reply = app.call(request).await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert!(reply.headers.contains_key(header::ALLOW), "{:?}", reply.headers);
    }
}

#[tokio::test]
async fn a_message_id_that_is_not_utf8_gets_a_json_error() {
    let app = Harness::new().await;
    let reply = app.status_of(KEY, "%FF").await;
    assert!(matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND), "{}", reply.text);
    assert_error_shape(&reply);
}

#[tokio::test]
async fn health_answers_without_a_key() {
    let app = Harness::new().await;
    for path in ["/health", "/v1/health"] {
        let reply = app.call(Request::get(path).body(Body::empty()).expect("request")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    }
}

// --- logs ---

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_requests_log_lines_carry_its_org_route_and_queue_id() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    // The test runtime is single-threaded, so the request runs under this thread's subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = Harness::new().await;
    app.queue.fail_enqueue.store(true, Ordering::Relaxed);
    assert_eq!(app.send(text_to("15550000010")).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("UTF-8 logs");
    let line =
        text.lines().find(|line| line.contains("could not accept a message")).unwrap_or_else(|| panic!("{text}"));
    for field in ["org_id=org-a", "route=/v1/message/send", "queue_id=", "simulated outage"] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}
