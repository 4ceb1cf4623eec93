//! Message records: creation, lookups by queue_id (a unique_id leads to its queue_id), and the
//! conditional status transitions.
//! Over 400 lines on purpose: it is the one DynamoDB `StatusStore`, and each transition's condition
//! expression, index attributes and takeover rule are read best side by side with the others.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::indexes::{EXPIRES_AT, GSI2, GSI4, GSI6};
use super::{
    DynamoStore, Item, applied, condition_failure, from_item, key, put_applied, s, to_item, to_value, unavailable,
};
use crate::domain::ids::{OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::message::{AttemptLogEntry, AttemptOutcome, MAX_ATTEMPT_LOG, MessageRecord, PURGED, Status};
use crate::domain::time::Timestamp;
use crate::ports::{AttemptResult, BeginAttempt, Created, DeadLetterMark, StatusStore, StoreError};

/// Largest poison body kept as evidence (a DynamoDB item holds 400 KB).
const POISON_BODY_LIMIT: usize = 32 * 1024;

/// A new message record with its index keys: live by phone (gsi4, until it finishes) when it waits
/// on the queue (`MessageRecord::waits_on_the_queue`), so that most messages, due at once, cost no
/// index write; a purge of the phone reaches those through its marker (`phone_purged_at`). No
/// index finds it by unique_id or broadcast (both lead to its queue_id, `domain::ids`), nor by
/// phone once finished: the phone's counts come from its counter item, which the status stream keeps.
pub(super) fn message_item(record: &MessageRecord) -> Result<Item, StoreError> {
    let (org, queue_id) = (&record.org_id, &record.queue_id);
    let due = record.due();
    let mut item = to_item(record)?;
    item.extend(DynamoStore::message_key(org, queue_id));
    if record.waits_on_the_queue() {
        item.insert(GSI4.pk.into(), s(format!("LIVE#{org}#{}", record.phone_id)));
        item.insert(GSI4.sk.into(), s(format!("{due}#{queue_id}")));
    }
    Ok(item)
}

/// A record's item as this adapter leaves it after the record's latest transition: the item
/// `create` puts, with the index keys the transitions set and remove (no longer live once
/// final, dead-lettered once dead-lettered). The cost model
/// (`bench/`) sizes the items with it; a moto test holds it to what the adapter stores.
pub fn stored_message_item(record: &MessageRecord) -> Result<Item, StoreError> {
    let mut item = message_item(record)?;
    if record.status.is_final() {
        item.remove(LIVE_SK);
    }
    if let Some(at) = record.dead_lettered_at {
        item.insert(DLQ_PK.into(), s("DLQ"));
        item.insert(DLQ_SK.into(), dead_letter_sort(at, &record.org_id, &record.queue_id));
    }
    Ok(item)
}

/// The dead-lettered sort key (gsi2): when, then which, across orgs.
fn dead_letter_sort(at: Timestamp, org: &OrgId, queue_id: &QueueId) -> AttributeValue {
    s(format!("{at}#{org}#{queue_id}"))
}

/// The provider-message-id keys (gsi6) of a real provider's message: receipts that do not carry
/// our queue_id find it there. The org is part of the key, so a phone only finds its org's.
pub(super) fn provider_id_keys(
    org: &OrgId,
    provider_message_id: &str,
    queue_id: &QueueId,
) -> (AttributeValue, AttributeValue) {
    (s(provider_id_partition(org, provider_message_id)), s(queue_id.as_str()))
}

pub(super) fn provider_id_partition(org: &OrgId, provider_message_id: &str) -> String {
    format!("PMID#{org}#{provider_message_id}")
}

/// The purge marker's time attribute (RFC 3339 in UTC, milliseconds: compares as text).
pub(super) const PURGED_AT: &str = "purged_at";

/// Index key attributes that update expressions set and remove.
const DLQ_PK: &str = GSI2.pk;
const DLQ_SK: &str = GSI2.sk;
const LIVE_SK: &str = GSI4.sk;
const FOUND_PK: &str = GSI6.pk;
const FOUND_SK: &str = GSI6.sk;

impl DynamoStore {
    /// Starts the next attempt of `current` by writing its whole log back: a `sending` record whose
    /// lease has passed (a takeover: its unfinished attempt is marked `interrupted`, as the provider
    /// may have got it), or a `queued` one whose log is full (the bounded log drops its oldest entry
    /// after the first). The condition on the status, lease and count read means two workers
    /// cannot both start it.
    async fn restart_with_log(
        &self,
        mut current: MessageRecord,
        entry: AttemptLogEntry,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        let (org, queue_id) = (current.org_id.clone(), current.queue_id.clone());
        if let Some(last) = current.attempt_log.last_mut().filter(|last| last.outcome.is_none()) {
            last.outcome = Some(AttemptOutcome::Interrupted);
        }
        let (log, dropped) = current.attempt_log_with(entry);
        let update = self.update_message(&org, &queue_id);
        let update = match current.status {
            Status::Sending => {
                let old_lease = current.lease_until.map(|until| until.to_string()).unwrap_or_default();
                update
                    .condition_expression("#status = :sending AND lease_until = :old_lease AND attempts = :attempts")
                    .expression_attribute_values(":old_lease", s(old_lease))
            }
            _ => update
                .condition_expression("#status = :queued AND attempts = :attempts")
                .expression_attribute_values(":queued", status_value(Status::Queued)),
        };
        // The dropped count is stored only once there is one, as serde writes the record.
        let (set_dropped, update) = match dropped {
            0 => ("", update),
            n => (
                ", attempt_log_dropped = :dropped",
                update.expression_attribute_values(":dropped", AttributeValue::N(n.to_string())),
            ),
        };
        let result = update
            .update_expression(format!(
                "SET #status = :sending, attempts = :next, attempt_log = :log{set_dropped}, lease_until = :lease"
            ))
            .expression_attribute_values(":sending", status_value(Status::Sending))
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
                // Another worker started it, or it finished, meanwhile.
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

    /// The conditional UpdateItem recording how attempt `attempt` ended, its outcome written into
    /// log entry `position` (or in none, once the bounded log dropped it: the status still
    /// changes), valid while the log has dropped `dropped` entries.
    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        attempt: u32,
        result: &AttemptResult,
        now: Timestamp,
        position: Option<usize>,
        dropped: u32,
    ) -> Result<UpdateItemFluentBuilder, StoreError> {
        let drops = match dropped {
            0 => "(attribute_not_exists(attempt_log_dropped) OR attempt_log_dropped = :dropped)",
            _ => "attempt_log_dropped = :dropped",
        };
        let update = self
            .update_message(org, queue_id)
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":sending", status_value(Status::Sending))
            .expression_attribute_values(":dropped", AttributeValue::N(dropped.to_string()));
        // The SET clauses that record the outcome in the attempt's entry, with the error or not.
        let outcome = |with_error: bool| {
            position.map_or(String::new(), |p| {
                let error = if with_error { format!(", attempt_log[{p}].#error = :error") } else { String::new() };
                format!(", attempt_log[{p}].outcome = :outcome{error}, attempt_log[{p}].finished_at = :now")
            })
        };
        // DynamoDB refuses values an expression does not use, and a release records no time.
        let stamped = update.clone().expression_attribute_values(":now", s(now.to_string()));
        let with_outcome = |update: UpdateItemFluentBuilder, value: AttemptOutcome, with_error: bool| {
            let update = match (position, with_error) {
                (Some(_), true) => update.expression_attribute_names("#error", "error"),
                _ => update,
            };
            match position {
                Some(_) => to_value(&value).map(|value| update.expression_attribute_values(":outcome", value)),
                None => Ok(update),
            }
        };
        let update = match result {
            AttemptResult::Sent { provider_message_id, findable } => {
                // A real provider's message is findable by its id (gsi6), for receipts without our queue_id.
                let (set_found, stamped) = if *findable {
                    let (pk, sk) = provider_id_keys(org, provider_message_id, queue_id);
                    let set = format!(", {FOUND_PK} = :found_pk, {FOUND_SK} = :found_sk");
                    (
                        set,
                        stamped
                            .expression_attribute_values(":found_pk", pk)
                            .expression_attribute_values(":found_sk", sk),
                    )
                } else {
                    (String::new(), stamped)
                };
                with_outcome(stamped, AttemptOutcome::Sent, false)?
                    .update_expression(format!(
                        "SET #status = :sent, provider_message_id = :pid, timeline.sent_at = :now{}{set_found} \
                     REMOVE lease_until, status_description, {LIVE_SK}",
                        outcome(false)
                    ))
                    .condition_expression(format!("#status IN (:queued, :sending) AND {drops}"))
                    .expression_attribute_values(":sent", status_value(Status::Sent))
                    .expression_attribute_values(":pid", s(provider_message_id))
            }
            AttemptResult::Retry { error } => {
                let update = with_outcome(stamped, AttemptOutcome::TransientError, true)?
                    .update_expression(format!("SET #status = :queued{} REMOVE lease_until", outcome(true)))
                    .condition_expression(format!("#status = :sending AND attempts = :attempt AND {drops}"))
                    .expression_attribute_values(":attempt", AttributeValue::N(attempt.to_string()));
                match position {
                    Some(_) => update.expression_attribute_values(":error", s(error)),
                    None => update,
                }
            }
            AttemptResult::Failed { outcome: failed, error } => with_outcome(stamped, *failed, true)?
                .update_expression(format!(
                    "SET #status = :failed, status_description = :error, timeline.failed_at = :now{} \
                     REMOVE lease_until, {LIVE_SK}",
                    outcome(true)
                ))
                .condition_expression(format!("#status IN (:queued, :sending) AND {drops}"))
                .expression_attribute_values(":failed", status_value(Status::Failed))
                .expression_attribute_values(":error", s(error)),
            AttemptResult::Released => {
                let entry = position.map_or(String::new(), |p| format!(", attempt_log[{p}]"));
                update
                    .update_expression(format!(
                        "SET #status = :queued, attempts = attempts - :one REMOVE lease_until{entry}"
                    ))
                    .condition_expression(format!("#status = :sending AND attempts = :attempt AND {drops}"))
                    .expression_attribute_values(":attempt", AttributeValue::N(attempt.to_string()))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
            }
            // Its own builder: DynamoDB refuses the unused `:queued`.
            AttemptResult::Purged => {
                let entry = position.map_or(String::new(), |p| format!(", attempt_log[{p}]"));
                self.update_message(org, queue_id)
                    .expression_attribute_values(":sending", status_value(Status::Sending))
                    .expression_attribute_values(":dropped", AttributeValue::N(dropped.to_string()))
                    .expression_attribute_values(":now", s(now.to_string()))
                    .update_expression(format!(
                        "SET #status = :cancelled, timeline.cancelled_at = :now, status_description = :why, \
                         attempts = attempts - :one REMOVE lease_until, {LIVE_SK}{entry}"
                    ))
                    .condition_expression(format!("#status = :sending AND attempts = :attempt AND {drops}"))
                    .expression_attribute_values(":cancelled", status_value(Status::Cancelled))
                    .expression_attribute_values(":why", s(PURGED))
                    .expression_attribute_values(":attempt", AttributeValue::N(attempt.to_string()))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
            }
        };
        Ok(update)
    }

    /// The phone's purge marker (`PURGE#{org}#{phone}`): when its whole queue was last purged.
    pub(super) fn purge_key(org: &OrgId, phone_id: &PhoneId) -> Item {
        key(format!("PURGE#{org}#{phone_id}"), "PURGE")
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
    async fn create(&self, record: &MessageRecord) -> Result<Created, StoreError> {
        // A queue_id already in use is never overwritten.
        let created = put_applied(self, message_item(record)?, "attribute_not_exists(pk)").await?;
        Ok(if created { Created::Created } else { Created::IdTaken })
    }

    async fn get(&self, org: &OrgId, queue_id: &QueueId) -> Result<Option<MessageRecord>, StoreError> {
        self.fetch(Self::message_key(org, queue_id)).await
    }

    async fn begin_attempt(
        &self,
        org: &OrgId,
        queue_id: &QueueId,
        unique_id: Option<&UniqueId>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<BeginAttempt, StoreError> {
        // The attempt number is the entry's position in the log (see `settled_attempt_log`).
        let entry = AttemptLogEntry { attempt: 0, started_at: now, outcome: None, error: None, finished_at: None };
        let mut update = self.update_message(org, queue_id);
        // A full log cannot be appended to: the condition fails and the whole bounded log is written.
        let mut condition =
            "attribute_exists(pk) AND #status = :queued AND (attribute_not_exists(attempt_log) OR size(attempt_log) < :max_log)"
                .to_string();
        if let Some(unique_id) = unique_id {
            // Part of the condition, so a job made for another message never moves this one.
            condition.push_str(" AND unique_id = :unique_id");
            update = update.expression_attribute_values(":unique_id", s(unique_id.as_str()));
        }
        let result = update
            .update_expression(
                "SET #status = :sending, attempts = if_not_exists(attempts, :zero) + :one, \
                 attempt_log = list_append(if_not_exists(attempt_log, :empty), :entry), lease_until = :lease",
            )
            .condition_expression(condition)
            .expression_attribute_values(":sending", status_value(Status::Sending))
            .expression_attribute_values(":queued", status_value(Status::Queued))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":entry", AttributeValue::L(vec![to_value(&entry)?]))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":max_log", AttributeValue::N(MAX_ATTEMPT_LOG.to_string()))
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
        if unique_id.is_some_and(|id| *id != current.unique_id) {
            return Ok(BeginAttempt::Missing);
        }
        match current.status {
            Status::Sending if current.lease_until.is_some_and(|until| until < now) => {
                self.restart_with_log(current, entry, lease_until).await
            }
            // Queued, so the log was full.
            Status::Queued => self.restart_with_log(current, entry, lease_until).await,
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
        // Until the log drops an entry, attempt n is entry n - 1; after, its place is read first.
        let update =
            self.finish_update(org, queue_id, attempt, &result, now, Some(attempt.saturating_sub(1) as usize), 0)?;
        let failed = match update
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
        {
            Ok(_) => return Ok(true),
            Err(err) => condition_failure(err)?,
        };
        let Some(current) = failed.map(from_item::<MessageRecord>).transpose()? else {
            return Ok(false);
        };
        if current.attempt_log_dropped == 0 {
            return Ok(false);
        }
        let position = current.attempt_position(attempt);
        applied(self.finish_update(org, queue_id, attempt, &result, now, position, current.attempt_log_dropped)?).await
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
                "SET #status = :failed, status_description = :reason, timeline.failed_at = :now \
                 REMOVE {LIVE_SK}"
            ))
            .condition_expression("#status = :queued AND attempts = :zero")
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
                 dead_lettered_at = :now, {DLQ_PK} = :dlq, {DLQ_SK} = :dlq_sort REMOVE lease_until, {LIVE_SK}"
            ))
            .condition_expression(format!(
                "attribute_exists(pk) AND {same_generation} AND \
                 (#status = :queued OR (#status = :sending AND lease_until < :now))"
            ))
            .expression_attribute_values(":gen", AttributeValue::N(generation.to_string()))
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
                 attempts_before_replay = if_not_exists(attempts, :zero), requeued_at = :due, {EXPIRES_AT} = :expires REMOVE {DLQ_PK}, {DLQ_SK}, dead_lettered_at, \
                 status_description, timeline.failed_at, lease_until"
            ))
            .condition_expression("#status = :failed AND attribute_exists(dead_lettered_at)")
            // Back among the phone's live messages, at its due time.
            .expression_attribute_values(":live", s(format!("{due}#{queue_id}")))
            .expression_attribute_values(":due", s(due.to_string()))
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
            .expression_attribute_values(":dlq_sort", dead_letter_sort(dead_lettered_at, org, queue_id));
        if let Some(description) = &before.status_description {
            set.push("status_description = :description".into());
            update = update.expression_attribute_values(":description", s(description));
        }
        if let Some(failed_at) = before.timeline.failed_at {
            set.push("timeline.failed_at = :failed_at".into());
            update = update.expression_attribute_values(":failed_at", s(failed_at.to_string()));
        }
        let mut remove = vec![LIVE_SK.to_string()];
        match before.requeued_at {
            Some(at) => {
                set.push("requeued_at = :requeued".into());
                update = update.expression_attribute_values(":requeued", s(at.to_string()));
            }
            None => remove.push("requeued_at".into()),
        }
        applied(update.update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")))).await
    }

    async fn phone_purged_at(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Timestamp>, StoreError> {
        let Some(item) = self.fetch_item(Self::purge_key(org, phone_id)).await? else { return Ok(None) };
        let at = item.get(PURGED_AT).and_then(|v| v.as_s().ok());
        at.map(|at| {
            Timestamp::parse(at).ok_or_else(|| StoreError::corrupt("a purge marker", "purged_at is not a time"))
        })
        .transpose()
    }
}
