//! The SQS job: references only, never message content or media bytes.

use serde::{Deserialize, Serialize};

use super::ids::{OrgId, PhoneId, QueueId, UniqueId};
use super::message::MessageRecord;

pub const JOB_VERSION: u8 = 1;
/// SQS's largest per-message delay.
pub const MAX_SQS_DELAY_SECS: i64 = 15 * 60;

/// What the delivery Lambda needs to find the message record; everything else lives in DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub v: u8,
    pub org_id: OrgId,
    pub queue_id: QueueId,
    pub phone_id: PhoneId,
    /// Epoch seconds before which the job must not be delivered (scheduled sends, broadcast spacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    /// The record's generation this job was made for: a replay starts generation n+1, so a copy
    /// of an older job that reaches the DLQ is told apart from the job that died.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// Epoch seconds by which the API has written the job's record: the API queues the job first
    /// and records the message second, so a consumer that finds no record before this waits for it,
    /// and one that finds none after it knows the message was never accepted. Absent on jobs whose
    /// record was written first (replays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_by: Option<i64>,
    /// How often the provider has asked this job to slow down (each time it waited without using
    /// an attempt); bounded by `deliver::MAX_SLOW_DOWNS`, so a provider that always says so
    /// still ends the message.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slow_downs: u32,
    /// The unique_id of the message a job queued ahead of its record was made for: should that
    /// record's write find its queue_id taken (another message drew the same unique_id), the send
    /// draws again and this job must not deliver the other message (`StatusStore::begin_attempt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<UniqueId>,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

#[derive(Debug, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job body is not valid JSON for a job: {0}")]
    Json(#[from] serde_json::Error),
    #[error("job version {0} is not supported (expected {JOB_VERSION})")]
    Version(u8),
}

impl Job {
    /// The one job that delivers `record`: references only, and its due time in whole seconds,
    /// rounded up so that it is never delivered before `scheduled_at`.
    pub fn for_record(record: &MessageRecord) -> Job {
        Job {
            v: JOB_VERSION,
            org_id: record.org_id.clone(),
            queue_id: record.queue_id.clone(),
            phone_id: record.phone_id.clone(),
            due_at: record.scheduled_at.map(|at| at.epoch_secs_ceil()),
            generation: record.generation,
            record_by: None,
            slow_downs: 0,
            unique_id: None,
        }
    }

    /// The job a replay of `record` (as listed, before its requeue) enqueues: the next generation.
    pub fn for_replay(record: &MessageRecord) -> Job {
        Job { generation: record.generation + 1, ..Job::for_record(record) }
    }

    /// The job of a record not yet written, which will be by `record_by` (epoch seconds).
    pub fn ahead_of_record(record: &MessageRecord, record_by: i64) -> Job {
        Job { record_by: Some(record_by), unique_id: Some(record.unique_id.clone()), ..Job::for_record(record) }
    }

    /// How long SQS should hold the job before handing it out: until it is due, at most `max`
    /// (and never more than SQS's largest `DelaySeconds`, 15 minutes); a job due later is passed
    /// on again when it arrives.
    pub fn delay(&self, now: i64, max: std::time::Duration) -> std::time::Duration {
        let longest = (max.as_secs() as i64).min(MAX_SQS_DELAY_SECS);
        let wait = self.due_at.map_or(0, |due| (due - now).clamp(0, longest));
        std::time::Duration::from_secs(wait as u64)
    }

    /// Still before its due time at `now`.
    pub fn is_early(&self, now: i64) -> bool {
        self.due_at.is_some_and(|due| due > now)
    }

    pub fn decode(body: &str) -> Result<Job, JobDecodeError> {
        let job: Job = serde_json::from_str(body)?;
        if job.v != JOB_VERSION {
            return Err(JobDecodeError::Version(job.v));
        }
        Ok(job)
    }

    pub fn encode(&self) -> String {
        // A struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::sending_fixture;
    use crate::domain::tenant::ProviderKind;
    use crate::domain::time::Timestamp;

    fn job(scheduled_at: Option<&str>) -> Job {
        let record = MessageRecord {
            queue_id: QueueId::of(&UniqueId::generate()),
            scheduled_at: scheduled_at.map(|at| Timestamp::parse(at).expect("a time")),
            ..sending_fixture("phone-x", ProviderKind::Sandbox, "hi")
        };
        Job::for_record(&record)
    }

    #[test]
    fn a_job_round_trips_and_stays_small() {
        let job = job(None);
        let body = job.encode();
        assert!(body.len() < 200, "{body}");
        assert_eq!(Job::decode(&body).unwrap(), job);
    }

    #[test]
    fn a_due_job_is_delayed_until_due_at_most_15_minutes_at_a_time() {
        let sqs = std::time::Duration::from_secs(MAX_SQS_DELAY_SECS as u64);
        assert_eq!(job(None).delay(100, sqs), std::time::Duration::ZERO);
        // 1970-01-01T00:16:39.001Z is due at second 1000, rounded up.
        let job = job(Some("1970-01-01T00:16:39.001Z"));
        assert_eq!(job.due_at, Some(1_000));
        assert!(job.is_early(999) && !job.is_early(1_000));
        assert_eq!(job.delay(990, sqs).as_secs(), 10);
        assert_eq!(job.delay(0, sqs).as_secs(), 900);
        assert_eq!(job.delay(2_000, sqs).as_secs(), 0);
        // A shorter cap (the local runner's) and one beyond SQS's.
        assert_eq!(job.delay(0, std::time::Duration::from_secs(2)).as_secs(), 2);
        assert_eq!(job.delay(990, std::time::Duration::from_secs(2)).as_secs(), 2);
        assert_eq!(job.delay(0, std::time::Duration::from_secs(3600)).as_secs(), 900);
        assert!(Job::decode(&job.encode()).unwrap().due_at == Some(1_000));
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in ["", "{}", "[]", "null", "{\"v\":2,\"org_id\":\"o\",\"queue_id\":\"q\",\"phone_id\":\"p\"}"] {
            assert!(Job::decode(body).is_err(), "{body}");
        }
    }
}
