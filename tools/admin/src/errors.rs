//! The CLI's words for what went wrong: each admin error with the flag at fault or the command
//! to run next (the admin flow names fields and entities; only the CLI knows its flags).

use outbox::admin::{AdminError, Field, Taken};
use outbox::net::egress::EgressError;
use outbox::telemetry::chain;

use crate::secrets::StdinError;

/// Why a command did not finish, as printed after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{}", advice(.0))]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Stdin(#[from] StdinError),
    /// The stack could not be reached or configured; the message says how to fix that.
    #[error("{0}")]
    Stack(String),
}

/// The flag that sets `field`.
pub fn flag(field: Field) -> &'static str {
    match field {
        Field::OrgName => "--name",
        Field::RateLimit => "--rate-limit",
        Field::Number => "--number",
        Field::PhoneId => "--phone-id",
        Field::PhoneNumberId => "--phone-number-id",
        Field::GraphUrl => "--graph-url",
        Field::GraphVersion => "--graph-version",
        Field::AccessToken => "--access-token",
        Field::AppSecret => "--app-secret",
        Field::VerifyToken => "--verify-token",
        Field::EndpointUrl => "--url",
        Field::SigningSecret => "--signing-secret",
    }
}

/// `err` as an operator at this CLI should read it.
pub fn advice(err: &AdminError) -> String {
    match err {
        AdminError::OrgNotFound(org) => format!(
            "org {org} not found: create it with `outbox-admin org create --name NAME` \
             (its last line is the org id), or check the id"
        ),
        AdminError::KeyNotFound { org, key_id } => {
            format!("org {org} has no key {key_id}: `outbox-admin key list --org {org}` shows its key ids")
        }
        AdminError::PhoneNotFound { org, phone } => format!(
            "org {org} has no phone {phone}: `outbox-admin phone list --org {org}` shows its numbers and phone_ids"
        ),
        AdminError::PhoneTaken { org, taken, holder, holder_number } => {
            let (what, other) = match taken {
                Taken::Number(number) => (format!("number {number}"), "--number"),
                Taken::PhoneId(phone_id) => (format!("phone_id {phone_id}"), "--phone-id"),
            };
            format!(
                "org {org} already has {what} (phone {holder} / {holder_number}): remove that phone with \
                 `outbox-admin phone remove --org {org} --phone {holder}` first, or choose another {other}"
            )
        }
        AdminError::Invalid { field, problem } => format!("{} {problem}", flag(*field)),
        AdminError::Target { field, refused } => {
            let why = match refused {
                EgressError::NotAUrl => "",
                EgressError::Unresolvable { .. } => "; check the host name",
                EgressError::NotHttps { .. } => {
                    "; http is taken only by a stack with OUTBOX_ALLOW_PRIVATE_TARGETS=true, like the local one"
                }
                EgressError::Forbidden { .. } => {
                    "; such addresses are taken only by a stack with OUTBOX_ALLOW_PRIVATE_TARGETS=true, like the local one"
                }
            };
            format!("{}: {}{why}", flag(*field), chain(refused))
        }
        AdminError::Store(_) | AdminError::Secret(_) | AdminError::Queue(_) => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use outbox::domain::ids::{OrgId, PhoneId};
    use outbox::net::egress::Blocked;

    use super::*;

    fn org() -> OrgId {
        OrgId::from("org-1")
    }

    #[test]
    fn missing_entities_say_which_command_finds_or_creates_them() {
        let advice_for = |err| advice(&err);
        assert_eq!(
            advice_for(AdminError::OrgNotFound(org())),
            "org org-1 not found: create it with `outbox-admin org create --name NAME` (its last line is the org id), \
             or check the id"
        );
        let key = advice_for(AdminError::KeyNotFound { org: org(), key_id: "key-9".into() });
        assert_eq!(key, "org org-1 has no key key-9: `outbox-admin key list --org org-1` shows its key ids");
        let phone = advice_for(AdminError::PhoneNotFound { org: org(), phone: "155".into() });
        assert!(phone.ends_with("`outbox-admin phone list --org org-1` shows its numbers and phone_ids"), "{phone}");
        let taken = advice_for(AdminError::PhoneTaken {
            org: org(),
            taken: Taken::PhoneId(PhoneId::from("phone-a")),
            holder: PhoneId::from("phone-a"),
            holder_number: "15550100001".into(),
        });
        assert!(taken.starts_with("org org-1 already has phone_id phone-a (phone phone-a / 15550100001)"), "{taken}");
        assert!(taken.contains("`outbox-admin phone remove --org org-1 --phone phone-a`"), "{taken}");
        assert!(taken.ends_with("or choose another --phone-id"), "{taken}");
    }

    #[test]
    fn a_bad_input_names_its_flag() {
        let err = AdminError::Invalid { field: Field::Number, problem: "\"1555\" must be 5 to 15 digits".into() };
        assert_eq!(advice(&err), "--number \"1555\" must be 5 to 15 digits");
        let refused = EgressError::Forbidden {
            host: "10.0.0.1".into(),
            ip: IpAddr::from([10, 0, 0, 1]),
            class: Blocked::Private,
        };
        let text = advice(&AdminError::Target { field: Field::EndpointUrl, refused });
        assert!(text.starts_with("--url: 10.0.0.1 is a private address; only public addresses"), "{text}");
        assert!(text.contains("OUTBOX_ALLOW_PRIVATE_TARGETS=true"), "{text}");
        let refused = EgressError::NotHttps { scheme: "http".into() };
        let text = advice(&AdminError::Target { field: Field::GraphUrl, refused });
        assert!(text.starts_with("--graph-url: http:// is not allowed, only https://"), "{text}");
    }

    #[test]
    fn every_field_names_a_flag_the_command_line_has() {
        use Field::*;
        fn longs(command: &clap::Command, into: &mut Vec<String>) {
            into.extend(command.get_arguments().filter_map(|arg| arg.get_long()).map(|long| format!("--{long}")));
            command.get_subcommands().for_each(|sub| longs(sub, into));
        }
        let mut known = vec![];
        longs(&<crate::Cli as clap::CommandFactory>::command(), &mut known);
        let fields = [
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
        ];
        for field in fields {
            assert!(known.iter().any(|long| long == flag(field)), "{field:?}: {}", flag(field));
        }
    }
}
