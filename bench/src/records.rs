//! Reading the stack's state straight from the emulator: every message record (one Scan, not a
//! request per message) and how many jobs a queue still holds.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use outbox::adapters::aws::AwsClients;
use outbox::domain::message::MessageRecord;

pub type Item = HashMap<String, AttributeValue>;

/// Every message item of `table`, as stored.
pub async fn scan_message_items(aws: &AwsClients, table: &str) -> Result<Vec<Item>, String> {
    scan_message_attributes(aws, table, &[]).await
}

/// Every message record of `table`.
pub async fn scan_messages(aws: &AwsClients, table: &str) -> Result<Vec<MessageRecord>, String> {
    scan_message_items(aws, table)
        .await?
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).map_err(|err| format!("a message record did not decode: {err}")))
        .collect()
}

/// `queue_id → (status, dead-lettered)`, fetching only those attributes: cheap enough to poll.
pub async fn scan_statuses(aws: &AwsClients, table: &str) -> Result<HashMap<String, (String, bool)>, String> {
    let items = scan_message_attributes(aws, table, &["queue_id", "status", "dead_lettered_at"]).await?;
    let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    Ok(items
        .iter()
        .map(|item| (text(item, "queue_id"), (text(item, "status"), item.contains_key("dead_lettered_at"))))
        .collect())
}

/// The message items of `table` (one paginated, consistent Scan), with only `attributes` when
/// any are named: each goes through a `#aN` placeholder, as `status` is a reserved word.
async fn scan_message_attributes(aws: &AwsClients, table: &str, attributes: &[&str]) -> Result<Vec<Item>, String> {
    let placeholders: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
    let names: HashMap<String, String> =
        placeholders.iter().cloned().zip(attributes.iter().map(|name| name.to_string())).collect();
    let projected = !attributes.is_empty();
    aws.dynamodb
        .scan()
        .table_name(table)
        .filter_expression("sk = :msg")
        .expression_attribute_values(":msg", AttributeValue::S("MSG".into()))
        .set_projection_expression(projected.then(|| placeholders.join(", ")))
        .set_expression_attribute_names(projected.then_some(names))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|err| format!("scan of {table} failed: {}", DisplayErrorContext(err)))
}

/// Jobs the queue still holds: visible, in flight and delayed.
pub async fn jobs_in(aws: &AwsClients, queue_url: &str) -> Result<u64, String> {
    let names = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    let output = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|err| format!("cannot read {queue_url}'s depth: {}", DisplayErrorContext(err)))?;
    let attributes = output.attributes.unwrap_or_default();
    Ok(names.iter().filter_map(|name| attributes.get(name)).filter_map(|v| v.parse::<u64>().ok()).sum())
}

/// An item's size as DynamoDB bills it (attribute names plus values; numbers approximated).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}
