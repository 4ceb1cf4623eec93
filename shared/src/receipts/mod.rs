//! Applying delivery receipts: the one path every provider's `sent` / `delivered` / `read` /
//! `failed` goes through (Meta's webhook, an `http` gateway's receipts, the sandbox's). It finds
//! the message (by our queue_id when the receipt carries it, else by the provider's message id),
//! checks it is the receipt's phone's, and writes `domain::receipt`'s change conditionally,
//! deciding again when the record changed in between.

pub mod inbound;

use std::sync::Arc;

use tracing::{debug, info};

use crate::domain::ids::QueueId;
use crate::domain::message::{MessageRecord, Status};
use crate::domain::receipt::{Receipt, ReceiptChange, Unchanged, decide};
use crate::domain::tenant::Phone;
use crate::metrics::{self, Metrics};
use crate::ports::{Clock, ReceiptStore, StatusStore, StoreError};

/// A record that keeps changing under a receipt is read again at most this many times.
const MAX_TRIES: usize = 4;

/// What a receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record moved to this status.
    Moved(Status),
    Unchanged(Unchanged),
    /// No message of this phone has that id (another deployment's, or expired): acknowledged.
    Unknown,
}

/// The receipt applier: the stores and the clock that dates the changes.
#[derive(Clone)]
pub struct Receipts {
    pub store: Arc<dyn StatusStore>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub clock: Arc<dyn Clock>,
    /// Where each applied receipt's metric line goes.
    pub metrics: Metrics,
}

impl Receipts {
    /// The metrics of an applied change: `Delivered`, `Read` or `Failed`, and `Sent` when the
    /// receipt finished the attempt (it came before our own `sent` write, which then emits nothing).
    fn observe(&self, record: &MessageRecord, change: &ReceiptChange) {
        let mut values = vec![];
        if change.finishes_attempt() && change.to != Status::Failed {
            values.push((metrics::SENT, 1.0));
        }
        match change.to {
            Status::Delivered => values.push((metrics::DELIVERED, 1.0)),
            Status::Read => values.push((metrics::READ, 1.0)),
            Status::Failed => values.push((metrics::FAILED, 1.0)),
            _ => {}
        }
        self.metrics.emit(self.clock.now(), Some(record.provider.as_str()), Some("receipt"), &values);
    }

    /// Applies `receipt` for a message of `phone`; `queue_id` when the receipt carries ours.
    pub async fn apply(
        &self,
        phone: &Phone,
        queue_id: Option<&QueueId>,
        receipt: &Receipt,
    ) -> Result<Applied, StoreError> {
        let Some(record) = self.find(phone, queue_id, receipt).await? else {
            debug!(phone_id = %phone.phone_id, "a receipt for a message this phone does not have");
            return Ok(Applied::Unknown);
        };
        self.apply_to(record, receipt).await
    }

    /// Applies `receipt` to `record` as the caller saw it, without reading it again: `false` when
    /// it changed since (the status-stream consumer then sees the newer record in a later batch).
    pub async fn apply_as_seen(&self, record: &MessageRecord, receipt: &Receipt) -> Result<bool, StoreError> {
        let Ok(change) = decide(record, receipt, self.clock.now()) else { return Ok(false) };
        let applied = self.receipts.apply_receipt(record, &change).await?;
        if applied {
            self.observe(record, &change);
        }
        Ok(applied)
    }

    /// Applies `receipt` to `record` as last seen (read again if it changed since).
    pub async fn apply_to(&self, mut record: MessageRecord, receipt: &Receipt) -> Result<Applied, StoreError> {
        for _ in 0..MAX_TRIES {
            let change = match decide(&record, receipt, self.clock.now()) {
                Ok(change) => change,
                Err(unchanged) => return Ok(Applied::Unchanged(unchanged)),
            };
            if self.receipts.apply_receipt(&record, &change).await? {
                info!(queue_id = %record.queue_id, from = change.from.as_str(), to = change.to.as_str(), "receipt applied");
                self.observe(&record, &change);
                return Ok(Applied::Moved(change.to));
            }
            match self.store.get(&record.org_id, &record.queue_id).await? {
                Some(again) => record = again,
                None => return Ok(Applied::Unknown),
            }
        }
        Err(StoreError::unavailable("UpdateItem", "the record kept changing under a receipt; the provider retries it"))
    }

    /// The message, only if it is `phone`'s on its current provider: a queue_id from a receipt is not trusted further.
    async fn find(
        &self,
        phone: &Phone,
        queue_id: Option<&QueueId>,
        receipt: &Receipt,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let org = &phone.org_id;
        let mut found = match queue_id {
            Some(queue_id) => self.store.get(org, queue_id).await?,
            None => None,
        };
        if found.is_none() {
            found = match self.receipts.find_by_provider_id(org, &receipt.provider_message_id).await? {
                Some(queue_id) => self.store.get(org, &queue_id).await?,
                None => None,
            };
        }
        Ok(found.filter(|record| record.phone_id == phone.phone_id && record.provider == phone.provider.kind()))
    }
}

#[cfg(test)]
mod tests;
