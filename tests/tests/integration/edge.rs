//! The API edge against moto: idempotency keys (a DynamoDB conditional write) and rate limits
//! (a DynamoDB counter shared by every instance).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use outbox_tests::outbox::domain::ids::OrgId;
use outbox_tests::outbox::domain::tenant::NewApiKey;
use outbox_tests::outbox::ports::TenantStore;
use outbox_tests::outbox::ports::{Clock, SystemClock};
use outbox_tests::{Consumers, Stack, StackOptions, json_of};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn keyed_send(stack: &Stack, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let response = stack
        .http
        .post(format!("{}/v1/message/send", stack.base_url))
        .bearer_auth("local-dev-key")
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("send");
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let (code, answer) = json_of(response).await;
    (code, answer, replayed)
}

/// Every job on the queue right now (bounded: stops after two empty receives).
async fn drain_jobs(stack: &Stack) -> Vec<String> {
    let source = stack.jobs_source();
    let arn = source.queue_arn().await;
    let (mut bodies, mut empty) = (vec![], 0);
    while empty < 2 {
        let event = source.receive(&arn).await.expect("receive");
        if event.records.is_empty() {
            empty += 1;
        }
        bodies.extend(event.records.into_iter().filter_map(|r| r.body));
    }
    bodies
}

fn no_consumers() -> StackOptions {
    StackOptions { consumers: Consumers::None, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_and_body_answer_the_first_response_and_enqueue_once() {
    let stack = Stack::start_with(no_consumers()).await;
    let body = json!({"chat_id": "919537851844", "message": "exactly once"});
    let (code, first, replayed) = keyed_send(&stack, "order-1001", &body).await;
    assert_eq!((code, replayed), (StatusCode::OK, false), "{first}");
    let (code, second, replayed) = keyed_send(&stack, "order-1001", &body).await;
    assert_eq!((code, replayed), (StatusCode::OK, true));
    assert_eq!(second, first);
    let jobs = drain_jobs(&stack).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].contains(first["queue_id"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_a_different_body_is_409() {
    let stack = Stack::start_with(no_consumers()).await;
    keyed_send(&stack, "order-1002", &json!({"chat_id": "919537851844", "message": "a"})).await;
    let (code, answer, _) = keyed_send(&stack, "order-1002", &json!({"chat_id": "919537851844", "message": "b"})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "idempotency_key_reused");
    assert_eq!(drain_jobs(&stack).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_scoped_to_the_org() {
    let stack = Stack::start_with(no_consumers()).await;
    let (_, other_key, _) = stack.add_org("15559990001").await;
    let body = json!({"chat_id": "919537851844", "message": "same key, two orgs"});
    let (_, mine, _) = keyed_send(&stack, "shared-key", &body).await;
    let response = stack
        .http
        .post(format!("{}/v1/message/send", stack.base_url))
        .bearer_auth(&other_key)
        .header("Idempotency-Key", "shared-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (code, theirs) = json_of(response).await;
    assert_eq!(code, StatusCode::OK);
    assert_ne!(mine["queue_id"], theirs["queue_id"]);
    assert_eq!(drain_jobs(&stack).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_requests_with_one_key_make_exactly_one_job() {
    let stack = Stack::start_with(no_consumers()).await;
    let body = json!({"chat_id": "919537851844", "message": "raced"});
    let answers = join_all((0..20).map(|_| keyed_send(&stack, "order-race", &body))).await;
    let distinct: HashSet<String> = answers.iter().map(|(_, answer, _)| answer.to_string()).collect();
    assert!(answers.iter().all(|(code, _, _)| *code == StatusCode::OK), "{answers:?}");
    assert_eq!(distinct.len(), 1, "answers differ: {distinct:?}");
    assert_eq!(answers.iter().filter(|(_, _, replayed)| !replayed).count(), 1);
    assert_eq!(drain_jobs(&stack).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_counts_down_in_headers_then_answers_429() {
    let stack = Stack::start_with(no_consumers()).await;
    let key = NewApiKey::generate(OrgId::from("org-local"), Some(3), SystemClock.now());
    stack.store().put_api_key(&key.hash, &key.record).await.unwrap();
    // Start well inside a one-minute window, so all four requests count against the same one.
    let second = chrono::Utc::now().timestamp() % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let mut remaining = vec![];
    let mut last = None;
    for _ in 0..4 {
        let response = stack
            .http
            .get(format!("{}/v1/message/3EB0000000000000000000/status", stack.base_url))
            .bearer_auth(key.secret.expose_secret())
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        assert_eq!(headers["x-ratelimit-limit"], "3");
        let reset: i64 = headers["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > chrono::Utc::now().timestamp() - 1 && reset % 60 == 0);
        remaining.push(headers["x-ratelimit-remaining"].to_str().unwrap().to_string());
        last = Some((response.status(), headers.get("retry-after").cloned(), json_of(response).await.1));
    }
    assert_eq!(remaining, ["2", "1", "0", "0"]);
    let (code, retry_after, body) = last.unwrap();
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = retry_after.expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(body["code"], "rate_limited");
    // Another key of the same org has its own budget.
    let (code, _) = stack.status("3EB0000000000000000000").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
