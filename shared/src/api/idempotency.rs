//! Idempotency keys (Stripe-style): the same key and the same request within 24 hours get the
//! first answer and do nothing again; the same key with a different request is a conflict.
//! The `Idempotency-Key` header, the request's fingerprint, running the work once, and the answer.

use std::future::Future;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::state::AppState;
use crate::domain::ids::OrgId;
use crate::domain::limits::IDEMPOTENCY_KEY_BYTES;
use crate::domain::validation::ValidationError;
use crate::ports::{Claim, Clock, IdempotencyStore, StoreError};
use crate::telemetry::chain;

/// How long a key's answer is kept.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a duplicate waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
const POLL_EVERY: Duration = Duration::from_millis(50);

/// A valid `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const HEADER: &'static str = "Idempotency-Key";

    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, ValidationError> {
        let valid = IDEMPOTENCY_KEY_BYTES.contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
        match std::str::from_utf8(raw) {
            Ok(text) if valid => Ok(IdempotencyKey(text.to_string())),
            _ => Err(ValidationError::bad_request(
                "invalid_idempotency_key",
                Some(Self::HEADER),
                "Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies "the same request": the route, the sending phone and the JSON body, with key
/// order and white space not counting.
pub fn fingerprint(route: &str, phone_id: &str, body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    hex::encode(Sha256::digest(format!("{route}\n{phone_id}\n{canonical}").as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new request")]
    Mismatch,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What keyed work answers: its JSON, and until when (epoch seconds) what that JSON names is
/// kept, so that a key answering with a record's id lives as long as the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkAnswer {
    pub json: String,
    pub keep_until: Option<i64>,
}

impl From<&str> for WorkAnswer {
    fn from(json: &str) -> Self {
        WorkAnswer { json: json.to_string(), keep_until: None }
    }
}

/// The answer to a keyed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `work` ran now and produced this answer.
    Fresh(String),
    /// The first request's answer, replayed.
    Replayed(String),
}

/// Runs `work` at most once per key: the winner of the claim runs it and stores its answer;
/// duplicates wait for that answer. A failed `work` releases the key so that a retry can run.
/// A claim holds for `lease` (the function's timeout): a request that died without answering
/// leaves a claim that the same request may take over once the lease has passed.
pub async fn run_once<E, F, Fut>(
    store: &dyn IdempotencyStore,
    clock: &dyn Clock,
    org: &OrgId,
    key: &IdempotencyKey,
    fingerprint: &str,
    lease: Duration,
    work: F,
) -> Result<Result<Answer, E>, IdempotencyError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<WorkAnswer, E>>,
{
    let started = tokio::time::Instant::now();
    let mut work = Some(work);
    loop {
        let now = clock.now().epoch_secs();
        let key_expires_at = now + KEY_LIFETIME.as_secs() as i64;
        let lease_until = now + lease.as_secs() as i64;
        let claim = store.claim(org, key.as_str(), fingerprint, now, lease_until, key_expires_at).await?;
        let existing = match claim {
            Claim::Claimed => {
                let Some(work) = work.take() else { return Err(IdempotencyError::InProgress) };
                return match work().await {
                    Ok(WorkAnswer { json, keep_until }) => {
                        let expires_at = keep_until.map_or(key_expires_at, |until| until.max(key_expires_at));
                        // The work is done: its answer stands even if it cannot be kept, and the
                        // key is left to its lease.
                        if let Err(err) = store.complete(org, key.as_str(), &json, expires_at).await {
                            warn!(error = %chain(&err), "the answer of a keyed request could not be stored");
                        }
                        Ok(Ok(Answer::Fresh(json)))
                    }
                    Err(err) => {
                        store.release(org, key.as_str()).await?;
                        Ok(Err(err))
                    }
                };
            }
            Claim::Existing(existing) => existing,
        };
        if existing.fingerprint != fingerprint {
            return Err(IdempotencyError::Mismatch);
        }
        if let Some(answer) = existing.response {
            return Ok(Ok(Answer::Replayed(answer)));
        }
        // The first request is still running: wait for its answer, or for its key to be released.
        loop {
            if started.elapsed() >= WAIT_FOR_FIRST {
                return Err(IdempotencyError::InProgress);
            }
            tokio::time::sleep(POLL_EVERY).await;
            match store.lookup(org, key.as_str(), clock.now().epoch_secs()).await? {
                Some(record) if record.fingerprint != fingerprint => return Err(IdempotencyError::Mismatch),
                Some(record) => {
                    if record.abandoned(clock.now().epoch_secs()) {
                        break;
                    }
                    if let Some(answer) = record.response {
                        return Ok(Ok(Answer::Replayed(answer)));
                    }
                }
                None => break,
            }
        }
    }
}

/// Runs `work` (which returns the JSON answer) and answers 200 with it; with a key, only the
/// first request with that key runs it, and the others get its answer back byte for byte.
pub async fn answer_once<E, F, Fut>(
    app: &AppState,
    org: &OrgId,
    key: Option<IdempotencyKey>,
    route: &str,
    phone_id: &str,
    body: &[u8],
    work: F,
) -> Result<Response, E>
where
    E: From<IdempotencyError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<WorkAnswer, E>>,
{
    let request = key.map(|key| (key, request_json(body)));
    answer_once_parsed(app, org, request, route, phone_id, work).await
}

/// The body as the fingerprint reads it. It was validated as JSON already; an empty one is null.
pub fn request_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// As `answer_once`, for a route that read the key's body (`request_json`) before it consumed the
/// body (decoding inline media over it).
pub async fn answer_once_parsed<E, F, Fut>(
    app: &AppState,
    org: &OrgId,
    request: Option<(IdempotencyKey, Value)>,
    route: &str,
    phone_id: &str,
    work: F,
) -> Result<Response, E>
where
    E: From<IdempotencyError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<WorkAnswer, E>>,
{
    let Some((key, value)) = request else { return Ok(json_ok(work().await?.json, false)) };
    let fingerprint = fingerprint(route, phone_id, &value);
    drop(value);
    let lease = app.api_timeout;
    match run_once(app.idempotency.as_ref(), app.clock.as_ref(), org, &key, &fingerprint, lease, work).await? {
        Ok(Answer::Fresh(answer)) => Ok(json_ok(answer, false)),
        Ok(Answer::Replayed(answer)) => Ok(json_ok(answer, true)),
        Err(err) => Err(err),
    }
}

fn json_ok(body: String, replayed: bool) -> Response {
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryIdempotency};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    const LEASE: Duration = Duration::from_secs(29);

    #[test]
    fn fingerprints_ignore_key_order_and_white_space_but_not_values() {
        let a =
            fingerprint("send", "phone-1", &serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap());
        let b = fingerprint("send", "phone-1", &json!({"a": {"x": "s", "y": [1, 2]}, "b": 1}));
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("send", "phone-1", &json!({"a": {"x": "s", "y": [2, 1]}, "b": 1})));
        assert_ne!(a, fingerprint("send", "phone-2", &json!({"a": {"x": "s", "y": [1, 2]}, "b": 1})));
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse(b"order-42").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(255).as_bytes()).is_ok());
        for bad in [&b""[..], b"has space", "é".as_bytes(), "k".repeat(256).as_bytes()] {
            assert_eq!(IdempotencyKey::parse(bad).unwrap_err().code, "invalid_idempotency_key");
        }
    }

    #[tokio::test]
    async fn the_same_key_replays_a_different_request_conflicts_and_failures_release() {
        let (store, clock) = (MemoryIdempotency::default(), ManualClock::starting_now());
        let org = OrgId::from("org-1");
        let key = IdempotencyKey::parse(b"k1").unwrap();
        let runs = AtomicU32::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(WorkAnswer::from("answer"))
        };
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f1", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("answer".into()))
        );
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f1", LEASE, work).await.unwrap(),
            Ok(Answer::Replayed("answer".into()))
        );
        assert!(matches!(
            run_once(&store, &clock, &org, &key, "f2", LEASE, work).await,
            Err(IdempotencyError::Mismatch)
        ));
        // Another org's identical key is its own.
        let other = OrgId::from("org-2");
        assert_eq!(
            run_once(&store, &clock, &other, &key, "f2", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("answer".into()))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        let failing = IdempotencyKey::parse(b"k2").unwrap();
        let fail = || async { Err::<WorkAnswer, _>("down") };
        assert_eq!(run_once(&store, &clock, &org, &failing, "f1", LEASE, fail).await.unwrap(), Err("down"));
        assert_eq!(
            run_once(&store, &clock, &org, &failing, "f1", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("answer".into()))
        );
    }

    #[tokio::test]
    async fn concurrent_duplicates_run_the_work_once_and_all_get_its_answer() {
        let store = Arc::new(MemoryIdempotency::default());
        let runs = Arc::new(AtomicU32::new(0));
        let mut tasks = vec![];
        for _ in 0..20 {
            let (store, runs) = (store.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                let org = OrgId::from("org-1");
                let key = IdempotencyKey::parse(b"same").unwrap();
                let clock = ManualClock::starting_now();
                let work = || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, ()>(WorkAnswer::from("the answer"))
                };
                match run_once(store.as_ref(), &clock, &org, &key, "f", LEASE, work).await.unwrap().unwrap() {
                    Answer::Fresh(a) | Answer::Replayed(a) => a,
                }
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), "the answer");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_key_is_free_again_once_its_lifetime_has_passed() {
        let (store, clock) = (MemoryIdempotency::default(), ManualClock::starting_now());
        let (org, key) = (OrgId::from("org-1"), IdempotencyKey::parse(b"k").unwrap());
        let work = |answer: &'static str| move || async move { Ok::<_, ()>(WorkAnswer::from(answer)) };
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f1", LEASE, work("first")).await.unwrap(),
            Ok(Answer::Fresh("first".into()))
        );
        clock.advance(KEY_LIFETIME);
        assert!(matches!(
            run_once(&store, &clock, &org, &key, "f2", LEASE, work("x")).await,
            Err(IdempotencyError::Mismatch)
        ));
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f2", LEASE, work("second")).await.unwrap(),
            Ok(Answer::Fresh("second".into()))
        );
    }

    #[tokio::test]
    async fn an_answer_naming_a_record_lives_as_long_as_the_record() {
        let (store, clock) = (MemoryIdempotency::default(), ManualClock::starting_now());
        let (org, key) = (OrgId::from("org-1"), IdempotencyKey::parse(b"k").unwrap());
        // A message scheduled 20 days ahead: its record is kept until then plus retention.
        let keep_until = clock.now().plus(Duration::from_secs(21 * 86_400)).epoch_secs();
        let scheduled =
            || async move { Ok::<_, ()>(WorkAnswer { json: "scheduled".into(), keep_until: Some(keep_until) }) };
        run_once(&store, &clock, &org, &key, "f", LEASE, scheduled).await.unwrap().unwrap();
        clock.advance(Duration::from_secs(20 * 86_400));
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f", LEASE, scheduled).await.unwrap(),
            Ok(Answer::Replayed("scheduled".into()))
        );
        clock.advance(Duration::from_secs(86_400 + 1));
        assert!(matches!(
            run_once(&store, &clock, &org, &key, "f", LEASE, scheduled).await.unwrap(),
            Ok(Answer::Fresh(_))
        ));
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_by_the_same_request_once_its_lease_has_passed() {
        let (store, clock) = (MemoryIdempotency::default(), ManualClock::starting_now());
        let (org, key) = (OrgId::from("org-1"), IdempotencyKey::parse(b"k").unwrap());
        // A request claimed the key and died before answering.
        let now = clock.now().epoch_secs();
        let expires = now + KEY_LIFETIME.as_secs() as i64;
        assert_eq!(store.claim(&org, "k", "f", now, now + 29, expires).await.unwrap(), Claim::Claimed);
        // Within the lease the claim holds.
        assert!(matches!(store.claim(&org, "k", "f", now + 29, now + 58, expires).await, Ok(Claim::Existing(_))));
        clock.advance(LEASE + Duration::from_secs(1));
        // Another request with the key still conflicts; the same request takes the claim over.
        let work = || async { Ok::<_, ()>(WorkAnswer::from("retried")) };
        assert!(matches!(
            run_once(&store, &clock, &org, &key, "other", LEASE, work).await,
            Err(IdempotencyError::Mismatch)
        ));
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("retried".into()))
        );
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f", LEASE, work).await.unwrap(),
            Ok(Answer::Replayed("retried".into()))
        );
    }

    #[tokio::test]
    async fn a_duplicate_waiting_on_a_claim_takes_it_over_when_its_lease_passes() {
        let (store, clock) = (Arc::new(MemoryIdempotency::default()), Arc::new(ManualClock::starting_now()));
        let org = OrgId::from("org-1");
        let now = clock.now().epoch_secs();
        store.claim(&org, "k", "f", now, now + 29, now + 86_400).await.unwrap();
        let waiter = {
            let (store, clock, org) = (store.clone(), clock.clone(), org.clone());
            tokio::spawn(async move {
                let key = IdempotencyKey::parse(b"k").unwrap();
                let work = || async { Ok::<_, ()>(WorkAnswer::from("taken over")) };
                run_once(store.as_ref(), clock.as_ref(), &org, &key, "f", LEASE, work).await
            })
        };
        tokio::time::sleep(POLL_EVERY * 3).await;
        assert!(!waiter.is_finished(), "the claim's lease still holds");
        clock.advance(LEASE + Duration::from_secs(1));
        assert_eq!(waiter.await.unwrap().unwrap(), Ok(Answer::Fresh("taken over".into())));
    }

    #[tokio::test]
    async fn a_failed_completion_still_answers_the_work_and_leaves_the_key_to_its_lease() {
        let (store, clock) = (MemoryIdempotency::default(), ManualClock::starting_now());
        let (org, key) = (OrgId::from("org-1"), IdempotencyKey::parse(b"k").unwrap());
        store.fail_complete.store(true, Ordering::Relaxed);
        let runs = AtomicU32::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(WorkAnswer::from("queued"))
        };
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("queued".into()))
        );
        let now = clock.now().epoch_secs();
        let record = store.lookup(&org, "k", now).await.unwrap().expect("the claim stays");
        assert_eq!((record.response, record.lease_until), (None, Some(now + LEASE.as_secs() as i64)));
        store.fail_complete.store(false, Ordering::Relaxed);
        clock.advance(LEASE + Duration::from_secs(1));
        assert_eq!(
            run_once(&store, &clock, &org, &key, "f", LEASE, work).await.unwrap(),
            Ok(Answer::Fresh("queued".into()))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2, "at least once: the lease, not the key's day, bounds the wait");
    }
}
