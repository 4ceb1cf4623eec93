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

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_refusing_an_item_or_key_as_too_large_is_rejected_not_unavailable() {
    use outbox_tests::outbox::domain::ids::{QueueId, UniqueId};
    use outbox_tests::outbox::local::LOCAL_ORG;
    use outbox_tests::outbox::ports::{StatusStore, StoreError};

    let stack = Stack::start_with(no_consumers()).await;
    let (code, sent) = stack.send(json!({"chat_id": "919537851844", "message": "a template"})).await;
    assert_eq!(code, StatusCode::OK, "{sent}");
    let store = stack.store();
    let queue_id = QueueId::from(sent["queue_id"].as_str().expect("a queue_id"));
    let record = store.get(&OrgId::from(LOCAL_ORG), &queue_id).await.unwrap().expect("the record");
    // An item over 400 KB, and a partition key over 2 KB: DynamoDB's ValidationExceptions.
    let mut too_big = record.clone();
    (too_big.queue_id, too_big.text) = (QueueId::of(&UniqueId::generate()), Some("x".repeat(450 * 1024)));
    let mut long_key = record;
    long_key.queue_id = QueueId::from("q".repeat(3000));
    for record in [too_big, long_key] {
        let err = store.create(&record).await.expect_err("refused");
        assert!(matches!(err, StoreError::Rejected { .. }), "{err:?}");
    }
}

/// Writes a whole request (headers, then `body_len` bytes), then reads the whole answer, as
/// Python's `requests` does: an answer sent while the body was still going out must not break
/// the write.
async fn write_all_then_read(base_url: &str, head: &str, body_len: usize) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    socket.write_all(head.as_bytes()).await?;
    let chunk = vec![b' '; 64 * 1024];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(chunk.len());
        socket.write_all(&chunk[..n]).await?;
        left -= n;
    }
    let mut answer = vec![];
    socket.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_read_to_its_end_and_answered_413_like_api_gateway() {
    let stack = Stack::start_with(no_consumers()).await;
    let size = 8 * 1024 * 1024;
    let declared = format!(
        "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer local-dev-key\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let chunked_head = "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer local-dev-key\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let answer = tokio::time::timeout(Duration::from_secs(60), write_all_then_read(&stack.base_url, &declared, size))
        .await
        .expect("answered in time")
        .expect("the whole body was taken, then the answer read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{}", &answer[..answer.len().min(300)]);
    assert!(answer.contains("body_too_large"), "{answer}");

    // Chunked, with no length declared: the route stops at its limit, the rest is still read.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = stack.base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket.write_all(chunked_head.as_bytes()).await.expect("head");
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
    for _ in 0..(size / (64 * 1024)) {
        socket.write_all(chunk.as_bytes()).await.expect("the body is taken while the route answers");
    }
    socket.write_all(b"0\r\n\r\n").await.expect("the last chunk");
    let mut answer = vec![];
    socket.read_to_end(&mut answer).await.expect("the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{}", &answer[..answer.len().min(300)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_claim_without_an_answer_expires_with_its_lease_on_dynamodb() {
    use outbox_tests::outbox::ports::{Claim, IdempotencyStore};

    let stack = Stack::start_with(no_consumers()).await;
    let (store, org) = (stack.store(), OrgId::from("org-lease"));
    let (now, lease, day) = (SystemClock.now().epoch_secs(), 29, 86_400);
    assert_eq!(store.claim(&org, "k", "f", now, now + lease, now + day).await.unwrap(), Claim::Claimed);
    // Within the lease: held, for the same request and any other.
    let held = store.claim(&org, "k", "f", now + lease, now + 2 * lease, now + day).await.unwrap();
    assert!(matches!(held, Claim::Existing(ref r) if r.lease_until == Some(now + lease) && r.response.is_none()));
    // Past it: another request still conflicts, the same one takes the claim over.
    let later = now + lease + 1;
    assert!(matches!(store.claim(&org, "k", "g", later, later + lease, now + day).await.unwrap(), Claim::Existing(_)));
    assert_eq!(store.claim(&org, "k", "f", later, later + lease, now + day).await.unwrap(), Claim::Claimed);
    // An answered key is never taken over, whatever its lease.
    store.complete(&org, "k", "{}", now + day).await.unwrap();
    let much_later = later + 10 * lease;
    let answered = store.claim(&org, "k", "f", much_later, much_later + lease, now + day).await.unwrap();
    assert!(matches!(answered, Claim::Existing(ref r) if r.response.as_deref() == Some("{}")));
}
