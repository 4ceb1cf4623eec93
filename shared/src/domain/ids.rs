//! The ids Outbox hands out and looks records up by, as types: an org's, a message's two
//! (`QueueId`, `UniqueId`), a phone's, a broadcast's, an upload's, a webhook's and a webhook event's. Each serialises as its plain string, so
//! stored items and jobs do not change; each is generated here and nowhere else.
//!
//! A message's queue_id is derived from its unique_id (`QueueId::of`), so a lookup by either is
//! one GetItem of `MSG#{org}#{queue_id}`, and a broadcast's unique_ids from the broadcast's id and
//! each chat's position (`UniqueId::for_broadcast`), so its messages are found without an index.

use std::fmt;

use sha2::{Digest, Sha256};

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
    /// A message's own id, a UUID derived from its unique_id: the key of its record and of its job.
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
    /// A webhook subscription's id within its org (`wh_…`).
    WebhookId
);
id_type!(
    /// A webhook event's id (`evt_…`): the same on every retry of the event, so receivers dedup on it.
    EventId
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

/// SHA-256 of `parts` under `label`, each part preceded by a NUL so that no two inputs run together.
fn digest(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(label.as_bytes());
    for part in parts {
        hash.update([0]);
        hash.update(part);
    }
    hash.finalize().into()
}

const UNIQUE_PREFIX: &str = "3EB0";
/// The hex digits of a unique_id after its prefix: 72 random bits.
const UNIQUE_HEX_DIGITS: usize = 18;

impl OrgId {
    pub fn generate() -> OrgId {
        OrgId(format!("org-{}", uuid::Uuid::new_v4().simple()))
    }
}

impl QueueId {
    /// The queue_id of the message with `unique_id`: a version-8 UUID (RFC 9562) made of the first
    /// 16 bytes of a SHA-256 of the unique_id, so that one id leads to the other without a lookup.
    pub fn of(unique_id: &UniqueId) -> QueueId {
        let hash = digest("outbox/queue_id", &[unique_id.as_str().as_bytes()]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hash[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        QueueId(uuid::Uuid::from_bytes(bytes).to_string())
    }

    /// A queue id is a UUID; anything else given as a message id is a unique_id.
    pub fn parse(raw: &str) -> Option<QueueId> {
        uuid::Uuid::parse_str(raw).is_ok().then(|| QueueId(raw.to_string()))
    }
}

impl UniqueId {
    /// A fresh random id; a send whose derived queue_id is taken draws again.
    pub fn generate() -> UniqueId {
        UniqueId(format!("{UNIQUE_PREFIX}{}", hex_digits(UNIQUE_HEX_DIGITS).to_uppercase()))
    }

    /// The id of the chat at `position` of `broadcast` for its `draw`-th try (0 unless an earlier
    /// draw's queue_id was taken): the same inputs always give the same id.
    pub fn for_broadcast(broadcast: &BroadcastId, position: u32, draw: u32) -> UniqueId {
        let hash = digest(
            "outbox/broadcast-unique_id",
            &[broadcast.as_str().as_bytes(), &position.to_be_bytes(), &draw.to_be_bytes()],
        );
        UniqueId(format!("{UNIQUE_PREFIX}{}", hex::encode_upper(&hash[..UNIQUE_HEX_DIGITS / 2])))
    }

    /// Our shape exactly (`3EB0` and 18 uppercase hex digits); anything else names no message.
    pub fn parse(raw: &str) -> Option<UniqueId> {
        let hex = raw.strip_prefix(UNIQUE_PREFIX)?;
        let shaped =
            hex.len() == UNIQUE_HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        shaped.then(|| UniqueId(raw.to_string()))
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

impl WebhookId {
    pub fn generate() -> WebhookId {
        WebhookId(format!("wh_{}", uuid::Uuid::new_v4().simple()))
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
        assert_eq!(UniqueId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(QueueId::parse(id.as_str()), None);
        let queue_id = QueueId::of(&id);
        assert_eq!(QueueId::parse(queue_id.as_str()), Some(queue_id));
        for bad in
            ["3eb0abcdef0123456789ab", "3EB0ABCDEF0123456789A", "3EB0ABCDEF0123456789ABC", "XEB0ABCDEF0123456789AB"]
        {
            assert_eq!(UniqueId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_queue_id_is_a_version_8_uuid_derived_from_the_unique_id() {
        let id = UniqueId::from("3EB0ABCDEF0123456789AB");
        let queue_id = QueueId::of(&id);
        assert_eq!(queue_id, QueueId::of(&id), "the same unique_id always leads to the same queue_id");
        let uuid = uuid::Uuid::parse_str(queue_id.as_str()).unwrap();
        assert_eq!((uuid.get_version_num(), uuid.get_variant()), (8, uuid::Variant::RFC4122));
        assert_ne!(queue_id, QueueId::of(&UniqueId::from("3EB0ABCDEF0123456789AC")));
    }

    #[test]
    fn a_broadcasts_unique_ids_follow_from_its_id_position_and_draw() {
        let broadcast = BroadcastId::from("7d9f5b8e-0000-4000-8000-000000000001");
        let first = UniqueId::for_broadcast(&broadcast, 0, 0);
        assert_eq!(UniqueId::parse(first.as_str()), Some(first.clone()), "Periskope's shape");
        assert_eq!(first, UniqueId::for_broadcast(&broadcast, 0, 0));
        let others = [
            UniqueId::for_broadcast(&broadcast, 1, 0),
            UniqueId::for_broadcast(&broadcast, 0, 1),
            UniqueId::for_broadcast(&BroadcastId::generate(), 0, 0),
        ];
        assert!(others.iter().all(|other| *other != first));
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
