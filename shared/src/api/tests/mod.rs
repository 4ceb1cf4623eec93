//! Handler tests with in-memory ports: the whole router, driven one request at a time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ApiPorts, ApiSettings, AppState, router};
use crate::adapters::memory::{MemoryIdempotency, MemoryMedia, MemoryQueue, MemoryRateCounter, MemoryStore};
use crate::domain::clock::parse_rfc3339;
use crate::domain::job::Job;
use crate::domain::media::MediaKind;
use crate::domain::message::{MessageRecord, Status};
use crate::domain::tenant::{NewApiKey, OrgId, Phone, ProviderSettings};
use crate::enqueue::{Enqueuer, QueueDepth};
use crate::ports::{AttemptResult, StatusStore, TenantStore};

const SEND: &str = "/v1/message/send";
const KEY: &str = "obx_test_key_of_org_a";
const NUMBER: &str = "15550100000";
const PHONE_ID: &str = "phone-a";
const NOW: &str = "2025-01-01T00:00:00.000Z";
/// Roomy enough for a 4097-character message; the size tests use a smaller limit.
const BODY_LIMIT: usize = 64 * 1024;

/// The router over fresh in-memory ports, with org A (key `KEY`, one phone) seeded.
struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    media: Arc<MemoryMedia>,
    state: AppState,
    org: OrgId,
}

impl Harness {
    async fn new() -> Harness {
        Harness::with_body_limit(BODY_LIMIT).await
    }

    async fn with_body_limit(max_body_bytes: usize) -> Harness {
        let store = Arc::new(MemoryStore::default());
        let queue = Arc::new(MemoryQueue::default());
        let media = Arc::new(MemoryMedia::default());
        let enqueuer = Enqueuer {
            store: store.clone(),
            queue: queue.clone(),
            media: media.clone(),
            retention: Duration::from_secs(3600),
            depth: Arc::new(QueueDepth::new(Duration::ZERO)),
        };
        // A zero TTL caches nothing, so every request sees the store as the test left it.
        let ports = ApiPorts {
            store: store.clone(),
            tenants: store.clone(),
            idempotency: Arc::new(MemoryIdempotency::default()),
            rate_counter: Arc::new(MemoryRateCounter::default()),
            tracking: store.clone(),
        };
        let settings =
            ApiSettings { max_body_bytes, auth_cache_ttl: Duration::ZERO, rate_limit_per_minute: Some(1000) };
        let state = AppState::new(ports, enqueuer, settings);
        let harness = Harness { store, queue, media, state, org: OrgId::from("org-a".to_string()) };
        harness.add_key(&harness.org, KEY).await;
        harness.add_phone(&harness.org, NUMBER, PHONE_ID).await;
        harness
    }

    async fn add_key(&self, org: &OrgId, secret: &str) -> NewApiKey {
        let key = NewApiKey::from_secret(secret.to_string(), org.clone(), None, NOW);
        self.store.put_api_key(&key.hash, &key.record).await.expect("memory store");
        key
    }

    async fn add_phone(&self, org: &OrgId, number: &str, phone_id: &str) {
        let phone = Phone {
            org_id: org.clone(),
            phone_id: phone_id.into(),
            number: number.into(),
            provider: ProviderSettings::Sandbox,
            created_at: NOW.into(),
        };
        self.store.put_phone(&phone).await.expect("memory store");
    }

    /// A second org, B, with its own key and one phone.
    async fn add_org_b(&self) -> OrgId {
        let org = OrgId::from("org-b-secret-id".to_string());
        self.add_key(&org, "obx_test_key_of_org_b").await;
        self.add_phone(&org, "15550199999", "phone-b").await;
        org
    }

    async fn call(&self, request: Request<Body>) -> Reply {
        let response = router(self.state.clone()).oneshot(request).await.expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("an in-memory body").to_bytes();
        Reply { status, headers, text: String::from_utf8(bytes.to_vec()).expect("a UTF-8 body") }
    }

    async fn send(&self, body: Value) -> Reply {
        self.call(send_request(body.to_string()).body(Body::from(body.to_string())).expect("request")).await
    }

    async fn send_from(&self, x_phone: &str, body: Value) -> Reply {
        let request = send_request(body.to_string()).header("x-phone", x_phone);
        self.call(request.body(Body::from(body.to_string())).expect("request")).await
    }

    async fn status_of(&self, key: &str, id: &str) -> Reply {
        let request =
            Request::get(format!("/v1/message/{id}/status")).header(header::AUTHORIZATION, format!("Bearer {key}"));
        self.call(request.body(Body::empty()).expect("request")).await
    }

    /// Sends a text as org A and returns the record the API stored.
    async fn accepted(&self, body: Value) -> MessageRecord {
        let reply = self.send(body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let queue_id = reply.json()["queue_id"].as_str().expect("a queue_id").to_string();
        self.record(&self.org, &queue_id).await.expect("a stored record")
    }

    async fn record(&self, org: &OrgId, queue_id: &str) -> Option<MessageRecord> {
        self.store.get(org, queue_id).await.expect("memory store")
    }

    fn jobs(&self) -> Vec<String> {
        self.queue.jobs.lock().expect("lock").clone()
    }

    /// The queue_id in the one staged media key: the only trace of a send that was not accepted.
    fn queue_id_of_staged_media(&self) -> String {
        let staged = self.staged_media();
        assert_eq!(staged.len(), 1, "{staged:?}");
        staged[0].0.split('/').nth(2).expect("media/{org}/{queue_id}/{file}").to_string()
    }

    fn staged_media(&self) -> Vec<(String, Vec<u8>, String)> {
        let objects = self.media.objects.lock().expect("lock");
        objects.iter().map(|(key, (bytes, content_type))| (key.clone(), bytes.clone(), content_type.clone())).collect()
    }
}

/// `POST /v1/message/send` as org A, JSON, with the body's length declared.
fn send_request(body: String) -> axum::http::request::Builder {
    Request::post(SEND)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
}

fn text_to(chat_id: &str) -> Value {
    json!({"chat_id": chat_id, "message": "Hello from the handler tests"})
}

fn image(source: Value) -> Value {
    let mut media = json!({"type": "image", "filename": "photo.png", "mimetype": "image/png"});
    media.as_object_mut().expect("an object").extend(source.as_object().expect("an object").clone());
    json!({"chat_id": "15550000010", "message": "a photo", "media": media})
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text))
    }
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().expect("a JSON object").keys().map(String::as_str).collect()
}

/// The contract's error shape, with the expected status and code.
#[track_caller]
fn assert_error(reply: &Reply, status: StatusCode, code: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    let body = assert_error_shape(reply);
    assert_eq!(body["code"], code, "{body}");
    body
}

/// Any error: JSON with a snake_case `code`, a non-empty `message`, and `field` only as a non-empty string.
#[track_caller]
fn assert_error_shape(reply: &Reply) -> Value {
    let content_type = reply.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content-type {content_type:?}: {}", reply.text);
    let body = reply.json();
    let code = body["code"].as_str().unwrap_or_else(|| panic!("no code: {body}"));
    assert!(
        code.starts_with(|c: char| c.is_ascii_lowercase())
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "code {code:?} is not snake_case"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.trim().is_empty()), "no message: {body}");
    assert!(keys(&body).is_subset(&BTreeSet::from(["code", "message", "field"])), "unexpected keys: {body}");
    if let Some(field) = body.get("field") {
        assert!(field.as_str().is_some_and(|f| !f.is_empty()), "field must be a non-empty string: {body}");
    }
    body
}

// --- POST /v1/message/send: success ---

#[tokio::test]
async fn a_text_send_answers_queued_with_exactly_the_contracts_fields() {
    let app = Harness::new().await;
    let reply = app.send(text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["status", "queue_id", "queue_position", "unique_id", "track_by", "hint"]));
    assert_eq!(body["status"], "queued");
    let queue_id = body["queue_id"].as_str().expect("a string queue_id");
    assert!(uuid::Uuid::parse_str(queue_id).is_ok(), "{queue_id}");
    assert!(body["queue_position"].is_u64(), "{body}");
    let unique_id = body["unique_id"].as_str().expect("a string unique_id");
    assert!(!unique_id.is_empty() && unique_id != queue_id);
    assert_eq!(keys(&body["track_by"]), BTreeSet::from(["unique_id", "queue_id"]));
    assert_eq!(body["track_by"]["unique_id"], format!("GET /message/{unique_id}/status"));
    assert_eq!(body["track_by"]["queue_id"], format!("GET /queue/jobs?queue_id={queue_id}"));
    assert!(body["hint"].as_str().is_some_and(|hint| hint.contains(unique_id)), "{body}");
}

#[tokio::test]
async fn a_text_send_enqueues_one_small_job_without_the_text() {
    let app = Harness::new().await;
    let text = "a secret text that must stay out of the queue";
    let body = app.send(json!({"chat_id": "15550000010", "message": text})).await.json();
    let jobs = app.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].len() < 200, "{}", jobs[0]);
    assert!(!jobs[0].contains(text) && !jobs[0].contains("15550000010"), "{}", jobs[0]);
    let job = Job::decode(&jobs[0]).expect("a decodable job");
    assert_eq!(
        (job.org_id, job.queue_id.as_str(), job.phone_id.as_str()),
        (app.org.clone(), body["queue_id"].as_str().unwrap(), PHONE_ID)
    );
}

#[tokio::test]
async fn a_text_send_stores_a_queued_record() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    assert_eq!(record.status, Status::Queued);
    assert_eq!((record.attempts, record.attempt_log.len()), (0, 0));
    assert_eq!(record.chat_id.as_str(), "15550000010@c.us");
    assert_eq!(record.text.as_deref(), Some("Hello from the handler tests"));
    assert_eq!(record.phone_id, PHONE_ID);
    assert!(parse_rfc3339(&record.timeline.queued_at).is_some(), "{:?}", record.timeline);
}

#[tokio::test]
async fn queue_position_counts_the_jobs_ahead() {
    let app = Harness::new().await;
    let first = app.send(text_to("15550000010")).await.json();
    let second = app.send(text_to("15550000011")).await.json();
    assert_eq!((first["queue_position"].as_u64(), second["queue_position"].as_u64()), (Some(0), Some(1)));
}

// --- x-phone ---

#[tokio::test]
async fn x_phone_selects_the_sending_phone_by_number() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send_from("15550100001", text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let record = app.record(&app.org, reply.json()["queue_id"].as_str().unwrap()).await.expect("record");
    assert_eq!(record.phone_id, "phone-a2");
}

#[tokio::test]
async fn x_phone_selects_the_sending_phone_by_phone_id() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send_from("phone-a2", text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let job = Job::decode(&app.jobs()[0]).expect("job");
    assert_eq!(job.phone_id, "phone-a2");
}

#[tokio::test]
async fn without_x_phone_the_orgs_only_phone_sends() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    assert_eq!(record.phone_id, PHONE_ID);
}

#[tokio::test]
async fn an_unknown_phone_is_not_found() {
    let app = Harness::new().await;
    let reply = app.send_from("15559999999", text_to("15550000010")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn another_orgs_phone_is_not_found_and_not_revealed() {
    let app = Harness::new().await;
    let org_b = app.add_org_b().await;

    let by_id = app.send_from("phone-b", text_to("15550000010")).await;
    let body = assert_error(&by_id, StatusCode::NOT_FOUND, "not_found");
    assert!(!by_id.text.contains(org_b.as_str()) && !by_id.text.contains("15550199999"), "{body}");

    // By number: the same answer as for a number nobody has (the caller's own selector is echoed).
    let theirs = app.send_from("15550199999", text_to("15550000010")).await;
    let nobodys = app.send_from("15550188888", text_to("15550000010")).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "not_found");
    assert!(!theirs.text.contains(org_b.as_str()) && !theirs.text.contains("phone-b"), "{}", theirs.text);
    assert_eq!(theirs.text.replace("15550199999", "N"), nobodys.text.replace("15550188888", "N"));
    assert!(app.jobs().is_empty());
}

#[tokio::test]

async fn an_x_phone_that_is_not_text_names_no_phone() {
    let app = Harness::new().await;
    let body = text_to("15550000010").to_string();
    let request =
        send_request(body.clone()).header("x-phone", HeaderValue::from_bytes(b"1555\xff").expect("a header value"));
    let reply = app.call(request.body(Body::from(body)).expect("request")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn two_phones_and_no_x_phone_is_phone_required() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send(text_to("15550000010")).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "phone_required");
    assert_eq!(body["field"], "x-phone");
    assert!(app.jobs().is_empty());
}

// --- media ---

#[tokio::test]
async fn base64_media_is_staged_and_only_referenced() {
    let app = Harness::new().await;
    let bytes = b"OUTBOX-TEST-IMAGE-BYTES-0123456789".to_vec();
    let filedata = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let record = app.accepted(image(json!({"filedata": filedata}))).await;

    let staged = app.staged_media();
    assert_eq!(staged.len(), 1);
    let (key, stored, content_type) = &staged[0];
    assert!(key.starts_with(&format!("media/{}/{}/", app.org, record.queue_id)), "{key}");
    assert_eq!((stored, content_type.as_str()), (&bytes, "image/png"));

    let media = record.media.as_ref().expect("media on the record");
    assert_eq!(
        (media.s3_key.as_deref(), media.url.as_deref(), media.size),
        (Some(key.as_str()), None, Some(bytes.len() as u64))
    );
    let record_json = serde_json::to_string(&record).expect("serialisable");
    let job = &app.jobs()[0];
    for leak in [&filedata, "OUTBOX-TEST-IMAGE-BYTES"] {
        assert!(!record_json.contains(leak), "record holds {leak}: {record_json}");
        assert!(!job.contains(leak), "job holds {leak}: {job}");
    }
}

#[tokio::test]
async fn url_media_is_recorded_as_the_url_and_not_staged() {
    let app = Harness::new().await;
    let record = app.accepted(image(json!({"url": "https://example.com/photo.png"}))).await;
    let media = record.media.expect("media on the record");
    assert_eq!((media.url.as_deref(), media.s3_key, media.size), (Some("https://example.com/photo.png"), None, None));
    assert!(app.staged_media().is_empty());
}

// --- GET /v1/message/{id}/status ---

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
    assert!(body["timeline"]["queued_at"].as_str().and_then(parse_rfc3339).is_some(), "{body}");
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
    let (org, queue_id) = (&app.org, record.queue_id.as_str());
    let at = |seconds: u32| format!("2030-01-01T00:00:{seconds:02}.000Z");
    app.store.begin_attempt(org, queue_id, &at(1), &at(31)).await.expect("memory store");
    let retry = AttemptResult::Retry { error: "provider timed out".into() };
    assert!(app.store.finish_attempt(org, queue_id, 1, retry, &at(2)).await.expect("memory store"));
    app.store.begin_attempt(org, queue_id, &at(3), &at(33)).await.expect("memory store");
    let sent = AttemptResult::Sent { provider_message_id: "wamid.123".into() };
    assert!(app.store.finish_attempt(org, queue_id, 2, sent, &at(4)).await.expect("memory store"));

    let body = app.status_of(KEY, queue_id).await.json();
    assert_eq!(
        (&body["status"], &body["message_id"], &body["attempts"]),
        (&json!("sent"), &json!("wamid.123"), &json!(2))
    );
    assert_eq!(body["timeline"]["sent_at"], at(4));
    let log = body["attempt_log"].as_array().expect("an attempt_log array");
    assert_eq!(log.len(), 2, "{body}");
    assert_eq!(
        (&log[0]["attempt"], &log[0]["started_at"], &log[0]["outcome"]),
        (&json!(1), &json!(at(1)), &json!("transient_error"))
    );
    assert_eq!(log[0]["error"], "provider timed out");
    assert_eq!((&log[1]["attempt"], &log[1]["outcome"]), (&json!(2), &json!("sent")));
}

#[tokio::test]

async fn an_unqueued_messages_status_description_does_not_expose_the_queue_error() {
    let app = Harness::new().await;
    app.queue.fail_enqueue.store(true, Ordering::Relaxed);
    let filedata = base64::engine::general_purpose::STANDARD.encode(b"bytes");
    app.send(image(json!({"filedata": filedata}))).await;
    let body = app.status_of(KEY, &app.queue_id_of_staged_media()).await.json();
    assert_eq!(body["status"], "failed");
    let description = body["status_description"].as_str().unwrap_or_default();
    assert!(!description.is_empty() && !description.contains("simulated outage"), "{description}");
}

#[tokio::test]
async fn another_orgs_message_is_not_found_by_either_id() {
    let app = Harness::new().await;
    app.add_org_b().await;
    let record = app.accepted(json!({"chat_id": "15550000010", "message": "for org A's eyes only"})).await;
    for id in [&record.queue_id, &record.unique_id] {
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

// --- authentication ---

async fn send_with_authorization(app: &Harness, authorization: Option<&str>) -> Reply {
    let body = text_to("15550000010").to_string();
    let mut request = Request::post(SEND).header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    app.call(request.body(Body::from(body)).expect("request")).await
}

#[tokio::test]
async fn a_missing_authorization_header_is_unauthorized() {
    let app = Harness::new().await;
    assert_error(&send_with_authorization(&app, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn a_malformed_authorization_header_is_unauthorized() {
    let app = Harness::new().await;
    for value in [KEY.to_string(), format!("Basic {KEY}"), "Bearer".into(), "Bearer    ".into()] {
        let reply = send_with_authorization(&app, Some(&value)).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn an_unknown_key_is_unauthorized_without_echoing_it() {
    let app = Harness::new().await;
    let reply = send_with_authorization(&app, Some("Bearer obx_nobody_has_this_key")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(!reply.text.contains("obx_nobody_has_this_key"), "{}", reply.text);
}

#[tokio::test]
async fn a_revoked_key_is_unauthorized() {
    let app = Harness::new().await;
    let mut revoked = NewApiKey::from_secret("obx_revoked_key".into(), app.org.clone(), None, NOW);
    revoked.record.revoked_at = Some(NOW.into());
    app.store.put_api_key(&revoked.hash, &revoked.record).await.expect("memory store");
    let reply = send_with_authorization(&app, Some("Bearer obx_revoked_key")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn status_lookups_need_a_key_too() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let request = Request::get(format!("/v1/message/{}/status", record.queue_id)).body(Body::empty()).expect("request");
    assert_error(&app.call(request).await, StatusCode::UNAUTHORIZED, "unauthorized");
}

// --- body checks and validation ---

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
        assert!(error["message"].as_str().is_some_and(|m| m.contains("POST /v1/assets/upload")), "{error}");
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
    assert!(error["message"].as_str().is_some_and(|m| m.contains("POST /v1/assets/upload")), "{error}");
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
async fn an_enqueue_failure_is_503_with_retry_after_and_the_record_is_failed() {
    let app = Harness::new().await;
    app.queue.fail_enqueue.store(true, Ordering::Relaxed);
    // Inline media, so the staged key tells the queue_id.
    let filedata = base64::engine::general_purpose::STANDARD.encode(b"bytes");
    let reply = app.send(image(json!({"filedata": filedata}))).await;

    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(reply.headers.get(header::RETRY_AFTER).is_some(), "{:?}", reply.headers);
    let record = app.record(&app.org, &app.queue_id_of_staged_media()).await.expect("a record");
    assert_eq!(record.status, Status::Failed);
    assert!(record.status_description.as_deref().is_some_and(|d| !d.is_empty()), "{record:?}");
    assert!(record.timeline.failed_at.is_some());
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

// ---------------------------------------------------------------- idempotency keys and rate limits

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
async fn rate_limit_headers_count_down_to_a_429_with_retry_after() {
    let h = Harness::new().await;
    let limited = NewApiKey::from_secret("limited-key".into(), h.org.clone(), Some(2), NOW);
    h.store.put_api_key(&limited.hash, &limited.record).await.unwrap();
    let mut seen = vec![];
    for _ in 0..3 {
        let request = Request::get("/v1/message/3EB0000000000000000000/status")
            .header(header::AUTHORIZATION, "Bearer limited-key")
            .body(Body::empty())
            .unwrap();
        let response = router(h.state.clone()).oneshot(request).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers.get("x-ratelimit-limit").unwrap(), "2");
        assert!(headers.get("x-ratelimit-reset").is_some());
        seen.push((response.status(), headers.get("x-ratelimit-remaining").unwrap().to_str().unwrap().to_string()));
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(headers.get(header::RETRY_AFTER).is_some());
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["code"], "rate_limited");
        }
    }
    // Unknown ids still count: the limit is on requests, not on successes.
    assert_eq!(
        seen,
        [
            (StatusCode::NOT_FOUND, "1".into()),
            (StatusCode::NOT_FOUND, "0".into()),
            (StatusCode::TOO_MANY_REQUESTS, "0".into())
        ]
    );
    // Public routes are not counted and carry no rate headers.
    let health = router(h.state.clone()).oneshot(Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
    assert!(health.headers().get("x-ratelimit-limit").is_none());
}
