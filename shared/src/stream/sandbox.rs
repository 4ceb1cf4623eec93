//! The sandbox's receipts: a sandbox message the stream shows reaching `sent` is reported
//! `delivered`, and one reaching `delivered` is reported `read`, through the receipt applier that
//! Meta's and gateways' receipts use. The stream's batching is the delay between the steps.

use aws_lambda_events::event::dynamodb::EventRecord;

use crate::domain::message::{MessageRecord, Status};
use crate::domain::receipt::{Receipt, ReceiptStatus};
use crate::domain::tenant::ProviderKind;

/// The receipt the sandbox gives the record's new image, if it just became `sent` or `delivered`.
pub fn next_receipt(record: &EventRecord) -> Option<(MessageRecord, Receipt)> {
    let change = &record.change;
    if change.new_image.is_empty() {
        return None;
    }
    let new: MessageRecord = serde_dynamo::from_item(change.new_image.clone()).ok()?;
    let old_status = serde_dynamo::from_item::<_, MessageRecord>(change.old_image.clone()).ok().map(|old| old.status);
    if new.provider != ProviderKind::Sandbox || old_status == Some(new.status) {
        return None;
    }
    let status = match new.status {
        Status::Sent => ReceiptStatus::Delivered,
        Status::Delivered => ReceiptStatus::Read,
        _ => return None,
    };
    let provider_message_id = new.provider_message_id.clone()?;
    Some((new, Receipt { provider_message_id, status }))
}
