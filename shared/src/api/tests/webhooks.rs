//! `/v1/webhooks`: create (the secret shown once and kept in the secret store), list, read,
//! change, delete and rotate, each in the caller's org only; the 10-per-org limit; bad input and
//! URLs the egress rule refuses (through a fixed resolver, so no test needs DNS); and what a
//! failed write leaves behind.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::http::Method;

use super::*;
use crate::domain::ids::WebhookId;
use crate::domain::webhook::{EventType, ROTATION_OVERLAP, WebhookRecord, WebhookSecrets};
use crate::net::egress::{Egress, FixedLookup};
use crate::ports::{SecretStore, StoreError, WebhookStore};

const WEBHOOKS: &str = "/v1/webhooks";
const KEY_B: &str = "obx_test_key_of_org_b";
const HOOK_URL: &str = "https://hooks.example.com/outbox";

fn ip(raw: &str) -> IpAddr {
    raw.parse().expect("an IP address")
}

/// The rules of AWS (https, public addresses only) over a resolver that knows a few names.
fn strict_egress() -> Egress {
    Egress::new(false).with_lookup(Arc::new(FixedLookup::new([
        ("hooks.example.com", vec![ip("93.184.215.14")]),
        ("other.example.com", vec![ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c")]),
        ("intranet.example.com", vec![ip("10.20.30.40")]),
        ("split.example.com", vec![ip("93.184.215.14"), ip("192.168.1.10")]),
        ("metadata.example.com", vec![ip("169.254.169.254")]),
    ])))
}

fn subscription(url: &str) -> Value {
    json!({"url": url, "events": ["message.sent", "message.read"], "description": "CRM sync"})
}

impl Harness {
    /// The harness with webhooks checked as in AWS, through `strict_egress`'s resolver.
    async fn for_webhooks() -> Harness {
        let mut harness = Harness::new().await;
        harness.state.egress = strict_egress();
        harness
    }

    async fn webhook_call(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request =
            Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.call(request.body(body).expect("request")).await
    }

    /// Creates a webhook as org A and returns the answer's JSON.
    async fn create_webhook(&self, body: Value) -> Value {
        let reply = self.webhook_call(KEY, Method::POST, WEBHOOKS, Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()
    }

    fn stored_secrets(&self) -> BTreeMap<String, String> {
        self.secrets.secrets.lock().expect("lock").iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    async fn webhooks_of(&self, org: &OrgId) -> Vec<WebhookRecord> {
        self.store.list_webhooks(org).await.expect("memory store")
    }
}

#[tokio::test]
async fn a_webhook_is_created_with_its_secret_shown_once_then_listed_read_changed_and_deleted() {
    let harness = Harness::for_webhooks().await;
    let reply = harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(subscription(HOOK_URL))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store", "an answer with a secret is not cached");
    let created = reply.json();
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(reply.headers[header::LOCATION], format!("{WEBHOOKS}/{id}"));
    assert!(id.starts_with("wh_"), "{id}");
    let secret = created["secret"].as_str().expect("the secret").to_string();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");
    assert_eq!(created["url"], HOOK_URL);
    assert_eq!(created["events"], json!(["message.sent", "message.read"]));
    assert_eq!(created["description"], "CRM sync");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(
        keys(&created),
        BTreeSet::from(["id", "url", "events", "description", "created_at", "updated_at", "secret"])
    );

    // The secret is in the secret store under the webhooks' prefix; the record keeps its reference.
    let name = format!("outbox-webhooks/org-a/{id}");
    let stored: WebhookSecrets = serde_json::from_str(&harness.stored_secrets()[&name]).expect("the secrets' JSON");
    assert_eq!(stored, WebhookSecrets::new(secret.clone()));
    let records = harness.webhooks_of(&harness.org).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].secret_ref, name);
    assert!(!serde_json::to_string(&records[0]).unwrap().contains(&secret), "the table never holds the secret");

    // Listed and read without the secret.
    let listed = harness.get(KEY, WEBHOOKS).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(listed.json(), json!({"webhooks": [expected.clone()]}));
    let read = harness.get(KEY, &format!("{WEBHOOKS}/{id}")).await;
    assert_eq!((read.status, read.json()), (StatusCode::OK, expected.clone()));
    assert!(!read.text.contains(&secret) && !listed.text.contains(&secret));

    // A patch changes what it names; null clears the description.
    harness.clock.advance(std::time::Duration::from_secs(60));
    let patch = json!({"events": ["message.failed", "message.delivered"], "description": null});
    let patched = harness.webhook_call(KEY, Method::PATCH, &format!("{WEBHOOKS}/{id}"), Some(patch)).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let patched = patched.json();
    assert_eq!(patched["events"], json!(["message.delivered", "message.failed"]));
    assert_eq!((&patched["description"], &patched["url"]), (&Value::Null, &json!(HOOK_URL)));
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);
    let record = &harness.webhooks_of(&harness.org).await[0];
    assert!(record.wants(EventType::MessageFailed) && !record.wants(EventType::MessageSent));
    let moved = harness
        .webhook_call(
            KEY,
            Method::PATCH,
            &format!("{WEBHOOKS}/{id}"),
            Some(json!({"url": "https://other.example.com/in"})),
        )
        .await;
    assert_eq!((moved.status, &moved.json()["url"]), (StatusCode::OK, &json!("https://other.example.com/in")));

    // Deleted with its secret; then it is not found.
    let deleted = harness.webhook_call(KEY, Method::DELETE, &format!("{WEBHOOKS}/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(deleted.text.is_empty());
    assert!(harness.stored_secrets().is_empty(), "the secret is deleted with the webhook");
    assert!(harness.webhooks_of(&harness.org).await.is_empty());
    assert_error(&harness.get(KEY, &format!("{WEBHOOKS}/{id}")).await, StatusCode::NOT_FOUND, "webhook_not_found");
    let again = harness.webhook_call(KEY, Method::DELETE, &format!("{WEBHOOKS}/{id}"), None).await;
    assert_error(&again, StatusCode::NOT_FOUND, "webhook_not_found");
    assert_eq!(harness.get(KEY, WEBHOOKS).await.json(), json!({"webhooks": []}));
}

#[tokio::test]
async fn another_orgs_webhook_is_not_found_and_left_as_it_is() {
    let harness = Harness::for_webhooks().await;
    harness.add_org_b().await;
    let created = harness.create_webhook(subscription(HOOK_URL)).await;
    let path = format!("{WEBHOOKS}/{}", created["id"].as_str().unwrap());
    let before = (harness.webhooks_of(&harness.org).await, harness.stored_secrets());

    let rotate = format!("{path}/rotate-secret");
    for reply in [
        harness.webhook_call(KEY_B, Method::GET, &path, None).await,
        harness.webhook_call(KEY_B, Method::PATCH, &path, Some(json!({"description": "mine now"}))).await,
        harness.webhook_call(KEY_B, Method::DELETE, &path, None).await,
        harness.webhook_call(KEY_B, Method::POST, &rotate, None).await,
    ] {
        let body = assert_error(&reply, StatusCode::NOT_FOUND, "webhook_not_found");
        assert!(!body["message"].as_str().unwrap().contains("org-a"), "{body}");
    }
    assert_eq!(harness.get(KEY_B, WEBHOOKS).await.json(), json!({"webhooks": []}));
    assert_eq!((harness.webhooks_of(&harness.org).await, harness.stored_secrets()), before);
}

#[tokio::test]
async fn a_rotation_keeps_the_old_secret_valid_beside_the_new_one_for_a_day() {
    let harness = Harness::for_webhooks().await;
    let created = harness.create_webhook(subscription(HOOK_URL)).await;
    let (id, old) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    harness.clock.advance(std::time::Duration::from_secs(3600));
    let rotated_at = harness.now();

    let reply = harness.webhook_call(KEY, Method::POST, &format!("{WEBHOOKS}/{id}/rotate-secret"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    let rotated = reply.json();
    let new = rotated["secret"].as_str().expect("the new secret");
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(rotated["id"], created["id"]);
    let expires = Timestamp::parse(rotated["previous_secret_expires_at"].as_str().expect("when the old one ends"));
    assert_eq!(expires, Some(rotated_at.plus(ROTATION_OVERLAP)));

    // Both are in the store, the old one until a day after the rotation.
    let name = format!("outbox-webhooks/org-a/{id}");
    let stored: WebhookSecrets = serde_json::from_str(&harness.stored_secrets()[&name]).unwrap();
    assert_eq!(stored.current, new);
    assert_eq!(stored.previous.as_deref(), Some(old));
    assert_eq!(stored.previous_until, Some(rotated_at.plus(ROTATION_OVERLAP)));
    assert_eq!(stored.signing_at(rotated_at.plus(ROTATION_OVERLAP / 2)).len(), 2);
    assert_eq!(stored.signing_at(rotated_at.plus(ROTATION_OVERLAP)).len(), 1);
    assert_eq!(harness.stored_secrets().len(), 1, "one secret per webhook, replaced in place");

    // A lost secret (removed by hand) is given back by a rotation, the record following its reference.
    harness.secrets.secrets.lock().unwrap().clear();
    let reply = harness.webhook_call(KEY, Method::POST, &format!("{WEBHOOKS}/{id}/rotate-secret"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["previous_secret_expires_at"], Value::Null);
    let stored: WebhookSecrets = serde_json::from_str(&harness.stored_secrets()[&name]).unwrap();
    assert_eq!(stored, WebhookSecrets::new(reply.json()["secret"].as_str().unwrap().to_string()));
}

#[tokio::test]
async fn bad_bodies_and_ids_are_4xx_that_name_the_field() {
    let harness = Harness::for_webhooks().await;
    let post = |body: Value| harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(body));
    for (body, code, field) in [
        (json!({"events": ["message.sent"]}), "missing_field", Some("url")),
        (json!({"url": HOOK_URL}), "missing_field", Some("events")),
        (json!({"url": "not a url", "events": ["message.sent"]}), "invalid_url", Some("url")),
        (json!({"url": HOOK_URL, "events": []}), "invalid_events", Some("events")),
        (json!({"url": HOOK_URL, "events": ["message.sent", "message.queued"]}), "invalid_events", Some("events[1]")),
        (json!({"url": HOOK_URL, "events": "message.sent"}), "invalid_type", Some("events")),
        (
            json!({"url": HOOK_URL, "events": ["message.sent"], "description": "d".repeat(257)}),
            "too_long",
            Some("description"),
        ),
        (json!("not an object"), "invalid_json", None),
        (json!(42), "invalid_json", None),
    ] {
        let reply = post(body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert_eq!(error["field"].as_str(), field, "{body}: {error}");
    }
    let unknown = post(json!({"url": HOOK_URL, "events": ["message.sent"], "secret": "mine"})).await;
    assert_error_shape(&unknown);
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "a client cannot choose the secret");
    let request = Request::post(WEBHOOKS)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json");
    assert_error(
        &harness.call(request.body(Body::from("{\"url\":")).unwrap()).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
    let request = Request::post(WEBHOOKS)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "text/plain");
    let text = harness.call(request.body(Body::from(subscription(HOOK_URL).to_string())).unwrap()).await;
    assert_error(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let anonymous = harness.call(Request::get(WEBHOOKS).body(Body::empty()).unwrap()).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");

    let created = harness.create_webhook(subscription(HOOK_URL)).await;
    let path = format!("{WEBHOOKS}/{}", created["id"].as_str().unwrap());
    let before = harness.webhooks_of(&harness.org).await;
    let patch = |body: Value| harness.webhook_call(KEY, Method::PATCH, &path, Some(body));
    assert_error(&patch(json!({})).await, StatusCode::BAD_REQUEST, "empty_patch");
    assert_error(&patch(json!({"events": ["message.nope"]})).await, StatusCode::BAD_REQUEST, "invalid_events");
    assert_error(&patch(json!({"description": 7})).await, StatusCode::BAD_REQUEST, "invalid_type");
    assert_error(&patch(json!({"url": "ftp://example.com"})).await, StatusCode::BAD_REQUEST, "invalid_url");
    assert_eq!(harness.webhooks_of(&harness.org).await, before, "nothing was changed");

    // Ids of any other shape are not found, without a lookup; a long one is not echoed back.
    let long = "x".repeat(3000);
    for id in ["wh_", "wh_0123", "WH_0123456789abcdef0123456789abcdef", "3EB0630434929F6B94327F", "%F0%9F%98%80", &long]
    {
        let reply = harness.get(KEY, &format!("{WEBHOOKS}/{id}")).await;
        let body = assert_error(&reply, StatusCode::NOT_FOUND, "webhook_not_found");
        assert!(body["message"].as_str().unwrap().len() < 200, "{body}");
        let reply = harness.webhook_call(KEY, Method::POST, &format!("{WEBHOOKS}/{id}/rotate-secret"), None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "webhook_not_found");
    }
    let unknown = format!("{WEBHOOKS}/{}", WebhookId::generate());
    assert_error(
        &harness.webhook_call(KEY, Method::DELETE, &unknown, None).await,
        StatusCode::NOT_FOUND,
        "webhook_not_found",
    );
    let put = harness.webhook_call(KEY, Method::PUT, &path, Some(subscription(HOOK_URL))).await;
    assert_error(&put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn urls_the_egress_rule_refuses_are_400_with_the_reason_and_store_nothing() {
    let harness = Harness::for_webhooks().await;
    for (url, code, reason) in [
        ("http://hooks.example.com/outbox", "url_not_allowed", "http:// is not allowed"),
        ("https://127.0.0.1/hook", "url_not_allowed", "loopback"),
        ("https://[::1]:8443/hook", "url_not_allowed", "loopback"),
        ("https://10.0.0.7/hook", "url_not_allowed", "private"),
        ("https://169.254.169.254/latest/meta-data/", "url_not_allowed", "cloud metadata"),
        ("https://[::ffff:192.168.0.1]/hook", "url_not_allowed", "private"),
        ("https://2130706433/hook", "url_not_allowed", "loopback"),
        ("https://intranet.example.com/hook", "url_not_allowed", "resolves to 10.20.30.40, a private address"),
        ("https://split.example.com/hook", "url_not_allowed", "resolves to 192.168.1.10"),
        ("https://metadata.example.com/hook", "url_not_allowed", "cloud metadata"),
        ("https://nowhere.example.com/hook", "url_unresolvable", "nowhere.example.com could not be resolved"),
    ] {
        let reply = harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(subscription(url))).await;
        let body = assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert_eq!(body["field"], "url", "{url}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{url}: {body}");
    }
    assert!(harness.webhooks_of(&harness.org).await.is_empty());
    assert!(harness.stored_secrets().is_empty(), "a refused URL writes no secret");

    // A PATCH of the url is checked the same way, and leaves the webhook as it was.
    let created = harness.create_webhook(subscription(HOOK_URL)).await;
    let path = format!("{WEBHOOKS}/{}", created["id"].as_str().unwrap());
    let reply =
        harness.webhook_call(KEY, Method::PATCH, &path, Some(json!({"url": "https://intranet.example.com/x"}))).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "url_not_allowed");
    assert_eq!(harness.webhooks_of(&harness.org).await[0].url, HOOK_URL);

    // The local stack's configuration takes http and loopback, without resolving names.
    let mut local = harness;
    local.state.egress = Egress::new(true);
    local.create_webhook(subscription("http://127.0.0.1:9000/hook")).await;
    local.create_webhook(subscription("http://receiver.localhost:9000/hook")).await;
}

#[tokio::test]
async fn an_org_has_at_most_ten_webhooks() {
    let harness = Harness::for_webhooks().await;
    harness.add_org_b().await;
    let mut ids = vec![];
    for _ in 0..10 {
        ids.push(harness.create_webhook(subscription(HOOK_URL)).await["id"].as_str().unwrap().to_string());
    }
    let reply = harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(subscription(HOOK_URL))).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "too_many_webhooks");
    assert!(body["message"].as_str().unwrap().contains("10") && body.get("field").is_none(), "{body}");
    assert_eq!((harness.webhooks_of(&harness.org).await.len(), harness.stored_secrets().len()), (10, 10));
    // Per org: B is not held back by A's ten.
    let b = harness.webhook_call(KEY_B, Method::POST, WEBHOOKS, Some(subscription(HOOK_URL))).await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.text);
    let deleted = harness.webhook_call(KEY, Method::DELETE, &format!("{WEBHOOKS}/{}", ids[0]), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    harness.create_webhook(subscription(HOOK_URL)).await;
    assert_eq!(harness.get(KEY, WEBHOOKS).await.json()["webhooks"].as_array().unwrap().len(), 10);
}

/// The memory store, with a create that fails, or that lets a concurrent request's create land first.
struct Interfering {
    inner: Arc<MemoryStore>,
    fail_create: AtomicBool,
    racer: Mutex<Option<WebhookRecord>>,
}

#[async_trait]
impl WebhookStore for Interfering {
    async fn create_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("an injected failure", "throttled"));
        }
        let racer = self.racer.lock().unwrap().take();
        if let Some(racer) = racer {
            self.inner.create_webhook(&racer).await?;
        }
        self.inner.create_webhook(record).await
    }

    async fn get_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<Option<WebhookRecord>, StoreError> {
        self.inner.get_webhook(org, webhook_id).await
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<WebhookRecord>, StoreError> {
        self.inner.list_webhooks(org).await
    }

    async fn update_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        self.inner.update_webhook(record).await
    }

    async fn delete_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<bool, StoreError> {
        self.inner.delete_webhook(org, webhook_id).await
    }
}

#[tokio::test]
async fn a_create_that_fails_or_loses_a_race_to_the_limit_leaves_no_secret_behind() {
    let mut harness = Harness::for_webhooks().await;
    let interfering = Arc::new(Interfering {
        inner: harness.store.clone(),
        fail_create: AtomicBool::new(true),
        racer: Mutex::new(None),
    });
    harness.state.webhooks = interfering.clone();

    let reply = harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(subscription(HOOK_URL))).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    assert!(harness.stored_secrets().is_empty(), "the secret written before the failed record is deleted");

    // Nine webhooks, then a create whose check passes while another request's create lands.
    interfering.fail_create.store(false, Ordering::SeqCst);
    for _ in 0..9 {
        harness.create_webhook(subscription(HOOK_URL)).await;
    }
    let at = harness.now();
    let racer = WebhookRecord {
        org_id: harness.org.clone(),
        webhook_id: WebhookId::generate(),
        url: HOOK_URL.into(),
        events: BTreeSet::from([EventType::MessageSent]),
        description: None,
        secret_ref: "outbox-webhooks/org-a/racer".into(),
        created_at: at,
        updated_at: at,
    };
    *interfering.racer.lock().unwrap() = Some(racer.clone());
    let reply = harness.webhook_call(KEY, Method::POST, WEBHOOKS, Some(subscription(HOOK_URL))).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "too_many_webhooks");
    let left = harness.webhooks_of(&harness.org).await;
    assert_eq!(left.len(), 10, "the request that saw eleven took its own back");
    assert!(left.iter().any(|w| w.webhook_id == racer.webhook_id));
    assert_eq!(harness.stored_secrets().len(), 9, "and its secret (the racer's is the racer's business)");
}

/// A secret store that is down.
struct DownSecrets;

#[async_trait]
impl SecretStore for DownSecrets {
    async fn put(&self, _: &str, _: &str) -> Result<String, crate::ports::SecretError> {
        Err(crate::ports::SecretError::unavailable("an injected failure", "timeout"))
    }

    async fn get(&self, _: &str) -> Result<String, crate::ports::SecretError> {
        Err(crate::ports::SecretError::unavailable("an injected failure", "timeout"))
    }

    async fn delete(&self, _: &str) -> Result<(), crate::ports::SecretError> {
        Err(crate::ports::SecretError::unavailable("an injected failure", "timeout"))
    }
}

#[tokio::test]
async fn with_the_secret_store_down_nothing_is_created_rotated_or_deleted() {
    let mut harness = Harness::for_webhooks().await;
    let created = harness.create_webhook(subscription(HOOK_URL)).await;
    let path = format!("{WEBHOOKS}/{}", created["id"].as_str().unwrap());
    let before = (harness.webhooks_of(&harness.org).await, harness.stored_secrets());
    harness.state.secrets = Arc::new(DownSecrets);
    for (method, path) in
        [(Method::POST, WEBHOOKS.to_string()), (Method::POST, format!("{path}/rotate-secret")), (Method::DELETE, path)]
    {
        let body = (method == Method::POST && path == WEBHOOKS).then(|| subscription(HOOK_URL));
        let reply = harness.webhook_call(KEY, method, &path, body).await;
        let error = assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
        assert!(error["message"].as_str().unwrap().contains("secret store"), "{error}");
    }
    assert_eq!((harness.webhooks_of(&harness.org).await, harness.stored_secrets()), before);
}
