//! The ids Outbox hands out and looks records up by, as types: an org's, a message's two
//! (`QueueId`, `UniqueId`), a phone's, a broadcast's and an upload's. Each serialises as its plain string, so
//! stored items and jobs do not change; each is generated here and nowhere else.

use std::fmt;

use super::limits::MAX_ID_BYTES;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// A value read back from a store, a job or a test: trusted as it is.
        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_string())
            }
        }

        /// Hashes and compares as its string, so maps keyed by it are looked up by `&str` too.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// An org's id. Every record is scoped to one.
    OrgId
);
id_type!(
    /// A message's own id, a UUID: the key of its record and of its job.
    QueueId
);
id_type!(
    /// A message's provisional WhatsApp-style id (`3EB0` and 18 hex digits), as Periskope returns.
    UniqueId
);
id_type!(
    /// A sending phone's id within its org (`phone-…`).
    PhoneId
);
id_type!(
    /// A broadcast's id, a UUID.
    BroadcastId
);

id_type!(
    /// A staged file's id (`upload-…`): `upload_id` in the Periskope dialect, `uploadID` in Beeper's.
    UploadId
);

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn hex_digits(count: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..count].to_string()
}

impl OrgId {
    pub fn generate() -> OrgId {
        OrgId(format!("org-{}", uuid::Uuid::new_v4().simple()))
    }
}

impl QueueId {
    pub fn generate() -> QueueId {
        QueueId(uuid())
    }

    /// A queue id is a UUID; anything else given as a message id is a unique_id.
    pub fn parse(raw: &str) -> Option<QueueId> {
        uuid::Uuid::parse_str(raw).is_ok().then(|| QueueId(raw.to_string()))
    }
}

impl UniqueId {
    pub fn generate() -> UniqueId {
        UniqueId(format!("3EB0{}", hex_digits(18).to_uppercase()))
    }
}

impl PhoneId {
    pub fn generate() -> PhoneId {
        PhoneId(format!("phone-{}", hex_digits(16)))
    }
}

impl BroadcastId {
    pub fn generate() -> BroadcastId {
        BroadcastId(uuid())
    }
}

impl UploadId {
    pub fn generate() -> UploadId {
        UploadId(format!("upload-{}", uuid::Uuid::new_v4().simple()))
    }
}

/// Whether `raw` may name one of our records at all: no id we hand out is longer, and
/// DynamoDB rejects keys over 2 KB, so a longer one is simply not found.
pub fn is_plausible_id(raw: &str) -> bool {
    raw.len() <= MAX_ID_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_look_like_periskopes_and_are_not_queue_ids() {
        let id = UniqueId::generate();
        assert_eq!(id.as_str().len(), 22);
        assert!(id.as_str().starts_with("3EB0"));
        assert_eq!(QueueId::parse(id.as_str()), None);
        let queue_id = QueueId::generate();
        assert_eq!(QueueId::parse(queue_id.as_str()), Some(queue_id));
    }

    #[test]
    fn ids_serialise_as_their_plain_strings() {
        let id = PhoneId::from("phone-local");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"phone-local\"");
        assert_eq!(serde_json::from_str::<PhoneId>("\"phone-local\"").unwrap(), id);
        assert!(PhoneId::generate().as_str().starts_with("phone-") && OrgId::generate().as_str().starts_with("org-"));
    }

    #[test]
    fn overlong_ids_are_not_plausible() {
        assert!(is_plausible_id(&"a".repeat(MAX_ID_BYTES)));
        assert!(!is_plausible_id(&"a".repeat(MAX_ID_BYTES + 1)));
    }
}
