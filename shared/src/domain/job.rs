//! The SQS job: references only, never message content or media bytes.

use serde::{Deserialize, Serialize};

use super::tenant::OrgId;

pub const JOB_VERSION: u8 = 1;

/// What the delivery Lambda needs to find the message record; everything else lives in DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub v: u8,
    pub org_id: OrgId,
    pub queue_id: String,
    pub phone_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job body is not valid JSON for a job: {0}")]
    Json(#[from] serde_json::Error),
    #[error("job version {0} is not supported (expected {JOB_VERSION})")]
    Version(u8),
}

impl Job {
    pub fn new(org_id: OrgId, queue_id: String, phone_id: String) -> Job {
        Job { v: JOB_VERSION, org_id, queue_id, phone_id }
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

    #[test]
    fn a_job_round_trips_and_stays_small() {
        let job = Job::new(OrgId::from("org-1".to_string()), uuid::Uuid::new_v4().to_string(), "phone-x".into());
        let body = job.encode();
        assert!(body.len() < 200, "{body}");
        assert_eq!(Job::decode(&body).unwrap(), job);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in ["", "{}", "[]", "null", "{\"v\":2,\"org_id\":\"o\",\"queue_id\":\"q\",\"phone_id\":\"p\"}"] {
            assert!(Job::decode(body).is_err(), "{body}");
        }
    }
}
