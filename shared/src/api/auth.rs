//! Who is calling (Bearer API key → org) and from which phone (`x-phone`, within that org only).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::domain::tenant::{KeyHash, OrgId, Phone};

/// The authenticated caller of a route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: OrgId,
    pub key_id: String,
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Caller, ApiError> {
        let hash = KeyHash::of(bearer(&parts.headers)?);
        let key = match app.keys.get(&hash) {
            Some(key) => Some(key),
            None => {
                let found = app.tenants.find_api_key(&hash).await?;
                if let Some(key) = &found {
                    app.keys.insert(hash, key.clone());
                }
                found
            }
        };
        match key {
            Some(key) if key.revoked_at.is_none() => Ok(Caller { org_id: key.org_id, key_id: key.key_id }),
            _ => Err(ApiError::Unauthorized("unknown or revoked API key")),
        }
    }
}

impl AppState {
    /// The phone named by `x-phone` (number or phone_id), looked up in the caller's org only.
    /// Without the header, the org's only phone.
    pub async fn resolve_phone(&self, caller: &Caller, headers: &HeaderMap) -> Result<Phone, ApiError> {
        let phones = match self.phones.get(&caller.org_id) {
            Some(phones) => phones,
            None => {
                let phones = self.tenants.list_phones(&caller.org_id).await?;
                self.phones.insert(caller.org_id.clone(), phones.clone());
                phones
            }
        };
        // A header that is not text names no phone: the same 404 as an unknown one.
        let selector = headers.get("x-phone").map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
        if let Some(selector) = selector.as_deref().filter(|v| !v.is_empty()) {
            return phones.into_iter().find(|phone| phone.answers_to(selector)).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "phone {selector:?} not found; x-phone takes one of your org's numbers or phone_ids"
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
