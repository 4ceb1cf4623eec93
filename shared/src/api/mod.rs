//! The HTTP edge: one axum router, served by `lambda_http` in AWS and on a TCP port locally,
//! so deployed and local behaviour cannot drift. It decodes, checks sizes and maps errors; the
//! domain does the rest.

mod auth;
mod cache;
mod error;
mod keyed;
mod messages;
mod openapi;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post};

pub use auth::Caller;
pub use error::ApiError;

use crate::broadcast::Broadcaster;
use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};
use crate::enqueue::Enqueuer;
use crate::ports::{IdempotencyStore, RateCounter, StatusStore, TenantStore, Tracking};
use crate::rate_limit::RateLimiter;
use cache::TtlCache;

/// Keys and phone lists kept per warm instance; bounded so a flood of keys cannot grow it.
const CACHE_CAPACITY: usize = 10_000;

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
    pub tracking: Arc<dyn Tracking>,
    pub limiter: RateLimiter,
    pub max_body_bytes: usize,
    keys: Arc<TtlCache<KeyHash, ApiKeyRecord>>,
    phones: Arc<TtlCache<OrgId, Vec<Phone>>>,
}

impl AppState {
    pub fn new(ports: ApiPorts, enqueuer: Enqueuer, settings: ApiSettings) -> AppState {
        AppState {
            store: ports.store,
            tenants: ports.tenants,
            idempotency: ports.idempotency,
            broadcaster: Broadcaster { enqueuer: enqueuer.clone(), tracking: ports.tracking.clone() },
            tracking: ports.tracking,
            enqueuer,
            limiter: RateLimiter::new(ports.rate_counter, settings.rate_limit_per_minute),
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
        (Method::GET, "/health", Access::Public, get(health)),
        (Method::GET, "/v1/health", Access::Public, get(health)),
        (Method::GET, "/v1/openapi.yaml", Access::Public, get(openapi::spec)),
        (Method::POST, "/v1/message/send", Access::ApiKey, post(messages::send)),
        (Method::GET, "/v1/message/{id}/status", Access::ApiKey, get(messages::status)),
        (Method::GET, "/v1/message/{id}", Access::ApiKey, get(queue::message)),
        (Method::POST, "/v1/message/broadcast", Access::ApiKey, post(queue::create_broadcast)),
        (Method::GET, "/v1/queue", Access::ApiKey, get(queue::health)),
        (Method::GET, "/v1/queue/jobs", Access::ApiKey, get(queue::jobs)),
        (Method::DELETE, "/v1/queue/purge", Access::ApiKey, delete(queue::purge)),
        (Method::GET, "/v1/queue/broadcast", Access::ApiKey, get(queue::broadcast_status)),
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

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { message: format!("{method} is not allowed on {}", uri.path()) }
}

#[cfg(test)]
mod tests;
