//! Phones: added with their provider's settings (credentials to the secret store, only a
//! reference in the table), listed and removed.

use tracing::warn;

use super::orgs::require_org;
use super::{AdminError, Field, Taken, invalid};
use crate::domain::chat_id::is_phone_number;
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::limits::{MAX_PHONE_ID_BYTES, PHONE_DIGITS};
use crate::domain::tenant::{HttpSecrets, Phone, ProviderSettings, WhatsappCloudSecrets};
use crate::domain::time::Timestamp;
use crate::net::egress::Egress;
use crate::ports::{SecretError, SecretStore, TenantStore};
use crate::telemetry::chain;

use secrecy::{ExposeSecret, SecretString};

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// A phone as given to `add_phone`: its number, its phone_id (generated when `None`) and provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPhone {
    pub number: String,
    pub phone_id: Option<PhoneId>,
    pub provider: ProviderInput,
}

/// A phone's provider as given to `add_phone`, secrets included; they are split off into the secret store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderInput {
    Sandbox,
    WhatsappCloud { phone_number_id: String, graph_url: String, graph_version: String, secrets: WhatsappCloudSecrets },
    Http { url: String, secrets: HttpSecrets },
}

impl ProviderInput {
    /// The secret half as the one JSON secret a provider reads; `None` for the sandbox.
    fn secret_json(&self) -> Option<String> {
        // Structs of strings always serialise.
        match self {
            ProviderInput::Sandbox => None,
            ProviderInput::WhatsappCloud { secrets, .. } => Some(serde_json::to_string(secrets).unwrap_or_default()),
            ProviderInput::Http { secrets, .. } => Some(serde_json::to_string(secrets).unwrap_or_default()),
        }
    }

    /// The settings kept in the table: everything but the secrets, which `secret_ref` points to.
    fn settings(&self, secret_ref: &str) -> ProviderSettings {
        match self {
            ProviderInput::Sandbox => ProviderSettings::Sandbox,
            ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version, .. } => {
                ProviderSettings::WhatsappCloud {
                    phone_number_id: phone_number_id.clone(),
                    graph_url: graph_url.trim_end_matches('/').to_string(),
                    graph_version: graph_version.clone(),
                    secret_ref: secret_ref.to_string(),
                }
            }
            ProviderInput::Http { url, .. } => {
                ProviderSettings::Http { url: url.clone(), secret_ref: secret_ref.to_string() }
            }
        }
    }

    fn validate(&self) -> Result<(), AdminError> {
        match self {
            ProviderInput::Sandbox => Ok(()),
            ProviderInput::WhatsappCloud { phone_number_id, graph_version, secrets, .. } => {
                if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        Field::PhoneNumberId,
                        "must be the one Meta's WhatsApp Manager shows (letters and digits)",
                    ));
                }
                let version = graph_version.strip_prefix('v').and_then(|v| v.split_once('.'));
                let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                if !version.is_some_and(|(major, minor)| numeric(major) && numeric(minor)) {
                    return Err(invalid(
                        Field::GraphVersion,
                        format!("{graph_version:?} must look like {DEFAULT_GRAPH_VERSION} (v, major, dot, minor)"),
                    ));
                }
                require_secret(Field::AccessToken, &secrets.access_token)?;
                require_secret(Field::AppSecret, &secrets.app_secret)?;
                require_secret(Field::VerifyToken, &secrets.verify_token)
            }
            ProviderInput::Http { secrets, .. } => require_secret(Field::SigningSecret, &secrets.signing_secret),
        }
    }

    /// The URL the provider's requests go to, which the egress rules must allow (resolved now;
    /// the delivery's client checks the addresses again on every connect).
    async fn check_target(&self, egress: &Egress) -> Result<(), AdminError> {
        let (field, url) = match self {
            ProviderInput::Sandbox => return Ok(()),
            ProviderInput::WhatsappCloud { graph_url, .. } => (Field::GraphUrl, graph_url),
            ProviderInput::Http { url, .. } => (Field::EndpointUrl, url),
        };
        egress.vet(url).await.map_err(|refused| AdminError::Target { field, refused })?;
        Ok(())
    }
}

fn require_secret(field: Field, value: &SecretString) -> Result<(), AdminError> {
    if value.expose_secret().trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(())
}

fn validate_number(number: &str) -> Result<(), AdminError> {
    if !is_phone_number(number) {
        return Err(invalid(
            Field::Number,
            format!(
                "{number:?} must be {} to {} digits, country code first, without + or spaces (e.g. 15550100000)",
                PHONE_DIGITS.start(),
                PHONE_DIGITS.end()
            ),
        ));
    }
    Ok(())
}

fn validate_phone_id(phone_id: &PhoneId) -> Result<(), AdminError> {
    let suffix = phone_id.as_str().strip_prefix("phone-").unwrap_or_default();
    if suffix.is_empty()
        || phone_id.as_str().len() > MAX_PHONE_ID_BYTES
        || !suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            Field::PhoneId,
            format!(
                "{phone_id:?} must be `phone-` then lowercase letters, digits or dashes \
                 (at most {MAX_PHONE_ID_BYTES} characters), or left out to generate one",
                phone_id = phone_id.as_str()
            ),
        ));
    }
    Ok(())
}

/// Where a phone's credentials live in the secret store.
pub fn secret_name(org: &OrgId, phone_id: &PhoneId) -> String {
    format!("outbox/{org}/{phone_id}")
}

/// Adds a phone to an org; its credentials go to the secret store, the table keeps only their
/// reference, and its provider URL must be one `egress` allows. Adding the identical phone again
/// (same number, phone_id, settings and secrets) changes nothing.
pub async fn add_phone(
    tenants: &dyn TenantStore,
    secrets: &dyn SecretStore,
    egress: &Egress,
    org: &OrgId,
    phone: NewPhone,
    now: Timestamp,
) -> Result<Phone, AdminError> {
    let NewPhone { number, phone_id, provider } = phone;
    let number = number.as_str();
    validate_number(number)?;
    if let Some(phone_id) = &phone_id {
        validate_phone_id(phone_id)?;
    }
    provider.validate()?;
    provider.check_target(egress).await?;
    require_org(tenants, org).await?;
    let phones = tenants.list_phones(org).await?;
    if let Some(existing) = phones.iter().find(|p| p.number == number || Some(&p.phone_id) == phone_id.as_ref()) {
        let same_phone = existing.number == number && phone_id.as_ref().is_none_or(|id| *id == existing.phone_id);
        if same_phone && same_provider(secrets, existing, &provider).await? {
            return Ok(existing.clone());
        }
        let taken = if existing.number == number {
            Taken::Number(number.to_string())
        } else {
            Taken::PhoneId(existing.phone_id.clone())
        };
        return Err(AdminError::PhoneTaken {
            org: org.clone(),
            taken,
            holder: existing.phone_id.clone(),
            holder_number: existing.number.clone(),
        });
    }

    let phone_id = phone_id.unwrap_or_else(PhoneId::generate);
    let settings = match provider.secret_json() {
        None => provider.settings(""),
        Some(secret) => provider.settings(&secrets.put(&secret_name(org, &phone_id), &secret).await?),
    };
    let phone =
        Phone { org_id: org.clone(), phone_id, number: number.to_string(), provider: settings, created_at: now };
    if let Err(err) = tenants.put_phone(&phone).await {
        // Credentials that no phone refers to would only be a liability.
        if let Some(reference) = phone.provider.secret_ref() {
            if let Err(cleanup) = secrets.delete(reference).await {
                warn!(secret = reference, error = %chain(&cleanup), "could not delete the credentials of a phone that was not added");
            }
        }
        return Err(err.into());
    }
    Ok(phone)
}

/// Whether `existing` already has exactly `provider`'s settings and secrets.
async fn same_provider(
    secrets: &dyn SecretStore,
    existing: &Phone,
    provider: &ProviderInput,
) -> Result<bool, AdminError> {
    let secret_ref = existing.provider.secret_ref();
    if existing.provider != provider.settings(secret_ref.unwrap_or_default()) {
        return Ok(false);
    }
    let (Some(secret_ref), Some(wanted)) = (secret_ref, provider.secret_json()) else {
        return Ok(true);
    };
    match secrets.get(secret_ref).await {
        Ok(stored) => Ok(stored == wanted),
        Err(SecretError::NotFound(_)) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

pub async fn list_phones(tenants: &dyn TenantStore, org: &OrgId) -> Result<Vec<Phone>, AdminError> {
    require_org(tenants, org).await?;
    Ok(tenants.list_phones(org).await?)
}

/// Removes the phone named by number or phone_id, and its credentials.
pub async fn remove_phone(
    tenants: &dyn TenantStore,
    secrets: &dyn SecretStore,
    org: &OrgId,
    number_or_phone_id: &str,
) -> Result<Phone, AdminError> {
    let phones = list_phones(tenants, org).await?;
    let phone = phones
        .into_iter()
        .find(|p| p.answers_to(number_or_phone_id))
        .ok_or_else(|| AdminError::PhoneNotFound { org: org.clone(), phone: number_or_phone_id.to_string() })?;
    // The secret first: if deleting the phone then fails, running the command again finishes the job.
    if let Some(reference) = phone.provider.secret_ref() {
        secrets.delete(reference).await?;
    }
    tenants.delete_phone(org, &phone.phone_id).await?;
    Ok(phone)
}
