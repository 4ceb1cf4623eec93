//! Receipts as they arrive over HTTP: Meta's webhook (the verify-token handshake and signed status
//! batches) and an `http` gateway's signed receipts. Every signature is checked over the raw body
//! before any of it is parsed; the phones' secrets come from the secret store, cached briefly.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::{Applied, Receipts};
use crate::cache::TtlCache;
use crate::domain::ids::{OrgId, PhoneId, QueueId};
use crate::domain::receipt::{Receipt, ReceiptStatus};
use crate::domain::tenant::{HttpSecrets, Phone, ProviderSettings, WhatsappCloudSecrets};
use crate::net::signatures::{SignatureError, same_secret, verify_meta_signature, verify_outbox_signature};
use crate::ports::{SecretStore, StoreError, TenantStore};
use crate::providers::MAX_PROVIDER_ID_BYTES;
use crate::telemetry::chain;

/// Phones' secrets kept per warm instance.
const CACHE_CAPACITY: u64 = 10_000;
/// The most receipts one gateway request may carry.
pub const MAX_GATEWAY_RECEIPTS: usize = 100;
/// The longest `hub.challenge` echoed back (Meta sends a short number).
pub const MAX_CHALLENGE_BYTES: usize = 256;

/// Why a receipt request is refused; the route maps each to its status code.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// Missing, malformed or wrong signature, or no phone it could be for: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The handshake's mode or token is wrong: 403.
    #[error("{0}")]
    Forbidden(String),
    /// Signed, but not the documented body: 400.
    #[error("{0}")]
    Invalid(String),
    /// The store or the secret store did not answer: 503 (the sender retries; applying is idempotent).
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for InboundError {
    fn from(err: StoreError) -> Self {
        InboundError::Unavailable(format!("the message store is unavailable: {}", chain(&err)))
    }
}

/// How many receipts a request carried and what they did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub applied: usize,
    pub unchanged: usize,
    pub unknown: usize,
    /// Meta's incoming messages (`messages[]`): acknowledged, not processed yet.
    pub ignored: usize,
}

impl Tally {
    fn count(&mut self, applied: Applied) {
        match applied {
            Applied::Moved(_) => self.applied += 1,
            Applied::Unchanged(_) => self.unchanged += 1,
            Applied::Unknown => self.unknown += 1,
        }
    }
}

/// The inbound side: the applier plus where phones and their secrets are read.
pub struct Inbound {
    pub receipts: Receipts,
    pub tenants: Arc<dyn TenantStore>,
    secrets: Arc<dyn SecretStore>,
    cache: TtlCache<String, Arc<String>>,
}

impl Inbound {
    pub fn new(
        receipts: Receipts,
        tenants: Arc<dyn TenantStore>,
        secrets: Arc<dyn SecretStore>,
        ttl: Duration,
    ) -> Self {
        Inbound { receipts, tenants, secrets, cache: TtlCache::new(ttl, CACHE_CAPACITY) }
    }

    async fn secret<T: DeserializeOwned>(&self, reference: &str) -> Result<T, InboundError> {
        let load = async {
            self.secrets
                .get(reference)
                .await
                .map(Arc::new)
                .map_err(|err| format!("the secret store is unavailable: {}", chain(&err)))
        };
        let raw = self.cache.get_or_load(reference.to_string(), load).await.map_err(InboundError::Unavailable)?;
        // The position only: the value is a secret.
        serde_json::from_str(&raw).map_err(|err| {
            InboundError::Unavailable(format!(
                "secret {reference} is not JSON (line {}, column {})",
                err.line(),
                err.column()
            ))
        })
    }

    /// The whatsapp-cloud phones with their secrets; one whose secret cannot be read is skipped
    /// (logged), so one broken phone does not stop the others' receipts.
    async fn cloud_phones(&self) -> Result<Vec<(Phone, WhatsappCloudSecrets)>, InboundError> {
        let mut phones = vec![];
        for phone in self.receipts.receipts.whatsapp_phones(None).await? {
            let ProviderSettings::WhatsappCloud { secret_ref, .. } = &phone.provider else { continue };
            match self.secret::<WhatsappCloudSecrets>(secret_ref).await {
                Ok(secrets) => phones.push((phone, secrets)),
                Err(err) => {
                    warn!(phone_id = %phone.phone_id, error = %err, "skipping a phone whose secret cannot be read")
                }
            }
        }
        Ok(phones)
    }

    /// Meta's `GET` handshake: the challenge, when `token` is some whatsapp-cloud phone's verify
    /// token (every phone's is compared, in constant time each).
    pub async fn verify_subscription(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, InboundError> {
        let forbidden = |why: &str| Err(InboundError::Forbidden(why.to_string()));
        if mode != Some("subscribe") {
            return forbidden("hub.mode must be subscribe");
        }
        let (Some(token), Some(challenge)) = (token, challenge) else {
            return forbidden("hub.verify_token and hub.challenge are required");
        };
        if challenge.is_empty() || challenge.len() > MAX_CHALLENGE_BYTES {
            return forbidden("hub.challenge must be 1 to 256 bytes");
        }
        let phones = self.cloud_phones().await?;
        let matched =
            phones.iter().fold(false, |found, (_, secrets)| same_secret(&secrets.verify_token, token) | found);
        if matched {
            Ok(challenge.to_string())
        } else {
            forbidden("the verify token is not one of a whatsapp-cloud phone")
        }
    }

    /// Meta's signed `POST`: the signature is checked under each distinct app secret before the
    /// body is parsed; statuses are applied only for phones whose app secret signed it.
    pub async fn meta_webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<Tally, InboundError> {
        if signature.is_none() {
            return Err(InboundError::Unauthorized("X-Hub-Signature-256 is missing".into()));
        }
        let phones = self.cloud_phones().await?;
        // One HMAC of the body per phone: a deployment has few, and Meta's bodies are small.
        let signed_by: Vec<&Phone> = phones
            .iter()
            .filter(|(_, secrets)| verify_meta_signature(&secrets.app_secret, signature, body).is_ok())
            .map(|(phone, _)| phone)
            .collect();
        if signed_by.is_empty() {
            return Err(InboundError::Unauthorized(
                "X-Hub-Signature-256 does not match the app secret of any whatsapp-cloud phone".into(),
            ));
        }
        let payload: MetaPayload = serde_json::from_slice(body)
            .map_err(|err| InboundError::Invalid(format!("not a WhatsApp webhook body: {err}")))?;
        let mut tally = Tally::default();
        for value in payload.entry.into_iter().flat_map(|entry| entry.changes).filter_map(|change| change.value) {
            tally.ignored += value.messages.len();
            let number_id = value.metadata.as_ref().map(|m| m.phone_number_id.as_str()).unwrap_or_default();
            let owners: Vec<&Phone> =
                signed_by.iter().copied().filter(|phone| cloud_number(phone) == Some(number_id)).collect();
            for status in value.statuses {
                let Some((queue_id, receipt)) = status.receipt() else {
                    tally.unchanged += 1;
                    continue;
                };
                if owners.is_empty() {
                    tally.unknown += 1;
                }
                for phone in &owners {
                    tally.count(self.receipts.apply(phone, queue_id.as_ref(), &receipt).await?);
                }
            }
        }
        info!(?tally, "whatsapp webhook");
        Ok(tally)
    }

    /// An `http` gateway's signed receipts for the phone named by `org` and `phone_id`.
    pub async fn gateway_receipts(
        &self,
        org: Option<&str>,
        phone_id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Tally, InboundError> {
        let unauthorized = |why: &str| InboundError::Unauthorized(why.to_string());
        let (Some(org), Some(phone_id)) = (org, phone_id) else {
            return Err(unauthorized("X-Outbox-Org-Id and X-Outbox-Phone-Id name the phone whose secret signs"));
        };
        let (org, phone_id) = (OrgId::from(org.to_string()), PhoneId::from(phone_id.to_string()));
        let phone = self.tenants.get_phone(&org, &phone_id).await?;
        let Some((phone, secret_ref)) = phone.and_then(|phone| match &phone.provider {
            ProviderSettings::Http { secret_ref, .. } => Some((phone.clone(), secret_ref.clone())),
            _ => None,
        }) else {
            return Err(unauthorized("no http phone with that org and phone id"));
        };
        let secrets: HttpSecrets = self.secret(&secret_ref).await?;
        verify_outbox_signature(&secrets.signing_secret, timestamp, signature, body, now).map_err(|err| {
            InboundError::Unauthorized(match err {
                SignatureError::Missing => "X-Outbox-Timestamp and X-Outbox-Signature are required".into(),
                other => format!("the signature does not verify: {other}"),
            })
        })?;
        let payload: GatewayPayload =
            serde_json::from_slice(body).map_err(|err| InboundError::Invalid(format!("not a receipts body: {err}")))?;
        if payload.receipts.is_empty() || payload.receipts.len() > MAX_GATEWAY_RECEIPTS {
            return Err(InboundError::Invalid(format!("receipts must hold 1 to {MAX_GATEWAY_RECEIPTS} entries")));
        }
        let mut parsed = Vec::with_capacity(payload.receipts.len());
        for (index, entry) in payload.receipts.into_iter().enumerate() {
            parsed.push(entry.receipt().map_err(|why| InboundError::Invalid(format!("receipts[{index}]: {why}")))?);
        }
        let mut tally = Tally::default();
        for (queue_id, receipt) in parsed {
            tally.count(self.receipts.apply(&phone, queue_id.as_ref(), &receipt).await?);
        }
        info!(?tally, phone_id = %phone.phone_id, "gateway receipts");
        Ok(tally)
    }
}

fn cloud_number(phone: &Phone) -> Option<&str> {
    match &phone.provider {
        ProviderSettings::WhatsappCloud { phone_number_id, .. } => Some(phone_number_id),
        _ => None,
    }
}

/// A provider message id we keep (as the delivery path does), or nothing.
fn bounded(id: String) -> Option<String> {
    (!id.is_empty() && id.len() <= MAX_PROVIDER_ID_BYTES).then_some(id)
}

/// Meta's webhook body, only the parts receipts read; unknown fields are ignored.
#[derive(Deserialize)]
struct MetaPayload {
    #[serde(default)]
    entry: Vec<MetaEntry>,
}

#[derive(Deserialize)]
struct MetaEntry {
    #[serde(default)]
    changes: Vec<MetaChange>,
}

/// A change of another field (template status, account update, …) may carry another value: skipped.
#[derive(Deserialize)]
struct MetaChange {
    #[serde(default)]
    value: Option<MetaValue>,
}

#[derive(Deserialize)]
struct MetaValue {
    metadata: Option<MetaMetadata>,
    #[serde(default)]
    statuses: Vec<MetaStatus>,
    #[serde(default)]
    messages: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct MetaMetadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct MetaStatus {
    id: String,
    status: String,
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    errors: Vec<ProviderError>,
}

#[derive(Deserialize)]
struct ProviderError {
    code: Option<i64>,
    title: Option<String>,
}

impl MetaStatus {
    /// The receipt, with our queue_id when Meta echoed it; `None` for statuses receipts do not
    /// track (e.g. `deleted`, `warning`) and ids we would not have kept.
    fn receipt(self) -> Option<(Option<QueueId>, Receipt)> {
        let status = match self.status.as_str() {
            "sent" => ReceiptStatus::Sent,
            "delivered" => ReceiptStatus::Delivered,
            "read" => ReceiptStatus::Read,
            "failed" => {
                let error = self.errors.first();
                ReceiptStatus::failed(
                    "whatsapp-cloud",
                    error.and_then(|e| e.code),
                    error.and_then(|e| e.title.as_deref()),
                )
            }
            _ => return None,
        };
        let queue_id = self.biz_opaque_callback_data.as_deref().and_then(QueueId::parse);
        Some((queue_id, Receipt { provider_message_id: bounded(self.id)?, status }))
    }
}

/// An `http` gateway's receipts body (README: "Receipts from an http gateway").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayPayload {
    receipts: Vec<GatewayReceipt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayReceipt {
    queue_id: Option<String>,
    /// The id the gateway answered the message with.
    message_id: String,
    status: String,
    error: Option<ProviderError>,
}

impl GatewayReceipt {
    fn receipt(self) -> Result<(Option<QueueId>, Receipt), String> {
        let status = match self.status.as_str() {
            "delivered" => ReceiptStatus::Delivered,
            "read" => ReceiptStatus::Read,
            "failed" => ReceiptStatus::failed(
                "http",
                self.error.as_ref().and_then(|e| e.code),
                self.error.as_ref().and_then(|e| e.title.as_deref()),
            ),
            other => return Err(format!("status must be delivered, read or failed, not {other:?}")),
        };
        let queue_id = match self.queue_id {
            Some(raw) => Some(QueueId::parse(&raw).ok_or_else(|| format!("queue_id {raw:?} is not a queue id"))?),
            None => None,
        };
        let provider_message_id =
            bounded(self.message_id).ok_or_else(|| format!("message_id must be 1 to {MAX_PROVIDER_ID_BYTES} bytes"))?;
        Ok((queue_id, Receipt { provider_message_id, status }))
    }
}
