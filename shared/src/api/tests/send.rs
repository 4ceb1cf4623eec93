//! `POST /v1/message/send`: what a send answers, stores and queues; `x-phone`; media.

use axum::http::HeaderValue;
use base64::Engine as _;

use super::*;
use crate::domain::job::Job;
use crate::domain::message::Status;

#[tokio::test]
async fn a_text_send_answers_queued_with_exactly_the_contracts_fields() {
    let app = Harness::new().await;
    let reply = app.send(text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["status", "queue_id", "queue_position", "unique_id", "track_by", "hint"]));
    assert_eq!(body["status"], "queued");
    let queue_id = body["queue_id"].as_str().expect("a string queue_id");
    assert!(uuid::Uuid::parse_str(queue_id).is_ok(), "{queue_id}");
    assert!(body["queue_position"].is_u64(), "{body}");
    let unique_id = body["unique_id"].as_str().expect("a string unique_id");
    assert!(!unique_id.is_empty() && unique_id != queue_id);
    assert_eq!(keys(&body["track_by"]), BTreeSet::from(["unique_id", "queue_id"]));
    assert_eq!(body["track_by"]["unique_id"], format!("GET /message/{unique_id}/status"));
    assert_eq!(body["track_by"]["queue_id"], format!("GET /queue/jobs?queue_id={queue_id}"));
    assert!(body["hint"].as_str().is_some_and(|hint| hint.contains(unique_id)), "{body}");
}

#[tokio::test]
async fn a_text_send_enqueues_one_small_job_without_the_text() {
    let app = Harness::new().await;
    let text = "a secret text that must stay out of the queue";
    let body = app.send(json!({"chat_id": "15550000010", "message": text})).await.json();
    let jobs = app.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].len() < 200, "{}", jobs[0]);
    assert!(!jobs[0].contains(text) && !jobs[0].contains("15550000010"), "{}", jobs[0]);
    let job = Job::decode(&jobs[0]).expect("a decodable job");
    assert_eq!(
        (job.org_id, job.queue_id.as_str(), job.phone_id.as_str(), job.due_at),
        (app.org.clone(), body["queue_id"].as_str().unwrap(), PHONE_ID, None)
    );
}

#[tokio::test]
async fn a_text_send_stores_a_queued_record() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    assert_eq!(record.status, Status::Queued);
    assert_eq!((record.attempts, record.attempt_log.len()), (0, 0));
    assert_eq!(record.chat_id.as_str(), "15550000010@c.us");
    assert_eq!(record.text.as_deref(), Some("Hello from the handler tests"));
    assert_eq!(record.phone_id, PHONE_ID);
    assert_eq!(record.timeline.queued_at, app.now());
}

#[tokio::test]
async fn queue_position_counts_the_jobs_ahead() {
    let app = Harness::new().await;
    let first = app.send(text_to("15550000010")).await.json();
    let second = app.send(text_to("15550000011")).await.json();
    assert_eq!((first["queue_position"].as_u64(), second["queue_position"].as_u64()), (Some(0), Some(1)));
}

// --- x-phone ---

#[tokio::test]
async fn x_phone_selects_the_sending_phone_by_number() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send_from("15550100001", text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let record =
        app.record(&app.org, &QueueId::from(reply.json()["queue_id"].as_str().unwrap())).await.expect("record");
    assert_eq!(record.phone_id, "phone-a2");
}

#[tokio::test]
async fn x_phone_selects_the_sending_phone_by_phone_id() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send_from("phone-a2", text_to("15550000010")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let job = Job::decode(&app.jobs()[0]).expect("job");
    assert_eq!(job.phone_id, "phone-a2");
}

#[tokio::test]
async fn an_x_phone_longer_than_any_id_is_not_found_and_not_echoed() {
    let app = Harness::new().await;
    let long = "9".repeat(4000);
    let reply = app.send_from(&long, text_to("15550000010")).await;
    let body = assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(body["message"].as_str().unwrap().contains("4000 bytes") && !reply.text.contains(&long), "{body}");
}

#[tokio::test]
async fn without_x_phone_the_orgs_only_phone_sends() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    assert_eq!(record.phone_id, PHONE_ID);
}

#[tokio::test]
async fn an_unknown_phone_is_not_found() {
    let app = Harness::new().await;
    let reply = app.send_from("15559999999", text_to("15550000010")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn another_orgs_phone_is_not_found_and_not_revealed() {
    let app = Harness::new().await;
    let org_b = app.add_org_b().await;

    let by_id = app.send_from("phone-b", text_to("15550000010")).await;
    let body = assert_error(&by_id, StatusCode::NOT_FOUND, "not_found");
    assert!(!by_id.text.contains(org_b.as_str()) && !by_id.text.contains("15550199999"), "{body}");

    // By number: the same answer as for a number nobody has (the caller's own selector is echoed).
    let theirs = app.send_from("15550199999", text_to("15550000010")).await;
    let nobodys = app.send_from("15550188888", text_to("15550000010")).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "not_found");
    assert!(!theirs.text.contains(org_b.as_str()) && !theirs.text.contains("phone-b"), "{}", theirs.text);
    assert_eq!(theirs.text.replace("15550199999", "N"), nobodys.text.replace("15550188888", "N"));
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn an_x_phone_that_is_not_text_names_no_phone() {
    let app = Harness::new().await;
    let body = text_to("15550000010").to_string();
    let request =
        send_request(body.clone()).header("x-phone", HeaderValue::from_bytes(b"1555\xff").expect("a header value"));
    let reply = app.call(request.body(Body::from(body)).expect("request")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn two_phones_and_no_x_phone_is_phone_required() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let reply = app.send(text_to("15550000010")).await;
    let body = assert_error(&reply, StatusCode::BAD_REQUEST, "phone_required");
    assert_eq!(body["field"], "x-phone");
    assert!(app.jobs().is_empty());
}

// --- media ---

#[tokio::test]
async fn base64_media_is_staged_and_only_referenced() {
    let app = Harness::new().await;
    let bytes = b"OUTBOX-TEST-IMAGE-BYTES-0123456789".to_vec();
    let filedata = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let record = app.accepted(image(json!({"filedata": filedata}))).await;

    let staged = app.staged_media();
    assert_eq!(staged.len(), 1);
    let (key, stored, content_type) = &staged[0];
    assert!(key.starts_with(&format!("media/{}/{}/", app.org, record.queue_id)), "{key}");
    assert_eq!((stored, content_type.as_str()), (&bytes, "image/png"));

    let media = record.media.as_ref().expect("media on the record");
    assert_eq!(
        (media.s3_key.as_deref(), media.url.as_deref(), media.size),
        (Some(key.as_str()), None, Some(bytes.len() as u64))
    );
    let record_json = serde_json::to_string(&record).expect("serialisable");
    let job = &app.jobs()[0];
    for leak in [&filedata, "OUTBOX-TEST-IMAGE-BYTES"] {
        assert!(!record_json.contains(leak), "record holds {leak}: {record_json}");
        assert!(!job.contains(leak), "job holds {leak}: {job}");
    }
}

#[tokio::test]
async fn url_media_is_recorded_as_the_url_and_not_staged() {
    let app = Harness::new().await;
    let record = app.accepted(image(json!({"url": "https://example.com/photo.png"}))).await;
    let media = record.media.expect("media on the record");
    assert_eq!((media.url.as_deref(), media.s3_key, media.size), (Some("https://example.com/photo.png"), None, None));
    assert!(app.staged_media().is_empty());
}

#[tokio::test]
async fn a_scheduled_send_is_recorded_and_queued_with_its_due_time() {
    let app = Harness::new().await;
    let at = app.now().plus(std::time::Duration::from_secs(3600));
    let record =
        app.accepted(json!({"chat_id": "15550000010", "message": "later", "scheduled_at": at.to_string()})).await;
    assert_eq!(record.scheduled_at, Some(at));
    let job = Job::decode(&app.jobs()[0]).expect("a decodable job");
    assert_eq!(job.due_at, Some(at.epoch_secs_ceil()));
    // A time already past means now.
    let past = app.now().minus(std::time::Duration::from_secs(1));
    let now_record =
        app.accepted(json!({"chat_id": "15550000010", "message": "now", "scheduled_at": past.to_string()})).await;
    assert_eq!(now_record.scheduled_at, None);
    // Retention counts from the due time, so the scheduled record outlives its wait by as much.
    let retention = now_record.expires_at - app.now().epoch_secs();
    assert!(retention > 0);
    assert_eq!(record.expires_at, at.epoch_secs() + retention);
}
