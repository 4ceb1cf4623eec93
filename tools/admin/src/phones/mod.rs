//! `outbox-admin phone …`: phones and their providers (credentials to Secrets Manager, never to
//! the table); `add` has a subcommand per provider.

pub mod add;

use clap::Subcommand;
use outbox::admin::{self, AdminError, NewPhone};
use outbox::domain::ids::OrgId;
use outbox::domain::tenant::ProviderSettings;
use outbox::domain::time::Timestamp;

use crate::output::table;
use crate::secrets::{SecretReader, StdinError};
use crate::stack::Services;

#[derive(Subcommand)]
pub enum PhoneCommand {
    /// Add a phone; provider credentials go to AWS Secrets Manager, never to the table.
    #[command(subcommand, after_help = "The contract's form `phone add --provider PROVIDER …` works too.")]
    Add(add::AddPhone),
    /// List an org's phones (never their credentials).
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove a phone and its stored credentials.
    Remove {
        #[arg(long)]
        org: String,
        /// The phone's number or phone_id.
        #[arg(long)]
        phone: String,
    },
}

/// A phone command with everything the operator gives settled (flags and stdin secrets), before
/// any AWS call.
pub enum PhoneRequest {
    Add { org: OrgId, phone: NewPhone },
    List { org: OrgId },
    Remove { org: OrgId, phone: String },
}

pub fn prepare(
    command: PhoneCommand,
    stdin: &mut SecretReader<impl std::io::BufRead>,
) -> Result<PhoneRequest, StdinError> {
    Ok(match command {
        PhoneCommand::Add(add) => {
            let (org, phone) = add.read(stdin)?;
            PhoneRequest::Add { org, phone }
        }
        PhoneCommand::List { org } => PhoneRequest::List { org: OrgId::from(org) },
        PhoneCommand::Remove { org, phone } => PhoneRequest::Remove { org: OrgId::from(org), phone },
    })
}

pub async fn run(request: PhoneRequest, services: &Services, now: Timestamp) -> Result<(), AdminError> {
    let (store, secrets) = (&services.store, &services.secrets);
    match request {
        PhoneRequest::Add { org, phone } => {
            let phone = admin::add_phone(store, secrets, &services.egress, &org, phone, now).await?;
            let stored =
                if phone.provider.secret_ref().is_some() { "; credentials in AWS Secrets Manager" } else { "" };
            println!(
                "phone {} ({}, {}) is ready on org {org}{stored}",
                phone.phone_id,
                phone.number,
                phone.provider.kind().as_str(),
            );
            println!("{}", phone.phone_id);
        }
        PhoneRequest::List { org } => {
            let phones = admin::list_phones(store, &org).await?;
            if phones.is_empty() {
                println!(
                    "org {org} has no phones; add one with `outbox-admin phone add sandbox --org {org} --number DIGITS`"
                );
                return Ok(());
            }
            let rows = phones.into_iter().map(|phone| {
                let credentials = if phone.provider.secret_ref().is_some() { "secrets-manager" } else { "-" };
                [
                    phone.phone_id.to_string(),
                    phone.number,
                    phone.provider.kind().as_str().to_string(),
                    endpoint(&phone.provider),
                    credentials.to_string(),
                    phone.created_at.to_string(),
                ]
            });
            print!("{}", table(["PHONE_ID", "NUMBER", "PROVIDER", "ENDPOINT", "CREDENTIALS", "CREATED_AT"], rows));
        }
        PhoneRequest::Remove { org, phone } => {
            let removed = admin::remove_phone(store, secrets, &org, &phone).await?;
            let credentials = if removed.provider.secret_ref().is_some() { " and deleted its credentials" } else { "" };
            println!("removed phone {} ({}) from org {org}{credentials}", removed.phone_id, removed.number);
        }
    }
    Ok(())
}

/// Where a phone's messages go, without its credentials.
fn endpoint(settings: &ProviderSettings) -> String {
    match settings {
        ProviderSettings::Sandbox => "-".into(),
        ProviderSettings::WhatsappCloud { phone_number_id, graph_url, graph_version, .. } => {
            format!("{graph_url}/{graph_version}/{phone_number_id}")
        }
        ProviderSettings::Http { url, .. } => url.clone(),
    }
}
