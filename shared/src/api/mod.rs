//! The HTTP edge: one axum router, served by `lambda_http` in AWS and on a TCP port locally,
//! so deployed and local behaviour cannot drift. It authenticates, rate-limits, reads bodies,
//! answers idempotent retries and maps errors to status codes; `routes` are named after their
//! URLs and call the `send` flow for the rest.

mod auth;
mod body;
mod error;
mod idempotency;
mod openapi;
mod rate_limit;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post};

pub use auth::Caller;
pub use error::ApiError;
pub use idempotency::{IdempotencyError, IdempotencyKey};
pub use rate_limit::{RateLimiter, RateStatus};

use crate::cache::TtlCache;
use crate::domain::ids::OrgId;
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Phone};
use crate::ports::{Clock, IdempotencyStore, RateCounter, StatusStore, TenantStore, Tracking};
use crate::send::{Broadcaster, Enqueuer, Purger};
use routes::{health, message, queue};

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
}

/// The edge's knobs, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    pub max_body_bytes: usize,
    pub auth_cache_ttl: Duration,
    /// Requests per minute per key unless the key has its own; `None` switches the limiter off.
    pub rate_limit_per_minute: Option<u32>,
}

/// Everything the routes need, cloned cheaply into each request.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn StatusStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub enqueuer: Enqueuer,
    pub broadcaster: Broadcaster,
    pub purger: Purger,
    pub tracking: Arc<dyn Tracking>,
    pub limiter: RateLimiter,
    pub clock: Arc<dyn Clock>,
    pub max_body_bytes: usize,
    keys: Arc<TtlCache<KeyHash, ApiKeyRecord>>,
    phones: Arc<TtlCache<OrgId, Vec<Phone>>>,
}

impl AppState {
    /// The edge over `ports`; the clock is the enqueuer's, so one clock rules a whole request.
    pub fn new(ports: ApiPorts, enqueuer: Enqueuer, settings: ApiSettings) -> AppState {
        let clock = enqueuer.clock.clone();
        AppState {
            store: ports.store,
            tenants: ports.tenants,
            idempotency: ports.idempotency,
            broadcaster: Broadcaster { enqueuer: enqueuer.clone(), tracking: ports.tracking.clone() },
            purger: Purger { tracking: ports.tracking.clone(), clock: clock.clone() },
            tracking: ports.tracking,
            enqueuer,
            limiter: RateLimiter::new(ports.rate_counter, settings.rate_limit_per_minute),
            clock,
            max_body_bytes: settings.max_body_bytes,
            keys: Arc::new(TtlCache::new(settings.auth_cache_ttl, CACHE_CAPACITY)),
            phones: Arc::new(TtlCache::new(settings.auth_cache_ttl, CACHE_CAPACITY)),
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A Bearer API key, counted by the rate limiter.
    ApiKey,
}

/// Every route, once: the router is built from this table, and the OpenAPI check reads it.
pub fn routes() -> Vec<(Method, &'static str, Access, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/health", Access::Public, get(health::health)),
        (Method::GET, "/v1/health", Access::Public, get(health::health)),
        (Method::GET, "/v1/openapi.yaml", Access::Public, get(openapi::spec)),
        (Method::POST, "/v1/message/send", Access::ApiKey, post(message::send::send)),
        (Method::GET, "/v1/message/{id}/status", Access::ApiKey, get(message::status::status)),
        (Method::GET, "/v1/message/{id}", Access::ApiKey, get(message::object::message)),
        (Method::POST, "/v1/message/broadcast", Access::ApiKey, post(message::broadcast::create)),
        (Method::GET, "/v1/queue", Access::ApiKey, get(queue::health::health)),
        (Method::GET, "/v1/queue/jobs", Access::ApiKey, get(queue::jobs::jobs)),
        (Method::DELETE, "/v1/queue/purge", Access::ApiKey, delete(queue::purge::purge)),
        (Method::GET, "/v1/queue/broadcast", Access::ApiKey, get(queue::broadcast::status)),
    ]
}

/// The whole API. Paths carry the `/v1` stage prefix, as API Gateway passes it with a `v1` stage.
pub fn router(state: AppState) -> Router {
    let (mut public, mut keyed) = (Router::new(), Router::new());
    for (_, path, access, handler) in routes() {
        match access {
            Access::Public => public = public.route(path, handler),
            Access::ApiKey => keyed = keyed.route(path, handler),
        }
    }
    keyed
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate))
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { message: format!("{method} is not allowed on {}", uri.path()) }
}

#[cfg(test)]
mod tests;
