//! The HTTP edge: one axum router, served by `lambda_http` in AWS and on a TCP port locally,
//! so deployed and local behaviour cannot drift. It decodes, checks sizes and maps errors; the
//! domain does the rest.

mod auth;
mod cache;
mod error;
mod messages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{get, post};

pub use auth::Caller;
pub use error::ApiError;

use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};
use crate::enqueue::Enqueuer;
use crate::ports::{StatusStore, TenantStore};
use cache::TtlCache;

/// Keys and phone lists kept per warm instance; bounded so a flood of keys cannot grow it.
const CACHE_CAPACITY: usize = 10_000;

/// Everything the routes need, cloned cheaply into each request.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn StatusStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub enqueuer: Enqueuer,
    pub max_body_bytes: usize,
    keys: Arc<TtlCache<KeyHash, ApiKeyRecord>>,
    phones: Arc<TtlCache<OrgId, Vec<Phone>>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn StatusStore>,
        tenants: Arc<dyn TenantStore>,
        enqueuer: Enqueuer,
        max_body_bytes: usize,
        auth_cache_ttl: Duration,
    ) -> AppState {
        AppState {
            store,
            tenants,
            enqueuer,
            max_body_bytes,
            keys: Arc::new(TtlCache::new(auth_cache_ttl, CACHE_CAPACITY)),
            phones: Arc::new(TtlCache::new(auth_cache_ttl, CACHE_CAPACITY)),
        }
    }
}

/// The whole API. Paths carry the `/v1` stage prefix, as API Gateway passes it with a `v1` stage.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/v1/message/send", post(messages::send))
        .route("/v1/message/{id}/status", get(messages::status))
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
