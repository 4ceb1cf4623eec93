//! The message record: one per accepted send, the single source of truth for its status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::chat_id::ChatId;
use super::ids::{BroadcastId, OrgId, PhoneId, QueueId, UniqueId};
use super::media::MediaKind;
use super::poll::Poll;
use super::tenant::ProviderKind;
use super::time::Timestamp;

/// Where a message is in its life: `queued → sending → sent → delivered → read`, or `failed` / `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Terminal for delivery: no provider call may happen any more.
    pub fn is_final(&self) -> bool {
        !matches!(self, Status::Queued | Status::Sending)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Sent,
    TransientError,
    PermanentError,
    /// The attempt's worker stopped (crash, timeout) before recording an outcome.
    Interrupted,
}

impl AttemptOutcome {
    /// The name it is stored and shown under.
    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::TransientError => "transient_error",
            AttemptOutcome::PermanentError => "permanent_error",
            AttemptOutcome::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptLogEntry {
    pub attempt: u32,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

/// Media as recorded: a pass-through URL or a reference to the staged S3 object, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMedia {
    #[serde(rename = "type")]
    pub kind: MediaKind,
    pub filename: String,
    pub mimetype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// When each step happened; an entry appears once its step has happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub queued_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
}

impl Timeline {
    /// A message just accepted: only `queued_at`.
    pub fn queued(at: Timestamp) -> Timeline {
        Timeline {
            queued_at: at,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            cancelled_at: None,
        }
    }

    /// When the message finished (sent, failed or cancelled), if it has.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.sent_at.or(self.failed_at).or(self.cancelled_at)
    }
}

/// The status description of a message a purge cancelled.
pub const PURGED: &str = "purged from the queue before it was sent";

/// How far ahead a message must be due to be listed among its phone's live messages (see
/// `MessageRecord::waits_on_the_queue`).
pub const LISTED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// The most entries an attempt log keeps: the first attempt and the latest `MAX_ATTEMPT_LOG - 1`,
/// so an item stays small however often its message is replayed or taken over.
pub const MAX_ATTEMPT_LOG: usize = 10;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Everything known about one accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub org_id: OrgId,
    pub queue_id: QueueId,
    pub unique_id: UniqueId,
    pub phone_id: PhoneId,
    pub provider: ProviderKind,
    pub chat_id: ChatId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<StoredMedia>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub hide_url_preview: bool,
    /// Custom link-preview fields; what each provider does with them is in the README.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub link_preview: BTreeMap<String, String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// One entry per attempt, in order; past `MAX_ATTEMPT_LOG` the entries after the first are dropped
    /// oldest first, so entries = `attempts` - `attempt_log_dropped`.
    #[serde(default)]
    pub attempt_log: Vec<AttemptLogEntry>,
    /// How many entries the log dropped (attempts 2 to 1 + this); absent on the item while none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt_log_dropped: u32,
    pub timeline: Timeline,
    /// While `sending`: when the current attempt is presumed dead if it has not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_lettered_at: Option<Timestamp>,
    /// How many times it was replayed from the dead-letter queue; its live job carries the same number.
    #[serde(default)]
    pub generation: u32,
    /// `attempts` when the last replay requeued it: each generation gets the full attempt budget.
    #[serde(default)]
    pub attempts_before_replay: u32,
    /// When the last replay put it back on the queue (its due time then): a purge of its phone
    /// before then does not cover it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_at: Option<Timestamp>,
    /// Not delivered before this; absent means as soon as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<BroadcastId>,
    /// Epoch seconds after which DynamoDB's TTL removes the record.
    pub expires_at: i64,
}

impl MessageRecord {
    /// The message's kind as Periskope names it.
    pub fn message_type(&self) -> &'static str {
        match (&self.media, &self.poll) {
            (Some(media), _) => media.kind.as_str(),
            (None, Some(_)) => "poll",
            (None, None) => "text",
        }
    }

    /// A human explanation of the status, unless a more specific one was recorded.
    pub fn describe_status(&self) -> String {
        if let Some(description) = &self.status_description {
            return description.clone();
        }
        match self.status {
            Status::Queued if self.attempts > 0 => {
                format!("waiting to retry after attempt {}", self.attempts)
            }
            Status::Queued => "waiting in the queue to be sent".into(),
            Status::Sending => "being handed to the provider".into(),
            Status::Sent => "accepted by the provider".into(),
            Status::Delivered => "delivered to the recipient's device".into(),
            Status::Read => "read by the recipient".into(),
            Status::Failed => "delivery failed".into(),
            Status::Cancelled => "cancelled before it was sent".into(),
        }
    }

    /// When it is due: its schedule, or when it was queued.
    pub fn due(&self) -> Timestamp {
        self.scheduled_at.unwrap_or(self.timeline.queued_at)
    }

    /// When it last entered the queue: accepted, or requeued by a replay.
    pub fn entered_queue_at(&self) -> Timestamp {
        self.requeued_at.unwrap_or(self.timeline.queued_at)
    }

    /// Whether a purge of its phone at `purged_at` covers it: it was on the queue by then.
    pub fn purged_by(&self, purged_at: Timestamp) -> bool {
        self.entered_queue_at() <= purged_at
    }

    /// Whether it waits on the queue long enough to be listed among its phone's live messages, so
    /// that a purge cancels it at once; one due sooner is cancelled when its job comes up.
    pub fn waits_on_the_queue(&self) -> bool {
        self.due() > self.timeline.queued_at.plus(LISTED_AFTER)
    }

    /// The attempt log with `entry` appended, kept to `MAX_ATTEMPT_LOG` entries by dropping the
    /// oldest after the first, and the count of dropped entries after that: the one rule both
    /// stores apply when an attempt starts.
    pub fn attempt_log_with(&self, entry: AttemptLogEntry) -> (Vec<AttemptLogEntry>, u32) {
        let mut log = self.attempt_log.clone();
        log.push(entry);
        let mut dropped = self.attempt_log_dropped;
        while log.len() > MAX_ATTEMPT_LOG {
            log.remove(1);
            dropped += 1;
        }
        (log, dropped)
    }

    /// Where attempt `attempt`'s entry is in the log; `None` once it was dropped (or never was).
    pub fn attempt_position(&self, attempt: u32) -> Option<usize> {
        let position = match attempt {
            0 => return None,
            1 => 0,
            n if n - 1 > self.attempt_log_dropped => (n - 1 - self.attempt_log_dropped) as usize,
            _ => return None,
        };
        (position < self.attempt_log.len()).then_some(position)
    }

    /// The attempt log as shown: numbered by attempt (a gap where entries were dropped), with
    /// attempts that never recorded an outcome (other than the one in progress) shown as interrupted.
    pub fn settled_attempt_log(&self) -> Vec<AttemptLogEntry> {
        let current = (self.status == Status::Sending).then_some(self.attempt_log.len());
        self.attempt_log
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let mut entry = entry.clone();
                let skipped = if index == 0 { 0 } else { self.attempt_log_dropped };
                entry.attempt = index as u32 + 1 + skipped;
                if entry.outcome.is_none() && Some(index + 1) != current {
                    entry.outcome = Some(AttemptOutcome::Interrupted);
                }
                entry
            })
            .collect()
    }
}

/// A record in its first attempt, for tests of what reads records (providers, views).
#[cfg(test)]
pub(crate) fn sending_fixture(phone_id: &str, provider: ProviderKind, text: &str) -> MessageRecord {
    MessageRecord {
        org_id: OrgId::from("org-1".to_string()),
        queue_id: "q-1".into(),
        unique_id: "3EB0".into(),
        phone_id: phone_id.into(),
        provider,
        chat_id: ChatId::parse("919537851844").expect("a valid chat id"),
        text: Some(text.into()),
        media: None,
        poll: None,
        reply_to: None,
        hide_url_preview: false,
        link_preview: BTreeMap::new(),
        status: Status::Sending,
        status_description: None,
        provider_message_id: None,
        attempts: 1,
        attempt_log: vec![],
        attempt_log_dropped: 0,
        timeline: Timeline::queued(Timestamp::parse("2026-01-01T00:00:00Z").expect("a time")),
        lease_until: None,
        dead_lettered_at: None,
        generation: 0,
        attempts_before_replay: 0,
        requeued_at: None,
        scheduled_at: None,
        broadcast_id: None,
        expires_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purge_covers_what_entered_the_queue_by_then_and_a_replay_enters_it_again() {
        let mut record = sending_fixture("phone-a", ProviderKind::Sandbox, "hi");
        let accepted = record.timeline.queued_at;
        let later = accepted.plus(std::time::Duration::from_secs(60));
        assert!(record.purged_by(accepted) && record.purged_by(later));
        assert!(!record.purged_by(accepted.minus(std::time::Duration::from_millis(1))));
        record.requeued_at = Some(later.plus(std::time::Duration::from_secs(1)));
        assert!(!record.purged_by(later), "replayed after the purge");
        assert!(!record.waits_on_the_queue());
        record.scheduled_at = Some(accepted.plus(LISTED_AFTER).plus(std::time::Duration::from_millis(1)));
        assert!(record.waits_on_the_queue());
    }

    #[test]
    fn an_attempt_outcome_is_shown_under_its_stored_name() {
        use AttemptOutcome::*;
        for outcome in [Sent, TransientError, PermanentError, Interrupted] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }

    fn entry(second: u32) -> AttemptLogEntry {
        let started_at = Timestamp::parse(&format!("2026-01-01T00:00:{second:02}Z")).unwrap();
        AttemptLogEntry { attempt: 0, started_at, outcome: None, error: None, finished_at: None }
    }

    /// `record` after `n` more attempts, each started (and, but for the last, failed transiently).
    fn attempted(mut record: MessageRecord, n: u32) -> MessageRecord {
        for _ in 0..n {
            if let Some(last) = record.attempt_log.last_mut() {
                last.outcome = Some(AttemptOutcome::TransientError);
            }
            record.attempts += 1;
            (record.attempt_log, record.attempt_log_dropped) = record.attempt_log_with(entry(record.attempts));
        }
        record
    }

    #[test]
    fn the_attempt_log_keeps_the_first_and_the_latest_entries_and_counts_the_rest() {
        let mut record = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
        record.attempts = 0;
        let record = attempted(record.clone(), MAX_ATTEMPT_LOG as u32);
        assert_eq!((record.attempt_log.len(), record.attempt_log_dropped), (MAX_ATTEMPT_LOG, 0));
        let record = attempted(record, 3);
        assert_eq!((record.attempts, record.attempt_log.len(), record.attempt_log_dropped), (13, 10, 3));
        let shown: Vec<u32> = record.settled_attempt_log().iter().map(|e| e.attempt).collect();
        assert_eq!(shown, [1, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        // Each kept entry is the one its attempt started (attempt n started at second n).
        for shown in record.settled_attempt_log() {
            assert_eq!(shown.started_at, entry(shown.attempt).started_at, "attempt {}", shown.attempt);
        }
        assert_eq!(record.attempt_position(1), Some(0));
        assert_eq!(record.attempt_position(4), None, "dropped");
        assert_eq!(record.attempt_position(5), Some(1));
        assert_eq!(record.attempt_position(13), Some(9));
        assert_eq!(record.attempt_position(14), None);
        assert_eq!(record.attempt_position(0), None);
        // The dropped count is stored only once there is one.
        let fresh = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
        assert!(!serde_json::to_value(&fresh).unwrap().as_object().unwrap().contains_key("attempt_log_dropped"));
        assert_eq!(serde_json::to_value(&record).unwrap()["attempt_log_dropped"], 3);
    }

    #[test]
    fn only_queued_and_sending_may_still_be_delivered() {
        use Status::*;
        for status in [Sent, Delivered, Read, Failed, Cancelled] {
            assert!(status.is_final(), "{status:?}");
        }
        assert!(!Queued.is_final());
        assert!(!Sending.is_final());
    }
}
