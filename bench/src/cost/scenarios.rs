//! The records the cost model sizes, made by the real code: a request through the API's router
//! over the in-memory ports (the handler tests' wiring), then the record stepped through
//! `begin_attempt` and `finish_attempt` as the delivery consumer steps it, and each step turned
//! into the DynamoDB item the adapter stores (`stored_message_item`, serde_dynamo).

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt;

use outbox::adapters::dynamodb::stored_message_item;
use outbox::api::{ApiSettings, router};
use outbox::domain::ids::{BroadcastId, OrgId, QueueId};
use outbox::domain::message::MessageRecord;
use outbox::domain::tenant::{NewApiKey, Phone, ProviderSettings};
use outbox::ports::{AttemptResult, BeginAttempt, BroadcastRecord, Clock, StatusStore, TenantStore, Tracking};
use outbox::wiring::{InMemoryApi, in_memory_api};

use crate::records::Item;

const KEY: &str = "obx_cost_model_key";
const NUMBER: &str = "15550100000";
const ORG: &str = "org-cost-model";
/// The text of the send benchmark (shared/benches/send_handler.rs), so the figures compare.
pub const TEXT: &str = "Your order #1234 has shipped and arrives Tuesday.";
/// A WhatsApp Cloud message id as Meta returns it (`wamid.` and base64), the longest provider id.
const PROVIDER_MESSAGE_ID: &str = "wamid.HBgLOTE5NTM3ODUxODQ0FQIAERgSMEE3QzQ2RDM3MzVBRTlGQjg4AA==";
/// The decoded size of the image scenario.
pub const IMAGE_BYTES: usize = 1024 * 1024;

/// One message's item at each write the delivery path makes.
#[derive(Debug, Clone)]
pub struct MessageItems {
    pub created: Item,
    pub begun: Item,
    pub finished: Item,
}

/// What a scenario's request left behind.
#[derive(Debug)]
pub struct Scenario {
    pub request_bytes: usize,
    /// One message's items (every message of a broadcast has the same shape).
    pub message: MessageItems,
    pub messages: usize,
    /// The broadcast's summary item (written twice: queuing, then queued).
    pub broadcast_summary: Option<Item>,
    /// Staged media, bytes.
    pub media_bytes: u64,
}

/// The in-memory API with one org, key and sandbox phone, and the limiter on (the default).
async fn api() -> Result<InMemoryApi, String> {
    let settings = ApiSettings {
        max_body_bytes: 6 * 1024 * 1024,
        auth_cache_ttl: Duration::from_secs(600),
        rate_limit_per_minute: Some(1_000_000),
        api_timeout: Duration::from_secs(29),
    };
    let api = in_memory_api(settings);
    let org = OrgId::from(ORG);
    let now = api.clock.now();
    let key = NewApiKey::from_secret(KEY.into(), org.clone(), None, now);
    api.store.put_api_key(&key.hash, &key.record).await.map_err(|err| err.to_string())?;
    let phone = Phone {
        org_id: org,
        phone_id: "phone-cost".into(),
        number: NUMBER.into(),
        provider: ProviderSettings::Sandbox,
        created_at: now,
    };
    api.store.put_phone(&phone).await.map_err(|err| err.to_string())?;
    Ok(api)
}

async fn post(api: &InMemoryApi, path: &str, body: &str) -> Result<Value, String> {
    let request = Request::post(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .header("x-phone", NUMBER)
        .body(Body::from(body.to_string()))
        .map_err(|err| err.to_string())?;
    let response = router(api.state.clone()).oneshot(request).await.map_err(|err| err.to_string())?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.map_err(|err| err.to_string())?;
    if !status.is_success() {
        return Err(format!("{path} answered {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|err| format!("{path} answered no JSON: {err}"))
}

fn item(record: &MessageRecord) -> Result<Item, String> {
    stored_message_item(record).map_err(|err| err.to_string())
}

/// The record through one successful attempt, as the delivery consumer takes it (a 30 s lease,
/// 200 ms at the provider), and its item after each write.
async fn deliver(api: &InMemoryApi, created: &MessageRecord) -> Result<MessageItems, String> {
    let (org, queue_id) = (&created.org_id, &created.queue_id);
    api.clock.advance(Duration::from_millis(150));
    let now = api.clock.now();
    let begun = match api
        .store
        .begin_attempt(org, queue_id, Some(&created.unique_id), now, now.plus(Duration::from_secs(30)))
        .await
    {
        Ok(BeginAttempt::Started(record)) => record,
        other => return Err(format!("begin_attempt did not start the attempt: {other:?}")),
    };
    api.clock.advance(Duration::from_millis(200));
    let sent = AttemptResult::Sent { provider_message_id: PROVIDER_MESSAGE_ID.into(), findable: false };
    if !api
        .store
        .finish_attempt(org, queue_id, begun.attempts, sent, api.clock.now())
        .await
        .map_err(|e| e.to_string())?
    {
        return Err("finish_attempt did not apply".into());
    }
    let finished = api.store.get(org, queue_id).await.map_err(|e| e.to_string())?.ok_or("the record vanished")?;
    Ok(MessageItems { created: item(created)?, begun: item(&begun)?, finished: item(&finished)? })
}

async fn record(api: &InMemoryApi, queue_id: &str) -> Result<MessageRecord, String> {
    let queue_id = QueueId::from(queue_id.to_string());
    api.store.get(&OrgId::from(ORG), &queue_id).await.map_err(|e| e.to_string())?.ok_or("no record was written".into())
}

/// `POST /v1/message/send` of `body`, then its delivery.
async fn send(body: Value) -> Result<Scenario, String> {
    let api = api().await?;
    let body = body.to_string();
    let answer = post(&api, "/v1/message/send", &body).await?;
    let queue_id = answer["queue_id"].as_str().ok_or("the send answered no queue_id")?;
    let created = record(&api, queue_id).await?;
    let media_bytes = created.media.as_ref().and_then(|media| media.size).unwrap_or(0);
    let message = deliver(&api, &created).await?;
    Ok(Scenario { request_bytes: body.len(), message, messages: 1, broadcast_summary: None, media_bytes })
}

/// A text message of `text`.
pub async fn text(text: &str) -> Result<Scenario, String> {
    send(json!({"chat_id": "919537851844@c.us", "message": text})).await
}

/// A `IMAGE_BYTES` image sent inline as base64, with a caption.
pub async fn image() -> Result<Scenario, String> {
    let mut rng = fastrand::Rng::with_seed(7);
    let image: Vec<u8> = (0..IMAGE_BYTES).map(|_| rng.u8(..)).collect();
    let filedata = base64::engine::general_purpose::STANDARD.encode(image);
    send(json!({
        "chat_id": "919537851844@c.us", "message": "the photo",
        "media": {"type": "image", "filename": "photo.jpg", "mimetype": "image/jpeg", "filedata": filedata}
    }))
    .await
}

/// `POST /v1/message/broadcast` of the text to `chats` chats; one of its messages delivered.
pub async fn broadcast(chats: usize) -> Result<Scenario, String> {
    let api = api().await?;
    let chat_ids: Vec<String> = (0..chats).map(|i| format!("9199{i:08}")).collect();
    let body = json!({"chat_ids": chat_ids, "message": TEXT}).to_string();
    let answer = post(&api, "/v1/message/broadcast", &body).await?;
    let id = answer["broadcast_id"].as_str().ok_or("the broadcast answered no broadcast_id")?;
    let broadcast_id = BroadcastId::from(id.to_string());
    let summary: BroadcastRecord = api
        .store
        .get_broadcast(&OrgId::from(ORG), &broadcast_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no broadcast summary was written")?;
    let messages = api.store.broadcast_messages(&summary).await.map_err(|e| e.to_string())?;
    if messages.len() != chats {
        return Err(format!("the broadcast wrote {} of {chats} records", messages.len()));
    }
    // Its longest record (the last position has the longest unique_id) stands for all.
    let longest = messages.iter().max_by_key(|r| item(r).map(|i| crate::records::item_size(&i)).unwrap_or(0));
    let message = deliver(&api, longest.ok_or("no records")?).await?;
    // The summary as the adapter puts it: the record and its key (`BCAST#{org}#{id}` / `BCAST`).
    let mut summary_item: Item = serde_dynamo::to_item(&summary).map_err(|e| e.to_string())?;
    summary_item.insert("pk".into(), aws_sdk_dynamodb::types::AttributeValue::S(format!("BCAST#{ORG}#{id}")));
    summary_item.insert("sk".into(), aws_sdk_dynamodb::types::AttributeValue::S("BCAST".into()));
    Ok(Scenario {
        request_bytes: body.len(),
        message,
        messages: chats,
        broadcast_summary: Some(summary_item),
        media_bytes: 0,
    })
}
