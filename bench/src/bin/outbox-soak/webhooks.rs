//! The soak's webhook receiver: subscribed to every event of the soak's org, it verifies each
//! call's signature, refuses a share of the calls (500) at random (one event at most 3 times), and
//! keeps the events it took by id, as a real receiver dedupes them. At the end every terminal message must have produced the
//! event of its final status (for its generation): none lost through kills, refusals and replays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use outbox::adapters::dynamodb::DynamoStore;
use outbox::adapters::secrets_manager::SecretsManager;
use outbox::domain::ids::{OrgId, WebhookId};
use outbox::domain::message::{MessageRecord, Status};
use outbox::domain::webhook::{EventType, WebhookRecord, WebhookSecrets, event_id, secret_name};
use outbox::local::LOCAL_ORG;
use outbox::net::signatures::verify_webhook_header;
use outbox::ports::{Clock, SecretStore, SystemClock, WebhookStore};
use outbox::webhooks::SIGNATURE_HEADER;
use outbox_bench::lock;
use secrecy::SecretString;

use crate::stack::Stack;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    calls: usize,
    refused: usize,
    bad_signatures: usize,
    /// Verified and taken events by id, with their copies.
    events: HashMap<String, usize>,
    /// Calls refused on purpose, by event id.
    refusals: HashMap<String, u32>,
}

/// The receiver refuses one event at most this often: with the local 1 s backoff base, its last
/// try comes 1 + 2 + 4 s after its first.
const MAX_REFUSALS: u32 = 3;

pub struct Receiver {
    seen: Arc<Mutex<Seen>>,
    pub url: String,
}

impl Receiver {
    /// Serves on loopback; refuses `refuse_share` of the calls, decided by `seed`.
    pub async fn start(secret: &str, refuse_share: f64, seed: u64) -> Result<Receiver, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|err| format!("receiver: {err}"))?;
        let url = format!("http://{}/soak-events", listener.local_addr().map_err(|err| format!("receiver: {err}"))?);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(seed)));
        let (state, secret) = (seen.clone(), SecretString::from(secret.to_string()));
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (state, secret, rng) = (state.clone(), secret.clone(), rng.clone());
            async move {
                let mut seen = lock(&state);
                seen.calls += 1;
                let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
                if verify_webhook_header(&secret, header, &body, SystemClock.now().epoch_secs()).is_err() {
                    seen.bad_signatures += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|event| event["id"].as_str().map(str::to_string));
                let Some(id) = id else { return StatusCode::BAD_REQUEST };
                // At most MAX_REFUSALS of one event: the backoff doubles per refusal, and a longer
                // run of bad luck would outlast the soak's bounded wait, not test anything more.
                let refusals = seen.refusals.get(&id).copied().unwrap_or(0);
                if refusals < MAX_REFUSALS && lock(&rng).f64() < refuse_share {
                    seen.refused += 1;
                    seen.refusals.insert(id, refusals + 1);
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                *seen.events.entry(id).or_default() += 1;
                StatusCode::NO_CONTENT
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { seen, url })
    }

    /// Subscribes the soak's org (the local org) to every event at this receiver, as
    /// `POST /v1/webhooks` stores a webhook: the secret in Secrets Manager, the record in the table.
    pub async fn subscribe(&self, stack: &Stack, secret: &str) -> Result<(), String> {
        let org = OrgId::from(LOCAL_ORG);
        let webhook_id = WebhookId::generate();
        let secrets = SecretsManager::new(stack.aws.secrets.clone());
        let value = serde_json::to_string(&WebhookSecrets::new(secret.to_string())).map_err(|e| e.to_string())?;
        let secret_ref = secrets
            .put(&secret_name(&org, &webhook_id), &value)
            .await
            .map_err(|err| format!("webhook secret: {err}"))?;
        let now = SystemClock.now();
        let webhook = WebhookRecord {
            org_id: org,
            webhook_id,
            url: self.url.clone(),
            events: EventType::ALL.into_iter().collect(),
            description: Some("soak".into()),
            secret_ref,
            created_at: now,
            updated_at: now,
        };
        let store = DynamoStore::new(stack.aws.dynamodb.clone(), &stack.config.table);
        store.create_webhook(&webhook).await.map_err(|err| format!("webhook: {err}"))?;
        Ok(())
    }

    /// Waits (at most `timeout`) until the receiver has taken the event of each record's final
    /// status; returns a report line and the violations.
    pub async fn check(&self, records: &[&MessageRecord], timeout: Duration) -> (String, Vec<String>) {
        let expected: Vec<(String, &MessageRecord)> = records
            .iter()
            .filter_map(|record| {
                let kind = match record.status {
                    Status::Sent | Status::Delivered | Status::Read | Status::Failed => {
                        EventType::for_status(record.status)?
                    }
                    Status::Queued | Status::Sending | Status::Cancelled => return None,
                };
                Some((event_id(&record.queue_id, record.generation, kind).to_string(), *record))
            })
            .collect();
        let started = Instant::now();
        let missing = loop {
            let missing: Vec<&(String, &MessageRecord)> = {
                let seen = lock(&self.seen);
                expected.iter().filter(|(id, _)| !seen.events.contains_key(id)).collect()
            };
            if missing.is_empty() || started.elapsed() >= timeout {
                break missing;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let seen = lock(&self.seen);
        let copies: usize = seen.events.values().map(|n| n - 1).sum();
        let line = format!(
            "webhooks: {} terminal messages, {} of their final events received (after dedup by id) in {:.1} s; {} calls, {} refused on purpose, {} duplicate copies, {} bad signatures, {} distinct events",
            expected.len(),
            expected.len() - missing.len(),
            started.elapsed().as_secs_f64(),
            seen.calls,
            seen.refused,
            copies,
            seen.bad_signatures,
            seen.events.len()
        );
        let mut violations: Vec<String> = missing
            .iter()
            .take(10)
            .map(|(id, record)| format!("webhooks: no {id} for {} ({})", record.queue_id, record.status.as_str()))
            .collect();
        if missing.len() > 10 {
            violations.push(format!("webhooks: {} more events missing", missing.len() - 10));
        }
        if seen.bad_signatures > 0 {
            violations.push(format!("webhooks: {} calls with a signature that does not verify", seen.bad_signatures));
        }
        (line, violations)
    }
}
