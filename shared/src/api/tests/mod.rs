//! Handler tests with in-memory ports and a manual clock: the whole router, driven one request
//! at a time. The harness is here; the tests are by route family.

mod auth;
mod broadcast;
mod dialects;
mod edge;
mod idempotency;
mod receipts;
mod send;
mod status;
mod tracking;
mod uploads;
mod webhooks;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ApiSettings, AppState, router};
use crate::adapters::memory::{ManualClock, MemoryIdempotency, MemoryMedia, MemoryQueue, MemorySecrets, MemoryStore};
use crate::domain::ids::{OrgId, QueueId};
use crate::domain::message::MessageRecord;
use crate::domain::tenant::{NewApiKey, Phone, ProviderSettings};
use crate::domain::time::Timestamp;
use crate::ports::{Clock, StatusStore, TenantStore, Tracking};
use crate::wiring::in_memory_api;

const SEND: &str = "/v1/message/send";
const KEY: &str = "obx_test_key_of_org_a";
const NUMBER: &str = "15550100000";
const PHONE_ID: &str = "phone-a";
/// The idempotency claims' lease, the API function's timeout.
const LEASE: std::time::Duration = std::time::Duration::from_secs(29);
/// Roomy enough for a 4097-character message; the size tests use a smaller limit.
const BODY_LIMIT: usize = 64 * 1024;

/// The router over fresh in-memory ports, with org A (key `KEY`, one phone) seeded.
struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    media: Arc<MemoryMedia>,
    idempotency: Arc<MemoryIdempotency>,
    secrets: Arc<MemorySecrets>,
    clock: Arc<ManualClock>,
    state: AppState,
    org: OrgId,
}

impl Harness {
    async fn new() -> Harness {
        Harness::with_body_limit(BODY_LIMIT).await
    }

    async fn with_body_limit(max_body_bytes: usize) -> Harness {
        // A zero TTL caches nothing, so every request sees the store as the test left it.
        let settings = ApiSettings {
            max_body_bytes,
            auth_cache_ttl: std::time::Duration::ZERO,
            rate_limit_per_minute: Some(1000),
            api_timeout: LEASE,
        };
        let api = in_memory_api(settings);
        let harness = Harness {
            store: api.store,
            queue: api.queue,
            media: api.media,
            idempotency: api.idempotency,
            secrets: api.secrets,
            clock: api.clock,
            state: api.state,
            org: OrgId::from("org-a"),
        };
        harness.add_key(&harness.org, KEY).await;
        harness.add_phone(&harness.org, NUMBER, PHONE_ID).await;
        harness
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn add_key(&self, org: &OrgId, secret: &str) -> NewApiKey {
        let key = NewApiKey::from_secret(secret.into(), org.clone(), None, self.now());
        self.store.put_api_key(&key.hash, &key.record).await.expect("memory store");
        key
    }

    async fn add_phone(&self, org: &OrgId, number: &str, phone_id: &str) {
        let phone = Phone {
            org_id: org.clone(),
            phone_id: phone_id.into(),
            number: number.into(),
            provider: ProviderSettings::Sandbox,
            created_at: self.now(),
        };
        self.store.put_phone(&phone).await.expect("memory store");
    }

    /// A second org, B, with its own key and one phone.
    async fn add_org_b(&self) -> OrgId {
        let org = OrgId::from("org-b-secret-id");
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

    async fn status_of(&self, key: &str, id: impl AsRef<str>) -> Reply {
        let id = id.as_ref();
        let request =
            Request::get(format!("/v1/message/{id}/status")).header(header::AUTHORIZATION, format!("Bearer {key}"));
        self.call(request.body(Body::empty()).expect("request")).await
    }

    /// Sends a text as org A and returns the record the API stored.
    async fn accepted(&self, body: Value) -> MessageRecord {
        let reply = self.send(body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let queue_id = QueueId::from(reply.json()["queue_id"].as_str().expect("a queue_id"));
        self.record(&self.org, &queue_id).await.expect("a stored record")
    }

    async fn record(&self, org: &OrgId, queue_id: &QueueId) -> Option<MessageRecord> {
        self.store.get(org, queue_id).await.expect("memory store")
    }

    /// A GET of `path` with `key`.
    async fn get(&self, key: &str, path: &str) -> Reply {
        let request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
        self.call(request.body(Body::empty()).expect("request")).await
    }

    /// A JSON request of `method` to `path` with the org's key.
    async fn json(&self, method: axum::http::Method, path: &str, body: Value) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .header(header::CONTENT_TYPE, "application/json");
        self.call(request.body(Body::from(body.to_string())).expect("request")).await
    }

    fn jobs(&self) -> Vec<String> {
        self.queue.jobs.lock().expect("lock").clone()
    }

    /// The queue_id in the one staged media key: the only trace of a send that was not accepted.
    fn queue_id_of_staged_media(&self) -> QueueId {
        let staged = self.staged_media();
        assert_eq!(staged.len(), 1, "{staged:?}");
        QueueId::from(staged[0].0.split('/').nth(2).expect("media/{org}/{queue_id}/{file}"))
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
