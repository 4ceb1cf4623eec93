//! Receipts: `whatsapp-cloud` phones by Meta's number id (gsi1 `WAPHONES`, written by `put_phone`),
//! messages by provider message id (the sparse keys-only gsi6), and a receipt's one conditional
//! UpdateItem.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::indexes::{GSI1, GSI4, GSI6};
use super::messages::{provider_id_keys, provider_id_partition};
use super::tenants::WHATSAPP_PHONES;
use super::{DynamoStore, applied, from_item, s, to_value, unavailable};
use crate::domain::ids::{OrgId, QueueId};
use crate::domain::message::{AttemptOutcome, MessageRecord, Status};
use crate::domain::receipt::ReceiptChange;
use crate::domain::tenant::{Phone, ProviderKind};
use crate::ports::{ReceiptStore, StoreError};

#[async_trait]
impl ReceiptStore for DynamoStore {
    async fn whatsapp_phones(&self, phone_number_id: Option<&str>) -> Result<Vec<Phone>, StoreError> {
        let mut query = self.index_query(GSI1, WHATSAPP_PHONES);
        if let Some(id) = phone_number_id {
            query = query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :number)")
                .expression_attribute_names("#sk", GSI1.sk)
                .expression_attribute_values(":number", s(format!("{id}#")));
        }
        let items = query.into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.map_err(unavailable)?;
        items.into_iter().map(from_item).collect()
    }

    async fn find_by_provider_id(&self, org: &OrgId, provider_message_id: &str) -> Result<Option<QueueId>, StoreError> {
        let partition = provider_id_partition(org, provider_message_id);
        let output = self.index_query(GSI6, partition).limit(1).send().await.map_err(unavailable)?;
        let found = output.items().first().and_then(|item| item.get(GSI6.sk)).and_then(|sk| sk.as_s().ok());
        Ok(found.map(|queue_id| QueueId::from(queue_id.clone())))
    }

    async fn apply_receipt(&self, current: &MessageRecord, change: &ReceiptChange) -> Result<bool, StoreError> {
        let (org, queue_id) = (&current.org_id, &current.queue_id);
        let at = s(change.at.to_string());
        let mut set = vec!["#status = :to".to_string(), "provider_message_id = :pid".to_string()];
        let mut remove: Vec<String> = vec![];
        let mut update = self
            .update_message(org, queue_id)
            .expression_attribute_values(":to", s(change.to.as_str()))
            .expression_attribute_values(":from", s(change.from.as_str()))
            .expression_attribute_values(":pid", s(&change.provider_message_id))
            .expression_attribute_values(":at", at);
        let mut condition =
            "#status = :from AND (attribute_not_exists(provider_message_id) OR provider_message_id = :pid)".to_string();
        match change.to {
            Status::Delivered => set.push("timeline.delivered_at = :at".into()),
            Status::Read => {
                set.push("timeline.read_at = :at".into());
                set.push("timeline.delivered_at = if_not_exists(timeline.delivered_at, :at)".into());
            }
            Status::Failed => {
                set.push("timeline.failed_at = :at".into());
                set.push("status_description = :description".into());
            }
            _ => {}
        }
        if let Some(description) = &change.description {
            update = update.expression_attribute_values(":description", s(description));
        }
        if change.finishes_attempt() {
            // What `finish_attempt(Sent)` would have written, for the same attempt only.
            let failed = change.to == Status::Failed;
            let outcome = if failed { AttemptOutcome::PermanentError } else { AttemptOutcome::Sent };
            // The attempt's entry where the bounded log keeps it, valid while no entry is dropped meanwhile.
            if let Some(position) = current.attempt_position(change.attempts) {
                let entry = format!("attempt_log[{position}]");
                set.extend([format!("{entry}.outcome = :outcome"), format!("{entry}.finished_at = :at")]);
                if failed {
                    set.push(format!("{entry}.#error = :description"));
                    update = update.expression_attribute_names("#error", "error");
                }
                update = update.expression_attribute_values(":outcome", to_value(&outcome)?);
            }
            if !failed {
                set.push("timeline.sent_at = :at".into());
            }
            remove.extend(["lease_until".to_string(), GSI4.sk.to_string()]);
            condition.push_str(
                " AND attempts = :attempts AND \
                 (attribute_not_exists(attempt_log_dropped) OR attempt_log_dropped = :dropped)",
            );
            update = update
                .expression_attribute_values(":attempts", AttributeValue::N(change.attempts.to_string()))
                .expression_attribute_values(":dropped", AttributeValue::N(current.attempt_log_dropped.to_string()));
        }
        if current.provider != ProviderKind::Sandbox {
            // Idempotent: the same keys `finish_attempt(Sent)` writes, for a receipt that came first.
            let (pk, sk) = provider_id_keys(org, &change.provider_message_id, queue_id);
            set.push(format!("{} = :found_pk, {} = :found_sk", GSI6.pk, GSI6.sk));
            update = update.expression_attribute_values(":found_pk", pk).expression_attribute_values(":found_sk", sk);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        applied(update.update_expression(expression).condition_expression(condition)).await
    }
}
