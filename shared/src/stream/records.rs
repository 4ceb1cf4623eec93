//! What every reader of the table's stream asks of a record: its item's keys, and whether it is
//! a deletion by the table's TTL.

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;

/// A deletion by the table's TTL (the record's retention ran out): history, not a change of
/// status, so it changes no count and makes no event.
pub fn is_ttl_deletion(record: &EventRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.type_ == "Service" && who.principal_id == "dynamodb.amazonaws.com")
}

#[derive(Deserialize)]
/// The keys of the item a stream record is about.
pub struct Keys {
    pub pk: String,
    pub sk: String,
}
