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
    #[serde(default)]
    pub attempt_log: Vec<AttemptLogEntry>,
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

    /// The attempt log as shown: numbered in order, with attempts that never recorded an
    /// outcome (other than the one in progress) shown as interrupted.
    pub fn settled_attempt_log(&self) -> Vec<AttemptLogEntry> {
        let current = (self.status == Status::Sending).then_some(self.attempt_log.len());
        self.attempt_log
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let mut entry = entry.clone();
                entry.attempt = index as u32 + 1;
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
        timeline: Timeline::queued(Timestamp::parse("2026-01-01T00:00:00Z").expect("a time")),
        lease_until: None,
        dead_lettered_at: None,
        generation: 0,
        attempts_before_replay: 0,
        scheduled_at: None,
        broadcast_id: None,
        expires_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
