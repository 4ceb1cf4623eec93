//! Message records: creation, lookups by queue_id or unique_id, and the conditional status transitions.
//! Over 400 lines on purpose: it is the one DynamoDB `StatusStore`, and each transition's condition
//! expression, index attributes and takeover rule are read best side by side with the others.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::indexes::{EXPIRES_AT, GSI1, GSI2, GSI3, GSI4, GSI5};
use super::{DynamoStore, Item, applied, condition_failure, from_item, key, s, to_item, to_value, unavailable};
use crate::domain::ids::{OrgId, QueueId, UniqueId};
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{AttemptResult, BeginAttempt, DeadLetterMark, StatusStore, StoreError};

/// Largest poison body kept as evidence (a DynamoDB item holds 400 KB).
const POISON_BODY_LIMIT: usize = 32 * 1024;

/// A new message record with its index keys: by unique_id (gsi1), by broadcast (gsi3), live
/// by phone (gsi4, until it finishes) and finished by phone (gsi5: the partition is set now, the
/// sort key when it finishes, so the record enters that index only then).
pub(super) fn message_item(record: &MessageRecord) -> Result<Item, StoreError> {
    let (org, queue_id) = (&record.org_id, &record.queue_id);
    let due = record.due();
    let mut item = to_item(record)?;
    item.extend(DynamoStore::message_key(org, queue_id));
    item.insert(GSI1.pk.into(), s(format!("UID#{org}#{}", record.unique_id)));
    item.insert(GSI1.sk.into(), s("MSG"));
    if let Some(broadcast_id) = &record.broadcast_id {
        item.insert(GSI3.pk.into(), s(format!("BCAST#{org}#{broadcast_id}")));
        item.insert(GSI3.sk.into(), s(format!("{due}#{queue_id}")));
    }
    item.insert(GSI4.pk.into(), s(format!("LIVE#{org}#{}", record.phone_id)));
    item.insert(GSI4.sk.into(), s(format!("{due}#{queue_id}")));
    item.insert(GSI5.pk.into(), s(format!("DONE#{org}#{}", record.phone_id)));
    Ok(item)
}

/// The finished-by-phone sort key (gsi5): when, then which.
pub(super) fn done_sort(now: Timestamp, queue_id: &QueueId) -> AttributeValue {
    s(format!("{now}#{queue_id}"))
}

/// The dead-lettered sort key (gsi2): when, then which, across orgs.
fn dead_letter_sort(at: Timestamp, org: &OrgId, queue_id: &QueueId) -> AttributeValue {
    s(format!("{at}#{org}#{queue_id}"))
}

/// Index key attributes that update expressions set and remove.
const DLQ_PK: &str = GSI2.pk;
const DLQ_SK: &str = GSI2.sk;
const LIVE_SK: &str = GSI4.sk;
const DONE_SK: &str = GSI5.sk;

impl DynamoStore {
    /// Takes over `current`, a `sending` record whose lease has passed: its unfinished attempt is
    /// marked `interrupted` (the provider may have got it) and `entry` starts the next one. The
    /// whole log is written back under a condition on the lease and count read, so two workers
    /// cannot both take it over.
    async fn take_over(
        &self,
        current: MessageRecord,
        entry: AttemptLogEntry,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        let (org, queue_id) = (&current.org_id, &current.queue_id);
        let mut log = current.attempt_log.clone();
        if let Some(last) = log.last_mut().filter(|last| last.outcome.is_none()) {
            last.outcome = Some(AttemptOutcome::Interrupted);
        }
        log.push(entry);
        let old_lease = current.lease_until.map(|until| until.to_string()).unwrap_or_default();
        let result = self
            .update_message(org, queue_id)
            .update_expression("SET attempts = :next, attempt_log = :log, lease_until = :lease")
            .condition_expression("#status = :sending AND lease_until = :old_lease AND attempts = :attempts")
            .expression_attribute_values(":sending", status_value(Status::Sending))
            .expression_attribute_values(":old_lease", s(old_lease))
            .expression_attribute_values(":attempts", AttributeValue::N(current.attempts.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((current.attempts + 1).to_string()))
            .expression_attribute_values(":log", to_value(&log)?)
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(BeginAttempt::Started(record_from_output(output)?)),
            Err(err) => match condition_failure(err)? {
                None => Ok(BeginAttempt::Missing),
                // Another worker took it over, or it finished, meanwhile.
                Some(item) => {
                    let record: MessageRecord = from_item(item)?;
                    Ok(if record.status.is_final() {
                        BeginAttempt::Finished(record)
                    } else {
                        BeginAttempt::InFlight(record)
                    })
                }
            },
        }
    }

    pub(super) fn message_key(org: &OrgId, queue_id: &QueueId) -> Item {
        key(format!("MSG#{org}#{queue_id}"), "MSG")
    }

    pub(super) fn update_message(&self, org: &OrgId, queue_id: &QueueId) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::message_key(org, queue_id)))
            .expression_attribute_names("#status", "status")
    }
}

fn status_value(status: Status) -> AttributeValue {
    s(status.as_str())
}

fn record_from_output(output: UpdateItemOutput) -> Result<MessageRecord, StoreError> {
    from_item(output.attributes.unwrap_or_default())
}

#[async_trait]
impl StatusStore for DynamoStore {
    async fn create(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let item = message_item(record)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        self.fetch(Self::message_key(org, queue_id)).await
    }

    async fn find_by_unique_id(&self, org: &OrgId, unique_id: &UniqueId) -> Result<Option<MessageRecord>, StoreError> {
        let output =
            self.index_query(GSI1, format!("UID#{org}#{unique_id}")).limit(1).send().await.map_err(unavailable)?;
        output.items.unwrap_or_default().into_iter().next().map(from_item).transpose()
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        // The attempt number is the entry's position in the log (see `settled_attempt_log`).
        let entry = AttemptLogEntry { attempt: 0, started_at: now, outcome: None, error: None, finished_at: None };
        let result = self
            .update_message(org, queue_id)
            .update_expression(
                "SET #status = :sending, attempts = if_not_exists(attempts, :zero) + :one, \
                 attempt_log = list_append(if_not_exists(attempt_log, :empty), :entry), lease_until = :lease",
            )
            .condition_expression("attribute_exists(pk) AND #status = :queued")
            .expression_attribute_values(":sending", status_value(Status::Sending))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":entry", AttributeValue::L(vec![to_value(&entry)?]))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let current = match result {
            Ok(output) => return Ok(BeginAttempt::Started(record_from_output(output)?)),
            Err(err) => match condition_failure(err)? {
                None => return Ok(BeginAttempt::Missing),
                Some(item) => from_item::<MessageRecord>(item)?,
            },
        };
        match current.status {
            Status::Sending if current.lease_until.is_some_and(|until| until < now) => {
                self.take_over(current, entry, lease_until).await
            }
            status if status.is_final() => Ok(BeginAttempt::Finished(current)),
            _ => Ok(BeginAttempt::InFlight(current)),
        }
    }

    async fn finish_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let index = attempt.saturating_sub(1);
        let entry = format!("attempt_log[{index}]");
        let update = self
            .update_message(org, queue_id)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":sending", status_value(Status::Sending));
        let update = match result {
            AttemptResult::Sent { provider_message_id } => update
                .update_expression(format!(
                    "SET #status = :sent, provider_message_id = :pid, timeline.sent_at = :now, \
                     {entry}.outcome = :outcome, {entry}.finished_at = :now, {DONE_SK} = :done \
                     REMOVE lease_until, status_description, {LIVE_SK}"
                ))
                .expression_attribute_values(":done", done_sort(now, queue_id))
                .condition_expression("#status IN (:queued, :sending)")
                .expression_attribute_values(":sent", status_value(Status::Sent))
                .expression_attribute_values(":pid", s(provider_message_id))
                .expression_attribute_values(":outcome", to_value(&AttemptOutcome::Sent)?),
            AttemptResult::Retry { error } => update
                .update_expression(format!(
                    "SET #status = :queued, {entry}.outcome = :outcome, {entry}.#error = :error, \
                     {entry}.finished_at = :now REMOVE lease_until"
                ))
                .condition_expression("#status = :sending AND attempts = :attempt")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":attempt", AttributeValue::N(attempt.to_string()))
                .expression_attribute_values(":outcome", to_value(&AttemptOutcome::TransientError)?)
                .expression_attribute_values(":error", s(error)),
            AttemptResult::Failed { outcome, error } => update
                .update_expression(format!(
                    "SET #status = :failed, status_description = :error, timeline.failed_at = :now, \
                     {entry}.outcome = :outcome, {entry}.#error = :error, {entry}.finished_at = :now, {DONE_SK} = :done \
                     REMOVE lease_until, {LIVE_SK}"
                ))
                .expression_attribute_values(":done", done_sort(now, queue_id))
                .condition_expression("#status IN (:queued, :sending)")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":failed", status_value(Status::Failed))
                .expression_attribute_values(":outcome", to_value(&outcome)?)
                .expression_attribute_values(":error", s(error)),
        };
        applied(update).await
    }

    async fn mark_enqueue_failed(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let update = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET #status = :failed, status_description = :reason, timeline.failed_at = :now, {DONE_SK} = :done \
                 REMOVE {LIVE_SK}"
            ))
            .condition_expression("#status = :queued AND attempts = :zero")
            .expression_attribute_values(":done", done_sort(now, queue_id))
            .expression_attribute_values(":failed", status_value(Status::Failed))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(now.to_string()));
        applied(update).await.map(|_| ())
    }

    async fn mark_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        generation: u32,
        now: Timestamp,
    ) -> Result<DeadLetterMark, StoreError> {
        let dlq_sort = dead_letter_sort(now, org, queue_id);
        // Records from before generations existed have none: generation 0.
        let same_generation = if generation == 0 {
            "(attribute_not_exists(generation) OR generation = :gen)"
        } else {
            "generation = :gen"
        };
        let result = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET #status = :failed, status_description = :reason, timeline.failed_at = :now, \
                 dead_lettered_at = :now, {DLQ_PK} = :dlq, {DLQ_SK} = :dlq_sort, {DONE_SK} = :done REMOVE lease_until, {LIVE_SK}"
            ))
            .condition_expression(format!(
                "attribute_exists(pk) AND {same_generation} AND \
                 (#status = :queued OR (#status = :sending AND lease_until < :now))"
            ))
            .expression_attribute_values(":gen", AttributeValue::N(generation.to_string()))
            .expression_attribute_values(":done", done_sort(now, queue_id))
            .expression_attribute_values(":failed", status_value(Status::Failed))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":sending", status_value(Status::Sending))
            .expression_attribute_values(
                ":reason",
                s("the job reached the dead-letter queue before an outcome was recorded (its worker crashed or timed out)"),
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":dlq", s("DLQ"))
            .expression_attribute_values(":dlq_sort", dlq_sort.clone())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(_) => return Ok(DeadLetterMark::MarkedFailed),
            Err(err) => match condition_failure(err)? {
                None => return Ok(DeadLetterMark::Missing),
                Some(item) => from_item::<MessageRecord>(item)?,
            },
        };
        if old.generation != generation {
            return Ok(DeadLetterMark::Stale);
        }
        if old.status == Status::Sending {
            return Ok(DeadLetterMark::InFlight);
        }
        if old.status != Status::Failed {
            return Ok(DeadLetterMark::NotFailed(old.status));
        }
        if old.attempt_log.last().and_then(|a| a.outcome) == Some(AttemptOutcome::PermanentError) {
            return Ok(DeadLetterMark::PermanentlyFailed);
        }
        let update = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET dead_lettered_at = if_not_exists(dead_lettered_at, :now), {DLQ_PK} = :dlq, \
                 {DLQ_SK} = if_not_exists({DLQ_SK}, :dlq_sort)"
            ))
            .condition_expression("#status = :failed")
            .expression_attribute_values(":failed", status_value(Status::Failed))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":dlq", s("DLQ"))
            .expression_attribute_values(":dlq_sort", dlq_sort);
        Ok(if applied(update).await? { DeadLetterMark::AlreadyFailed } else { DeadLetterMark::NotFailed(old.status) })
    }

    async fn record_poison(
        &self,
        message_id: &str,
        body: &str,
        reason: &str,
        now: Timestamp,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut kept = body.to_string();
        if kept.len() > POISON_BODY_LIMIT {
            let mut cut = POISON_BODY_LIMIT;
            while !kept.is_char_boundary(cut) {
                cut -= 1;
            }
            kept.truncate(cut);
        }
        let mut item = key(format!("POISON#{message_id}"), "POISON");
        item.extend([
            ("body".to_string(), s(kept)),
            ("body_bytes".to_string(), AttributeValue::N(body.len().to_string())),
            ("reason".to_string(), s(reason)),
            ("recorded_at".to_string(), s(now.to_string())),
            (GSI2.pk.to_string(), s("POISON")),
            (GSI2.sk.to_string(), s(format!("{now}#{message_id}"))),
            (EXPIRES_AT.to_string(), AttributeValue::N(expires_at.to_string())),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn list_dead_lettered(&self, queue_id: Option<&QueueId>) -> Result<Vec<MessageRecord>, StoreError> {
        // The `DLQ` partition holds only dead-lettered records, so even a filtered query reads little.
        let query = self.index_query(GSI2, "DLQ");
        let query = match queue_id {
            Some(queue_id) => query
                .filter_expression("queue_id = :queue_id")
                .expression_attribute_values(":queue_id", s(queue_id.as_str())),
            None => query,
        };
        let items = query.into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.map_err(unavailable)?;
        items.into_iter().map(from_item).collect()
    }

    async fn requeue_dead_lettered(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        due: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET #status = :queued, {LIVE_SK} = :live, generation = if_not_exists(generation, :zero) + :one, \
                 attempts_before_replay = if_not_exists(attempts, :zero), {EXPIRES_AT} = :expires REMOVE {DLQ_PK}, {DLQ_SK}, {DONE_SK}, dead_lettered_at, \
                 status_description, timeline.failed_at, lease_until"
            ))
            .condition_expression("#status = :failed AND attribute_exists(dead_lettered_at)")
            // Back among the phone's live messages, at its due time.
            .expression_attribute_values(":live", s(format!("{due}#{queue_id}")))
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":failed", status_value(Status::Failed));
        applied(update).await
    }

    async fn restore_dead_lettered(&self, before: &MessageRecord) -> Result<bool, StoreError> {
        let Some(dead_lettered_at) = before.dead_lettered_at else {
            return Ok(false);
        };
        let (org, queue_id) = (&before.org_id, &before.queue_id);
        let mut set = vec![
            "#status = :failed".to_string(),
            "generation = :generation".to_string(),
            "attempts_before_replay = :before_replay".to_string(),
            format!("{EXPIRES_AT} = :expires"),
            "dead_lettered_at = :at".to_string(),
            format!("{DLQ_PK} = :dlq"),
            format!("{DLQ_SK} = :dlq_sort"),
            format!("{DONE_SK} = :done"),
        ];
        let mut update = self
            .update_message(org, queue_id)
            .condition_expression("#status = :queued AND attempts = :attempts")
            .expression_attribute_values(":failed", status_value(Status::Failed))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":attempts", AttributeValue::N(before.attempts.to_string()))
            .expression_attribute_values(":generation", AttributeValue::N(before.generation.to_string()))
            .expression_attribute_values(":before_replay", AttributeValue::N(before.attempts_before_replay.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(before.expires_at.to_string()))
            .expression_attribute_values(":at", s(dead_lettered_at.to_string()))
            .expression_attribute_values(":dlq", s("DLQ"))
            // The sort key `mark_dead_lettered` gave it.
            .expression_attribute_values(":dlq_sort", dead_letter_sort(dead_lettered_at, org, queue_id))
            .expression_attribute_values(
                ":done",
                done_sort(before.timeline.failed_at.unwrap_or(dead_lettered_at), queue_id),
            );
        if let Some(description) = &before.status_description {
            set.push("status_description = :description".into());
            update = update.expression_attribute_values(":description", s(description));
        }
        if let Some(failed_at) = before.timeline.failed_at {
            set.push("timeline.failed_at = :failed_at".into());
            update = update.expression_attribute_values(":failed_at", s(failed_at.to_string()));
        }
        applied(update.update_expression(format!("SET {} REMOVE {LIVE_SK}", set.join(", ")))).await
    }
}
