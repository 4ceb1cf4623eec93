//! Webhooks out: what a subscription is (a URL, the events it wants, a description), how a
//! request to create or change one is validated, and the event a status change becomes, with an
//! id that stays the same on every retry. Where a URL may point is `net::egress`'s rule.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::{EventId, OrgId, QueueId, WebhookId};
use super::message::{MessageRecord, Status};
use super::time::Timestamp;
use super::validation::{ValidationError, parse_web_url};

/// A webhook URL may be this long.
pub const MAX_WEBHOOK_URL_CHARS: usize = 2_048;
/// A webhook's description may be this long.
pub const MAX_WEBHOOK_DESCRIPTION_CHARS: usize = 256;

/// The events a webhook can subscribe to, one per status a message reports on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "message.sent")]
    MessageSent,
    #[serde(rename = "message.delivered")]
    MessageDelivered,
    #[serde(rename = "message.read")]
    MessageRead,
    #[serde(rename = "message.failed")]
    MessageFailed,
}

impl EventType {
    pub const ALL: [EventType; 4] =
        [EventType::MessageSent, EventType::MessageDelivered, EventType::MessageRead, EventType::MessageFailed];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageSent => "message.sent",
            EventType::MessageDelivered => "message.delivered",
            EventType::MessageRead => "message.read",
            EventType::MessageFailed => "message.failed",
        }
    }

    pub fn parse(raw: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|event| event.as_str() == raw)
    }

    /// The event a message reaching `status` produces; queued, sending and cancelled produce none.
    pub fn for_status(status: Status) -> Option<EventType> {
        match status {
            Status::Sent => Some(EventType::MessageSent),
            Status::Delivered => Some(EventType::MessageDelivered),
            Status::Read => Some(EventType::MessageRead),
            Status::Failed => Some(EventType::MessageFailed),
            Status::Queued | Status::Sending | Status::Cancelled => None,
        }
    }
}

/// `POST /v1/webhooks` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNewWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// `PATCH /v1/webhooks/{id}` as sent: each field present is changed; `description: null` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// A validated subscription request. The URL's shape is checked here; whether it may be reached
/// (https, a public address) is `Egress::vet`'s to say, at creation and again at each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: BTreeSet<EventType>,
    pub description: Option<String>,
}

/// A validated change: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<BTreeSet<EventType>>,
    pub description: Option<Option<String>>,
}

impl NewWebhook {
    pub fn parse(raw: RawNewWebhook) -> Result<NewWebhook, ValidationError> {
        let url = raw.url.ok_or_else(|| ValidationError::missing_field("url"))?;
        let events = raw.events.ok_or_else(|| ValidationError::missing_field("events"))?;
        Ok(NewWebhook {
            url: parse_url(url)?,
            events: parse_events(&events)?,
            description: parse_description(raw.description)?,
        })
    }
}

impl WebhookPatch {
    pub fn parse(raw: RawWebhookPatch) -> Result<WebhookPatch, ValidationError> {
        let patch = WebhookPatch {
            url: raw.url.map(parse_url).transpose()?,
            events: raw.events.as_deref().map(parse_events).transpose()?,
            description: raw.description.map(parse_description).transpose()?,
        };
        if patch == WebhookPatch::default() {
            return Err(ValidationError::bad_request(
                "empty_patch",
                None,
                "give at least one of url, events and description to change",
            ));
        }
        Ok(patch)
    }
}

fn parse_url(raw: String) -> Result<String, ValidationError> {
    ValidationError::check_length(&raw, "url", MAX_WEBHOOK_URL_CHARS)?;
    // http is refused later by the egress rule outside the local stack, with its own reason.
    match parse_web_url(&raw, &["https", "http"]) {
        Some(_) => Ok(raw),
        None => Err(ValidationError::bad_request(
            "invalid_url",
            Some("url"),
            "url must be an absolute https URL, e.g. https://example.com/outbox-events",
        )),
    }
}

fn parse_events(raw: &[String]) -> Result<BTreeSet<EventType>, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::bad_request("invalid_events", Some("events"), events_hint("events is empty")));
    }
    raw.iter()
        .enumerate()
        .map(|(i, name)| {
            EventType::parse(name).ok_or_else(|| {
                let field = format!("events[{i}]");
                ValidationError::bad_request(
                    "invalid_events",
                    Some(&field),
                    events_hint(&format!("{field} is {name:?}")),
                )
            })
        })
        .collect()
}

fn events_hint(what: &str) -> String {
    let known: Vec<&str> = EventType::ALL.iter().map(|event| event.as_str()).collect();
    format!("{what}; list one or more of {}", known.join(", "))
}

fn parse_description(raw: Option<String>) -> Result<Option<String>, ValidationError> {
    let Some(description) = raw.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()) else { return Ok(None) };
    ValidationError::check_length(&description, "description", MAX_WEBHOOK_DESCRIPTION_CHARS)?;
    Ok(Some(description))
}

/// A stored subscription. The secrets are in the secret store; the record keeps their reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub org_id: OrgId,
    pub webhook_id: WebhookId,
    pub url: String,
    pub events: BTreeSet<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The secret store's reference to `{current, previous?, previous_until?}`.
    pub secret_ref: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookRecord {
    /// Whether this subscription wants `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.events.contains(&event)
    }

    /// The record with `patch` applied at `now`.
    pub fn patched(&self, patch: WebhookPatch, now: Timestamp) -> WebhookRecord {
        WebhookRecord {
            url: patch.url.unwrap_or_else(|| self.url.clone()),
            events: patch.events.unwrap_or_else(|| self.events.clone()),
            description: patch.description.unwrap_or_else(|| self.description.clone()),
            updated_at: now,
            ..self.clone()
        }
    }
}

/// An event's id: derived from the message, its generation (a replayed message may be sent again)
/// and the event's type, so every retry, and every copy a redelivered stream record makes, carries
/// the same id and a receiver's dedup on it works.
pub fn event_id(queue_id: &QueueId, generation: u32, event: EventType) -> EventId {
    let digest = Sha256::new()
        .chain_update(queue_id.as_str())
        .chain_update([0])
        .chain_update(generation.to_be_bytes())
        .chain_update(event.as_str())
        .finalize();
    EventId::from(format!("evt_{}", &hex::encode(digest)[..32]))
}

/// The body of one webhook request, as the contract gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEvent {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: Timestamp,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventData {
    pub queue_id: String,
    pub unique_id: String,
    pub chat_id: String,
    /// The sending phone's number.
    pub phone: String,
    pub status: &'static str,
    pub status_description: Option<String>,
    pub attempts: u32,
}

impl WebhookEvent {
    /// The event `record` (as it is after a change) produces, stamped `at` the change; `None` for a
    /// status no event reports. `phone` is the sending phone's number, which the record does not keep.
    pub fn of(record: &MessageRecord, phone: &str, at: Timestamp) -> Option<WebhookEvent> {
        let kind = EventType::for_status(record.status)?;
        Some(WebhookEvent {
            id: event_id(&record.queue_id, record.generation, kind),
            kind,
            created_at: at,
            data: EventData {
                queue_id: record.queue_id.to_string(),
                unique_id: record.unique_id.to_string(),
                chat_id: record.chat_id.as_str().to_string(),
                phone: phone.to_string(),
                status: record.status.as_str(),
                status_description: record.status_description.clone(),
                attempts: record.attempts,
            },
        })
    }
}

/// One event for one webhook, as the events queue carries it: the body is serialised once, when the
/// status change is seen, so every retry posts the same bytes (only the signature's `t` changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDelivery {
    pub org_id: OrgId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub body: String,
}

impl EventDelivery {
    /// `event` addressed to `webhook`.
    pub fn of(webhook: &WebhookRecord, event: &WebhookEvent) -> EventDelivery {
        EventDelivery {
            org_id: webhook.org_id.clone(),
            webhook_id: webhook.webhook_id.clone(),
            event_id: event.id.clone(),
            kind: event.kind,
            // Ids, strings, numbers and timestamps always serialise.
            body: serde_json::to_string(event).unwrap_or_default(),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Result<EventDelivery, serde_json::Error> {
        serde_json::from_str(raw)
    }
}

/// Webhooks' secrets are named under this prefix, apart from phones' (`outbox/…`), so that the
/// API's role can write these without being able to write those, and the webhook function can read
/// only these (template.yaml, `WebhookSecrets`).
pub const SECRET_PREFIX: &str = "outbox-webhooks/";

/// Where a webhook's secrets live in the secret store.
pub fn secret_name(org: &OrgId, webhook_id: &WebhookId) -> String {
    format!("{SECRET_PREFIX}{org}/{webhook_id}")
}

/// How long a rotated-out secret still signs (beside the new one), so receivers can switch over.
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What the secret store keeps for one webhook, as JSON: the secret it signs with, and during a
/// rotation the previous one until `previous_until`. Debug never prints a secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecrets {
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<Timestamp>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets").field("previous_until", &self.previous_until).finish_non_exhaustive()
    }
}

impl WebhookSecrets {
    /// A new webhook's secrets: one fresh secret.
    pub fn new(current: String) -> WebhookSecrets {
        WebhookSecrets { current, previous: None, previous_until: None }
    }

    /// After a rotation at `now` to `fresh`: the current secret stays valid for `ROTATION_OVERLAP`
    /// (a second rotation within it drops the oldest, which receivers were told to leave anyway).
    pub fn rotated(&self, fresh: String, now: Timestamp) -> WebhookSecrets {
        WebhookSecrets {
            current: fresh,
            previous: Some(self.current.clone()),
            previous_until: Some(now.plus(ROTATION_OVERLAP)),
        }
    }

    /// The secrets a request signed at `now` carries a `v1=` for: the current one first, then the
    /// previous one while its overlap lasts.
    pub fn signing_at(&self, now: Timestamp) -> Vec<secrecy::SecretString> {
        let mut secrets = vec![secrecy::SecretString::from(self.current.clone())];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_until)
            && now < until
        {
            secrets.push(secrecy::SecretString::from(previous.clone()));
        }
        secrets
    }
}

/// A webhook's signing secret, `whsec_` and 64 hex digits (256 random bits), shown to its owner
/// once; Outbox keeps it to sign with, so it is stored as a secret, not hashed.
pub fn generate_secret() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("whsec_{}{}", a.simple(), b.simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UniqueId;
    use crate::domain::message::sending_fixture;
    use crate::domain::tenant::ProviderKind;
    use serde_json::json;

    fn new_webhook(body: serde_json::Value) -> Result<NewWebhook, ValidationError> {
        NewWebhook::parse(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn a_subscription_names_an_absolute_url_and_known_events_once_each() {
        let webhook = new_webhook(json!({
            "url": "https://example.com/hook",
            "events": ["message.read", "message.sent", "message.read"],
            "description": "  CRM sync  "
        }))
        .unwrap();
        assert_eq!(webhook.url, "https://example.com/hook");
        assert_eq!(webhook.events, BTreeSet::from([EventType::MessageSent, EventType::MessageRead]));
        assert_eq!(webhook.description.as_deref(), Some("CRM sync"));
    }

    #[test]
    fn bad_subscriptions_name_the_field_and_what_to_send() {
        let err = new_webhook(json!({"events": ["message.sent"]})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("missing_field", Some("url")));
        let err = new_webhook(json!({"url": "ftp://example.com", "events": ["message.sent"]})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_url", Some("url")));
        let err = new_webhook(json!({"url": "https://example.com", "events": []})).unwrap_err();
        assert_eq!(err.code, "invalid_events");
        let err = new_webhook(json!({"url": "https://example.com", "events": ["message.sent", "message.queued"]}))
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events[1]"));
        assert!(err.message.contains("message.delivered"), "{}", err.message);
        let long = "d".repeat(MAX_WEBHOOK_DESCRIPTION_CHARS + 1);
        let err = new_webhook(json!({"url": "https://example.com", "events": ["message.sent"], "description": long}))
            .unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("too_long", Some("description")));
        let long_url = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_CHARS));
        let err = new_webhook(json!({"url": long_url, "events": ["message.sent"]})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("too_long", Some("url")));
        assert!(serde_json::from_value::<RawNewWebhook>(json!({"url": "https://a.b", "secret": "x"})).is_err());
    }

    #[test]
    fn a_patch_changes_what_it_names_and_null_clears_the_description() {
        let patch = |body| WebhookPatch::parse(serde_json::from_value(body).unwrap());
        assert_eq!(patch(json!({"description": null})).unwrap().description, Some(None));
        let changed = patch(json!({"events": ["message.failed"]})).unwrap();
        assert_eq!(changed.events, Some(BTreeSet::from([EventType::MessageFailed])));
        assert_eq!((changed.url, changed.description), (None, None));
        assert_eq!(patch(json!({})).unwrap_err().code, "empty_patch");
    }

    #[test]
    fn an_event_id_is_stable_per_message_generation_and_type() {
        let queue_id = QueueId::of(&UniqueId::generate());
        let sent = event_id(&queue_id, 0, EventType::MessageSent);
        assert_eq!(sent, event_id(&queue_id, 0, EventType::MessageSent));
        assert!(sent.as_str().starts_with("evt_") && sent.as_str().len() == 36, "{sent}");
        assert_ne!(sent, event_id(&queue_id, 0, EventType::MessageRead));
        assert_ne!(sent, event_id(&queue_id, 1, EventType::MessageSent));
        assert_ne!(sent, event_id(&QueueId::of(&UniqueId::generate()), 0, EventType::MessageSent));
    }

    #[test]
    fn a_status_change_becomes_the_contracts_event_body() {
        let mut record = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
        record.status = Status::Delivered;
        record.attempts = 1;
        let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
        let event = WebhookEvent::of(&record, "15550100000", at).unwrap();
        let body = serde_json::to_value(&event).unwrap();
        assert_eq!(body["type"], "message.delivered");
        assert_eq!(body["id"], event_id(&record.queue_id, record.generation, EventType::MessageDelivered).as_str());
        assert_eq!(body["created_at"], "2026-11-30T12:00:00.000Z");
        assert_eq!(body["data"]["queue_id"], record.queue_id.as_str());
        assert_eq!(body["data"]["phone"], "15550100000");
        assert_eq!(body["data"]["status"], "delivered");
        assert_eq!(body["data"]["attempts"], 1);
        record.status = Status::Cancelled;
        assert_eq!(WebhookEvent::of(&record, "15550100000", at), None);
    }

    #[test]
    fn a_patch_keeps_what_it_does_not_name() {
        let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
        let record = WebhookRecord {
            org_id: OrgId::from("org-a"),
            webhook_id: WebhookId::generate(),
            url: "https://example.com/a".into(),
            events: BTreeSet::from([EventType::MessageSent]),
            description: Some("crm".into()),
            secret_ref: "ref".into(),
            created_at: at,
            updated_at: at,
        };
        let later = at.plus(std::time::Duration::from_secs(60));
        let patch = WebhookPatch { description: Some(None), ..WebhookPatch::default() };
        let patched = record.patched(patch, later);
        assert_eq!((&patched.description, patched.updated_at, &patched.url), (&None, later, &record.url));
        assert!(patched.wants(EventType::MessageSent) && !patched.wants(EventType::MessageRead));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["events"], json!(["message.sent"]));
        assert_eq!(serde_json::from_value::<WebhookRecord>(json).unwrap(), record);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_for_a_day_then_only_the_new_one() {
        use secrecy::ExposeSecret;
        let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
        let exposed = |secrets: Vec<secrecy::SecretString>| -> Vec<String> {
            secrets.iter().map(|s| s.expose_secret().to_string()).collect()
        };
        let first = WebhookSecrets::new("whsec_old".into());
        assert_eq!(exposed(first.signing_at(at)), ["whsec_old"]);
        let rotated = first.rotated("whsec_new".into(), at);
        assert_eq!(exposed(rotated.signing_at(at.plus(ROTATION_OVERLAP / 2))), ["whsec_new", "whsec_old"]);
        assert_eq!(exposed(rotated.signing_at(at.plus(ROTATION_OVERLAP))), ["whsec_new"]);
        let json = serde_json::to_string(&rotated).unwrap();
        assert_eq!(serde_json::from_str::<WebhookSecrets>(&json).unwrap(), rotated);
        assert!(!format!("{rotated:?}").contains("whsec"), "Debug never prints a secret");
    }

    #[test]
    fn secrets_are_long_random_and_never_repeat() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64, "{a}");
        assert_ne!(a, b);
    }
}
