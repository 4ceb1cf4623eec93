//! Orgs, API keys and phones: who may send, and from which number.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An org's id. Every record is scoped to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub fn generate() -> OrgId {
        OrgId(format!("org-{}", uuid::Uuid::new_v4().simple()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for OrgId {
    fn from(value: String) -> Self {
        OrgId(value)
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An org as stored: its id, a human name and when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub org_id: OrgId,
    pub name: String,
    pub created_at: String,
}

/// The SHA-256 of an API key, hex-encoded: the only form in which a key is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(secret: &str) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(secret.as_bytes())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored API key: its hash, owner and display prefix, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub org_id: OrgId,
    /// The first characters of the secret, so a human can tell keys apart.
    pub prefix: String,
    /// Requests per minute; `None` uses the deployment default.
    pub rate_limit: Option<u32>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A freshly generated key: the secret is shown once, then only its hash is kept.
pub struct NewApiKey {
    pub secret: String,
    pub hash: KeyHash,
    pub record: ApiKeyRecord,
}

impl NewApiKey {
    pub fn generate(org_id: OrgId, rate_limit: Option<u32>, now: &str) -> NewApiKey {
        let secret = format!("obx_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        Self::from_secret(secret, org_id, rate_limit, now)
    }

    /// Registers a known secret (the local runner's `local-dev-key`).
    pub fn from_secret(secret: String, org_id: OrgId, rate_limit: Option<u32>, now: &str) -> NewApiKey {
        let hash = KeyHash::of(&secret);
        let record = ApiKeyRecord {
            key_id: format!("key-{}", &hash.as_str()[..16]),
            org_id,
            prefix: secret.chars().take(8).collect(),
            rate_limit,
            created_at: now.to_string(),
            revoked_at: None,
        };
        NewApiKey { secret, hash, record }
    }
}

/// Which provider delivers a phone's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Sandbox,
    WhatsappCloud,
    Http,
}

impl ProviderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::Sandbox => "sandbox",
            ProviderKind::WhatsappCloud => "whatsapp-cloud",
            ProviderKind::Http => "http",
        }
    }
}

/// A phone's provider and its non-secret settings. Secrets (tokens, signing secrets) live in
/// AWS Secrets Manager; only `secret_ref` (the secret's ARN or name) is stored here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderSettings {
    Sandbox,
    /// Meta's WhatsApp Cloud API: `POST {graph_url}/{graph_version}/{phone_number_id}/messages`.
    WhatsappCloud {
        phone_number_id: String,
        graph_url: String,
        graph_version: String,
        secret_ref: String,
    },
    /// A webhook of the user's own: Outbox POSTs each message as JSON, signed with HMAC-SHA256.
    Http {
        url: String,
        secret_ref: String,
    },
}

impl ProviderSettings {
    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderSettings::Sandbox => ProviderKind::Sandbox,
            ProviderSettings::WhatsappCloud { .. } => ProviderKind::WhatsappCloud,
            ProviderSettings::Http { .. } => ProviderKind::Http,
        }
    }

    pub fn secret_ref(&self) -> Option<&str> {
        match self {
            ProviderSettings::Sandbox => None,
            ProviderSettings::WhatsappCloud { secret_ref, .. } | ProviderSettings::Http { secret_ref, .. } => {
                Some(secret_ref)
            }
        }
    }
}

/// The secret half of a WhatsApp Cloud API phone, stored as one JSON secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappCloudSecrets {
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
}

/// The secret half of an `http` provider phone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSecrets {
    pub signing_secret: String,
}

/// Secrets never reach logs, even through `{:?}`.
impl std::fmt::Debug for WhatsappCloudSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WhatsappCloudSecrets { .. }")
    }
}

impl std::fmt::Debug for HttpSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpSecrets { .. }")
    }
}

/// A sending phone of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub org_id: OrgId,
    pub phone_id: String,
    /// Country code + number, digits only, as in the `x-phone` header.
    pub number: String,
    pub provider: ProviderSettings,
    pub created_at: String,
}

impl Phone {
    /// `x-phone` names a phone by number or by phone_id.
    pub fn answers_to(&self, selector: &str) -> bool {
        self.number == selector || self.phone_id == selector
    }

    pub fn generate_id() -> String {
        format!("phone-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_as_sha256() {
        // The FIPS 180-2 test vector for "abc".
        assert_eq!(KeyHash::of("abc").as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let key = NewApiKey::generate(OrgId::from("org-1".to_string()), None, "now");
        assert_ne!(key.hash.as_str(), key.secret);
        assert_eq!(key.hash, KeyHash::of(&key.secret));
        assert!(!key.record.prefix.is_empty() && key.secret.starts_with(&key.record.prefix));
    }

    #[test]
    fn a_phone_answers_to_its_number_and_its_id() {
        let phone = Phone {
            org_id: OrgId::from("o".to_string()),
            phone_id: "phone-local".into(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: "now".into(),
        };
        assert!(phone.answers_to("15550100000"));
        assert!(phone.answers_to("phone-local"));
        assert!(!phone.answers_to("15550100001"));
    }
}
