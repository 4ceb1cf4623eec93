//! The sandbox provider: delivers nowhere, and fails on purpose for a few recipients (see contract.md);
//! in its chaos mode, also at random for everyone else.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tracing::warn;

use super::{DeliveryError, Provider, Receipt};
use crate::domain::message::MessageRecord;

/// Every attempt fails transiently.
pub const ALWAYS_TRANSIENT: &str = "15550000001";
/// The first attempt fails permanently.
pub const PERMANENT: &str = "15550000002";
/// Attempts 1 and 2 fail transiently, attempt 3 succeeds.
pub const TRANSIENT_TWICE: &str = "15550000003";

pub struct Sandbox;

#[async_trait]
impl Provider for Sandbox {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        match message.chat_id.digits() {
            Some(ALWAYS_TRANSIENT) => Err(DeliveryError::Transient(format!(
                "sandbox: recipient {ALWAYS_TRANSIENT} is always temporarily unavailable (attempt {attempt})"
            ))),
            Some(PERMANENT) => {
                Err(DeliveryError::Permanent(format!("sandbox: recipient {PERMANENT} does not exist on WhatsApp")))
            }
            Some(TRANSIENT_TWICE) if attempt < 3 => Err(DeliveryError::Transient(format!(
                "sandbox: recipient {TRANSIENT_TWICE} is temporarily unavailable until attempt 3 (attempt {attempt})"
            ))),
            _ => Ok(Receipt { provider_message_id: format!("sandbox.{}", uuid::Uuid::new_v4().simple()) }),
        }
    }
}

/// The sandbox's chaos mode (`OUTBOX_SANDBOX_FAULTS`, off unless set), for soak runs: injected
/// errors and latency for every recipient but the contract's special numbers above, decided by a
/// hash of (seed, queue_id, attempt) so that a restarted consumer makes the same decisions.
///
/// Written as `transient=0.30,permanent=0.05,latency_ms=0-200,seed=42[,outage_file=PATH][,call_log=PATH]`;
/// every key is optional. While `outage_file` exists, every such delivery fails transiently (a
/// provider outage switched from outside). `call_log` gets one `queue_id attempt outcome` line per
/// provider call, appended before the call returns, so it survives a SIGKILL of the consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub transient: f64,
    pub permanent: f64,
    /// Inclusive range of the injected latency, in milliseconds.
    pub latency_ms: (u64, u64),
    pub seed: u64,
    pub outage_file: Option<PathBuf>,
    pub call_log: Option<PathBuf>,
}

/// Injected latency is capped well below any delivery lease.
const MAX_INJECTED_LATENCY_MS: u64 = 10_000;

impl FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Faults, String> {
        let mut faults =
            Faults { transient: 0.0, permanent: 0.0, latency_ms: (0, 0), seed: 0, outage_file: None, call_log: None };
        for pair in spec.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
            let (name, value) = (name.trim(), value.trim());
            let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{name}: {v:?} is not a whole number"));
            match name {
                "transient" | "permanent" => {
                    let p: f64 = value.parse().map_err(|_| format!("{name}: {value:?} is not a number"))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!("{name}: {value} is not a probability between 0 and 1"));
                    }
                    if name == "transient" { faults.transient = p } else { faults.permanent = p }
                }
                "latency_ms" => {
                    let (low, high) = value.split_once('-').unwrap_or((value, value));
                    faults.latency_ms = (number(low)?, number(high)?);
                }
                "seed" => faults.seed = number(value)?,
                "outage_file" => faults.outage_file = Some(PathBuf::from(value)),
                "call_log" => faults.call_log = Some(PathBuf::from(value)),
                _ => {
                    return Err(format!(
                        "unknown setting {name:?} (known: transient, permanent, latency_ms, seed, outage_file, call_log)"
                    ));
                }
            }
        }
        if faults.transient + faults.permanent > 1.0 {
            return Err("transient + permanent is more than 1".into());
        }
        let (low, high) = faults.latency_ms;
        if low > high || high > MAX_INJECTED_LATENCY_MS {
            return Err(format!("latency_ms: {low}-{high} is not a range within 0-{MAX_INJECTED_LATENCY_MS}"));
        }
        Ok(faults)
    }
}

impl Faults {
    /// A number in [0, 1) that depends only on the seed, the job, the attempt and `salt`.
    fn roll(&self, queue_id: &str, attempt: u32, salt: u8) -> f64 {
        // FNV-1a over the inputs, then SplitMix64's finaliser: stable across builds and platforms.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let bytes =
            self.seed.to_le_bytes().into_iter().chain(queue_id.bytes()).chain(attempt.to_le_bytes()).chain([salt]);
        for byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^= hash >> 31;
        (hash >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What this attempt does: its latency, and the error to fail with, if any.
    fn decide(&self, queue_id: &str, attempt: u32) -> (Duration, Option<DeliveryError>) {
        let (low, high) = self.latency_ms;
        let latency = low + ((high - low + 1) as f64 * self.roll(queue_id, attempt, 1)) as u64;
        let roll = self.roll(queue_id, attempt, 0);
        let seed = self.seed;
        let error = if self.outage_file.as_deref().is_some_and(Path::exists) {
            Some(DeliveryError::Transient("sandbox: simulated provider outage (the outage file exists)".into()))
        } else if roll < self.permanent {
            Some(DeliveryError::Permanent(format!(
                "sandbox: injected permanent error (seed {seed}, attempt {attempt})"
            )))
        } else if roll < self.permanent + self.transient {
            Some(DeliveryError::Transient(format!(
                "sandbox: injected transient error (seed {seed}, attempt {attempt})"
            )))
        } else {
            None
        };
        (Duration::from_millis(latency.min(high)), error)
    }
}

/// The sandbox with `Faults` applied, and its calls logged when `call_log` is set.
pub struct FaultySandbox {
    faults: Faults,
    call_log: Option<Mutex<File>>,
}

impl FaultySandbox {
    /// Opens (appends to) the call log, if one is configured.
    pub fn new(faults: Faults) -> std::io::Result<FaultySandbox> {
        let call_log = match &faults.call_log {
            Some(path) => Some(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?)),
            None => None,
        };
        Ok(FaultySandbox { faults, call_log })
    }

    fn log_call(&self, queue_id: &str, attempt: u32, result: &Result<Receipt, DeliveryError>) {
        let Some(log) = &self.call_log else { return };
        let outcome = match result {
            Ok(_) => "sent",
            Err(DeliveryError::Transient(_)) => "transient",
            Err(DeliveryError::Permanent(_)) => "permanent",
            Err(DeliveryError::SlowDown { .. }) => "slow_down",
        };
        // One write of one line on an O_APPEND file: whole lines, even across processes.
        let line = format!("{queue_id} {attempt} {outcome}\n");
        let mut file = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(err) = file.write_all(line.as_bytes()) {
            warn!(%queue_id, attempt, error = %crate::telemetry::chain(&err), "sandbox: could not append to the call log");
        }
    }
}

#[async_trait]
impl Provider for FaultySandbox {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        let special = matches!(message.chat_id.digits(), Some(ALWAYS_TRANSIENT | PERMANENT | TRANSIENT_TWICE));
        let result = if special {
            Sandbox.deliver(message, attempt).await
        } else {
            let (latency, error) = self.faults.decide(message.queue_id.as_str(), attempt);
            tokio::time::sleep(latency).await;
            match error {
                Some(error) => Err(error),
                None => Sandbox.deliver(message, attempt).await,
            }
        };
        self.log_call(message.queue_id.as_str(), attempt, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_spec_parses_with_defaults_and_names_what_is_wrong() {
        let faults: Faults =
            "transient=0.30, permanent=0.05,latency_ms=0-200,seed=42,call_log=/tmp/calls".parse().unwrap();
        assert_eq!((faults.transient, faults.permanent, faults.latency_ms, faults.seed), (0.30, 0.05, (0, 200), 42));
        assert_eq!(faults.call_log, Some(PathBuf::from("/tmp/calls")));
        assert_eq!("latency_ms=200".parse::<Faults>().unwrap().latency_ms, (200, 200));
        assert_eq!("".parse::<Faults>().unwrap().transient, 0.0);
        for (spec, named) in [
            ("transient=1.5", "transient"),
            ("transient=0.6,permanent=0.6", "more than 1"),
            ("latency_ms=200-100", "latency_ms"),
            ("seed=-1", "seed"),
            ("chaos=1", "unknown setting"),
            ("transient", "name=value"),
        ] {
            let err = spec.parse::<Faults>().unwrap_err();
            assert!(err.contains(named), "{spec}: {err}");
        }
    }

    #[test]
    fn decisions_depend_only_on_seed_job_and_attempt_and_follow_the_rates() {
        let faults: Faults = "transient=0.30,permanent=0.05,latency_ms=0-200,seed=42".parse().unwrap();
        let (mut transient, mut permanent) = (0, 0);
        for i in 0..10_000 {
            let queue_id = format!("q-{i}");
            let (latency, error) = faults.decide(&queue_id, 1);
            assert_eq!(faults.decide(&queue_id, 1), (latency, error.clone()), "deterministic");
            assert!(latency <= Duration::from_millis(200));
            match error {
                Some(DeliveryError::Transient(_)) => transient += 1,
                Some(DeliveryError::Permanent(_)) => permanent += 1,
                Some(other) => panic!("the faults decide only transient or permanent errors, not {other:?}"),
                None => {}
            }
        }
        assert!((2_700..3_300).contains(&transient), "{transient}");
        assert!((350..650).contains(&permanent), "{permanent}");
        let other: Faults = "transient=0.30,permanent=0.05,latency_ms=0-200,seed=43".parse().unwrap();
        let differs = (0..100).filter(|i| other.decide(&format!("q-{i}"), 1) != faults.decide(&format!("q-{i}"), 1));
        assert!(differs.count() > 50, "another seed decides differently");
    }

    #[tokio::test]
    async fn special_numbers_keep_their_behaviour_an_outage_fails_the_rest_and_calls_are_logged() {
        let dir = std::env::temp_dir().join(format!("outbox-sandbox-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (outage, log) = (dir.join("outage"), dir.join("calls"));
        let spec = format!("transient=1,seed=1,outage_file={},call_log={}", outage.display(), log.display());
        let sandbox = FaultySandbox::new(spec.parse().unwrap()).unwrap();
        let record = |chat: &str| -> MessageRecord {
            serde_json::from_value(serde_json::json!({
                "org_id": "o", "queue_id": format!("q-{chat}"), "unique_id": "u", "phone_id": "p",
                "provider": "sandbox", "chat_id": format!("{chat}@c.us"), "status": "sending",
                "timeline": {"queued_at": "2026-01-01T00:00:00.000Z"}, "expires_at": 0
            }))
            .unwrap()
        };
        assert!(matches!(sandbox.deliver(&record("15550000002"), 1).await, Err(DeliveryError::Permanent(_))));
        assert!(sandbox.deliver(&record("15550000003"), 3).await.is_ok());
        let err = sandbox.deliver(&record("919000000001"), 1).await.unwrap_err();
        assert!(err.to_string().contains("injected transient"), "{err}");
        std::fs::write(&outage, "").unwrap();
        let quiet = FaultySandbox::new(format!("outage_file={}", outage.display()).parse().unwrap()).unwrap();
        let err = quiet.deliver(&record("919000000001"), 2).await.unwrap_err();
        assert!(err.to_string().contains("outage"), "{err}");
        std::fs::remove_file(&outage).unwrap();
        assert!(quiet.deliver(&record("919000000001"), 3).await.is_ok());
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(lines, "q-15550000002 1 permanent\nq-15550000003 3 sent\nq-919000000001 1 transient\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
