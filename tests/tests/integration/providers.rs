//! Real providers against loopback HTTP servers: a stand-in for the Graph API and a user's
//! `http` endpoint, driven end to end through the API, SQS, the delivery consumer and moto.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use outbox_tests::outbox::adapters::secrets_manager::SecretsManager;
use outbox_tests::outbox::domain::ids::OrgId;
use outbox_tests::outbox::domain::tenant::{Phone, ProviderSettings};
use outbox_tests::outbox::domain::time::Timestamp;
use outbox_tests::outbox::local::{LOCAL_API_KEY, LOCAL_ORG};
use outbox_tests::outbox::net::signatures::{meta_signature, outbox_signature};
use outbox_tests::outbox::ports::{Clock, SecretStore, SystemClock, TenantStore};
use outbox_tests::{Stack, StackOptions, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TOKEN: &str = "EAAB-loopback-access-token";
const SIGNING_SECRET: &str = "whsec-loopback-signing-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const GRAPH_VERSION: &str = "v99.0";

/// A request as the loopback server saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    raw: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

type Script = Arc<(Vec<(u16, Value)>, Mutex<Vec<Seen>>)>;

/// An HTTP server on 127.0.0.1 that records every POST and answers from a script; the last
/// answer repeats.
struct Loopback {
    url: String,
    script: Script,
    task: JoinHandle<()>,
}

impl Loopback {
    async fn start(answers: Vec<(u16, Value)>) -> Loopback {
        async fn answer(
            State(script): State<Script>,
            uri: Uri,
            headers: HeaderMap,
            raw: Bytes,
        ) -> (AxumStatus, HeaderMap, axum::Json<Value>) {
            let (answers, seen) = &*script;
            let mut seen = seen.lock().unwrap();
            seen.push(Seen { path: uri.path().to_string(), headers, raw });
            let (status, body) = answers[(seen.len() - 1).min(answers.len() - 1)].clone();
            // A rate limiter's answer says when to come back: soon, so the test is quick.
            let mut headers = HeaderMap::new();
            if status == 429 {
                headers.insert("retry-after", axum::http::HeaderValue::from_static("1"));
            }
            (AxumStatus::from_u16(status).unwrap(), headers, axum::Json(body))
        }
        let script: Script = Arc::new((answers, Mutex::default()));
        let router = Router::new().route("/{*path}", axum::routing::post(answer)).with_state(script.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Loopback { url, script, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.1.lock().unwrap().clone()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Adds a phone to the local org the way `outbox-admin` does: the secret to Secrets Manager,
/// the settings with its reference to the table. Returns the phone_id.
async fn add_phone(stack: &Stack, secret: Value, settings: impl FnOnce(String) -> ProviderSettings) -> String {
    let org = OrgId::from(LOCAL_ORG);
    // Secrets live in the test process's one moto, shared by every test: the name must be unique.
    let phone_id = format!("phone-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let secrets = SecretsManager::new(stack.aws.secrets.clone());
    let secret_ref = secrets.put(&format!("outbox/{org}/{phone_id}"), &secret.to_string()).await.unwrap();
    let phone = Phone {
        org_id: org,
        phone_id: phone_id.as_str().into(),
        number: "15550100077".into(),
        provider: settings(secret_ref),
        created_at: Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap(),
    };
    stack.store().put_phone(&phone).await.unwrap();
    phone_id
}

async fn cloud_phone(stack: &Stack, graph: &Loopback) -> String {
    let secret = json!({"access_token": TOKEN, "app_secret": "app-secret", "verify_token": "verify"});
    add_phone(stack, secret, |secret_ref| ProviderSettings::WhatsappCloud {
        phone_number_id: PHONE_NUMBER_ID.into(),
        graph_url: graph.url.clone(),
        graph_version: GRAPH_VERSION.into(),
        secret_ref,
    })
    .await
}

async fn http_phone(stack: &Stack, endpoint: &Loopback) -> String {
    add_phone(stack, json!({"signing_secret": SIGNING_SECRET}), |secret_ref| ProviderSettings::Http {
        url: format!("{}/outbox/messages", endpoint.url),
        secret_ref,
    })
    .await
}

/// Sends from `phone_id`; returns the queue_id.
async fn send_from(stack: &Stack, phone_id: &str, body: Value) -> String {
    let response = stack
        .http
        .post(format!("{}/v1/message/send", stack.base_url))
        .bearer_auth(LOCAL_API_KEY)
        .header("x-phone", phone_id)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (code, accepted) = json_of(response).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    accepted["queue_id"].as_str().unwrap().to_string()
}

fn accepted(id: &str) -> (u16, Value) {
    (
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": "919537851844", "wa_id": "919537851844"}], "messages": [{"id": id}]}),
    )
}

fn graph_error(status: u16, code: i64, message: &str) -> (u16, Value) {
    let error = json!({"message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": "loopback"}, "fbtrace_id": "AbC"});
    (status, json!({"error": error}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whatsapp_cloud_text_reaches_the_graph_api_and_records_its_message_id() {
    let graph = Loopback::start(vec![accepted("wamid.LOOPBACK1")]).await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let queue_id = send_from(
        &stack,
        &phone_id,
        json!({"chat_id": "919537851844@c.us", "message": "see https://example.com", "reply_to": "wamid.PREVIOUS",
               "options": {"hide_url_preview": true}}),
    )
    .await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    assert_eq!((status["message_id"].as_str(), status["attempts"].as_u64()), (Some("wamid.LOOPBACK1"), Some(1)));
    assert!(!status.to_string().contains(TOKEN));

    let seen = graph.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, format!("/{GRAPH_VERSION}/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(seen[0].header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(
        seen[0].json(),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "919537851844", "type": "text",
               "text": {"body": "see https://example.com", "preview_url": false}, "context": {"message_id": "wamid.PREVIOUS"},
               "biz_opaque_callback_data": queue_id})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_server_error_is_retried_and_the_next_attempt_is_sent() {
    let graph =
        Loopback::start(vec![graph_error(500, 131000, "(#131000) Something went wrong"), accepted("wamid.LOOPBACK2")])
            .await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "again"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(30), |s| s["status"] == "sent").await;
    assert_eq!((status["message_id"].as_str(), status["attempts"].as_u64()), (Some("wamid.LOOPBACK2"), Some(2)));
    assert_eq!(status["attempt_log"][0]["outcome"], "transient_error");
    assert!(status["attempt_log"][0]["error"].as_str().unwrap().contains("131000"), "{status}");
    assert_eq!(graph.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_rate_limits_three_times_then_a_send_end_sent_on_one_attempt() {
    let graph = Loopback::start(vec![
        graph_error(429, 130429, "(#130429) Rate limit hit"),
        graph_error(429, 130429, "(#130429) Rate limit hit"),
        graph_error(400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
        accepted("wamid.LOOPBACK429"),
    ])
    .await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "patience"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(40), |s| s["status"] == "sent").await;
    assert_eq!((status["message_id"].as_str(), status["attempts"].as_u64()), (Some("wamid.LOOPBACK429"), Some(1)));
    assert_eq!(status["attempt_log"].as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(status["attempt_log"][0]["outcome"], "sent");
    assert_eq!(graph.seen().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_endpoint_answering_429_three_times_then_200_ends_sent_on_one_attempt() {
    let busy = (429, json!({"error": "slow down"}));
    let endpoint =
        Loopback::start(vec![busy.clone(), busy.clone(), busy, (200, json!({"message_id": "ext-429"}))]).await;
    let stack = Stack::start().await;
    let phone_id = http_phone(&stack, &endpoint).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "patience"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(40), |s| s["status"] == "sent").await;
    assert_eq!((status["message_id"].as_str(), status["attempts"].as_u64()), (Some("ext-429"), Some(1)));
    assert_eq!(status["attempt_log"].as_array().map(Vec::len), Some(1), "{status}");
    let seen = endpoint.seen();
    assert_eq!(seen.len(), 4);
    // Every call was attempt 1: the slow-downs used none.
    assert!(
        seen.iter().all(|request| request.json()["attempt"] == 1),
        "{:?}",
        seen.iter().map(Seen::json).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_client_error_fails_at_once_and_never_shows_the_token() {
    // The error echoes the token, as a careless upstream might: it must still not reach the status.
    let graph =
        Loopback::start(vec![graph_error(400, 131026, &format!("(#131026) Message undeliverable for {TOKEN}"))]).await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "nobody home"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "failed").await;
    assert_eq!(status["attempts"], 1);
    assert_eq!(status["attempt_log"][0]["outcome"], "permanent_error");
    let description = status["status_description"].as_str().unwrap();
    assert!(description.contains("131026") && description.contains("[redacted]"), "{description}");
    assert!(!status.to_string().contains(TOKEN), "{status}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(graph.seen().len(), 1, "a permanent error is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_media_reaches_the_graph_api_as_a_presigned_link_that_serves_the_bytes() {
    use base64::Engine as _;
    let graph = Loopback::start(vec![accepted("wamid.LOOPBACK3")]).await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let bytes = b"%PDF-1.4 loopback".to_vec();
    let media = json!({"type": "document", "filename": "report.pdf", "mimetype": "application/pdf",
                       "filedata": base64::engine::general_purpose::STANDARD.encode(&bytes)});
    let queue_id =
        send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "Q4", "media": media})).await;
    stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;

    let body = graph.seen()[0].json();
    assert_eq!(body["type"], "document");
    assert_eq!(
        (body["document"]["caption"].as_str(), body["document"]["filename"].as_str()),
        (Some("Q4"), Some("report.pdf"))
    );
    let link = body["document"]["link"].as_str().unwrap();
    assert!(link.contains("X-Amz-Signature="), "{link}");
    let fetched = reqwest::get(link).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_provider_posts_a_signed_message_and_records_the_endpoints_id() {
    let endpoint = Loopback::start(vec![(503, json!({"error": "busy"})), (200, json!({"message_id": "ext-42"}))]).await;
    let stack = Stack::start().await;
    let phone_id = http_phone(&stack, &endpoint).await;
    let queue_id = send_from(
        &stack,
        &phone_id,
        json!({"chat_id": "919537851844", "message": "look",
               "media": {"type": "image", "url": "https://cdn.example.com/a.png", "filename": "a.png", "mimetype": "image/png"}}),
    )
    .await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(30), |s| s["status"] == "sent").await;
    assert_eq!((status["message_id"].as_str(), status["attempts"].as_u64()), (Some("ext-42"), Some(2)));
    assert!(status["attempt_log"][0]["error"].as_str().unwrap().contains("HTTP 503"), "{status}");
    assert!(!status.to_string().contains(SIGNING_SECRET));

    let seen = endpoint.seen();
    assert_eq!(seen.len(), 2);
    for (attempt, request) in seen.iter().enumerate() {
        assert_eq!(request.path, "/outbox/messages");
        assert_eq!(request.header("idempotency-key"), queue_id);
        let timestamp: i64 = request.header("x-outbox-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        assert_eq!(
            request.header("x-outbox-signature"),
            outbox_signature(&SIGNING_SECRET.into(), timestamp, &request.raw)
        );
        let body = request.json();
        assert_eq!(body["attempt"], attempt as u64 + 1);
        assert_eq!(
            (body["queue_id"].as_str(), body["phone_id"].as_str()),
            (Some(queue_id.as_str()), Some(phone_id.as_str()))
        );
        assert_eq!(
            (body["chat_id"].as_str(), body["type"].as_str(), body["text"].as_str()),
            (Some("919537851844@c.us"), Some("image"), Some("look"))
        );
        assert_eq!(
            body["media"],
            json!({"type": "image", "url": "https://cdn.example.com/a.png", "filename": "a.png", "mimetype": "image/png"})
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_the_local_stack_a_provider_name_that_resolves_to_loopback_is_never_connected_to() {
    // A phone whose endpoint is a name: it may have resolved publicly when it was added, and
    // resolve to this machine now. The delivery's own resolver checks it at connect time.
    let endpoint = Loopback::start(vec![(200, json!({"message_id": "never"}))]).await;
    let options =
        StackOptions { overrides: vec![("OUTBOX_ALLOW_PRIVATE_TARGETS", "false".into())], ..Default::default() };
    let stack = Stack::start_with(options).await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_string();
    let phone_id = add_phone(&stack, json!({"signing_secret": SIGNING_SECRET}), |secret_ref| ProviderSettings::Http {
        url: format!("https://localhost:{port}/outbox/messages"),
        secret_ref,
    })
    .await;
    let queue_id =
        send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "to a rebound name"})).await;
    let status = stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "failed").await;
    assert_eq!(
        (status["attempts"].as_u64(), status["attempt_log"][0]["outcome"].as_str()),
        (Some(1), Some("permanent_error"))
    );
    let description = status["status_description"].as_str().unwrap();
    assert!(description.contains("localhost resolves to") && description.contains("loopback"), "{description}");
    assert!(endpoint.seen().is_empty(), "the endpoint was reached");
}

/// A Meta status webhook for `statuses`, as the Graph API posts it.
fn meta_statuses(statuses: Value) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100077", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": statuses}}]}]})
    .to_string()
}

async fn post_webhook(stack: &Stack, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let mut request = stack
        .http
        .post(format!("{}/v1/provider/whatsapp/webhook", stack.base_url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    json_of(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn metas_receipts_over_http_move_a_sent_message_to_read_only_when_signed_and_the_handshake_checks_the_token() {
    let graph = Loopback::start(vec![accepted("wamid.RECEIPTS1")]).await;
    let stack = Stack::start().await;
    let phone_id = cloud_phone(&stack, &graph).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "hi"})).await;
    stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let sent = graph.seen();
    assert_eq!(sent[0].json()["biz_opaque_callback_data"], json!(queue_id), "Meta gets our queue_id to echo");

    let handshake = |token: &str| {
        format!(
            "{}/v1/provider/whatsapp/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=8141",
            stack.base_url
        )
    };
    let right = stack.http.get(handshake("verify")).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.text().await.unwrap(), "8141");
    assert_eq!(stack.http.get(handshake("not-it")).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // Out of order (read first, by wamid only), duplicated, and a late delivered.
    let status = |status: &str| json!({"id": "wamid.RECEIPTS1", "status": status, "timestamp": "1700000000", "recipient_id": "919537851844"});
    let body = meta_statuses(json!([status("read"), status("read"), status("delivered")]));
    let app_secret = secrecy::SecretString::from("app-secret".to_string());
    let wrong = secrecy::SecretString::from("another-app".to_string());
    for signature in [None, Some(meta_signature(&wrong, body.as_bytes()))] {
        let (code, answer) = post_webhook(&stack, &body, signature).await;
        assert_eq!((code, answer["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{answer}");
        let (_, now) = stack.status(&queue_id).await;
        assert_eq!(now["status"], "sent", "an unsigned receipt changes nothing");
    }
    let (code, answer) = post_webhook(&stack, &body, Some(meta_signature(&app_secret, body.as_bytes()))).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"applied": 1, "unchanged": 2, "unknown": 0, "ignored": 0}));
    let (_, now) = stack.status(&queue_id).await;
    assert_eq!(now["status"], "read");
    assert!(now["timeline"]["delivered_at"].is_string() && now["timeline"]["read_at"].is_string(), "{now}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_gateways_receipts_apply_only_when_signed_with_the_phones_secret() {
    let endpoint = Loopback::start(vec![(200, json!({"id": "gw-RECEIPT1"}))]).await;
    let stack = Stack::start().await;
    let phone_id = http_phone(&stack, &endpoint).await;
    let queue_id = send_from(&stack, &phone_id, json!({"chat_id": "919537851844", "message": "hi"})).await;
    stack.wait_for(&queue_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let body =
        json!({"receipts": [{"queue_id": queue_id, "message_id": "gw-RECEIPT1", "status": "delivered"}]}).to_string();
    let post = |secret: Option<&str>| {
        let now = SystemClock.now().epoch_secs();
        let mut request = stack
            .http
            .post(format!("{}/v1/provider/http/receipts", stack.base_url))
            .header("content-type", "application/json")
            .header("x-outbox-org-id", LOCAL_ORG)
            .header("x-outbox-phone-id", phone_id.as_str())
            .body(body.clone());
        if let Some(secret) = secret {
            let secret = secrecy::SecretString::from(secret.to_string());
            request = request
                .header("x-outbox-timestamp", now.to_string())
                .header("x-outbox-signature", outbox_signature(&secret, now, body.as_bytes()));
        }
        request.send()
    };
    for secret in [None, Some("not-the-secret")] {
        let (code, _) = json_of(post(secret).await.unwrap()).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(stack.status(&queue_id).await.1["status"], "sent");
    let (code, answer) = json_of(post(Some(SIGNING_SECRET)).await.unwrap()).await;
    assert_eq!((code, &answer["applied"]), (StatusCode::OK, &json!(1)), "{answer}");
    assert_eq!(stack.status(&queue_id).await.1["status"], "delivered");
}
