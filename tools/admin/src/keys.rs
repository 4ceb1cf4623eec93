//! `outbox-admin key …`: API keys, shown once when created, listed by id and prefix, revoked.

use clap::Subcommand;
use outbox::admin::{self, AdminError};
use outbox::domain::ids::OrgId;
use outbox::domain::time::Timestamp;
use secrecy::ExposeSecret;

use crate::output::table;
use crate::stack::Services;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the last line printed is the key, shown this once (only its hash is stored).
    Create {
        #[arg(long)]
        org: String,
        /// Requests per minute; the deployment's default when left out.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List an org's keys by id and prefix.
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key: requests with it get 401 from then on.
    Revoke {
        #[arg(long)]
        org: String,
        #[arg(long)]
        key_id: String,
    },
}

pub async fn run(command: KeyCommand, services: &Services, now: Timestamp) -> Result<(), AdminError> {
    let store = &services.store;
    match command {
        KeyCommand::Create { org, rate_limit } => {
            let key = admin::create_key(store, &OrgId::from(org.as_str()), rate_limit, now).await?;
            let limit = rate_limit.map_or("the deployment default".to_string(), |n| format!("{n} requests per minute"));
            println!(
                "created key {} (prefix {}) for org {org}; rate limit: {limit}",
                key.record.key_id, key.record.prefix
            );
            println!("the key is shown only this once; store it now:");
            println!("{}", key.secret.expose_secret());
        }
        KeyCommand::List { org } => {
            let keys = admin::list_keys(store, &OrgId::from(org.as_str())).await?;
            if keys.is_empty() {
                println!("org {org} has no keys; create one with `outbox-admin key create --org {org}`");
                return Ok(());
            }
            let rows = keys.into_iter().map(|key| {
                let limit = key.rate_limit.map_or("default".to_string(), |n| format!("{n}/min"));
                let revoked_at = key.revoked_at.map_or("-".to_string(), |at| at.to_string());
                [key.key_id, key.prefix, limit, key.created_at.to_string(), revoked_at]
            });
            print!("{}", table(["KEY_ID", "PREFIX", "RATE_LIMIT", "CREATED_AT", "REVOKED_AT"], rows));
        }
        KeyCommand::Revoke { org, key_id } => {
            let key = admin::revoke_key(store, &OrgId::from(org.as_str()), &key_id, now).await?;
            let since = key.revoked_at.map(|at| at.to_string()).unwrap_or_default();
            println!("key {key_id} of org {org} is revoked (since {since}); requests with it get 401");
        }
    }
    Ok(())
}
