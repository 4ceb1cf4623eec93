//! The HTTP edge: one axum router, served by `lambda_http` in AWS and on a TCP port locally,
//! so deployed and local behaviour cannot drift. It authenticates, rate-limits, reads bodies,
//! answers idempotent retries and maps errors to status codes; `routes` are named after their
//! URLs and call the `send` flow (or, for webhooks, the stores) for the rest.

mod auth;
mod body;
mod error;
mod idempotency;
pub mod lambda_body;
mod openapi;
mod rate_limit;
mod routes;
mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post};

pub use auth::Caller;
pub use error::ApiError;
pub use idempotency::{IdempotencyError, IdempotencyKey};
pub use rate_limit::block_size as rate_token_block;
pub use rate_limit::{RateLimiter, RateStatus};
pub use state::{ApiPorts, ApiSettings, AppParts, AppState};

use routes::{assets, chats, health, media, message, provider, queue, send, webhooks};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A Bearer API key, counted by the rate limiter.
    ApiKey,
    /// No API key: a provider signs the request with the phone's secret, which the handler checks.
    ProviderSigned,
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
        (Method::POST, "/v1/send", Access::ApiKey, post(send::send)),
        (Method::POST, "/v1/chats/{chatID}/messages", Access::ApiKey, post(chats::messages::send)),
        (
            Method::GET,
            "/v1/chats/{chatID}/messages/{messageID}",
            Access::ApiKey,
            get(chats::messages::message::message),
        ),
        // The handler bounds the multipart body itself (`OUTBOX_MAX_BODY_BYTES`), not axum's 2 MB default.
        (
            Method::POST,
            "/v1/assets/upload",
            Access::ApiKey,
            post(assets::upload::upload).layer(DefaultBodyLimit::disable()),
        ),
        (Method::POST, "/v1/assets/upload/base64", Access::ApiKey, post(assets::upload::base64::upload)),
        (Method::POST, "/v1/media/uploads", Access::ApiKey, post(media::uploads::create)),
        (Method::POST, "/v1/webhooks", Access::ApiKey, post(webhooks::create)),
        (Method::GET, "/v1/webhooks", Access::ApiKey, get(webhooks::list)),
        (Method::GET, "/v1/webhooks/{id}", Access::ApiKey, get(webhooks::webhook::get)),
        (Method::PATCH, "/v1/webhooks/{id}", Access::ApiKey, patch(webhooks::webhook::update)),
        (Method::DELETE, "/v1/webhooks/{id}", Access::ApiKey, delete(webhooks::webhook::delete)),
        (Method::POST, "/v1/webhooks/{id}/rotate-secret", Access::ApiKey, post(webhooks::rotate_secret::rotate)),
        // Signed with the phone's secret instead of an API key; each bounds its own body.
        (Method::GET, "/v1/provider/whatsapp/webhook", Access::ProviderSigned, get(provider::whatsapp::verify)),
        (
            Method::POST,
            "/v1/provider/whatsapp/webhook",
            Access::ProviderSigned,
            post(provider::whatsapp::receive).layer(DefaultBodyLimit::disable()),
        ),
        (
            Method::POST,
            "/v1/provider/http/receipts",
            Access::ProviderSigned,
            post(provider::http::receipts).layer(DefaultBodyLimit::disable()),
        ),
    ]
}

/// The whole API. Paths carry the `/v1` stage prefix, as API Gateway passes it with a `v1` stage.
pub fn router(state: AppState) -> Router {
    let (keyed, public): (Vec<_>, Vec<_>) =
        routes().into_iter().partition(|(_, _, access, _)| *access == Access::ApiKey);
    // `route_layer` covers the routes added before it: the keyed ones, then the public ones join the
    // same router (a `merge` of two routers would insert each public route twice, at cold start).
    let mut router = Router::new();
    for (_, path, _, handler) in keyed {
        router = router.route(path, handler);
    }
    router = router.route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    for (_, path, _, handler) in public {
        router = router.route(path, handler);
    }
    router.fallback(not_found).method_not_allowed_fallback(method_not_allowed).with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { message: format!("{method} is not allowed on {}", uri.path()) }
}

#[cfg(test)]
mod tests;
