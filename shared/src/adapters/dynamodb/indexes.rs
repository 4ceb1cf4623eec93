//! The table's key attributes and global secondary indexes, named once: the adapter's items and
//! queries, local provisioning and the benchmark's item sizes all use these. template.yaml
//! declares the same indexes.

/// The table's own partition and sort key attributes.
pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// One global secondary index: its name and its key attributes (`{name}pk`, `{name}sk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
    /// Projects only the keys: a lookup that needs just the item's key, at the least write cost.
    pub keys_only: bool,
}

/// An org's API keys (`KEYS#{org}` / key_id): `outbox-admin key list` and `key revoke`; and the
/// `whatsapp-cloud` phones (`WAPHONES` / `{phone_number_id}#{org}#{phone}`), where Meta's receipts
/// find their phone. No message is in it: a unique_id leads to its queue_id (`QueueId::of`).
pub const GSI1: Index = Index { name: "gsi1", pk: "gsi1pk", sk: "gsi1sk", keys_only: false };
/// Dead-lettered messages (`DLQ`) and poison jobs (`POISON`), by when.
pub const GSI2: Index = Index { name: "gsi2", pk: "gsi2pk", sk: "gsi2sk", keys_only: false };
/// A phone's live messages (`LIVE#{org}#{phone}`), by due time, while queued or sending.
pub const GSI4: Index = Index { name: "gsi4", pk: "gsi4pk", sk: "gsi4sk", keys_only: false };
/// Declared by the template but no longer written or read (a phone's finished messages, before
/// `GET /v1/queue` counted from counter items): CloudFormation adds or removes one index per stack
/// update, and this release adds gsi6, so gsi5 goes in the next one.
pub const GSI5: Index = Index { name: "gsi5", pk: "gsi5pk", sk: "gsi5sk", keys_only: false };

/// A real provider's message by its provider message id (`PMID#{org}#{phone}#{id}` / queue_id),
/// for receipts that do not carry our queue_id; sparse (the sandbox's messages are not in it) and
/// keys only, so a `whatsapp-cloud` or `http` message costs one extra WRU when it is sent.
pub const GSI6: Index = Index { name: "gsi6", pk: "gsi6pk", sk: "gsi6sk", keys_only: true };

/// Every index, in the order they are created.
pub const ALL: [Index; 5] = [GSI1, GSI2, GSI4, GSI5, GSI6];

/// The attribute DynamoDB's TTL deletes items by (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
