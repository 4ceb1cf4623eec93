//! API keys: generated, registered (hash only), listed and revoked.

use super::orgs::require_org;
use super::{AdminError, Field, invalid};
use crate::domain::ids::OrgId;
use crate::domain::tenant::{ApiKeyRecord, NewApiKey};
use crate::domain::time::Timestamp;
use crate::ports::TenantStore;

/// A new random key for `org`; the caller shows its secret once, only the hash is stored.
pub async fn create_key(
    tenants: &dyn TenantStore,
    org: &OrgId,
    rate_limit: Option<u32>,
    now: Timestamp,
) -> Result<NewApiKey, AdminError> {
    register_key(tenants, NewApiKey::generate(org.clone(), rate_limit, now)).await
}

/// Stores a key's hash and record for an existing org (the local seed registers its known key).
pub async fn register_key(tenants: &dyn TenantStore, key: NewApiKey) -> Result<NewApiKey, AdminError> {
    if key.record.rate_limit == Some(0) {
        return Err(invalid(
            Field::RateLimit,
            "is requests per minute and at least 1; leave it unset for the deployment default",
        ));
    }
    require_org(tenants, &key.record.org_id).await?;
    tenants.put_api_key(&key.hash, &key.record).await?;
    Ok(key)
}

pub async fn list_keys(tenants: &dyn TenantStore, org: &OrgId) -> Result<Vec<ApiKeyRecord>, AdminError> {
    require_org(tenants, org).await?;
    Ok(tenants.list_api_keys(org).await?)
}

/// Revokes one of the org's keys; revoking it again keeps the first `revoked_at`.
pub async fn revoke_key(
    tenants: &dyn TenantStore,
    org: &OrgId,
    key_id: &str,
    now: Timestamp,
) -> Result<ApiKeyRecord, AdminError> {
    tenants
        .revoke_api_key(org, key_id, now)
        .await?
        .ok_or_else(|| AdminError::KeyNotFound { org: org.clone(), key_id: key_id.to_string() })
}
