//! The other dialects and uploads end to end over HTTP against moto: `/v1/send` and Beeper's
//! chat messages through the real queue, consumers and sandbox; multipart, base64 and presigned
//! uploads in S3, a presigned PUT of more than Lambda's 6 MB straight to the emulator.

use std::time::Duration;

use base64::Engine;
use outbox_tests::outbox::local::LOCAL_API_KEY;
use outbox_tests::{Stack, assert_error_shape, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BOUNDARY: &str = "outbox-it-boundary";

async fn multipart_upload(stack: &Stack, file_name: &str, content_type: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let response = stack
        .http
        .post(format!("{}/v1/assets/upload", stack.base_url))
        .bearer_auth(LOCAL_API_KEY)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .expect("a response");
    json_of(response).await
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_sends_are_delivered_and_the_failing_sandbox_number_fails_after_3_attempts() {
    let stack = Stack::start().await;
    let (code, sent) = stack
        .post_as(
            LOCAL_API_KEY,
            "/v1/send",
            json!({"session": "15550100000", "to": "+919537851844", "text": "Hello from ChatSend"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{sent}");
    assert_eq!(
        (&sent["type"], &sent["status"], &sent["sender"]),
        (&json!("text"), &json!("queued"), &json!("+15550100000"))
    );
    let (code, failing) = stack
        .post_as(LOCAL_API_KEY, "/v1/send", json!({"session": "phone-local", "to": "15550000001", "text": "never"}))
        .await;
    assert_eq!(code, StatusCode::OK, "{failing}");

    let id = sent["id"].as_str().expect("an id");
    let status = stack.wait_for(id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    assert_eq!((&status["chat_id"], &status["attempts"]), (&json!("919537851844@c.us"), &json!(1)));
    let id = failing["id"].as_str().expect("an id");
    let status = stack.wait_for(id, Duration::from_secs(40), |s| s["status"] == "failed").await;
    assert_eq!(status["attempts"], 3, "{status}");
    let outcomes: Vec<&str> =
        status["attempt_log"].as_array().unwrap().iter().filter_map(|a| a["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["transient_error"; 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_beeper_send_with_a_multipart_upload_is_delivered_and_resolves_in_beepers_shape() {
    let stack = Stack::start().await;
    let png = b"\x89PNG\r\n\x1a\n-integration-png";
    let (code, upload) = multipart_upload(&stack, "dot.png", "image/png", png).await;
    assert_eq!(code, StatusCode::OK, "{upload}");
    let upload_id = upload["uploadID"].as_str().expect("an uploadID");
    let chat = "!whatsapp_919537851844:beeper.local";
    let (code, sent) = stack
        .post_as(
            LOCAL_API_KEY,
            &format!("/v1/chats/{chat}/messages"),
            json!({"text": "**Look** at _this_", "attachment": {"uploadID": upload_id}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{sent}");
    assert_eq!(sent["chatID"], chat);
    let pending = sent["pendingMessageID"].as_str().expect("a pending id");
    stack.wait_for(pending, Duration::from_secs(20), |s| s["status"] == "sent").await;

    let (code, message) =
        stack.get_as(LOCAL_API_KEY, &format!("/v1/chats/919537851844%40c.us/messages/{pending}")).await;
    assert_eq!(code, StatusCode::OK, "{message}");
    assert_eq!(
        (&message["status"], &message["text"], &message["senderID"]),
        (&json!("sent"), &json!("*Look* at _this_"), &json!("15550100000"))
    );
    assert_eq!(
        (
            &message["attachments"][0]["type"],
            &message["attachments"][0]["fileName"],
            &message["attachments"][0]["fileSize"]
        ),
        (&json!("img"), &json!("dot.png"), &json!(png.len()))
    );
    // The upload's object is the one the message references, in the bucket under uploads/.
    let (_, object) = stack.get_as(LOCAL_API_KEY, &format!("/v1/message/{pending}")).await;
    assert_eq!(object["media"]["staged"], true);
    let key = format!("uploads/org-local/{upload_id}/dot.png");
    let stored =
        stack.aws.s3.get_object().bucket(&stack.config.media_bucket).key(&key).send().await.expect("the upload");
    assert_eq!(stored.body.collect().await.unwrap().into_bytes().as_ref(), png);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base64_upload_is_sent_by_its_upload_id_in_the_periskope_dialect() {
    let stack = Stack::start().await;
    let pdf = b"%PDF-1.7 integration";
    let content = base64::engine::general_purpose::STANDARD.encode(pdf);
    let (code, upload) = stack
        .post_as(LOCAL_API_KEY, "/v1/assets/upload/base64", json!({"content": content, "fileName": "r.pdf"}))
        .await;
    assert_eq!(code, StatusCode::OK, "{upload}");
    assert_eq!((&upload["mimeType"], &upload["fileSize"]), (&json!("application/pdf"), &json!(pdf.len())));
    let (code, accepted) = stack
        .send(json!({"chat_id": "919537851844", "message": "the report",
                     "media": {"type": "document", "upload_id": upload["uploadID"]}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let unique_id = accepted["unique_id"].as_str().unwrap();
    stack.wait_for(unique_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let (_, object) = stack.get_as(LOCAL_API_KEY, &format!("/v1/message/{unique_id}")).await;
    assert_eq!(
        (&object["type"], &object["media"]["filename"], &object["media"]["size"]),
        (&json!("document"), &json!("r.pdf"), &json!(pdf.len()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_presigned_upload_over_6_mb_is_put_to_s3_and_sent() {
    let stack = Stack::start().await;
    let video: Vec<u8> = (0..7 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (code, presigned) = stack
        .post_as(
            LOCAL_API_KEY,
            "/v1/media/uploads",
            json!({"filename": "talk.mp4", "mimetype": "video/mp4", "size": video.len(), "type": "video"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{presigned}");
    assert_eq!(presigned["method"], "PUT");
    let url = presigned["url"].as_str().expect("a url");
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("X-Amz-Signature="), "{url}");
    let signed = url.split("X-Amz-SignedHeaders=").nth(1).and_then(|s| s.split('&').next()).unwrap_or_default();
    assert!(signed.contains("content-length") && signed.contains("content-type"), "signed headers: {signed}");

    let mut put = stack.http.put(url).body(video.clone());
    for (name, value) in presigned["headers"].as_object().expect("headers") {
        put = put.header(name, value.as_str().expect("a header value"));
    }
    let response = put.send().await.expect("the PUT");
    assert!(
        response.status().is_success(),
        "PUT to the emulator: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );

    let upload_id = presigned["upload_id"].as_str().unwrap();
    let (code, accepted) =
        stack.send(json!({"chat_id": "919537851844", "message": "the talk", "media": {"type": "video", "upload_id": upload_id}})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let unique_id = accepted["unique_id"].as_str().unwrap();
    stack.wait_for(unique_id, Duration::from_secs(20), |s| s["status"] == "sent").await;
    let (_, object) = stack.get_as(LOCAL_API_KEY, &format!("/v1/message/{unique_id}")).await;
    assert_eq!((&object["media"]["type"], &object["media"]["size"]), (&json!("video"), &json!(video.len())));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_presigned_put_of_another_type_cannot_be_sent() {
    let stack = Stack::start().await;
    let (_, presigned) = stack
        .post_as(
            LOCAL_API_KEY,
            "/v1/media/uploads",
            json!({"filename": "a.png", "mimetype": "image/png", "size": 8, "type": "image"}),
        )
        .await;
    let url = presigned["url"].as_str().expect("a url");
    // The signature binds Content-Type; whether or not the emulator checks it, the send does.
    let response = stack
        .http
        .put(url)
        .header("content-type", "text/html")
        .header("content-length", "8")
        .body("<b>hi</b")
        .send()
        .await
        .unwrap();
    let upload_id = presigned["upload_id"].as_str().unwrap();
    let (code, answer) =
        stack.send(json!({"chat_id": "919537851844", "media": {"type": "image", "upload_id": upload_id}})).await;
    if response.status().is_success() {
        assert_eq!((code, &answer["code"]), (StatusCode::BAD_REQUEST, &json!("upload_mismatch")), "{answer}");
    } else {
        assert_eq!((code, &answer["code"]), (StatusCode::BAD_REQUEST, &json!("upload_incomplete")), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_wrong_type_and_another_orgs_uploads_are_refused() {
    let stack = Stack::start().await;
    let (code, over) = stack
        .post_as(
            LOCAL_API_KEY,
            "/v1/media/uploads",
            json!({"filename": "big.mp4", "mimetype": "video/mp4", "size": 17 * 1024 * 1024, "type": "video"}),
        )
        .await;
    assert_eq!((code, &over["code"]), (StatusCode::PAYLOAD_TOO_LARGE, &json!("media_too_large")), "{over}");
    assert_error_shape(&over);
    let (code, wrong) = stack
        .post_as(
            LOCAL_API_KEY,
            "/v1/media/uploads",
            json!({"filename": "a.exe", "mimetype": "application/x-msdownload", "size": 10, "type": "video"}),
        )
        .await;
    assert_eq!((code, &wrong["code"]), (StatusCode::BAD_REQUEST, &json!("mimetype_mismatch")), "{wrong}");

    let (_, upload) = multipart_upload(&stack, "dot.png", "image/png", b"\x89PNG\r\n\x1a\nxx").await;
    let upload_id = upload["uploadID"].as_str().expect("an uploadID");
    let (_, other_key, _) = stack.add_org("15550300000").await;
    let (code, periskope) = stack
        .post_as(
            &other_key,
            "/v1/message/send",
            json!({"chat_id": "919537851844", "media": {"type": "image", "upload_id": upload_id}}),
        )
        .await;
    assert_eq!((code, &periskope["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{periskope}");
    let (code, beeper) = stack
        .post_as(&other_key, "/v1/chats/919537851844/messages", json!({"attachment": {"uploadID": upload_id}}))
        .await;
    assert_eq!((code, &beeper["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{beeper}");
}
