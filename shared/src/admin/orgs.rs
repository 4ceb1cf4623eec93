//! Orgs: created with a fresh id, or ensured under a fixed one (the local seed's).

use super::{AdminError, Field, invalid};
use crate::domain::ids::OrgId;
use crate::domain::limits::MAX_ORG_NAME_CHARS;
use crate::domain::tenant::Org;
use crate::domain::time::Timestamp;
use crate::ports::TenantStore;

/// Creates an org with a fresh id.
pub async fn create_org(tenants: &dyn TenantStore, name: &str, now: Timestamp) -> Result<OrgId, AdminError> {
    let org = OrgId::generate();
    ensure_org(tenants, &org, name, now).await?;
    Ok(org)
}

/// Creates `org` unless it exists already (the local seed's fixed org).
pub async fn ensure_org(tenants: &dyn TenantStore, org: &OrgId, name: &str, now: Timestamp) -> Result<(), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_ORG_NAME_CHARS {
        return Err(invalid(
            Field::OrgName,
            format!("must be 1 to {MAX_ORG_NAME_CHARS} characters, e.g. \"Acme Support\""),
        ));
    }
    if tenants.get_org(org).await?.is_none() {
        tenants.put_org(org, name, now).await?;
    }
    Ok(())
}

/// The org, which must exist before anything is added to it.
pub(super) async fn require_org(tenants: &dyn TenantStore, org: &OrgId) -> Result<Org, AdminError> {
    tenants.get_org(org).await?.ok_or_else(|| AdminError::OrgNotFound(org.clone()))
}
