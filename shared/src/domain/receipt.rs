//! Delivery receipts: what a provider reports after it accepted a message (`sent`, `delivered`,
//! `read`, `failed`), and the one rule that turns a receipt and the record as read into the change
//! to write: `sent < delivered < read` only moves forward, a duplicate or late receipt changes
//! nothing, `failed` ends a message only while it is `sent` (or still `sending`).

use super::message::{AttemptOutcome, MessageRecord, Status};
use super::time::Timestamp;

/// The longest `status_description` a provider's failure may write (its code and title).
const MAX_FAILURE_DESCRIPTION: usize = 512;

/// A status a provider reports for one of its message ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptStatus {
    Sent,
    Delivered,
    Read,
    /// The provider gave up after accepting the message; `description` is its code and title.
    Failed {
        description: String,
    },
}

impl ReceiptStatus {
    /// A failure with the provider's error code and title, e.g. `whatsapp-cloud error 131026: Message undeliverable`.
    pub fn failed(provider: &str, code: Option<i64>, title: Option<&str>) -> ReceiptStatus {
        let mut description = match code {
            Some(code) => format!("{provider} error {code}"),
            None => format!("{provider} reported a failure"),
        };
        if let Some(title) = title.filter(|title| !title.is_empty()) {
            description.push_str(": ");
            description.push_str(title);
        }
        let mut cut = description.len().min(MAX_FAILURE_DESCRIPTION);
        while !description.is_char_boundary(cut) {
            cut -= 1;
        }
        description.truncate(cut);
        ReceiptStatus::Failed { description }
    }

    fn status(&self) -> Status {
        match self {
            ReceiptStatus::Sent => Status::Sent,
            ReceiptStatus::Delivered => Status::Delivered,
            ReceiptStatus::Read => Status::Read,
            ReceiptStatus::Failed { .. } => Status::Failed,
        }
    }
}

/// One receipt: which provider message, what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
    pub status: ReceiptStatus,
}

/// The write a receipt makes: conditional on the record still being `from` (and, while
/// `sending`, on the same attempt), so a concurrent change makes it re-read and decide again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptChange {
    pub from: Status,
    /// The record's attempt count as read; the attempt a `sending` record's receipt finishes.
    pub attempts: u32,
    pub to: Status,
    pub provider_message_id: String,
    /// For `failed`: the provider's code and title.
    pub description: Option<String>,
    pub at: Timestamp,
}

impl ReceiptChange {
    /// The receipt arrived before our own `sent` was recorded (Meta sends `sent` and `delivered`
    /// within milliseconds): the change also finishes the attempt as `finish_attempt(Sent)` would,
    /// and that later write then finds the record moved on and keeps it.
    pub fn finishes_attempt(&self) -> bool {
        self.from == Status::Sending
    }

    /// The record after the change: what the memory store keeps and the DynamoDB update writes.
    pub fn apply_to(&self, record: &mut MessageRecord) {
        if self.finishes_attempt() {
            let outcome = if self.to == Status::Failed { AttemptOutcome::PermanentError } else { AttemptOutcome::Sent };
            let position = record.attempt_position(self.attempts);
            if let Some(entry) = position.and_then(|p| record.attempt_log.get_mut(p)) {
                entry.outcome = Some(outcome);
                entry.error = self.description.clone();
                entry.finished_at = Some(self.at);
            }
            record.lease_until = None;
            if self.to != Status::Failed {
                record.timeline.sent_at = Some(self.at);
            }
        }
        record.status = self.to;
        record.provider_message_id = Some(self.provider_message_id.clone());
        let timeline = &mut record.timeline;
        match self.to {
            Status::Delivered => timeline.delivered_at = Some(self.at),
            Status::Read => {
                // A read message was delivered, even when its `delivered` receipt is late or lost.
                timeline.delivered_at.get_or_insert(self.at);
                timeline.read_at = Some(self.at);
            }
            Status::Failed => {
                timeline.failed_at = Some(self.at);
                record.status_description = self.description.clone();
            }
            _ => {}
        }
    }
}

/// Why a receipt changes nothing; each is answered 200 to the provider all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// The record is already at or past the receipt's status (a duplicate, or out of order).
    AlreadyThere,
    /// The record carries another provider message id (a receipt for an earlier, interrupted attempt).
    OtherMessage,
    /// Queued, cancelled, or failed: nothing a provider says about it now is applied.
    NotSent,
}

/// The rank of the statuses a receipt may move between.
fn rank(status: Status) -> Option<u8> {
    match status {
        Status::Sending => Some(0),
        Status::Sent => Some(1),
        Status::Delivered => Some(2),
        Status::Read => Some(3),
        _ => None,
    }
}

/// The rule every provider's receipts go through.
pub fn decide(record: &MessageRecord, receipt: &Receipt, now: Timestamp) -> Result<ReceiptChange, Unchanged> {
    if record.provider_message_id.as_deref().is_some_and(|id| id != receipt.provider_message_id) {
        return Err(Unchanged::OtherMessage);
    }
    let current = rank(record.status).ok_or(Unchanged::NotSent)?;
    let to = receipt.status.status();
    let allowed = match rank(to) {
        Some(wanted) => wanted > current,
        // A failure after delivery is not believed: the recipient's device had it.
        None => record.status == Status::Sent || record.status == Status::Sending,
    };
    if !allowed {
        return Err(Unchanged::AlreadyThere);
    }
    let description = match &receipt.status {
        ReceiptStatus::Failed { description } => Some(description.clone()),
        _ => None,
    };
    Ok(ReceiptChange {
        from: record.status,
        attempts: record.attempts,
        to,
        provider_message_id: receipt.provider_message_id.clone(),
        description,
        at: now,
    })
}

/// Periskope's `ack` of a status: 0 pending, 1 sent, 2 delivered, 3 read, -1 failed.
pub fn ack(status: Status) -> i8 {
    match status {
        Status::Queued | Status::Sending => 0,
        Status::Sent => 1,
        Status::Delivered => 2,
        Status::Read => 3,
        Status::Failed | Status::Cancelled => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::{AttemptLogEntry, sending_fixture};
    use crate::domain::tenant::ProviderKind;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn receipt(status: ReceiptStatus) -> Receipt {
        Receipt { provider_message_id: "wamid.1".into(), status }
    }

    fn sent_record() -> MessageRecord {
        let mut record = sending_fixture("phone-1", ProviderKind::WhatsappCloud, "hi");
        record.status = Status::Sent;
        record.provider_message_id = Some("wamid.1".into());
        record.timeline.sent_at = Some(at("2026-01-01T00:00:01Z"));
        record
    }

    fn applied(record: &MessageRecord, status: ReceiptStatus, now: &str) -> Result<MessageRecord, Unchanged> {
        let change = decide(record, &receipt(status), at(now))?;
        let mut record = record.clone();
        change.apply_to(&mut record);
        Ok(record)
    }

    #[test]
    fn sent_delivered_read_only_move_forward_and_duplicates_change_nothing() {
        let delivered = applied(&sent_record(), ReceiptStatus::Delivered, "2026-01-01T00:00:02Z").unwrap();
        assert_eq!(
            (delivered.status, delivered.timeline.delivered_at),
            (Status::Delivered, Some(at("2026-01-01T00:00:02Z")))
        );
        assert_eq!(applied(&delivered, ReceiptStatus::Delivered, "2026-01-01T00:00:03Z"), Err(Unchanged::AlreadyThere));
        assert_eq!(applied(&delivered, ReceiptStatus::Sent, "2026-01-01T00:00:03Z"), Err(Unchanged::AlreadyThere));
        let read = applied(&delivered, ReceiptStatus::Read, "2026-01-01T00:00:04Z").unwrap();
        assert_eq!(read.status, Status::Read);
        assert_eq!(read.timeline.delivered_at, Some(at("2026-01-01T00:00:02Z")), "read keeps when it was delivered");
        assert_eq!(read.timeline.read_at, Some(at("2026-01-01T00:00:04Z")));
        for late in [ReceiptStatus::Delivered, ReceiptStatus::Sent, ReceiptStatus::failed("x", Some(1), None)] {
            assert_eq!(applied(&read, late, "2026-01-01T00:00:05Z"), Err(Unchanged::AlreadyThere));
        }
    }

    #[test]
    fn read_before_delivered_is_read_with_both_times_and_the_late_delivered_is_ignored() {
        let read = applied(&sent_record(), ReceiptStatus::Read, "2026-01-01T00:00:02Z").unwrap();
        assert_eq!(read.status, Status::Read);
        assert_eq!(read.timeline.delivered_at, Some(at("2026-01-01T00:00:02Z")));
        assert_eq!(applied(&read, ReceiptStatus::Delivered, "2026-01-01T00:00:03Z"), Err(Unchanged::AlreadyThere));
    }

    #[test]
    fn failed_after_sent_ends_failed_with_the_providers_code_and_title() {
        let failed = ReceiptStatus::failed("whatsapp-cloud", Some(131026), Some("Message undeliverable"));
        let record = applied(&sent_record(), failed.clone(), "2026-01-01T00:00:02Z").unwrap();
        assert_eq!(record.status, Status::Failed);
        assert_eq!(record.status_description.as_deref(), Some("whatsapp-cloud error 131026: Message undeliverable"));
        assert_eq!(record.timeline.failed_at, Some(at("2026-01-01T00:00:02Z")));
        let delivered = applied(&sent_record(), ReceiptStatus::Delivered, "2026-01-01T00:00:02Z").unwrap();
        assert_eq!(applied(&delivered, failed, "2026-01-01T00:00:03Z"), Err(Unchanged::AlreadyThere));
        let long = ReceiptStatus::failed("p", None, Some(&"é".repeat(400)));
        assert!(matches!(long, ReceiptStatus::Failed { description } if description.len() <= MAX_FAILURE_DESCRIPTION));
    }

    #[test]
    fn a_receipt_before_our_own_sent_finishes_the_attempt_and_the_record_keeps_the_higher_status() {
        let mut record = sending_fixture("phone-1", ProviderKind::WhatsappCloud, "hi");
        let started = at("2026-01-01T00:00:00Z");
        record.attempt_log =
            vec![AttemptLogEntry { attempt: 1, started_at: started, outcome: None, error: None, finished_at: None }];
        record.lease_until = Some(at("2026-01-01T00:00:30Z"));
        let change = decide(&record, &receipt(ReceiptStatus::Delivered), at("2026-01-01T00:00:01Z")).unwrap();
        assert!(change.finishes_attempt());
        change.apply_to(&mut record);
        assert_eq!(record.status, Status::Delivered);
        assert_eq!(record.provider_message_id.as_deref(), Some("wamid.1"));
        assert_eq!(record.attempt_log[0].outcome, Some(AttemptOutcome::Sent));
        assert_eq!((record.lease_until, record.timeline.sent_at), (None, Some(at("2026-01-01T00:00:01Z"))));
    }

    #[test]
    fn a_receipt_for_another_provider_id_or_an_unsent_record_changes_nothing() {
        let other = Receipt { provider_message_id: "wamid.2".into(), status: ReceiptStatus::Read };
        assert_eq!(decide(&sent_record(), &other, at("2026-01-01T00:00:02Z")), Err(Unchanged::OtherMessage));
        for status in [Status::Queued, Status::Cancelled, Status::Failed] {
            let mut record = sent_record();
            record.status = status;
            let read = receipt(ReceiptStatus::Read);
            assert_eq!(decide(&record, &read, at("2026-01-01T00:00:02Z")), Err(Unchanged::NotSent), "{status:?}");
        }
    }

    #[test]
    fn ack_is_periskopes_number() {
        let acks: Vec<i8> =
            [Status::Queued, Status::Sending, Status::Sent, Status::Delivered, Status::Read, Status::Failed]
                .into_iter()
                .map(ack)
                .collect();
        assert_eq!(acks, [0, 0, 1, 2, 3, -1]);
    }
}
