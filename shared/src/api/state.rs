//! `AppState`: what every route gets, built once per process from the ports and settings.

use std::sync::Arc;
use std::time::Duration;

use super::rate_limit::RateLimiter;
use crate::cache::TtlCache;
use crate::domain::ids::OrgId;
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Phone};
use crate::net::egress::Egress;
use crate::ports::{
    Clock, Counters, IdempotencyStore, RateCounter, ReceiptStore, SecretStore, StatusStore, TenantStore, Tracking,
    WebhookStore,
};
use crate::receipts::Receipts;
use crate::receipts::inbound::Inbound;
use crate::send::{Broadcaster, Enqueuer, Purger, Uploads};

/// Keys and phone lists kept per warm instance; bounded so a flood of keys cannot grow it.
const CACHE_CAPACITY: u64 = 10_000;

/// The stores the routes read and write.
#[derive(Clone)]
pub struct ApiPorts {
    pub store: Arc<dyn StatusStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rate_counter: Arc<dyn RateCounter>,
    pub tracking: Arc<dyn Tracking>,
    /// The status-stream consumer's counters (`stream`), read by the queue routes.
    pub counters: Arc<dyn Counters>,
    /// Providers' receipts: phones by Meta's number id, messages by provider id, the conditional write.
    pub receipts: Arc<dyn ReceiptStore>,
    /// Phones' provider secrets (Meta's app secret and verify token, a gateway's signing secret),
    /// and webhooks' signing secrets.
    pub secrets: Arc<dyn SecretStore>,
    /// Webhook subscriptions (`/v1/webhooks`).
    pub webhooks: Arc<dyn WebhookStore>,
    /// Where a webhook's URL may point (https and public in AWS), with the resolver it checks names through.
    pub egress: Egress,
}

/// The edge's knobs, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    pub max_body_bytes: usize,
    pub auth_cache_ttl: Duration,
    /// Requests per minute per key unless the key has its own; `None` switches the limiter off.
    pub rate_limit_per_minute: Option<u32>,
    /// The API function's timeout: how long an `Idempotency-Key` claim holds off other requests,
    /// and after which a broadcast still `queuing` has no request left to finish it.
    pub api_timeout: Duration,
}

/// Everything the routes need, in one allocation: axum clones the state into every route as the
/// router is built (and into each request), and a clone is one reference count, not forty. Reads
/// go through `Deref`; a test that swaps a port writes through `DerefMut` (copy on write).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut AppParts {
        Arc::make_mut(&mut self.0)
    }
}

/// What `AppState` holds.
#[derive(Clone)]
pub struct AppParts {
    pub store: Arc<dyn StatusStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub enqueuer: Enqueuer,
    pub broadcaster: Broadcaster,
    pub purger: Purger,
    pub uploads: Uploads,
    pub tracking: Arc<dyn Tracking>,
    pub counters: Arc<dyn Counters>,
    pub limiter: RateLimiter,
    /// Providers' receipts in (no API key: each request is signed with its phone's secret).
    pub inbound: Arc<Inbound>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Webhooks' signing secrets (the same store as the phones' secrets, under another name prefix).
    pub secrets: Arc<dyn SecretStore>,
    pub egress: Egress,
    pub clock: Arc<dyn Clock>,
    pub max_body_bytes: usize,
    /// See `ApiSettings::api_timeout`.
    pub api_timeout: Duration,
    pub(super) keys: Arc<TtlCache<KeyHash, ApiKeyRecord>>,
    pub(super) phones: Arc<TtlCache<OrgId, Vec<Phone>>>,
}

impl AppState {
    /// The edge over `ports`; the clock is the enqueuer's, so one clock rules a whole request.
    pub fn new(ports: ApiPorts, enqueuer: Enqueuer, settings: ApiSettings) -> AppState {
        let clock = enqueuer.clock.clone();
        let receipts = Receipts {
            store: ports.store.clone(),
            receipts: ports.receipts,
            clock: clock.clone(),
            metrics: enqueuer.metrics.clone(),
        };
        let inbound = Inbound::new(receipts, ports.tenants.clone(), ports.secrets.clone(), settings.auth_cache_ttl);
        AppState(Arc::new(AppParts {
            store: ports.store,
            tenants: ports.tenants,
            idempotency: ports.idempotency,
            broadcaster: Broadcaster { enqueuer: enqueuer.clone(), tracking: ports.tracking.clone() },
            purger: Purger { tracking: ports.tracking.clone(), clock: clock.clone() },
            uploads: enqueuer.uploads.clone(),
            tracking: ports.tracking,
            counters: ports.counters,
            enqueuer,
            limiter: RateLimiter::new(ports.rate_counter, settings.rate_limit_per_minute),
            inbound: Arc::new(inbound),
            webhooks: ports.webhooks,
            secrets: ports.secrets,
            egress: ports.egress,
            clock,
            max_body_bytes: settings.max_body_bytes,
            api_timeout: settings.api_timeout,
            keys: Arc::new(TtlCache::new(settings.auth_cache_ttl, CACHE_CAPACITY)),
            phones: Arc::new(TtlCache::new(settings.auth_cache_ttl, CACHE_CAPACITY)),
        }))
    }
}
