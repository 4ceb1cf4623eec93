//! Configuration, read once from the environment at cold start.

use std::time::Duration;

use crate::domain::job::MAX_SQS_DELAY_SECS;
use crate::providers::sandbox::Faults;

/// Everything the Lambdas and the local runner need to know about their deployment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub media_bucket: String,
    /// Base of the exponential retry backoff: attempt n waits `base × 2^(n-1)`.
    pub retry_base: Duration,
    /// Real attempts per message; the queue's redrive `maxReceiveCount` is `deliver::max_receives` of it.
    pub max_attempts: u32,
    /// How long message records and staged media are kept.
    pub retention: Duration,
    /// The delivery Lambda's timeout: an attempt older than this was interrupted.
    pub delivery_timeout: Duration,
    /// The API Lambda's timeout: an `Idempotency-Key` claim older than this was abandoned.
    pub api_timeout: Duration,
    /// How long an API key or phone lookup is reused within one process.
    pub auth_cache_ttl: Duration,
    /// The largest request body the API reads (Lambda's synchronous payload limit is 6 MB).
    pub max_body_bytes: usize,
    /// Requests per minute per API key unless the key has its own limit; `None` when switched off
    /// (`OUTBOX_RATE_LIMIT_PER_MINUTE=off`), which also saves the counter's DynamoDB request.
    pub rate_limit_per_minute: Option<u32>,
    /// `AWS_ENDPOINT_URL`, set when talking to an emulator (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// `OUTBOX_SANDBOX_FAULTS`: the sandbox's chaos mode for soak runs; off (`None`) unless set.
    pub sandbox_faults: Option<Faults>,
    /// The status-stream consumer reports the sandbox's sent messages `delivered`, then `read`
    /// (`OUTBOX_SANDBOX_RECEIPTS`, on in the template and `make run`, off by default so tests
    /// that wait for `sent` see it stay).
    pub sandbox_receipts: bool,
    /// `OUTBOX_ALLOW_PRIVATE_TARGETS`: provider URLs may be http and reach private and loopback
    /// addresses (the local stack and its loopback fakes); off unless set, and never in AWS.
    pub allow_private_targets: bool,
    /// The longest SQS delay a job is sent with (SQS allows 15 minutes); a job due later hops
    /// through the queue. Shorter locally, so that a schedule's hops happen within seconds.
    pub max_delay: Duration,
    /// The CloudWatch namespace of the service's metrics (`OUTBOX_METRICS_NAMESPACE`, default
    /// `Outbox`; the template gives each stack its own).
    pub metrics_namespace: String,
    /// The webhook events queue (`OUTBOX_EVENTS_QUEUE_URL`); without it no events are produced.
    pub events_queue_url: Option<String>,
    /// Its dead-letter queue (`OUTBOX_EVENTS_DLQ_URL`), which `outbox-admin webhooks replay` reads.
    pub events_dlq_url: Option<String>,
    /// The first backoff after a webhook call failed; each next one doubles, up to SQS's 12 hours
    /// (`OUTBOX_WEBHOOK_RETRY_BASE_SECS`, 60 s: with the template's 12 receives, about a day in all).
    pub webhook_retry_base: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub const DEFAULT_MAX_BODY_BYTES: usize = crate::domain::limits::MAX_REQUEST_BYTES;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;
pub const DEFAULT_METRICS_NAMESPACE: &str = "Outbox";

impl Config {
    /// Reads the configuration; fails with the name of the first missing or malformed variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let required = |name: &'static str| get(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => {
                    v.parse().map_err(|_| ConfigError::Invalid { name, reason: format!("{v:?} is not a whole number") })
                }
            }
        };
        let max_attempts = number("OUTBOX_MAX_ATTEMPTS", 3)?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid { name: "OUTBOX_MAX_ATTEMPTS", reason: "must be at least 1".into() });
        }
        let rate_limit_per_minute = match get("OUTBOX_RATE_LIMIT_PER_MINUTE").filter(|v| !v.is_empty()).as_deref() {
            None => Some(DEFAULT_RATE_LIMIT_PER_MINUTE),
            Some("off") | Some("0") => None,
            Some(v) => Some(v.parse().map_err(|_| ConfigError::Invalid {
                name: "OUTBOX_RATE_LIMIT_PER_MINUTE",
                reason: format!("{v:?} is neither a whole number nor \"off\""),
            })?),
        };
        let max_delay = number("OUTBOX_MAX_DELAY_SECS", MAX_SQS_DELAY_SECS as u64)?;
        if !(1..=MAX_SQS_DELAY_SECS as u64).contains(&max_delay) {
            return Err(ConfigError::Invalid {
                name: "OUTBOX_MAX_DELAY_SECS",
                reason: format!("{max_delay} is not between 1 and {MAX_SQS_DELAY_SECS} (SQS's longest delay)"),
            });
        }
        let sandbox_faults = match get("OUTBOX_SANDBOX_FAULTS").filter(|v| !v.is_empty() && v != "off") {
            None => None,
            Some(spec) => {
                Some(spec.parse().map_err(|reason| ConfigError::Invalid { name: "OUTBOX_SANDBOX_FAULTS", reason })?)
            }
        };
        let allow_private_targets = match get("OUTBOX_ALLOW_PRIVATE_TARGETS").filter(|v| !v.is_empty()).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "OUTBOX_ALLOW_PRIVATE_TARGETS",
                    reason: format!("{v:?} is neither true nor false"),
                });
            }
        };
        let sandbox_receipts = match get("OUTBOX_SANDBOX_RECEIPTS").filter(|v| !v.is_empty()).as_deref() {
            None | Some("off") | Some("false") | Some("0") => false,
            Some("on") | Some("true") | Some("1") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "OUTBOX_SANDBOX_RECEIPTS",
                    reason: format!("{v:?} is neither on nor off"),
                });
            }
        };
        Ok(Config {
            table: required("OUTBOX_TABLE")?,
            queue_url: required("OUTBOX_QUEUE_URL")?,
            dlq_url: required("OUTBOX_DLQ_URL")?,
            media_bucket: required("OUTBOX_MEDIA_BUCKET")?,
            retry_base: Duration::from_secs(number("OUTBOX_RETRY_BASE_SECS", 10)?),
            max_attempts: max_attempts as u32,
            retention: Duration::from_secs(number("OUTBOX_RETENTION_DAYS", 30)? * 86_400),
            delivery_timeout: Duration::from_secs(number("OUTBOX_DELIVERY_TIMEOUT_SECS", 30)?),
            api_timeout: Duration::from_secs(number("OUTBOX_API_TIMEOUT_SECS", 29)?.max(1)),
            auth_cache_ttl: Duration::from_secs(number("OUTBOX_AUTH_CACHE_SECS", 10)?),
            max_body_bytes: number("OUTBOX_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)? as usize,
            rate_limit_per_minute,
            endpoint_url: get("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()),
            sandbox_faults,
            sandbox_receipts,
            allow_private_targets,
            max_delay: Duration::from_secs(max_delay),
            metrics_namespace: get("OUTBOX_METRICS_NAMESPACE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.into()),
            events_queue_url: get("OUTBOX_EVENTS_QUEUE_URL").filter(|v| !v.is_empty()),
            events_dlq_url: get("OUTBOX_EVENTS_DLQ_URL").filter(|v| !v.is_empty()),
            webhook_retry_base: Duration::from_secs(number("OUTBOX_WEBHOOK_RETRY_BASE_SECS", 60)?.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] =
        [("OUTBOX_TABLE", "t"), ("OUTBOX_QUEUE_URL", "q"), ("OUTBOX_DLQ_URL", "d"), ("OUTBOX_MEDIA_BUCKET", "b")];

    #[test]
    fn defaults_apply_when_only_names_are_set() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.retry_base, Duration::from_secs(10));
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(config.endpoint_url, None);
        assert_eq!(config.rate_limit_per_minute, Some(600));
        assert_eq!(config.sandbox_faults, None);
        assert!(!config.sandbox_receipts);
        assert!(!config.allow_private_targets);
        assert_eq!(config.max_delay, Duration::from_secs(900));
    }

    #[test]
    fn the_longest_delay_is_at_most_sqss_and_never_zero() {
        let mut pairs = BASE.to_vec();
        pairs.push(("OUTBOX_MAX_DELAY_SECS", "2"));
        assert_eq!(Config::from_lookup(lookup(&pairs)).unwrap().max_delay, Duration::from_secs(2));
        for bad in ["0", "901", "soon"] {
            pairs[4] = ("OUTBOX_MAX_DELAY_SECS", bad);
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains("OUTBOX_MAX_DELAY_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn private_targets_are_allowed_only_when_asked_and_a_typo_is_named() {
        let with = |value: &str| {
            let mut pairs = BASE.to_vec();
            pairs.push(("OUTBOX_ALLOW_PRIVATE_TARGETS", value));
            Config::from_lookup(lookup(&pairs)).map(|config| config.allow_private_targets)
        };
        assert_eq!((with("true").unwrap(), with("1").unwrap()), (true, true));
        assert_eq!((with("false").unwrap(), with("0").unwrap(), with("").unwrap()), (false, false, false));
        let err = with("yes please").unwrap_err();
        assert!(err.to_string().contains("OUTBOX_ALLOW_PRIVATE_TARGETS"), "{err}");
    }

    #[test]
    fn sandbox_faults_are_parsed_once_and_a_bad_spec_is_named() {
        let mut pairs = BASE.to_vec();
        pairs.push(("OUTBOX_SANDBOX_FAULTS", "transient=0.3,seed=7"));
        let faults = Config::from_lookup(lookup(&pairs)).unwrap().sandbox_faults.expect("faults on");
        assert_eq!((faults.transient, faults.seed), (0.3, 7));
        pairs[4] = ("OUTBOX_SANDBOX_FAULTS", "transient=2");
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("OUTBOX_SANDBOX_FAULTS"), "{err}");
        pairs[4] = ("OUTBOX_SANDBOX_FAULTS", "off");
        assert_eq!(Config::from_lookup(lookup(&pairs)).unwrap().sandbox_faults, None);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = Config::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert_eq!(err.to_string(), "missing environment variable OUTBOX_TABLE");
    }

    #[test]
    fn the_rate_limiter_can_be_switched_off() {
        let mut pairs = BASE.to_vec();
        pairs.push(("OUTBOX_RATE_LIMIT_PER_MINUTE", "off"));
        assert_eq!(Config::from_lookup(lookup(&pairs)).unwrap().rate_limit_per_minute, None);
        pairs.push(("OUTBOX_RATE_LIMIT_PER_MINUTE", "20"));
        assert_eq!(
            Config::from_lookup(lookup(&pairs[..4].iter().chain(&pairs[5..]).copied().collect::<Vec<_>>()))
                .unwrap()
                .rate_limit_per_minute,
            Some(20)
        );
    }

    #[test]
    fn a_malformed_number_is_named() {
        let mut pairs = BASE.to_vec();
        pairs.push(("OUTBOX_RETRY_BASE_SECS", "soon"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("OUTBOX_RETRY_BASE_SECS"), "{err}");
    }
}
