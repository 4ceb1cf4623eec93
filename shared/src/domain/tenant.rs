//! Orgs, API keys and phones: who may send, and from which number.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::ids::{OrgId, PhoneId};
use super::time::Timestamp;

/// An org as stored: its id, a human name and when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub org_id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
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
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A freshly generated key: the secret is shown once, then only its hash is kept.
#[derive(Debug)]
pub struct NewApiKey {
    pub secret: SecretString,
    pub hash: KeyHash,
    pub record: ApiKeyRecord,
}

impl NewApiKey {
    pub fn generate(org_id: OrgId, rate_limit: Option<u32>, now: Timestamp) -> NewApiKey {
        let secret = format!("obx_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        Self::from_secret(secret.into(), org_id, rate_limit, now)
    }

    /// Registers a known secret (the local runner's `local-dev-key`).
    pub fn from_secret(secret: SecretString, org_id: OrgId, rate_limit: Option<u32>, now: Timestamp) -> NewApiKey {
        let hash = KeyHash::of(secret.expose_secret());
        let record = ApiKeyRecord {
            key_id: format!("key-{}", &hash.as_str()[..16]),
            org_id,
            prefix: secret.expose_secret().chars().take(8).collect(),
            rate_limit,
            created_at: now,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhatsappCloudSecrets {
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
    #[serde(serialize_with = "expose")]
    pub app_secret: SecretString,
    #[serde(serialize_with = "expose")]
    pub verify_token: SecretString,
}

/// The secret half of an `http` provider phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSecrets {
    #[serde(serialize_with = "expose")]
    pub signing_secret: SecretString,
}

/// Serialises a secret as its plain text: only for the JSON that goes to the secret store.
fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// Equal secrets, compared in the open: `add_phone` tells an identical phone from a changed one.
impl PartialEq for WhatsappCloudSecrets {
    fn eq(&self, other: &Self) -> bool {
        let pairs = [
            (&self.access_token, &other.access_token),
            (&self.app_secret, &other.app_secret),
            (&self.verify_token, &other.verify_token),
        ];
        pairs.iter().all(|(a, b)| a.expose_secret() == b.expose_secret())
    }
}

impl Eq for WhatsappCloudSecrets {}

impl PartialEq for HttpSecrets {
    fn eq(&self, other: &Self) -> bool {
        self.signing_secret.expose_secret() == other.signing_secret.expose_secret()
    }
}

impl Eq for HttpSecrets {}

/// A sending phone of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub org_id: OrgId,
    pub phone_id: PhoneId,
    /// Country code + number, digits only, as in the `x-phone` header.
    pub number: String,
    pub provider: ProviderSettings,
    pub created_at: Timestamp,
}

impl Phone {
    /// `x-phone` names a phone by number or by phone_id.
    pub fn answers_to(&self, selector: &str) -> bool {
        self.number == selector || self.phone_id == *selector
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_as_sha256() {
        // The FIPS 180-2 test vector for "abc".
        assert_eq!(KeyHash::of("abc").as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let key = NewApiKey::generate(OrgId::from("org-1"), None, now);
        assert_ne!(key.hash.as_str(), key.secret.expose_secret());
        assert_eq!(key.hash, KeyHash::of(key.secret.expose_secret()));
        assert!(!key.record.prefix.is_empty() && key.secret.expose_secret().starts_with(&key.record.prefix));
        assert!(!format!("{key:?}").contains(key.secret.expose_secret()), "a key's Debug hides its secret");
    }

    #[test]
    fn a_phone_answers_to_its_number_and_its_id() {
        let phone = Phone {
            org_id: OrgId::from("o"),
            phone_id: "phone-local".into(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        };
        assert!(phone.answers_to("15550100000"));
        assert!(phone.answers_to("phone-local"));
        assert!(!phone.answers_to("15550100001"));
    }

    #[test]
    fn provider_secrets_serialise_in_the_clear_but_never_debug_print() {
        let secrets = HttpSecrets { signing_secret: "whsec_1".into() };
        assert_eq!(serde_json::to_string(&secrets).unwrap(), r#"{"signing_secret":"whsec_1"}"#);
        let back: HttpSecrets = serde_json::from_str(r#"{"signing_secret":"whsec_1"}"#).unwrap();
        assert_eq!(back, secrets);
        assert!(!format!("{secrets:?}").contains("whsec_1"));
    }
}
