//! `outbox-admin org …`: orgs.

use clap::Subcommand;
use outbox::admin::{self, AdminError};
use outbox::domain::time::Timestamp;

use crate::stack::Services;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an org; the last line printed is its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

pub async fn run(command: OrgCommand, services: &Services, now: Timestamp) -> Result<(), AdminError> {
    match command {
        OrgCommand::Create { name } => {
            let org = admin::create_org(&services.store, &name, now).await?;
            println!("created org {:?}; next: outbox-admin key create --org {org}", name.trim());
            println!("{org}");
        }
    }
    Ok(())
}
