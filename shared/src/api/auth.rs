//! Who is calling (Bearer API key → org), how fast (the rate limit), and from which phone
//! (`x-phone`, within that org only). Every keyed request runs in a span that names its org,
//! route and, once known, queue_id, so each of its log lines does.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use tracing::field::Empty;

use super::error::ApiError;
use super::rate_limit::RateStatus;
use super::state::AppState;
use crate::domain::ids::{OrgId, is_plausible_id};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Phone};
use crate::ports::StoreError;

/// The authenticated caller of a route, put in the request by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: OrgId,
    pub key_id: String,
}

/// Why a key lookup found no usable key; neither is cached, so a new key works at once.
#[derive(Debug, Clone)]
enum KeyLookup {
    Unknown,
    Store(StoreError),
}

const MALFORMED: &str = "malformed Authorization header: send `Authorization: Bearer <api key>`";

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing Authorization header: send `Authorization: Bearer <api key>`"))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized(MALFORMED))?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized(MALFORMED))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthorized(MALFORMED));
    }
    Ok(token)
}

impl AppState {
    async fn api_key(&self, headers: &HeaderMap) -> Result<ApiKeyRecord, ApiError> {
        let hash = KeyHash::of(bearer(headers)?);
        let load = async {
            match self.tenants.find_api_key(&hash).await {
                Ok(Some(key)) => Ok(key),
                Ok(None) => Err(KeyLookup::Unknown),
                Err(err) => Err(KeyLookup::Store(err)),
            }
        };
        let unknown = ApiError::Unauthorized("unknown or revoked API key");
        match self.keys.get_or_load(hash.clone(), load).await {
            Ok(key) if key.revoked_at.is_none() => Ok(key),
            Ok(_) | Err(KeyLookup::Unknown) => Err(unknown),
            Err(KeyLookup::Store(err)) => Err(err.into()),
        }
    }
}

/// Middleware for every keyed route: authenticate, then in the request's span count against
/// the key's rate limit, run the route, and put the `X-RateLimit-*` headers on its answer.
pub async fn authenticate(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let key = match app.api_key(request.headers()).await {
        Ok(key) => key,
        Err(err) => return err.into_response(),
    };
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_string()).unwrap_or_default();
    let span = tracing::info_span!("request", org_id = %key.org_id, %route, queue_id = Empty);
    limited(app, key, request, next).instrument(span).await
}

async fn limited(app: AppState, key: ApiKeyRecord, mut request: Request, next: Next) -> Response {
    let rate = app.limiter.check(&key, app.clock.now()).await;
    let mut response = match rate.and_then(|r| r.retry_after) {
        Some(retry_after) => ApiError::RateLimited { retry_after }.into_response(),
        None => {
            request.extensions_mut().insert(Caller { org_id: key.org_id, key_id: key.key_id });
            next.run(request).await
        }
    };
    if let Some(rate) = rate {
        add_rate_headers(response.headers_mut(), &rate);
    }
    response
}

fn add_rate_headers(headers: &mut HeaderMap, rate: &RateStatus) {
    for (name, value) in [
        ("x-ratelimit-limit", i64::from(rate.limit)),
        ("x-ratelimit-remaining", i64::from(rate.remaining)),
        ("x-ratelimit-reset", rate.reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        // Only keyed routes (behind `authenticate`) take a Caller; without one the route is public.
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::Unauthorized("this route needs an API key"))
    }
}

impl AppState {
    /// The phone named by `x-phone` (number or phone_id), looked up in the caller's org only.
    /// Without the header, the org's only phone.
    pub async fn resolve_phone(&self, caller: &Caller, headers: &HeaderMap) -> Result<Phone, ApiError> {
        // A header that is not text names no phone: the same 404 as an unknown one.
        let selector = headers.get("x-phone").map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
        self.find_phone(caller, selector.as_deref().filter(|v| !v.is_empty()), "x-phone").await
    }

    /// The caller's org's phones, from the instance's short-lived cache.
    pub async fn phones_of(&self, caller: &Caller) -> Result<Vec<Phone>, ApiError> {
        Ok(self.phones.get_or_load(caller.org_id.clone(), self.tenants.list_phones(&caller.org_id)).await?)
    }

    /// The phone `selector` names (number or phone_id) in the caller's org only; without one,
    /// the org's only phone. `source` says where the selector came from (`x-phone`, `session`).
    pub async fn find_phone(&self, caller: &Caller, selector: Option<&str>, source: &str) -> Result<Phone, ApiError> {
        let phones = self.phones_of(caller).await?;
        if let Some(selector) = selector {
            // Longer than any number or phone_id: not echoed back, nothing to look for.
            if !is_plausible_id(selector) {
                return Err(ApiError::NotFound(format!(
                    "no phone has an id of {} bytes; {source} takes one of your org's numbers or phone_ids",
                    selector.len()
                )));
            }
            return phones.into_iter().find(|phone| phone.answers_to(selector)).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "phone {selector:?} not found; {source} takes one of your org's numbers or phone_ids"
                ))
            });
        }
        let count = phones.len();
        match (phones.into_iter().next(), count) {
            (Some(only), 1) => Ok(only),
            (None, _) => Err(ApiError::NotFound("your org has no phone; add one with `outbox-admin phone add`".into())),
            _ => Err(ApiError::PhoneRequired(format!(
                "your org has {count} phones: name the sending phone in the x-phone header (its number or phone_id)"
            ))),
        }
    }
}
