//! DynamoDB's write units for one write of an item, by its billing rules: the table's write is
//! the larger of the item before and after, rounded up to whole KB; each global index whose entry
//! the write creates, deletes or changes is written too (an index key that changes is a delete and
//! a put), sized by what the index projects; an index whose entry stays the same is not written.

use std::collections::HashMap;

use outbox::adapters::dynamodb::indexes::{PK, SK};

use super::template::{IndexSpec, Projection};
use crate::records::{Item, item_size};

/// One write unit covers this many bytes.
pub const WRITE_UNIT_BYTES: usize = 1024;
/// DynamoDB adds this much to each index entry (and item) it stores, for storage only.
pub const STORED_ITEM_OVERHEAD: usize = 100;

/// Write units for an item (or index entry) of `bytes`: whole KB, at least one.
pub fn units_for(bytes: usize) -> u64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as u64
}

/// The write units of one write, split by where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteUnits {
    pub table: u64,
    /// Index name → units; only the indexes the write touches.
    pub indexes: Vec<(String, u64)>,
}

impl WriteUnits {
    pub fn total(&self) -> u64 {
        self.table + self.indexes.iter().map(|(_, units)| units).sum::<u64>()
    }
}

/// The entry `item` has in `index`: none unless it has the index's key attributes; else the
/// table's and the index's keys plus what the index projects.
pub fn index_entry(item: &Item, index: &IndexSpec) -> Option<Item> {
    let keys = [Some(index.pk.as_str()), index.sk.as_deref()];
    if keys.iter().flatten().any(|key| !item.contains_key(*key)) {
        return None;
    }
    let projected = |name: &str| match &index.projection {
        Projection::All => true,
        Projection::KeysOnly => false,
        Projection::Include(names) => names.iter().any(|n| n == name),
    };
    let entry: HashMap<_, _> = item
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name == PK || name == SK || keys.contains(&Some(name)) || projected(name)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Some(entry)
}

/// The write units of writing `after` over `before` (`None`: the item is new, or deleted).
pub fn write_units(before: Option<&Item>, after: Option<&Item>, indexes: &[IndexSpec]) -> WriteUnits {
    let size = |item: Option<&Item>| item.map_or(0, item_size);
    let table = units_for(size(before).max(size(after)));
    let key_of = |entry: &Item, index: &IndexSpec| {
        [Some(&index.pk), index.sk.as_ref()].into_iter().flatten().map(|k| entry.get(k).cloned()).collect::<Vec<_>>()
    };
    let indexes = indexes
        .iter()
        .filter_map(|index| {
            let old = before.and_then(|item| index_entry(item, index));
            let new = after.and_then(|item| index_entry(item, index));
            let units = match (&old, &new) {
                (None, None) => 0,
                (None, Some(entry)) | (Some(entry), None) => units_for(item_size(entry)),
                (Some(old), Some(new)) if key_of(old, index) != key_of(new, index) => {
                    units_for(item_size(old)) + units_for(item_size(new))
                }
                (Some(old), Some(new)) if old == new => 0,
                (Some(old), Some(new)) => units_for(item_size(old).max(item_size(new))),
            };
            (units > 0).then(|| (index.name.clone(), units))
        })
        .collect();
    WriteUnits { table, indexes }
}

/// Bytes DynamoDB stores for `item`: the item and each index entry, each with its overhead.
pub fn stored_bytes(item: &Item, indexes: &[IndexSpec]) -> usize {
    let entries: usize = indexes
        .iter()
        .filter_map(|index| index_entry(item, index))
        .map(|entry| item_size(&entry) + STORED_ITEM_OVERHEAD)
        .sum();
    item_size(item) + STORED_ITEM_OVERHEAD + entries
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.into())
    }

    /// An item of exactly `bytes` (names and values): the keys and a `body` string filling the rest.
    fn item(bytes: usize, extra: &[(&str, &str)]) -> Item {
        let mut item: Item = HashMap::from([("pk".into(), s("p")), ("sk".into(), s("s"))]);
        for (name, value) in extra {
            item.insert(name.to_string(), s(value));
        }
        let used = item_size(&item) + "body".len();
        item.insert("body".into(), s(&"x".repeat(bytes - used)));
        assert_eq!(item_size(&item), bytes);
        item
    }

    fn index(name: &str, projection: Projection) -> IndexSpec {
        IndexSpec { name: name.into(), pk: format!("{name}pk"), sk: Some(format!("{name}sk")), projection }
    }

    #[test]
    fn a_write_costs_a_unit_per_started_kilobyte() {
        assert_eq!(units_for(1), 1);
        assert_eq!(units_for(1024), 1);
        assert_eq!(units_for(1025), 2);
        assert_eq!(units_for(1500), 2);
        assert_eq!(units_for(0), 1, "even an empty write costs one unit");
        assert_eq!(write_units(None, Some(&item(1500, &[])), &[]).total(), 2);
        // An update costs by the larger of the two sizes: 900 B growing to 2,100 B is 3 units.
        assert_eq!(write_units(Some(&item(900, &[])), Some(&item(2100, &[])), &[]).total(), 3);
    }

    #[test]
    fn an_index_is_written_by_what_it_projects_and_only_when_its_entry_changes() {
        let all = index("a", Projection::All);
        let keys = index("k", Projection::KeysOnly);
        let indexes = [all.clone(), keys.clone()];
        let live = [("apk", "LIVE"), ("ask", "1"), ("kpk", "K"), ("ksk", "1")];
        // A new 1,500 B item in both: the table 2, the ALL index 2 (a whole copy), the keys-only index 1.
        let created = item(1500, &live);
        let put = write_units(None, Some(&created), &indexes);
        assert_eq!((put.table, put.indexes.clone()), (2, vec![("a".into(), 2), ("k".into(), 1)]));
        // Changing a non-key attribute rewrites the ALL index; the keys-only entry is unchanged: 0.
        let grown = item(1600, &live);
        let update = write_units(Some(&created), Some(&grown), &indexes);
        assert_eq!((update.table, update.indexes), (2, vec![("a".into(), 2)]));
        // A changed index key is a delete and a put: 2 × 1 KB on the keys-only index.
        let moved = item(1600, &[("apk", "LIVE"), ("ask", "1"), ("kpk", "K"), ("ksk", "2")]);
        let write = write_units(Some(&grown), Some(&moved), std::slice::from_ref(&keys));
        assert_eq!(write.indexes, vec![("k".into(), 2)]);
        // Leaving an index (its sort key removed) is one delete; never being in it costs nothing.
        let left = item(1600, &[("apk", "LIVE"), ("kpk", "K"), ("ksk", "2")]);
        assert_eq!(write_units(Some(&moved), Some(&left), std::slice::from_ref(&all)).indexes, vec![("a".into(), 2)]);
        assert_eq!(write_units(Some(&left), Some(&item(1700, &[])), &[all]).indexes, vec![]);
        // INCLUDE projects only the named attributes: a change elsewhere leaves it alone.
        let include = index("i", Projection::Include(vec!["status".into()]));
        let before = item(700, &[("ipk", "I"), ("isk", "1"), ("status", "queued")]);
        let same = item(900, &[("ipk", "I"), ("isk", "1"), ("status", "queued")]);
        let changed = item(900, &[("ipk", "I"), ("isk", "1"), ("status", "sending")]);
        assert_eq!(write_units(Some(&before), Some(&same), std::slice::from_ref(&include)).total(), 1);
        assert_eq!(write_units(Some(&before), Some(&changed), &[include]).total(), 2);
    }

    #[test]
    fn storage_counts_the_item_and_each_index_entry_with_overhead() {
        let keys = index("k", Projection::KeysOnly);
        let stored = item(500, &[("kpk", "K"), ("ksk", "1")]);
        let entry = "pk".len() + 1 + "sk".len() + 1 + "kpk".len() + 1 + "ksk".len() + 1;
        assert_eq!(stored_bytes(&stored, &[keys]), 500 + 100 + entry + 100);
    }
}
