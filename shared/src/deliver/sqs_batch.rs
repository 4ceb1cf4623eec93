//! SQS batches as our consumers see them: the records of an event, and the partial-batch response
//! that answers the event source. Shared by both consumers. ("Record" alone means a
//! `MessageRecord` elsewhere; here it is always an SQS record.)

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};

/// One SQS record, as far as our consumers care.
pub struct ReceivedRecord {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// SQS's `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
}

impl ReceivedRecord {
    /// `None` for a record without a message id: it cannot be acknowledged or failed individually.
    pub fn from_sqs(record: SqsMessage) -> Option<ReceivedRecord> {
        let receive_count =
            record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1);
        Some(ReceivedRecord {
            message_id: record.message_id.filter(|id| !id.is_empty())?,
            receipt_handle: record.receipt_handle.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            receive_count,
        })
    }
}

/// The response that makes the event source delete everything but `failed_ids`.
pub fn batch_response(failed_ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
