//! The send path and status lookups over HTTP, against moto.

use std::time::Duration;

use base64::Engine;
use outbox_tests::outbox::local::event_source::EventSource;
use outbox_tests::{Consumers, Stack, StackOptions, assert_error_shape};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_text_send_ends_sent() {
    let stack = Stack::start().await;
    let (code, accepted) = stack.send(json!({"chat_id": "919537851844", "message": "Hello from Outbox"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let unique_id = accepted["unique_id"].as_str().unwrap();
    let queue_id = accepted["queue_id"].as_str().unwrap();
    assert_eq!(accepted["track_by"]["unique_id"], format!("GET /message/{unique_id}/status"));
    assert_eq!(accepted["track_by"]["queue_id"], format!("GET /queue/jobs?queue_id={queue_id}"));
    assert!(accepted["queue_position"].is_u64() && accepted["hint"].is_string());

    let status = stack.wait_for(unique_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    assert_eq!(status["queue_id"], queue_id);
    assert_eq!(status["chat_id"], "919537851844@c.us");
    assert_eq!(status["attempts"], 1);
    assert!(status["message_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(status["timeline"]["queued_at"].is_string() && status["timeline"]["sent_at"].is_string());
    assert_eq!(status["attempt_log"][0]["attempt"], 1);
    assert_eq!(status["attempt_log"][0]["outcome"], "sent");
    // The same record answers by queue_id.
    let (code, by_queue_id) = stack.status(queue_id).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(by_queue_id["unique_id"], unique_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base64_image_is_staged_in_s3_and_never_carried_on_the_queue() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let filedata = base64::engine::general_purpose::STANDARD.encode(&image);
    let (code, accepted) = stack
        .send(json!({"chat_id": "919537851844", "message": "caption",
            "media": {"type": "image", "filename": "cat photo.png", "mimetype": "image/png", "filedata": filedata}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let queue_id = accepted["queue_id"].as_str().unwrap();

    let source = stack.jobs_source();
    let event = stack.receive_records(&source, 1, Duration::from_secs(10)).await;
    let body = event.records[0].body.clone().unwrap();
    assert!(body.len() < 1024, "job body is {} bytes", body.len());
    assert!(!body.contains(&filedata[..64]) && !body.contains("caption"), "job carries content: {body}");
    assert!(body.contains(queue_id));

    let key = format!("media/org-local/{queue_id}/cat_photo.png");
    let object =
        stack.aws.s3.get_object().bucket(&stack.config.media_bucket).key(&key).send().await.expect("staged object");
    assert_eq!(object.content_type(), Some("image/png"));
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(stored.as_ref(), image.as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_get_the_documented_4xx_json() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let too_long = "x".repeat(4097);
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (json!({"message": "hi"}), 400, "missing_field", Some("chat_id")),
        (json!({"chat_id": "not-a-number", "message": "hi"}), 400, "invalid_chat_id", Some("chat_id")),
        (json!({"chat_id": "919537851844"}), 400, "empty_message", None),
        (json!({"chat_id": "919537851844", "message": too_long}), 400, "message_too_long", Some("message")),
        (json!({"chat_id": 5, "message": "hi"}), 400, "invalid_type", Some("chat_id")),
        (
            json!({"chat_id": "919537851844", "media": {"type": "gif", "filename": "a", "mimetype": "image/gif", "url": "https://x.test/a"}}),
            400,
            "invalid_media_type",
            Some("media.type"),
        ),
        (
            json!({"chat_id": "919537851844", "media": {"type": "image", "filename": "a.png", "mimetype": "image/png", "url": "https://x.test/a", "filedata": "aGk="}}),
            400,
            "invalid_media_source",
            Some("media"),
        ),
        (
            json!({"chat_id": "919537851844", "media": {"type": "image", "filename": "a.png", "mimetype": "image/png", "url": "http://x.test/a"}}),
            400,
            "invalid_media_url",
            Some("media.url"),
        ),
        (
            json!({"chat_id": "919537851844", "media": {"type": "image", "filename": "a.png", "mimetype": "image/png", "filedata": "%%%"}}),
            400,
            "invalid_base64",
            Some("media.filedata"),
        ),
        (
            json!({"chat_id": "919537851844", "media": {"type": "image", "mimetype": "image/png", "url": "https://x.test/a"}}),
            400,
            "missing_field",
            Some("media.filename"),
        ),
        (
            json!({"chat_id": "919537851844", "poll": {"pollName": "Lunch?", "pollOptions": ["yes"]}}),
            400,
            "invalid_poll",
            Some("poll.pollOptions"),
        ),
        (
            json!({"chat_id": "919537851844", "poll": {"pollName": "Lunch?", "pollOptions": ["yes", "yes"]}}),
            400,
            "invalid_poll",
            Some("poll.pollOptions[1]"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, answer) = stack.send(body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body} -> {answer}");
        assert_error_shape(&answer);
        assert_eq!(answer["code"], code, "{body} -> {answer}");
        assert_eq!(answer["field"].as_str(), field, "{body} -> {answer}");
    }

    let url = format!("{}/v1/message/send", stack.base_url);
    let raw = |body: &'static str, content_type: &'static str| {
        stack.http.post(&url).bearer_auth("local-dev-key").header("content-type", content_type).body(body).send()
    };
    let (code, answer) = outbox_tests::json_of(raw("{not json", "application/json").await.unwrap()).await;
    assert_eq!((code.as_u16(), answer["code"].as_str()), (400, Some("invalid_json")));
    let (code, answer) =
        outbox_tests::json_of(raw("chat_id=1", "application/x-www-form-urlencoded").await.unwrap()).await;
    assert_eq!((code.as_u16(), answer["code"].as_str()), (415, Some("unsupported_media_type")));

    // A body over the inline limit is refused before it is read, and names the way to send big media.
    let huge = "a".repeat(7 * 1024 * 1024);
    let response = stack
        .http
        .post(&url)
        .bearer_auth("local-dev-key")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (code, answer) = outbox_tests::json_of(response).await;
    assert_eq!(code.as_u16(), 413);
    assert_error_shape(&answer);
    assert!(answer["message"].as_str().unwrap().contains("/v1/media/uploads"), "{answer}");

    // Nothing invalid was queued.
    let arn = EventSource::queue_arn(&stack.jobs_source()).await;
    let event = stack.jobs_source().receive(&arn).await.unwrap();
    assert!(event.records.is_empty(), "a rejected request was queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_unknown_key_gets_401() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let url = format!("{}/v1/message/send", stack.base_url);
    let body = json!({"chat_id": "919537851844", "message": "hi"});
    let no_key = stack.http.post(&url).json(&body).send().await.unwrap();
    let (code, answer) = outbox_tests::json_of(no_key).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_error_shape(&answer);
    let (code, answer) = stack.send_as("not-a-key", body).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_error_shape(&answer);
    let (code, _) = stack.get_as("not-a-key", "/v1/message/3EB0AAAAAAAAAAAAAAAAAA/status").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    // Health needs no key.
    let health = stack.http.get(format!("{}/health", stack.base_url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_messages_and_phones_are_404_and_leak_nothing() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let (other_org, other_key, other_phone) = stack.add_org("15559990000").await;
    let (code, mine) = stack.send(json!({"chat_id": "919537851844", "message": "mine"})).await;
    assert_eq!(code, StatusCode::OK);
    let (code, theirs) = stack.send_as(&other_key, json!({"chat_id": "919537851845", "message": "theirs"})).await;
    assert_eq!(code, StatusCode::OK, "{theirs}");

    for id in [&theirs["queue_id"], &theirs["unique_id"]] {
        let (code, answer) = stack.status(id.as_str().unwrap()).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{answer}");
        assert_error_shape(&answer);
        let text = answer.to_string();
        assert!(!text.contains("919537851845") && !text.contains(other_org.as_str()), "{text}");
    }
    for id in [&mine["queue_id"], &mine["unique_id"]] {
        let (code, _) = stack.get_as(&other_key, &format!("/v1/message/{}/status", id.as_str().unwrap())).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }
    // Sending from the other org's phone, by number or by id, is the same 404 as a phone that does not exist.
    for selector in [other_phone.number.as_str(), other_phone.phone_id.as_str(), "15550000000"] {
        let response = stack
            .http
            .post(format!("{}/v1/message/send", stack.base_url))
            .bearer_auth("local-dev-key")
            .header("x-phone", selector)
            .json(&json!({"chat_id": "919537851844", "message": "hi"}))
            .send()
            .await
            .unwrap();
        let (code, answer) = outbox_tests::json_of(response).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{selector}: {answer}");
        assert!(!answer.to_string().contains(other_org.as_str()));
    }
}
