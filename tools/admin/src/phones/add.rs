//! `outbox-admin phone add PROVIDER …`: one subcommand per provider, so that each one's `--help`
//! shows the flags it takes and marks the required ones. The contract's form, `phone add …
//! --provider PROVIDER …`, is rewritten into the subcommand form before clap parses it.

use std::ffi::{OsStr, OsString};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Subcommand};
use outbox::admin::{DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, NewPhone, ProviderInput};
use outbox::domain::ids::{OrgId, PhoneId};
use outbox::domain::tenant::{HttpSecrets, WhatsappCloudSecrets};

use crate::secrets::{SecretArg, SecretReader, StdinError};

const SECRETS_HELP: &str = "\
Secrets: give each as its flag's value, or keep it out of shell history and the process list:
set its environment variable (shown with the flag), or give the flag as `-` to read the secret
from stdin, one line per `-`, in the order the flags are listed above.";

/// Add a phone; its provider is the subcommand. `phone add --provider PROVIDER …` works too.
#[derive(Subcommand)]
pub enum AddPhone {
    /// A phone that delivers nowhere, predictably (see the README's sandbox table).
    Sandbox(PhoneArgs),
    /// A WhatsApp Cloud API phone; its token and secrets go to AWS Secrets Manager.
    #[command(after_help = SECRETS_HELP)]
    WhatsappCloud(WhatsappCloudArgs),
    /// A phone whose messages are POSTed, HMAC-signed, to your own https endpoint.
    #[command(after_help = SECRETS_HELP)]
    Http(HttpArgs),
}

#[derive(Args)]
pub struct PhoneArgs {
    /// The org's id (the last line `org create` printed).
    #[arg(long)]
    org: String,
    /// Country code and number, digits only, e.g. 15550100000.
    #[arg(long)]
    number: String,
    /// `phone-` and lowercase letters, digits or dashes; generated when left out.
    #[arg(long)]
    phone_id: Option<String>,
}

#[derive(Args)]
pub struct WhatsappCloudArgs {
    #[command(flatten)]
    phone: PhoneArgs,
    /// The phone number ID from Meta's WhatsApp Manager.
    #[arg(long)]
    phone_number_id: String,
    /// A (system user) access token.
    #[arg(long, value_name = "TOKEN", env = "OUTBOX_ADMIN_ACCESS_TOKEN", hide_env_values = true, value_parser = SecretArg::parse)]
    access_token: SecretArg,
    /// The app secret that signs Meta's webhooks.
    #[arg(long, value_name = "SECRET", env = "OUTBOX_ADMIN_APP_SECRET", hide_env_values = true, value_parser = SecretArg::parse)]
    app_secret: SecretArg,
    /// The token Meta's webhook verification echoes.
    #[arg(long, value_name = "TOKEN", env = "OUTBOX_ADMIN_VERIFY_TOKEN", hide_env_values = true, value_parser = SecretArg::parse)]
    verify_token: SecretArg,
    /// The Graph API base URL (https, on a public address).
    #[arg(long, value_name = "URL", default_value = DEFAULT_GRAPH_URL)]
    graph_url: String,
    /// The Graph API version.
    #[arg(long, value_name = "vNN.0", default_value = DEFAULT_GRAPH_VERSION)]
    graph_version: String,
}

#[derive(Args)]
pub struct HttpArgs {
    #[command(flatten)]
    phone: PhoneArgs,
    /// Where each message is POSTed: https, on a public address (a stack with
    /// OUTBOX_ALLOW_PRIVATE_TARGETS=true, like the local one, also takes http and private addresses).
    #[arg(long)]
    url: String,
    /// The HMAC-SHA256 key that signs each request.
    #[arg(long, value_name = "SECRET", env = "OUTBOX_ADMIN_SIGNING_SECRET", hide_env_values = true, value_parser = SecretArg::parse)]
    signing_secret: SecretArg,
}

impl AddPhone {
    /// The org and the phone to add, its `-` secrets read from `stdin` (in `--help`'s order).
    pub fn read(self, stdin: &mut SecretReader<impl std::io::BufRead>) -> Result<(OrgId, NewPhone), StdinError> {
        let (phone, provider) = match self {
            AddPhone::Sandbox(phone) => (phone, ProviderInput::Sandbox),
            AddPhone::WhatsappCloud(cloud) => {
                let secrets = WhatsappCloudSecrets {
                    access_token: stdin.resolve("--access-token", cloud.access_token)?,
                    app_secret: stdin.resolve("--app-secret", cloud.app_secret)?,
                    verify_token: stdin.resolve("--verify-token", cloud.verify_token)?,
                };
                let provider = ProviderInput::WhatsappCloud {
                    phone_number_id: cloud.phone_number_id,
                    graph_url: cloud.graph_url,
                    graph_version: cloud.graph_version,
                    secrets,
                };
                (cloud.phone, provider)
            }
            AddPhone::Http(http) => {
                let secrets = HttpSecrets { signing_secret: stdin.resolve("--signing-secret", http.signing_secret)? };
                (http.phone, ProviderInput::Http { url: http.url, secrets })
            }
        };
        let new = NewPhone { number: phone.number, phone_id: phone.phone_id.map(PhoneId::from), provider };
        Ok((OrgId::from(phone.org), new))
    }
}

fn add_command(cli: &clap::Command) -> Option<&clap::Command> {
    cli.find_subcommand("phone")?.find_subcommand("add")
}

/// How `phone add` was invoked: which provider, and whether by the `--provider` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub provider: String,
    pub by_flag: bool,
}

impl Invocation {
    fn named(&self) -> String {
        if self.by_flag { format!("--provider {}", self.provider) } else { format!("`phone add {}`", self.provider) }
    }
}

/// `phone add … --provider X …` (or `--provider=X`) as `phone add X …`; any other command line is
/// left as it is. Also says which provider `phone add` was given, for `explain`.
pub fn provider_flag_as_subcommand(mut argv: Vec<OsString>) -> (Vec<OsString>, Option<Invocation>) {
    if argv.get(1).map(OsString::as_os_str) != Some(OsStr::new("phone"))
        || argv.get(2).map(OsString::as_os_str) != Some(OsStr::new("add"))
    {
        return (argv, None);
    }
    if let Some(provider) = argv.get(3).and_then(|arg| arg.to_str()).filter(|arg| !arg.starts_with('-')) {
        let provider = provider.to_string();
        return (argv, Some(Invocation { provider, by_flag: false }));
    }
    // Options end at `--`; nothing after it is a flag.
    let end = argv.iter().position(|arg| arg == "--").unwrap_or(argv.len());
    let found = argv[3..end].iter().enumerate().find_map(|(offset, arg)| {
        let arg = arg.to_str()?;
        match arg.strip_prefix("--provider") {
            Some("") => Some((3 + offset, 2)),
            Some(rest) if rest.starts_with('=') => Some((3 + offset, 1)),
            _ => None,
        }
    });
    let Some((at, len)) = found else { return (argv, None) };
    let provider = if len == 2 {
        match argv.get(at + 1).filter(|_| at + 1 < end) {
            Some(value) => value.clone(),
            None => return (argv, None),
        }
    } else {
        OsString::from(argv[at].to_str().and_then(|arg| arg.split_once('=')).map_or("", |(_, value)| value))
    };
    argv.drain(at..at + len);
    let invocation = provider.to_str().map(|name| Invocation { provider: name.to_string(), by_flag: true });
    argv.insert(3, provider);
    (argv, invocation)
}

/// Clap's error for `phone add`, said in terms of providers where clap's own words fall short: an
/// unknown provider, a flag of another provider, a doubled `--provider`, or missing flags whose
/// secrets have other sources.
pub fn explain(err: &clap::Error, invocation: &Invocation) -> Option<String> {
    let strings = |kind: ContextKind| match err.get(kind) {
        Some(ContextValue::String(one)) => vec![one.clone()],
        Some(ContextValue::Strings(many)) => many.clone(),
        _ => vec![],
    };
    // A flag as clap quotes it: "--url <URL>" or "--url=x" is "--url".
    let flag_of = |quoted: &str| quoted.split([' ', '=']).next().unwrap_or_default().to_string();
    let help = format!("see `outbox-admin phone add {} --help`", invocation.provider);
    match err.kind() {
        ErrorKind::UnknownArgument => {
            let flag = flag_of(strings(ContextKind::InvalidArg).first()?);
            if flag == "--provider" {
                return Some(format!(
                    "{} names the provider already; leave out the second --provider",
                    invocation.named()
                ));
            }
            let owner = owner_of(&flag)?;
            let owner = if invocation.by_flag { format!("--provider {owner}") } else { format!("`phone add {owner}`") };
            Some(format!("{flag} is not a flag of {}; it belongs to {owner} ({help})", invocation.named()))
        }
        ErrorKind::InvalidSubcommand => {
            let cli = crate::Cli::command();
            let names: Vec<&str> = add_command(&cli)?.get_subcommands().map(|provider| provider.get_name()).collect();
            Some(format!("{} is not a provider; the providers are {}", invocation.provider, names.join(", ")))
        }
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = strings(ContextKind::InvalidArg).iter().map(|quoted| flag_of(quoted)).collect();
            let secrets = missing.iter().any(|flag| SECRET_FLAGS.contains(&flag.as_str()));
            let sources = if secrets { "; a secret may also come from its environment variable or stdin" } else { "" };
            Some(format!("{} also needs {}{sources} ({help})", invocation.named(), missing.join(", ")))
        }
        _ => None,
    }
}

const SECRET_FLAGS: [&str; 4] = ["--access-token", "--app-secret", "--verify-token", "--signing-secret"];

/// The provider whose `phone add` subcommand has `flag`.
fn owner_of(flag: &str) -> Option<String> {
    let cli = crate::Cli::command();
    let add = add_command(&cli)?;
    let long = flag.strip_prefix("--")?;
    add.get_subcommands()
        .find(|provider| provider.get_arguments().any(|arg| arg.get_long() == Some(long)))
        .map(|provider| provider.get_name().to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use secrecy::ExposeSecret;

    use super::*;
    use crate::phones::PhoneCommand;
    use crate::{Cli, Command};

    const BASE: [&str; 7] = ["outbox-admin", "phone", "add", "--org", "org-a", "--number", "15550100001"];

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Parses like `main` does: the rewrite, clap, then `explain` for errors.
    fn parse(args: &[&str]) -> Result<AddPhone, String> {
        let (argv, invocation) = provider_flag_as_subcommand(argv(args));
        match Cli::try_parse_from(argv) {
            Ok(Cli { command: Command::Phone(PhoneCommand::Add(add)) }) => Ok(add),
            Ok(_) => panic!("not phone add: {args:?}"),
            Err(err) => Err(invocation.and_then(|i| explain(&err, &i)).unwrap_or_else(|| err.to_string())),
        }
    }

    fn read(args: &[&str], stdin: &str) -> Result<(OrgId, NewPhone), String> {
        let add = parse(args)?;
        add.read(&mut SecretReader::over(std::io::Cursor::new(stdin.to_string()))).map_err(|err| err.to_string())
    }

    fn with_base(args: &[&'static str]) -> Vec<&'static str> {
        BASE.iter().chain(args).copied().collect()
    }

    #[test]
    fn the_provider_flag_becomes_the_subcommand_wherever_it_stands() {
        let (rewritten, invocation) = provider_flag_as_subcommand(argv(&with_base(&["--provider", "sandbox"])));
        assert_eq!(
            rewritten,
            argv(&["outbox-admin", "phone", "add", "sandbox", "--org", "org-a", "--number", "15550100001"])
        );
        assert_eq!(invocation, Some(Invocation { provider: "sandbox".into(), by_flag: true }));
        let (rewritten, _) =
            provider_flag_as_subcommand(argv(&["outbox-admin", "phone", "add", "--provider=http", "--url", "u"]));
        assert_eq!(rewritten, argv(&["outbox-admin", "phone", "add", "http", "--url", "u"]));
        let (same, invocation) =
            provider_flag_as_subcommand(argv(&["outbox-admin", "phone", "add", "http", "--url", "u"]));
        assert_eq!(same, argv(&["outbox-admin", "phone", "add", "http", "--url", "u"]));
        assert_eq!(invocation, Some(Invocation { provider: "http".into(), by_flag: false }));
        let others = argv(&["outbox-admin", "key", "create", "--provider", "x"]);
        assert_eq!(provider_flag_as_subcommand(others.clone()), (others, None));
        // After `--`, nothing is a flag.
        let escaped = argv(&["outbox-admin", "phone", "add", "--", "--provider", "x"]);
        assert_eq!(provider_flag_as_subcommand(escaped.clone()), (escaped, None));
    }

    #[test]
    fn both_forms_give_the_same_phone() {
        let flags = ["--phone-number-id", "1065", "--access-token", "t", "--app-secret", "a", "--verify-token", "v"];
        let by_flag = with_base(&[&["--provider", "whatsapp-cloud"][..], &flags].concat());
        let by_subcommand: Vec<&str> = ["outbox-admin", "phone", "add", "whatsapp-cloud"]
            .into_iter()
            .chain(BASE[3..].iter().copied())
            .chain(flags)
            .collect();
        let (org, phone) = read(&by_flag, "").unwrap();
        assert_eq!((org.as_str(), phone.number.as_str(), phone.phone_id.clone()), ("org-a", "15550100001", None));
        assert_eq!(read(&by_subcommand, "").unwrap().1, phone);
        let ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version, secrets } = phone.provider else {
            panic!("{phone:?}")
        };
        assert_eq!(
            (phone_number_id.as_str(), graph_url.as_str(), graph_version.as_str()),
            ("1065", DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION)
        );
        let exposed = [&secrets.access_token, &secrets.app_secret, &secrets.verify_token].map(|s| s.expose_secret());
        assert_eq!(exposed, ["t", "a", "v"]);
        let (_, sandbox) = read(&with_base(&["--phone-id", "phone-x", "--provider", "sandbox"]), "").unwrap();
        assert_eq!((sandbox.provider, sandbox.phone_id), (ProviderInput::Sandbox, Some(PhoneId::from("phone-x"))));
    }

    #[test]
    fn dashed_secrets_are_read_from_stdin_in_help_order() {
        let args = with_base(&[
            "--provider",
            "whatsapp-cloud",
            "--phone-number-id",
            "1065",
            "--verify-token",
            "-",
            "--app-secret",
            "given",
            "--access-token",
            "-",
        ]);
        let (_, phone) = read(&args, "token-line\nverify-line\n").unwrap();
        let ProviderInput::WhatsappCloud { secrets, .. } = phone.provider else { panic!() };
        let exposed = [&secrets.access_token, &secrets.app_secret, &secrets.verify_token].map(|s| s.expose_secret());
        assert_eq!(exposed, ["token-line", "given", "verify-line"]);
        let http = with_base(&["--provider", "http", "--url", "https://x.test", "--signing-secret", "-"]);
        let err = read(&http, "").unwrap_err();
        assert!(err.contains("--signing-secret is `-`, but stdin ended"), "{err}");
    }

    #[test]
    fn another_providers_flags_and_missing_flags_are_named() {
        let err = parse(&with_base(&["--provider", "sandbox", "--url", "https://x.test"])).err().unwrap();
        assert!(err.starts_with("--url is not a flag of --provider sandbox; it belongs to --provider http"), "{err}");
        let err = parse(&with_base(&["--provider", "whatsapp-cloud", "--signing-secret", "s"])).err().unwrap();
        assert!(err.starts_with("--signing-secret is not a flag of --provider whatsapp-cloud"), "{err}");
        let by_subcommand =
            ["outbox-admin", "phone", "add", "http", "--org", "o", "--number", "1", "--phone-number-id", "9"];
        let err = parse(&by_subcommand).err().unwrap();
        assert!(
            err.starts_with(
                "--phone-number-id is not a flag of `phone add http`; it belongs to `phone add whatsapp-cloud`"
            ),
            "{err}"
        );
        let err = parse(&with_base(&["--provider", "http", "--url", "https://x.test"])).err().unwrap();
        assert!(err.starts_with("--provider http also needs --signing-secret; a secret may also come from"), "{err}");
        let err = parse(&["outbox-admin", "phone", "add", "http", "--provider", "http"]).err().unwrap();
        assert!(err.contains("leave out the second --provider"), "{err}");
        let err = parse(&with_base(&["--provider", "telegram"])).err().unwrap();
        assert_eq!(err, "telegram is not a provider; the providers are sandbox, whatsapp-cloud, http");
    }

    #[test]
    fn each_providers_help_marks_its_required_flags_and_names_the_secret_variables() {
        let mut cli = Cli::command();
        let add = cli.find_subcommand_mut("phone").and_then(|phone| phone.find_subcommand_mut("add")).unwrap();
        let mut help = |name: &str| add.find_subcommand_mut(name).unwrap().render_long_help().to_string();
        let http = help("http");
        assert!(http.contains("--url <URL>") && http.contains("OUTBOX_ADMIN_SIGNING_SECRET"), "{http}");
        assert!(http.contains("--org <ORG> --number <NUMBER> --url <URL> --signing-secret <SECRET>"), "{http}");
        assert!(!http.contains("--access-token") && http.contains("one line per `-`"), "{http}");
        let cloud = help("whatsapp-cloud");
        for name in ["OUTBOX_ADMIN_ACCESS_TOKEN", "OUTBOX_ADMIN_APP_SECRET", "OUTBOX_ADMIN_VERIFY_TOKEN"] {
            assert!(cloud.contains(name), "{name}: {cloud}");
        }
        assert!(cloud.contains("[default: https://graph.facebook.com]"), "{cloud}");
        let sandbox = help("sandbox");
        assert!(!sandbox.contains("--url") && !sandbox.contains("Secrets:"), "{sandbox}");
    }
}
