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
}

/// A message by unique_id (`UID#{org}#{unique_id}`), and an org's API keys (`KEYS#{org}` / key_id).
pub const GSI1: Index = Index { name: "gsi1", pk: "gsi1pk", sk: "gsi1sk" };
/// Dead-lettered messages (`DLQ`) and poison jobs (`POISON`), by when.
pub const GSI2: Index = Index { name: "gsi2", pk: "gsi2pk", sk: "gsi2sk" };
/// A broadcast's messages (`BCAST#{org}#{broadcast}`), by due time.
pub const GSI3: Index = Index { name: "gsi3", pk: "gsi3pk", sk: "gsi3sk" };
/// A phone's live messages (`LIVE#{org}#{phone}`), by due time, while queued or sending.
pub const GSI4: Index = Index { name: "gsi4", pk: "gsi4pk", sk: "gsi4sk" };
/// A phone's finished messages (`DONE#{org}#{phone}`), by finish time.
pub const GSI5: Index = Index { name: "gsi5", pk: "gsi5pk", sk: "gsi5sk" };

/// Every index, in the order they are created.
pub const ALL: [Index; 5] = [GSI1, GSI2, GSI3, GSI4, GSI5];

/// The attribute DynamoDB's TTL deletes items by (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
