//! Webhook subscriptions on the DynamoDB table (moto): create once, read and list within the org
//! only, update and delete only what exists; and `/v1/webhooks` over HTTP, its secrets in Secrets
//! Manager, as configured locally and as in AWS.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use outbox_tests::outbox::domain::ids::{OrgId, WebhookId};
use outbox_tests::outbox::domain::time::Timestamp;
use outbox_tests::outbox::domain::webhook::{EventType, WebhookRecord, WebhookSecrets};
use outbox_tests::outbox::local::LOCAL_API_KEY;
use outbox_tests::outbox::ports::WebhookStore;
use outbox_tests::{Consumers, Stack, StackOptions, assert_error_shape, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn webhook(org: &OrgId, at: Timestamp) -> WebhookRecord {
    WebhookRecord {
        org_id: org.clone(),
        webhook_id: WebhookId::generate(),
        url: "https://example.com/hook".into(),
        events: BTreeSet::from([EventType::MessageSent, EventType::MessageRead]),
        description: Some("crm".into()),
        secret_ref: "outbox/webhooks/test".into(),
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn webhooks_are_kept_per_org_and_changed_only_while_they_exist() {
    let stack = Stack::start().await;
    let store = stack.store();
    let (org, other) = (OrgId::generate(), OrgId::generate());
    let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
    let first = webhook(&org, at);
    let second = webhook(&org, at.plus(Duration::from_secs(1)));
    assert!(store.create_webhook(&second).await.unwrap());
    assert!(store.create_webhook(&first).await.unwrap());
    assert!(!store.create_webhook(&first).await.unwrap(), "an existing id is never overwritten");
    assert!(store.create_webhook(&webhook(&other, at)).await.unwrap());

    assert_eq!(store.get_webhook(&org, &first.webhook_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_webhook(&other, &first.webhook_id).await.unwrap(), None, "another org's id is not found");
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![first.clone(), second.clone()], "oldest first");

    let changed = WebhookRecord { url: "https://example.com/v2".into(), ..first.clone() };
    assert!(store.update_webhook(&changed).await.unwrap());
    assert_eq!(store.get_webhook(&org, &first.webhook_id).await.unwrap().unwrap().url, "https://example.com/v2");
    assert!(store.delete_webhook(&org, &first.webhook_id).await.unwrap());
    assert!(!store.delete_webhook(&org, &first.webhook_id).await.unwrap());
    assert!(!store.update_webhook(&changed).await.unwrap(), "a deleted webhook is not brought back");
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![second]);
}

/// A request of `method` to `path` with `key`, and `body` as JSON when given.
async fn call(
    stack: &Stack,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = stack.http.request(method, format!("{}{path}", stack.base_url)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    if response.status() == StatusCode::NO_CONTENT {
        return (StatusCode::NO_CONTENT, Value::Null);
    }
    json_of(response).await
}

/// The webhook's secrets as Secrets Manager keeps them; `None` once deleted.
async fn stored_secrets(stack: &Stack, name: &str) -> Option<WebhookSecrets> {
    match stack.aws.secrets.get_secret_value().secret_id(name).send().await {
        Ok(output) => Some(serde_json::from_str(output.secret_string().expect("a string secret")).expect("the JSON")),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => None,
        Err(err) => panic!("Secrets Manager: {err:?}"),
    }
}

#[tokio::test]
async fn the_webhooks_api_keeps_each_secret_in_secrets_manager_and_each_webhook_in_its_org() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let (_, other_key, _) = stack.add_org("15550400001").await;
    // The local stack takes a receiver on loopback.
    let body = json!({"url": "http://127.0.0.1:9/outbox", "events": ["message.sent", "message.read"]});
    let (code, created) = stack.post_as(LOCAL_API_KEY, "/v1/webhooks", body).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (id, first) = (created["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string());
    let path = format!("/v1/webhooks/{id}");
    let name = format!("outbox-webhooks/org-local/{id}");
    assert_eq!(stored_secrets(&stack, &name).await, Some(WebhookSecrets::new(first.clone())));
    let record = stack.store().get_webhook(&OrgId::from("org-local"), &WebhookId::from(id.as_str())).await.unwrap();
    let record = record.expect("the record in the table");
    assert!(record.secret_ref.starts_with("arn:") && record.secret_ref.contains(&name), "{}", record.secret_ref);

    for (method, path) in [(reqwest::Method::GET, path.clone()), (reqwest::Method::DELETE, path.clone())] {
        let (code, body) = call(&stack, &other_key, method, &path, None).await;
        assert_eq!((code, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("webhook_not_found")), "{body}");
    }

    let (code, rotated) =
        call(&stack, LOCAL_API_KEY, reqwest::Method::POST, &format!("{path}/rotate-secret"), None).await;
    assert_eq!(code, StatusCode::OK, "{rotated}");
    let stored = stored_secrets(&stack, &name).await.expect("still stored");
    assert_eq!(
        (stored.current.as_str(), stored.previous.as_deref()),
        (rotated["secret"].as_str().unwrap(), Some(first.as_str()))
    );
    let until = Timestamp::parse(rotated["previous_secret_expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(stored.previous_until, Some(until));

    let patch = json!({"events": ["message.failed"], "description": "ops"});
    let (code, patched) = call(&stack, LOCAL_API_KEY, reqwest::Method::PATCH, &path, Some(patch)).await;
    assert_eq!(
        (code, &patched["events"], &patched["description"]),
        (StatusCode::OK, &json!(["message.failed"]), &json!("ops"))
    );
    let (code, listed) = stack.get_as(LOCAL_API_KEY, "/v1/webhooks").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(listed, json!({"webhooks": [patched]}));

    let (code, _) = call(&stack, LOCAL_API_KEY, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    assert_eq!(stored_secrets(&stack, &name).await, None, "the secret goes with the webhook");
    let (code, body) = stack.get_as(LOCAL_API_KEY, &path).await;
    assert_eq!((code, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("webhook_not_found")));
}

#[tokio::test]
async fn configured_as_in_aws_private_and_unresolvable_targets_are_400_within_seconds() {
    let strict = vec![("OUTBOX_ALLOW_PRIVATE_TARGETS", "false".to_string())];
    let stack =
        Stack::start_with(StackOptions { consumers: Consumers::None, overrides: strict, ..Default::default() }).await;
    for (url, code) in [
        ("http://127.0.0.1:9/outbox", "url_not_allowed"),
        ("https://127.0.0.1/outbox", "url_not_allowed"),
        ("https://169.254.169.254/latest/meta-data/", "url_not_allowed"),
        ("https://[fd00:ec2::254]/", "url_not_allowed"),
        ("https://localhost/outbox", "url_not_allowed"),
        // `.invalid` never resolves (RFC 6761), with or without a network.
        ("https://outbox-webhook.invalid/outbox", "url_unresolvable"),
    ] {
        let began = Instant::now();
        let (status, body) =
            stack.post_as(LOCAL_API_KEY, "/v1/webhooks", json!({"url": url, "events": ["message.sent"]})).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code), Some("url")),
            "{url}: {body}"
        );
        assert_error_shape(&body);
        assert!(began.elapsed() < Duration::from_secs(8), "{url} took {:?}", began.elapsed());
    }
    let (_, listed) = stack.get_as(LOCAL_API_KEY, "/v1/webhooks").await;
    assert_eq!(listed, json!({"webhooks": []}));
}
