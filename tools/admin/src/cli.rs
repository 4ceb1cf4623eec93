//! The commands of the contract's "Admin CLI", their output, and how the CLI finds the stack.

use std::error::Error;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::adapters::dynamodb::DynamoStore;
use outbox::adapters::secrets_manager::SecretsManager;
use outbox::adapters::sqs::SqsQueue;
use outbox::admin::{self, AdminError, DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, ProviderInput, ReplaySelection};
use outbox::domain::ids::{OrgId, PhoneId, QueueId};
use outbox::domain::tenant::{HttpSecrets, ProviderKind, ProviderSettings, WhatsappCloudSecrets};
use outbox::local::{self, LocalSettings};
use outbox::ports::{Clock, SystemClock};
use secrecy::ExposeSecret;

/// Manage Outbox orgs, API keys, phones and dead letters.
///
/// With no configuration it talks to the local stack that `make run` started (AWS_ENDPOINT_URL,
/// default http://127.0.0.1:4566; OUTBOX_LOCAL_PREFIX, default outbox-local). With OUTBOX_TABLE set it
/// uses the deployment that the Lambdas' variables (OUTBOX_TABLE, OUTBOX_QUEUE_URL, ...) name.
#[derive(Parser)]
#[command(name = "outbox-admin", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Add, list and remove sending phones.
    #[command(subcommand)]
    Phone(PhoneCommand),
    /// Replay dead-lettered messages.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an org; the last line printed is its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

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

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Move dead-lettered messages back to the queue for another round of attempts.
    Replay(Replay),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Replay {
    /// Replay this message only.
    #[arg(long)]
    queue_id: Option<String>,
    /// Replay every dead-lettered message.
    #[arg(long)]
    all: bool,
}

impl PhoneAdd {
    /// The provider and its settings; flags of another provider are a mistake worth stopping for.
    fn provider_input(&self) -> Result<ProviderInput, AdminError> {
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

/// The adapters the commands work through.
struct Services {
    store: DynamoStore,
    secrets: SecretsManager,
    queue: SqsQueue,
}

/// A deployment when OUTBOX_TABLE is set, otherwise the local stack (whose resources are ensured, idempotently).
async fn connect() -> Result<Services, String> {
    let (config, aws) = if std::env::var_os("OUTBOX_TABLE").is_some() {
        let config = Config::from_env().map_err(|err| {
            format!("{err}: with OUTBOX_TABLE set, outbox-admin reads the same variables as the Lambdas")
        })?;
        let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
        (config, aws)
    } else {
        let settings = LocalSettings::from_env();
        local::prepare(&settings).await.map_err(|err| {
            format!(
                "cannot use the local stack at {}: {}\nstart it with `make run` (or set AWS_ENDPOINT_URL), \
                 or set OUTBOX_TABLE and the Lambdas' other variables to use a deployment",
                settings.endpoint,
                outbox::telemetry::chain(&err)
            )
        })?
    };
    Ok(Services {
        store: DynamoStore::new(aws.dynamodb.clone(), &config.table),
        secrets: SecretsManager::new(aws.secrets.clone()),
        queue: SqsQueue::new(aws.sqs.clone(), &config.queue_url, &config.dlq_url),
    })
}

pub async fn execute(command: Command) -> Result<ExitCode, Box<dyn Error>> {
    // Flags are checked before any AWS call.
    if let Command::Phone(PhoneCommand::Add(add)) = &command {
        add.provider_input()?;
    }
    let services = connect().await?;
    let (store, secrets) = (&services.store, &services.secrets);
    let org_of = |org: &str| OrgId::from(org);
    let now = SystemClock.now();
    match command {
        Command::Org(OrgCommand::Create { name }) => {
            let org = admin::create_org(store, &name, now).await?;
            println!("created org {:?}; next: outbox-admin key create --org {org}", name.trim());
            println!("{org}");
        }
        Command::Key(KeyCommand::Create { org, rate_limit }) => {
            let key = admin::create_key(store, &org_of(&org), rate_limit, now).await?;
            let limit = rate_limit.map_or("the deployment default".to_string(), |n| format!("{n} requests per minute"));
            println!(
                "created key {} (prefix {}) for org {org}; rate limit: {limit}",
                key.record.key_id, key.record.prefix
            );
            println!("the key is shown only this once; store it now:");
            println!("{}", key.secret.expose_secret());
        }
        Command::Key(KeyCommand::List { org }) => {
            let keys = admin::list_keys(store, &org_of(&org)).await?;
            if keys.is_empty() {
                println!("org {org} has no keys; create one with `outbox-admin key create --org {org}`");
                return Ok(ExitCode::SUCCESS);
            }
            let rows = keys.into_iter().map(|key| {
                let limit = key.rate_limit.map_or("default".to_string(), |n| format!("{n}/min"));
                let revoked_at = key.revoked_at.map_or("-".to_string(), |at| at.to_string());
                [key.key_id, key.prefix, limit, key.created_at.to_string(), revoked_at]
            });
            print!("{}", table(["KEY_ID", "PREFIX", "RATE_LIMIT", "CREATED_AT", "REVOKED_AT"], rows));
        }
        Command::Key(KeyCommand::Revoke { org, key_id }) => {
            let key = admin::revoke_key(store, &org_of(&org), &key_id, now).await?;
            let since = key.revoked_at.map(|at| at.to_string()).unwrap_or_default();
            println!("key {key_id} of org {org} is revoked (since {since}); requests with it get 401");
        }
        Command::Phone(PhoneCommand::Add(add)) => {
            let provider = add.provider_input()?;
            let phone = admin::add_phone(
                store,
                secrets,
                &org_of(&add.org),
                &add.number,
                add.phone_id.map(PhoneId::from),
                provider,
                now,
            )
            .await?;
            let stored =
                if phone.provider.secret_ref().is_some() { "; credentials in AWS Secrets Manager" } else { "" };
            println!(
                "phone {} ({}, {}) is ready on org {}{stored}",
                phone.phone_id,
                phone.number,
                phone.provider.kind().as_str(),
                add.org
            );
            println!("{}", phone.phone_id);
        }
        Command::Phone(PhoneCommand::List { org }) => {
            let phones = admin::list_phones(store, &org_of(&org)).await?;
            if phones.is_empty() {
                println!("org {org} has no phones; add one with `outbox-admin phone add --org {org} ...`");
                return Ok(ExitCode::SUCCESS);
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
        Command::Phone(PhoneCommand::Remove { org, phone }) => {
            let removed = admin::remove_phone(store, secrets, &org_of(&org), &phone).await?;
            let credentials = if removed.provider.secret_ref().is_some() { " and deleted its credentials" } else { "" };
            println!("removed phone {} ({}) from org {org}{credentials}", removed.phone_id, removed.number);
        }
        Command::Dlq(DlqCommand::Replay(replay)) => {
            let selection =
                replay.queue_id.map_or(ReplaySelection::All, |id| ReplaySelection::QueueId(QueueId::from(id)));
            let report = admin::replay_dead_letters(store, &services.queue, &selection, now).await?;
            for record in &report.replayed {
                println!(
                    "replayed {} (org {}, chat {}, {} attempts so far)",
                    record.queue_id,
                    record.org_id,
                    record.chat_id.as_str(),
                    record.attempts
                );
            }
            for queue_id in &report.not_dead_lettered {
                println!(
                    "{queue_id}: not dead-lettered (unknown, never dead-lettered, or replayed already); nothing to do"
                );
            }
            for (queue_id, error) in &report.failed {
                eprintln!("{queue_id}: not replayed: {error}");
            }
            println!(
                "replayed {}, not dead-lettered {}, failed {}",
                report.replayed.len(),
                report.not_dead_lettered.len(),
                report.failed.len()
            );
            if !report.failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// Left-aligned columns, two spaces apart, one line per row.
fn table<const N: usize>(header: [&str; N], rows: impl IntoIterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = rows.into_iter().collect();
    let widths: [usize; N] = std::array::from_fn(|column| {
        rows.iter().map(|row| row[column].chars().count()).chain([header[column].len()]).max().unwrap_or(0)
    });
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(std::array::from_fn(|column| row[column].as_str())));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn phone_add(args: &[&str]) -> Result<ProviderInput, String> {
        let argv = ["outbox-admin", "phone", "add", "--org", "org-a", "--number", "15550100001"];
        let cli = Cli::try_parse_from(argv.iter().chain(args)).map_err(|e| e.to_string())?;
        let Command::Phone(PhoneCommand::Add(add)) = cli.command else { panic!("not phone add") };
        add.provider_input().map_err(|e| e.to_string())
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
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

    #[test]
    fn a_replay_takes_one_queue_id_or_all() {
        let parse = |args: &[&str]| Cli::try_parse_from(["outbox-admin", "dlq", "replay"].iter().chain(args));
        assert!(parse(&[]).is_err());
        assert!(parse(&["--all", "--queue-id", "q"]).is_err());
        assert!(parse(&["--all"]).is_ok());
        assert!(parse(&["--queue-id", "q"]).is_ok());
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = [["key-1".to_string(), "obx_1234".to_string()], ["key-long-id".to_string(), "-".to_string()]];
        assert_eq!(table(["KEY_ID", "PREFIX"], rows), "KEY_ID       PREFIX\nkey-1        obx_1234\nkey-long-id  -\n");
    }
}
