//! The load: N sends across many chats with bounded concurrency, paced by the jobs queue's depth,
//! a few of them retried with the same `Idempotency-Key` (concurrently and after the answer),
//! every answer kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use outbox::adapters::aws::AwsClients;
use outbox::local::LOCAL_API_KEY;
use outbox::providers::sandbox::{ALWAYS_TRANSIENT, PERMANENT, TRANSIENT_TWICE};
use outbox_bench::records::jobs_in;

/// One send to make.
#[derive(Clone, Debug)]
pub struct Planned {
    pub index: usize,
    pub chat_id: String,
    pub idempotency_key: Option<String>,
}

#[derive(Default, Debug)]
pub struct LoadReport {
    /// The queue_ids of the accepted sends.
    pub accepted: Vec<String>,
    /// Extra sends with an Idempotency-Key already used, and how many answered the first queue_id.
    pub duplicate_sends: usize,
    pub duplicate_same_answer: usize,
    /// 503/429/409-in-use answers that were retried.
    pub retried: usize,
    /// Non-keyed sends whose connection failed: accepted or not, nobody knows.
    pub unknown: usize,
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

/// `count` sends over a pool of chats drawn from `rng`; every 100th goes to one of the contract's
/// special numbers, every 50th carries an Idempotency-Key and is sent again twice.
pub fn plan(count: usize, rng: &mut fastrand::Rng, tag: &str) -> Vec<Planned> {
    let pool: Vec<String> = (0..(count / 4).max(50)).map(|_| format!("91{:010}", rng.u64(0..10_000_000_000))).collect();
    let specials = [ALWAYS_TRANSIENT, PERMANENT, TRANSIENT_TWICE];
    (0..count)
        .map(|index| Planned {
            index,
            chat_id: if index % 100 == 42 {
                specials[(index / 100) % specials.len()].to_string()
            } else {
                pool[rng.usize(0..pool.len())].clone()
            },
            idempotency_key: (index % 50 == 7).then(|| format!("soak-{tag}-{index}-{}", rng.u64(..))),
        })
        .collect()
}

/// Plain messages only (no special numbers, no keys): the outage phase's load.
pub fn plan_plain(count: usize, rng: &mut fastrand::Rng) -> Vec<Planned> {
    (0..count)
        .map(|index| Planned { index, chat_id: format!("92{:010}", rng.u64(0..10_000_000_000)), idempotency_key: None })
        .collect()
}

/// Holds sends back while the jobs queue is deep: the emulator's queue work grows with its depth,
/// so an unpaced 10,000-message run would measure moto, not Outbox. Stops polling when dropped.
pub struct Pace {
    /// Jobs in the queue, as last polled.
    depth: Arc<AtomicU64>,
    limit: u64,
    poller: JoinHandle<()>,
}

/// A send waits at most this long for the backlog to shrink, then goes anyway.
const PACE_WAIT: Duration = Duration::from_secs(120);

impl Pace {
    /// Starts polling the depth of `queue_url`; sends wait while it is `limit` or more.
    pub fn start(aws: &AwsClients, queue_url: &str, limit: u64) -> Pace {
        let depth = Arc::new(AtomicU64::new(0));
        let poller = tokio::spawn(poll_depth(aws.clone(), queue_url.to_string(), depth.clone()));
        Pace { depth, limit, poller }
    }

    async fn wait(&self) {
        let deadline = Instant::now() + PACE_WAIT;
        while self.depth.load(Ordering::Relaxed) >= self.limit && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Keeps `depth` at the jobs queue's depth, polled twice a second.
async fn poll_depth(aws: AwsClients, queue_url: String, depth: Arc<AtomicU64>) {
    loop {
        if let Ok(jobs) = jobs_in(&aws, &queue_url).await {
            depth.store(jobs, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sends everything in `plan`, at most `concurrency` at a time, paced by `pace`.
pub async fn send_all(
    http: &reqwest::Client,
    base: &str,
    plan: Vec<Planned>,
    concurrency: usize,
    pace: &Pace,
) -> LoadReport {
    let started = Instant::now();
    let results: Vec<SendResult> = futures_util::stream::iter(plan)
        .map(|planned| async move {
            pace.wait().await;
            send_planned(http, base, planned).await
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut report = LoadReport::default();
    for result in results {
        report.retried += result.retried;
        report.duplicate_sends += result.duplicate_sends;
        report.duplicate_same_answer += result.duplicate_same_answer;
        report.violations.extend(result.violations);
        match result.outcome {
            Outcome::Accepted(accepted) => report.accepted.push(accepted),
            Outcome::Unknown => report.unknown += 1,
            Outcome::Refused => {}
        }
    }
    report.elapsed = started.elapsed();
    report
}

enum Outcome {
    Accepted(String),
    Unknown,
    Refused,
}

struct SendResult {
    outcome: Outcome,
    retried: usize,
    duplicate_sends: usize,
    duplicate_same_answer: usize,
    violations: Vec<String>,
}

async fn send_planned(http: &reqwest::Client, base: &str, planned: Planned) -> SendResult {
    let body = json!({"chat_id": planned.chat_id, "message": format!("soak message {}", planned.index)});
    let key = planned.idempotency_key.as_deref();
    let mut result = SendResult {
        outcome: Outcome::Refused,
        retried: 0,
        duplicate_sends: 0,
        duplicate_same_answer: 0,
        violations: vec![],
    };
    // A keyed send races a duplicate of itself, then is repeated once it has its answer.
    let (first, racing) = match key {
        Some(_) => {
            let (a, b) = tokio::join!(send_one(http, base, &body, key), send_one(http, base, &body, key));
            (a, Some(b))
        }
        None => (send_one(http, base, &body, key).await, None),
    };
    result.retried += first.retried;
    let queue_id = match first.answer {
        Answer::Queued(queue_id) => queue_id,
        Answer::Unknown => {
            result.outcome = Outcome::Unknown;
            return result;
        }
        Answer::Refused(why) => {
            result.violations.push(format!("send {} ({}) was refused: {why}", planned.index, planned.chat_id));
            return result;
        }
    };
    if key.is_some() {
        let again = send_one(http, base, &body, key).await;
        for duplicate in racing.into_iter().chain([again]) {
            result.retried += duplicate.retried;
            result.duplicate_sends += 1;
            match duplicate.answer {
                Answer::Queued(other) if other == queue_id => result.duplicate_same_answer += 1,
                other => result.violations.push(format!(
                    "a retry of send {} with the same Idempotency-Key answered {other:?}, not queue_id {queue_id}",
                    planned.index
                )),
            }
        }
    }
    result.outcome = Outcome::Accepted(queue_id);
    result
}

#[derive(Debug)]
enum Answer {
    Queued(String),
    Unknown,
    Refused(String),
}

struct OneSend {
    answer: Answer,
    retried: usize,
}

/// Tries a send until it is answered: 503, 429 and a 409 for a key still in use are retried
/// (nothing was accepted), a lost connection only when the Idempotency-Key makes that safe.
async fn send_one(http: &reqwest::Client, base: &str, body: &Value, key: Option<&str>) -> OneSend {
    const TRIES: usize = 10;
    let mut retried = 0;
    for _ in 0..TRIES {
        let mut request = http.post(format!("{base}/v1/message/send")).bearer_auth(LOCAL_API_KEY).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(_) if key.is_some() => {
                retried += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(_) => return OneSend { answer: Answer::Unknown, retried },
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = json["code"].as_str().unwrap_or_default();
        match status {
            StatusCode::OK => {
                let answer = match json["queue_id"].as_str() {
                    Some(queue_id) => Answer::Queued(queue_id.to_string()),
                    None => Answer::Refused(format!("200 without a queue_id: {text}")),
                };
                return OneSend { answer, retried };
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {}
            StatusCode::CONFLICT if code == "idempotency_key_in_use" => {}
            _ => return OneSend { answer: Answer::Refused(format!("{status}: {text}")), retried },
        }
        retried += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    OneSend { answer: Answer::Refused(format!("not accepted after {TRIES} tries")), retried }
}
