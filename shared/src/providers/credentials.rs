//! Phones on real providers: each phone's settings and secret, loaded when a message needs them
//! and reused for a short while (the process's one TTL cache).

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::http::HttpEndpoint;
use super::whatsapp_cloud::WhatsappCloud;
use super::{DeliveryError, Provider};
use crate::cache::TtlCache;
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::message::MessageRecord;
use crate::domain::tenant::{HttpSecrets, ProviderKind, ProviderSettings, WhatsappCloudSecrets};
use crate::net::egress::Egress;
use crate::ports::{Clock, MediaStore, SecretError, SecretStore, TenantStore};
use crate::telemetry::chain;

/// Phones kept per warm instance; far above any deployment's phone count, yet bounded.
const CACHE_CAPACITY: u64 = 10_000;

/// Resolves a message's phone to its provider, with the phone's credentials.
pub struct Credentials {
    tenants: Arc<dyn TenantStore>,
    secrets: Arc<dyn SecretStore>,
    media: Arc<dyn MediaStore>,
    clock: Arc<dyn Clock>,
    /// Where the phones' endpoints may be: checked when a phone is loaded and on every connect.
    egress: Egress,
    /// Built on first use, so a process that only ever sees the sandbox never loads root certificates.
    http: OnceCell<reqwest::Client>,
    /// Each phone's provider, keyed by kind too: a message queued for another kind than the
    /// cached one loads the phone afresh. Reused for the TTL, so a rotated secret or removed
    /// phone is seen within it.
    cache: TtlCache<(OrgId, PhoneId, ProviderKind), Arc<dyn Provider>>,
}

impl Credentials {
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        secrets: Arc<dyn SecretStore>,
        media: Arc<dyn MediaStore>,
        clock: Arc<dyn Clock>,
        egress: Egress,
        ttl: Duration,
    ) -> Credentials {
        let cache = TtlCache::new(ttl, CACHE_CAPACITY);
        Credentials { tenants, secrets, media, clock, egress, http: OnceCell::new(), cache }
    }

    /// The provider of the message's phone: a removed phone, a missing or malformed secret, or a
    /// phone moved to another provider is permanent; an unavailable store is transient.
    pub async fn provider_for(&self, message: &MessageRecord) -> Result<Arc<dyn Provider>, DeliveryError> {
        let key = (message.org_id.clone(), message.phone_id.clone(), message.provider);
        self.cache.get_or_load(key, self.load(message)).await
    }

    async fn load(&self, message: &MessageRecord) -> Result<Arc<dyn Provider>, DeliveryError> {
        let kind = message.provider.as_str();
        let phone_id = &message.phone_id;
        let phone = self
            .tenants
            .get_phone(&message.org_id, phone_id)
            .await
            .map_err(|err| {
                DeliveryError::Transient(format!("{kind}: could not look up phone {phone_id}: {}", chain(&err)))
            })?
            .ok_or_else(|| {
                DeliveryError::Permanent(format!(
                    "{kind}: phone {phone_id} was removed after this message was queued; add it again and resend"
                ))
            })?;
        match phone.provider {
            ProviderSettings::WhatsappCloud { phone_number_id, graph_url, graph_version, secret_ref }
                if message.provider == ProviderKind::WhatsappCloud =>
            {
                let endpoint = WhatsappCloud::endpoint(&graph_url, &graph_version, &phone_number_id);
                self.check_endpoint(kind, phone_id, &endpoint)?;
                let secrets: WhatsappCloudSecrets = self.secret(kind, &secret_ref).await?;
                Ok(Arc::new(WhatsappCloud::new(
                    self.client(kind).await?,
                    endpoint,
                    secrets.access_token,
                    self.media.clone(),
                )))
            }
            ProviderSettings::Http { url, secret_ref } if message.provider == ProviderKind::Http => {
                self.check_endpoint(kind, phone_id, &url)?;
                let secrets: HttpSecrets = self.secret(kind, &secret_ref).await?;
                Ok(Arc::new(HttpEndpoint::new(
                    self.client(kind).await?,
                    url,
                    secrets.signing_secret,
                    self.media.clone(),
                    self.clock.clone(),
                )))
            }
            other => Err(DeliveryError::Permanent(format!(
                "{kind}: phone {phone_id} was switched to the {} provider after this message was queued; resend it",
                other.kind().as_str()
            ))),
        }
    }

    /// The egress rules for a phone's endpoint that DNS plays no part in (scheme, IP-literal
    /// hosts, which never reach the client's resolver): a phone stored before these rules, or on
    /// a stack that allowed private targets, may name anything.
    fn check_endpoint(&self, kind: &str, phone_id: &PhoneId, url: &str) -> Result<(), DeliveryError> {
        self.egress.parse(url).map(drop).map_err(|refused| {
            DeliveryError::Permanent(format!(
                "{kind}: the endpoint of phone {phone_id} may not be reached: {refused}; \
                 add the phone again with a public https URL"
            ))
        })
    }

    /// Reads and parses a phone's secret. Parse errors name only the position, never the
    /// value, which may be a token.
    async fn secret<T: DeserializeOwned>(&self, kind: &str, reference: &str) -> Result<T, DeliveryError> {
        let raw = self.secrets.get(reference).await.map_err(|err| match err {
            SecretError::NotFound(_) => {
                DeliveryError::Permanent(format!("{kind}: {err}; add the phone again to store its credentials"))
            }
            SecretError::Unavailable { .. } => DeliveryError::Transient(format!("{kind}: {}", chain(&err))),
        })?;
        serde_json::from_str(&raw).map_err(|err| {
            DeliveryError::Permanent(format!(
                "{kind}: secret {reference} does not hold this provider's credentials as JSON \
                 (line {}, column {}); add the phone again to store them",
                err.line(),
                err.column()
            ))
        })
    }

    async fn client(&self, kind: &str) -> Result<reqwest::Client, DeliveryError> {
        self.http.get_or_try_init(|| async { super::http_client(&self.egress) }).await.cloned().map_err(|err| {
            DeliveryError::Transient(format!("{kind}: could not set up the HTTP client: {}", chain(&err)))
        })
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryMedia, MemorySecrets, MemoryStore};
    use crate::domain::message::sending_fixture;
    use crate::domain::tenant::Phone;
    use crate::domain::time::Timestamp;

    const TOKEN: &str = "EAAB-very-secret-token";

    struct Fixture {
        tenants: Arc<MemoryStore>,
        secrets: Arc<MemorySecrets>,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let fixture = Fixture { tenants: Arc::default(), secrets: Arc::default() };
            let cloud = json!({"access_token": TOKEN, "app_secret": "a", "verify_token": "v"});
            fixture.secrets.put("outbox/cloud", &cloud.to_string()).await.unwrap();
            fixture.secrets.put("outbox/http", r#"{"signing_secret": "whsec-fixture"}"#).await.unwrap();
            fixture.put_phone("phone-cloud", cloud_settings("outbox/cloud")).await;
            fixture
                .put_phone(
                    "phone-http",
                    ProviderSettings::Http {
                        url: "https://hooks.example.com".into(),
                        secret_ref: "outbox/http".into(),
                    },
                )
                .await;
            fixture
        }

        async fn put_phone(&self, phone_id: &str, provider: ProviderSettings) {
            let phone = Phone {
                org_id: OrgId::from("org-1"),
                phone_id: phone_id.into(),
                number: "15550100000".into(),
                provider,
                created_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            };
            self.tenants.put_phone(&phone).await.unwrap();
        }

        fn credentials(&self, ttl: Duration) -> Credentials {
            self.credentials_under(Egress::new(false), ttl)
        }

        fn credentials_under(&self, egress: Egress, ttl: Duration) -> Credentials {
            Credentials::new(
                self.tenants.clone(),
                self.secrets.clone(),
                Arc::new(MemoryMedia::default()),
                Arc::new(ManualClock::starting_now()),
                egress,
                ttl,
            )
        }
    }

    fn cloud_settings(secret_ref: &str) -> ProviderSettings {
        ProviderSettings::WhatsappCloud {
            phone_number_id: "1065".into(),
            graph_url: "https://graph.facebook.com".into(),
            graph_version: "v21.0".into(),
            secret_ref: secret_ref.into(),
        }
    }

    fn message(phone_id: &str, provider: ProviderKind) -> MessageRecord {
        sending_fixture(phone_id, provider, "hi")
    }

    fn permanent(result: Result<Arc<dyn Provider>, DeliveryError>) -> String {
        match result {
            Err(DeliveryError::Permanent(text)) => text,
            Err(other) => panic!("expected a permanent error, got {other:?}"),
            Ok(_) => panic!("expected a permanent error, got a provider"),
        }
    }

    #[tokio::test]
    async fn both_real_kinds_resolve_from_the_phone_and_its_secret() {
        let fixture = Fixture::new().await;
        let credentials = fixture.credentials(Duration::from_secs(60));
        assert!(credentials.provider_for(&message("phone-cloud", ProviderKind::WhatsappCloud)).await.is_ok());
        assert!(credentials.provider_for(&message("phone-http", ProviderKind::Http)).await.is_ok());
    }

    #[tokio::test]
    async fn a_removed_phone_or_missing_secret_is_permanent() {
        let fixture = Fixture::new().await;
        let credentials = fixture.credentials(Duration::ZERO);
        let err = permanent(credentials.provider_for(&message("phone-gone", ProviderKind::WhatsappCloud)).await);
        assert!(err.contains("phone-gone was removed"), "{err}");
        fixture.put_phone("phone-cloud", cloud_settings("outbox/missing")).await;
        let err = permanent(credentials.provider_for(&message("phone-cloud", ProviderKind::WhatsappCloud)).await);
        assert!(err.contains("outbox/missing not found"), "{err}");
    }

    #[tokio::test]
    async fn a_malformed_secret_is_permanent_and_never_quoted() {
        let fixture = Fixture::new().await;
        // The token is there, but as the wrong type: serde's own message would quote it.
        fixture.secrets.put("outbox/cloud", &json!({"access_token": [TOKEN]}).to_string()).await.unwrap();
        let err = permanent(
            fixture
                .credentials(Duration::ZERO)
                .provider_for(&message("phone-cloud", ProviderKind::WhatsappCloud))
                .await,
        );
        assert!(err.contains("outbox/cloud") && err.contains("column"), "{err}");
        assert!(!err.contains(TOKEN), "{err}");
    }

    #[tokio::test]
    async fn a_phone_switched_to_another_provider_is_permanent() {
        let fixture = Fixture::new().await;
        let err = permanent(
            fixture.credentials(Duration::ZERO).provider_for(&message("phone-http", ProviderKind::WhatsappCloud)).await,
        );
        assert!(err.contains("switched to the http provider"), "{err}");
    }

    #[tokio::test]
    async fn an_unavailable_secret_store_is_transient() {
        struct Down;
        #[async_trait]
        impl SecretStore for Down {
            async fn put(&self, _: &str, _: &str) -> Result<String, SecretError> {
                Err(SecretError::unavailable("PutSecretValue", "down"))
            }
            async fn get(&self, _: &str) -> Result<String, SecretError> {
                Err(SecretError::unavailable("GetSecretValue", "down"))
            }
            async fn delete(&self, _: &str) -> Result<(), SecretError> {
                Err(SecretError::unavailable("DeleteSecret", "down"))
            }
        }
        let fixture = Fixture::new().await;
        let credentials = Credentials::new(
            fixture.tenants.clone(),
            Arc::new(Down),
            Arc::new(MemoryMedia::default()),
            Arc::new(ManualClock::starting_now()),
            Egress::new(false),
            Duration::ZERO,
        );
        let result = credentials.provider_for(&message("phone-cloud", ProviderKind::WhatsappCloud)).await;
        assert!(matches!(result, Err(DeliveryError::Transient(_))));
    }

    #[tokio::test]
    async fn a_loaded_phone_is_reused_within_the_ttl_only() {
        let fixture = Fixture::new().await;
        let cached = fixture.credentials(Duration::from_secs(60));
        let uncached = fixture.credentials(Duration::ZERO);
        let cloud = message("phone-cloud", ProviderKind::WhatsappCloud);
        assert!(cached.provider_for(&cloud).await.is_ok());
        fixture.secrets.delete("outbox/cloud").await.unwrap();
        assert!(cached.provider_for(&cloud).await.is_ok(), "served from the cache");
        permanent(uncached.provider_for(&cloud).await);
    }

    fn http_settings(url: &str) -> ProviderSettings {
        ProviderSettings::Http { url: url.into(), secret_ref: "outbox/http".into() }
    }

    #[tokio::test]
    async fn an_endpoint_the_egress_rules_refuse_is_permanent_before_any_request() {
        let fixture = Fixture::new().await;
        let strict = fixture.credentials(Duration::ZERO);
        for (phone_id, url) in [
            ("phone-loop", "http://127.0.0.1:9/hook"),
            ("phone-meta", "https://169.254.169.254/latest"),
            ("phone-mapped", "https://[::ffff:10.0.0.1]/hook"),
            ("phone-plain", "http://hooks.example.com/hook"),
        ] {
            fixture.put_phone(phone_id, http_settings(url)).await;
            let err = permanent(strict.provider_for(&message(phone_id, ProviderKind::Http)).await);
            assert!(err.contains("may not be reached") && err.contains(phone_id), "{err}");
        }
        let graph = ProviderSettings::WhatsappCloud {
            phone_number_id: "1065".into(),
            graph_url: "https://[fe80::1]".into(),
            graph_version: "v21.0".into(),
            secret_ref: "outbox/cloud".into(),
        };
        fixture.put_phone("phone-cloud", graph).await;
        let err = permanent(strict.provider_for(&message("phone-cloud", ProviderKind::WhatsappCloud)).await);
        assert!(err.contains("fe80::1 is a link-local address"), "{err}");
        // A stack that allows private targets (the local one) takes them.
        let local = fixture.credentials_under(Egress::new(true), Duration::ZERO);
        assert!(local.provider_for(&message("phone-loop", ProviderKind::Http)).await.is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused_when_connecting() {
        use crate::net::egress::FixedLookup;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = axum::Router::new().fallback(|| async { r#"{"id": "gw-1"}"# });
        tokio::spawn(async move { axum::serve(listener, router).await });
        let lookup = Arc::new(FixedLookup::new([("gateway.test", vec!["127.0.0.1".parse().unwrap()])]));

        let fixture = Fixture::new().await;
        fixture.put_phone("phone-https", http_settings(&format!("https://gateway.test:{port}/hook"))).await;
        let strict = fixture.credentials_under(Egress::new(false).with_lookup(lookup.clone()), Duration::ZERO);
        let provider = strict.provider_for(&message("phone-https", ProviderKind::Http)).await.expect("a name");
        match provider.deliver(&message("phone-https", ProviderKind::Http), 1).await {
            Err(DeliveryError::Permanent(err)) => {
                assert!(err.contains("gateway.test resolves to 127.0.0.1, a loopback address"), "{err}")
            }
            other => panic!("{other:?}"),
        }
        // The same gateway answers when private targets are allowed: the refusal is the rule's.
        fixture.put_phone("phone-plain", http_settings(&format!("http://gateway.test:{port}/hook"))).await;
        let local = fixture.credentials_under(Egress::new(true).with_lookup(lookup), Duration::ZERO);
        let provider = local.provider_for(&message("phone-plain", ProviderKind::Http)).await.expect("allowed");
        let receipt = provider.deliver(&message("phone-plain", ProviderKind::Http), 1).await.unwrap();
        assert_eq!(receipt.provider_message_id, "gw-1");
    }
}
