//! Webhook events end to end on moto: a sandbox message's `sent`, `delivered` and `read` reach a
//! subscribed receiver on loopback, signed, through the table's stream, the events queue and the
//! webhook sender, although the receiver fails its first two calls and stalls on the third past
//! the timeout; other messages keep flowing meanwhile. Then a dead-lettered event is replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use outbox_tests::outbox::adapters::secrets_manager::SecretsManager;
use outbox_tests::outbox::adapters::sqs::{SqsDeadEvents, SqsEvents};
use outbox_tests::outbox::admin::{EventSelection, replay_events};
use outbox_tests::outbox::domain::ids::{OrgId, WebhookId};
use outbox_tests::outbox::domain::webhook::{EventType, WebhookRecord, WebhookSecrets, secret_name};
use outbox_tests::outbox::local::LOCAL_ORG;
use outbox_tests::outbox::net::signatures::verify_webhook_header;
use outbox_tests::outbox::ports::{Clock, SecretStore, SystemClock, WebhookStore};
use outbox_tests::outbox::webhooks::{CALL_TIMEOUT, SIGNATURE_HEADER};
use outbox_tests::{Stack, StackOptions};
use secrecy::SecretString;
use serde_json::{Value, json};

/// A receiver as the README tells users to write one: verify, then dedupe on the event's id.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<u32>>,
    /// Events by id, with how many verified copies arrived.
    events: Arc<Mutex<BTreeMap<String, (Value, u32)>>>,
    bad_signatures: Arc<Mutex<u32>>,
}

impl Receiver {
    /// Fails calls 1 and 2 with 500, stalls call 3 past the sender's timeout, then answers 200.
    async fn start(secret: &str) -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}/outbox", listener.local_addr().expect("bound"));
        let (state, secret) = (receiver.clone(), SecretString::from(secret.to_string()));
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (state, secret) = (state.clone(), secret.clone());
            async move {
                let call = {
                    let mut calls = state.calls.lock().unwrap();
                    *calls += 1;
                    *calls
                };
                let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
                if verify_webhook_header(&secret, header, &body, SystemClock.now().epoch_secs()).is_err() {
                    *state.bad_signatures.lock().unwrap() += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                match call {
                    1 | 2 => return StatusCode::INTERNAL_SERVER_ERROR,
                    3 => tokio::time::sleep(CALL_TIMEOUT * 2).await,
                    _ => {}
                }
                let event: Value = serde_json::from_slice(&body).expect("a JSON event");
                let id = event["id"].as_str().expect("an id").to_string();
                state.events.lock().unwrap().entry(id).or_insert((event, 0)).1 += 1;
                StatusCode::NO_CONTENT
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// The types of the events seen for `queue_id`, each once however often it came.
    fn types_for(&self, queue_id: &str) -> BTreeSet<String> {
        let events = self.events.lock().unwrap();
        events
            .values()
            .filter(|(event, _)| event["data"]["queue_id"] == queue_id)
            .map(|(event, _)| event["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Subscribes the local org to every event at `url`, as `POST /v1/webhooks` stores it.
async fn subscribe(stack: &Stack, url: &str, secret: &str) -> WebhookRecord {
    let org = OrgId::from(LOCAL_ORG);
    let webhook_id = WebhookId::generate();
    let secrets = SecretsManager::new(stack.aws.secrets.clone());
    let secret_ref = secrets
        .put(&secret_name(&org, &webhook_id), &serde_json::to_string(&WebhookSecrets::new(secret.into())).unwrap())
        .await
        .expect("the secret stored");
    let now = SystemClock.now();
    let webhook = WebhookRecord {
        org_id: org,
        webhook_id,
        url: url.into(),
        events: EventType::ALL.into_iter().collect(),
        description: Some("integration".into()),
        secret_ref,
        created_at: now,
        updated_at: now,
    };
    assert!(stack.store().create_webhook(&webhook).await.expect("stored"));
    webhook
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribed_receiver_gets_sent_delivered_and_read_once_each_through_failures_and_a_stall() {
    let overrides = vec![("OUTBOX_SANDBOX_RECEIPTS", "on".to_string())];
    let stack = Stack::start_with(StackOptions { overrides, ..Default::default() }).await;
    let secret = "whsec_integration";
    let (receiver, url) = Receiver::start(secret).await;
    subscribe(&stack, &url, secret).await;

    let (code, accepted) = stack.send(json!({"chat_id": "919537851844", "message": "tell me everything"})).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{accepted}");
    let queue_id = accepted["queue_id"].as_str().expect("a queue_id").to_string();
    // While the receiver fails and stalls, other messages are sent as usual.
    let mut others = vec![];
    for n in 0..3 {
        let (code, other) = stack.send(json!({"chat_id": format!("91953785190{n}"), "message": "meanwhile"})).await;
        assert_eq!(code, reqwest::StatusCode::OK, "{other}");
        others.push(other["queue_id"].as_str().expect("a queue_id").to_string());
    }
    for other in &others {
        stack.wait_for(other, Duration::from_secs(60), |s| s["status"] == "read").await;
    }

    let wanted: BTreeSet<String> = ["message.sent", "message.delivered", "message.read"].map(String::from).into();
    let started = Instant::now();
    while receiver.types_for(&queue_id) != wanted && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(receiver.types_for(&queue_id), wanted, "calls so far: {}", receiver.calls.lock().unwrap());
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0, "every call verifies");
    let events = receiver.events.lock().unwrap().clone();
    for (id, (event, _copies)) in events.iter().filter(|(_, (e, _))| e["data"]["queue_id"] == queue_id) {
        assert!(id.starts_with("evt_"), "{id}");
        assert_eq!(event["data"]["phone"], "15550100000", "{event}");
        assert_eq!(event["data"]["chat_id"], "919537851844@c.us", "{event}");
        assert!(event["created_at"].is_string(), "{event}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_lettered_event_is_replayed_onto_the_events_queue_and_delivered() {
    let stack = Stack::start().await;
    let secret = "whsec_replay";
    let (receiver, url) = Receiver::start(secret).await;
    let webhook = subscribe(&stack, &url, secret).await;
    // What the redrive puts on the events DLQ after the last try: the delivery as queued.
    let event = json!({"id": "evt_replayed", "type": "message.failed", "created_at": "2026-11-30T12:00:00.000Z",
        "data": {"queue_id": "q-replayed", "unique_id": "u", "chat_id": "919537851844", "phone": "15550100000",
                 "status": "failed", "status_description": "permanent error", "attempts": 1}});
    let delivery = json!({"org_id": webhook.org_id, "webhook_id": webhook.webhook_id, "event_id": "evt_replayed",
                          "type": "message.failed", "body": event.to_string()});
    let dlq_url = stack.config.events_dlq_url.clone().expect("an events DLQ");
    stack.aws.sqs.send_message().queue_url(&dlq_url).message_body(delivery.to_string()).send().await.expect("sent");

    let dead = SqsDeadEvents::new(stack.aws.sqs.clone(), &dlq_url);
    let events = SqsEvents::new(stack.aws.sqs.clone(), stack.config.events_queue_url.clone().expect("an events queue"));
    let missing = replay_events(&dead, &events, &EventSelection::EventId("evt_other".into())).await.expect("replay");
    assert_eq!((missing.replayed.len(), missing.skipped), (0, 1));
    let report = replay_events(&dead, &events, &EventSelection::All).await.expect("replay");
    assert_eq!(report.replayed.len(), 1);

    let started = Instant::now();
    while receiver.types_for("q-replayed").is_empty() && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(receiver.types_for("q-replayed"), BTreeSet::from(["message.failed".to_string()]));
}
