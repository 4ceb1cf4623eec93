//! `outbox-admin phone …`: phones and their providers (credentials to Secrets Manager, never to the table).

use clap::{Args, Subcommand, ValueEnum};
use outbox::admin::{self, AdminError, DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, ProviderInput};
use outbox::domain::ids::{OrgId, PhoneId};
use outbox::domain::tenant::{HttpSecrets, ProviderKind, ProviderSettings, WhatsappCloudSecrets};
use outbox::domain::time::Timestamp;

use crate::output::table;
use crate::stack::Services;

#[derive(Subcommand)]
pub enum PhoneCommand {
    /// Add a phone; provider credentials go to AWS Secrets Manager, never to the table.
    Add(Box<PhoneAdd>),
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

#[derive(Args)]
pub struct PhoneAdd {
    #[arg(long)]
    org: String,
    /// Country code and number, digits only.
    #[arg(long)]
    number: String,
    /// `phone-` and lowercase letters, digits or dashes; generated when left out.
    #[arg(long)]
    phone_id: Option<String>,
    #[arg(long, value_enum)]
    provider: ProviderArg,
    /// whatsapp-cloud: the phone number ID from Meta's WhatsApp Manager.
    #[arg(long)]
    phone_number_id: Option<String>,
    /// whatsapp-cloud: a (system user) access token.
    #[arg(long)]
    access_token: Option<String>,
    /// whatsapp-cloud: the app secret that signs Meta's webhooks.
    #[arg(long)]
    app_secret: Option<String>,
    /// whatsapp-cloud: the token Meta's webhook verification echoes.
    #[arg(long)]
    verify_token: Option<String>,
    /// whatsapp-cloud: the Graph API base URL [default: https://graph.facebook.com].
    #[arg(long)]
    graph_url: Option<String>,
    /// whatsapp-cloud: the Graph API version [default: v21.0].
    #[arg(long)]
    graph_version: Option<String>,
    /// http: where each message is POSTed.
    #[arg(long)]
    url: Option<String>,
    /// http: the HMAC-SHA256 key that signs each request.
    #[arg(long)]
    signing_secret: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    Sandbox,
    WhatsappCloud,
    Http,
}

impl ProviderArg {
    fn kind(self) -> ProviderKind {
        match self {
            ProviderArg::Sandbox => ProviderKind::Sandbox,
            ProviderArg::WhatsappCloud => ProviderKind::WhatsappCloud,
            ProviderArg::Http => ProviderKind::Http,
        }
    }
}

impl PhoneAdd {
    /// The provider and its settings; flags of another provider are a mistake worth stopping for.
    pub fn provider_input(&self) -> Result<ProviderInput, AdminError> {
        use ProviderArg::{Http, WhatsappCloud};
        // (flag, value, the provider it belongs to, required by it)
        let flags = [
            ("--phone-number-id", &self.phone_number_id, WhatsappCloud, true),
            ("--access-token", &self.access_token, WhatsappCloud, true),
            ("--app-secret", &self.app_secret, WhatsappCloud, true),
            ("--verify-token", &self.verify_token, WhatsappCloud, true),
            ("--graph-url", &self.graph_url, WhatsappCloud, false),
            ("--graph-version", &self.graph_version, WhatsappCloud, false),
            ("--url", &self.url, Http, true),
            ("--signing-secret", &self.signing_secret, Http, true),
        ];
        let provider = self.provider.kind().as_str();
        let stray: Vec<&str> = flags.iter().filter(|f| f.1.is_some() && f.2 != self.provider).map(|f| f.0).collect();
        if !stray.is_empty() {
            return Err(AdminError::Invalid(format!("{} not for --provider {provider}", stray.join(", "))));
        }
        let missing: Vec<&str> =
            flags.iter().filter(|f| f.1.is_none() && f.2 == self.provider && f.3).map(|f| f.0).collect();
        if !missing.is_empty() {
            return Err(AdminError::Invalid(format!("--provider {provider} also needs {}", missing.join(", "))));
        }
        let value = |flag: &Option<String>| flag.clone().unwrap_or_default();
        Ok(match self.provider {
            ProviderArg::Sandbox => ProviderInput::Sandbox,
            WhatsappCloud => ProviderInput::WhatsappCloud {
                phone_number_id: value(&self.phone_number_id),
                graph_url: self.graph_url.clone().unwrap_or_else(|| DEFAULT_GRAPH_URL.into()),
                graph_version: self.graph_version.clone().unwrap_or_else(|| DEFAULT_GRAPH_VERSION.into()),
                secrets: WhatsappCloudSecrets {
                    access_token: value(&self.access_token).into(),
                    app_secret: value(&self.app_secret).into(),
                    verify_token: value(&self.verify_token).into(),
                },
            },
            Http => ProviderInput::Http {
                url: value(&self.url),
                secrets: HttpSecrets { signing_secret: value(&self.signing_secret).into() },
            },
        })
    }
}

pub async fn run(command: PhoneCommand, services: &Services, now: Timestamp) -> Result<(), AdminError> {
    let (store, secrets) = (&services.store, &services.secrets);
    match command {
        PhoneCommand::Add(add) => {
            let provider = add.provider_input()?;
            let org = OrgId::from(add.org.as_str());
            let phone_id = add.phone_id.map(PhoneId::from);
            let phone = admin::add_phone(store, secrets, &org, &add.number, phone_id, provider, now).await?;
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
        PhoneCommand::List { org } => {
            let phones = admin::list_phones(store, &OrgId::from(org.as_str())).await?;
            if phones.is_empty() {
                println!("org {org} has no phones; add one with `outbox-admin phone add --org {org} ...`");
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
        PhoneCommand::Remove { org, phone } => {
            let removed = admin::remove_phone(store, secrets, &OrgId::from(org.as_str()), &phone).await?;
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

#[cfg(test)]
mod tests {
    use clap::Parser;
    use secrecy::ExposeSecret;

    use super::*;
    use crate::{Cli, Command};

    fn phone_add(args: &[&str]) -> Result<ProviderInput, String> {
        let argv = ["outbox-admin", "phone", "add", "--org", "org-a", "--number", "15550100001"];
        let cli = Cli::try_parse_from(argv.iter().chain(args)).map_err(|e| e.to_string())?;
        let Command::Phone(PhoneCommand::Add(add)) = cli.command else { panic!("not phone add") };
        add.provider_input().map_err(|e| e.to_string())
    }

    #[test]
    fn whatsapp_cloud_takes_its_secrets_and_defaults_the_graph_api() {
        let input = phone_add(&[
            "--provider",
            "whatsapp-cloud",
            "--phone-number-id",
            "1065",
            "--access-token",
            "t",
            "--app-secret",
            "a",
            "--verify-token",
            "v",
        ])
        .unwrap();
        let ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version, secrets } = input else {
            panic!("{input:?}")
        };
        assert_eq!(
            (phone_number_id.as_str(), graph_url.as_str(), graph_version.as_str()),
            ("1065", DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION)
        );
        let exposed = [&secrets.access_token, &secrets.app_secret, &secrets.verify_token].map(|s| s.expose_secret());
        assert_eq!(exposed, ["t", "a", "v"]);
        assert_eq!(phone_add(&["--provider", "sandbox"]).unwrap(), ProviderInput::Sandbox);
    }

    #[test]
    fn another_providers_flags_and_missing_flags_are_named() {
        let err = phone_add(&["--provider", "sandbox", "--url", "https://x.test"]).unwrap_err();
        assert!(err.contains("--url not for --provider sandbox"), "{err}");
        let err = phone_add(&["--provider", "http", "--url", "https://x.test"]).unwrap_err();
        assert!(err.contains("--provider http also needs --signing-secret"), "{err}");
        let err = phone_add(&["--provider", "whatsapp-cloud", "--signing-secret", "s"]).unwrap_err();
        assert!(err.contains("--signing-secret not for --provider whatsapp-cloud"), "{err}");
        assert!(phone_add(&["--provider", "telegram"]).is_err());
    }
}
