//! The administer flow: orgs, API keys, phones and dead-letter replay, shared by `outbox-admin`
//! and the local seed. Errors say what is wrong in domain terms; the CLI words its own advice.

mod keys;
mod orgs;
mod phones;
mod replay;
mod webhook_replay;

pub use keys::{create_key, list_keys, register_key, revoke_key};
pub use orgs::{create_org, ensure_org};
pub use phones::{
    DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, NewPhone, ProviderInput, add_phone, list_phones, remove_phone,
    secret_name,
};
pub use replay::{ReplayOptions, ReplayReport, ReplaySelection, replay_dead_letters};
pub use webhook_replay::{EventReplayReport, EventSelection, replay_events};

use crate::domain::ids::{OrgId, PhoneId};
use crate::net::egress::EgressError;
use crate::ports::{QueueError, SecretError, StoreError};
use crate::telemetry::chain;

/// An input of an admin operation, by what it means (a caller names it in its own terms, e.g. a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    OrgName,
    RateLimit,
    Number,
    PhoneId,
    PhoneNumberId,
    GraphUrl,
    GraphVersion,
    AccessToken,
    AppSecret,
    VerifyToken,
    EndpointUrl,
    SigningSecret,
}

impl Field {
    /// The field in words, e.g. "Graph API URL".
    pub fn describe(self) -> &'static str {
        match self {
            Field::OrgName => "org name",
            Field::RateLimit => "rate limit",
            Field::Number => "number",
            Field::PhoneId => "phone_id",
            Field::PhoneNumberId => "phone number ID",
            Field::GraphUrl => "Graph API URL",
            Field::GraphVersion => "Graph API version",
            Field::AccessToken => "access token",
            Field::AppSecret => "app secret",
            Field::VerifyToken => "verify token",
            Field::EndpointUrl => "endpoint URL",
            Field::SigningSecret => "signing secret",
        }
    }
}

/// Which of an existing phone's identifiers a new phone would take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Number(String),
    PhoneId(PhoneId),
}

/// Why an admin operation did not happen, with the entity or field at fault, so that each caller
/// can say what to do next in its own words. The store errors' messages carry their whole cause
/// chain (a person reads them as they are), so they report no source of their own.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("org {0} not found")]
    OrgNotFound(OrgId),
    #[error("org {org} has no key {key_id}")]
    KeyNotFound { org: OrgId, key_id: String },
    #[error("org {org} has no phone {phone}")]
    PhoneNotFound { org: OrgId, phone: String },
    /// `problem` completes a sentence that starts with the field: "… must not be empty".
    #[error("the {} {problem}", field.describe())]
    Invalid { field: Field, problem: String },
    /// A provider URL that the egress rules refuse.
    #[error("the {} is refused: {refused}", field.describe())]
    Target { field: Field, refused: EgressError },
    #[error("org {org} already has {} (phone {holder} / {holder_number})", taken_words(taken))]
    PhoneTaken { org: OrgId, taken: Taken, holder: PhoneId, holder_number: String },
    #[error("{}; check that DynamoDB is reachable with these credentials, then try again", chain(.0))]
    Store(StoreError),
    #[error("{}; check that Secrets Manager is reachable with these credentials, then try again", chain(.0))]
    Secret(SecretError),
    #[error("{}; check that the queue is reachable with these credentials, then try again", chain(.0))]
    Queue(QueueError),
}

fn taken_words(taken: &Taken) -> String {
    match taken {
        Taken::Number(number) => format!("number {number}"),
        Taken::PhoneId(phone_id) => format!("phone_id {phone_id}"),
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        AdminError::Store(err)
    }
}

impl From<SecretError> for AdminError {
    fn from(err: SecretError) -> Self {
        AdminError::Secret(err)
    }
}

impl From<QueueError> for AdminError {
    fn from(err: QueueError) -> Self {
        AdminError::Queue(err)
    }
}

fn invalid(field: Field, problem: impl Into<String>) -> AdminError {
    AdminError::Invalid { field, problem: problem.into() }
}

#[cfg(test)]
mod tests;
