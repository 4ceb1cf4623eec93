//! The other dialects: `/v1/send` (seed 003) and Beeper's chat messages (seed 004), through the
//! same records and jobs as a Periskope send.

use axum::http::Method;

use super::*;
use crate::domain::job::Job;
use crate::domain::media::MediaKind;

const GENERIC_SEND: &str = "/v1/send";

impl Harness {
    async fn generic_send(&self, body: Value) -> Reply {
        self.json(Method::POST, GENERIC_SEND, body).await
    }

    async fn beeper_send(&self, chat: &str, body: Value) -> Reply {
        self.json(Method::POST, &format!("/v1/chats/{chat}/messages"), body).await
    }

    /// The record of a message by its unique_id (the `id` or `pendingMessageID` a dialect answered).
    async fn record_by_unique_id(&self, unique_id: &str) -> MessageRecord {
        let reply = self.status_of(KEY, unique_id).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let queue_id = QueueId::from(reply.json()["queue_id"].as_str().expect("a queue_id"));
        self.record(&self.org, &queue_id).await.expect("a stored record")
    }
}

// --- POST /v1/send ---

#[tokio::test]
async fn the_seeds_example_is_queued_and_answered_in_the_seeds_shape() {
    let app = Harness::new().await;
    let reply = app.generic_send(json!({"session": NUMBER, "to": "+1234567890", "text": "Hello from ChatSend"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        keys(&body),
        BTreeSet::from(["id", "to", "content", "type", "timestamp", "status", "fromMe", "sender", "recipient"])
    );
    assert_eq!(
        (&body["to"], &body["content"], &body["type"], &body["status"], &body["fromMe"]),
        (&json!("+1234567890"), &json!("Hello from ChatSend"), &json!("text"), &json!("queued"), &json!(true))
    );
    assert_eq!((&body["sender"], &body["recipient"]), (&json!("+15550100000"), &json!("1234567890@c.us")));
    assert_eq!(body["timestamp"], app.now().to_string());
    // The id is the unique_id: the status route takes it, and the job is the same small one.
    let record = app.record_by_unique_id(body["id"].as_str().expect("an id")).await;
    assert_eq!((record.text.as_deref(), record.chat_id.as_str()), (Some("Hello from ChatSend"), "1234567890@c.us"));
    let job = Job::decode(&app.jobs()[0]).expect("a job");
    assert_eq!((job.queue_id, job.phone_id.as_str()), (record.queue_id, PHONE_ID));
}

#[tokio::test]
async fn session_is_the_sending_phone_by_number_or_phone_id_within_the_org() {
    let app = Harness::new().await;
    app.add_phone(&app.org, "15550100001", "phone-a2").await;
    let by_id = app.generic_send(json!({"session": "phone-a2", "to": "15550000010", "text": "hi"})).await;
    assert_eq!(app.record_by_unique_id(by_id.json()["id"].as_str().unwrap()).await.phone_id, "phone-a2");
    let by_plus = app.generic_send(json!({"session": "+15550100001", "to": "15550000010", "text": "hi"})).await;
    assert_eq!(by_plus.json()["sender"], "+15550100001");
    app.add_org_b().await;
    let theirs = app.generic_send(json!({"session": "phone-b", "to": "15550000010", "text": "hi"})).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "not_found");
    let missing = app.generic_send(json!({"to": "15550000010", "text": "hi"})).await;
    assert_eq!(assert_error(&missing, StatusCode::BAD_REQUEST, "missing_field")["field"], "session");
    assert_eq!(app.jobs().len(), 2);
}

#[tokio::test]
async fn media_urls_become_the_same_media_and_audio_is_a_voice_note() {
    let app = Harness::new().await;
    let cases = [
        ("imageUrl", "https://cdn.example.com/a/cat.png", MediaKind::Image, "image", "image/png"),
        ("videoUrl", "https://cdn.example.com/clip.mp4?sig=1", MediaKind::Video, "video", "video/mp4"),
        ("documentUrl", "https://cdn.example.com/report.pdf", MediaKind::Document, "document", "application/pdf"),
        ("audioUrl", "https://cdn.example.com/note.ogg", MediaKind::VoiceNote, "ptt", "audio/ogg"),
    ];
    for (field, url, kind, shown, mimetype) in cases {
        let reply = app.generic_send(json!({"session": PHONE_ID, "to": "15550000010", field: url})).await;
        assert_eq!(reply.status, StatusCode::OK, "{field}: {}", reply.text);
        let body = reply.json();
        assert_eq!((&body["type"], &body["content"]), (&json!(shown), &json!(url)), "{field}");
        let media = app.record_by_unique_id(body["id"].as_str().unwrap()).await.media.expect("media");
        assert_eq!((media.kind, media.url.as_deref(), media.mimetype.as_str()), (kind, Some(url), mimetype), "{field}");
    }
    // A caption wins as content; given names are kept.
    let body = app
        .generic_send(json!({"session": NUMBER, "to": "15550000010", "text": "see", "imageUrl": "https://e.com/x",
                             "filename": "x.webp", "mimetype": "image/webp"}))
        .await
        .json();
    assert_eq!(body["content"], "see");
    let media = app.record_by_unique_id(body["id"].as_str().unwrap()).await.media.expect("media");
    assert_eq!((media.filename.as_str(), media.mimetype.as_str()), ("x.webp", "image/webp"));
}

#[tokio::test]
async fn generic_send_rejections_name_the_seeds_fields() {
    let app = Harness::new().await;
    let base = json!({"session": NUMBER, "to": "15550000010"});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (json!({"session": NUMBER, "to": "+12", "text": "hi"}), "invalid_chat_id", Some("to")),
        (json!({"session": NUMBER, "text": "hi"}), "missing_field", Some("to")),
        (with(json!({})), "empty_message", None),
        (with(json!({"text": "x".repeat(4097)})), "message_too_long", Some("text")),
        (
            with(json!({"imageUrl": "https://e.com/a", "videoUrl": "https://e.com/b"})),
            "invalid_media_source",
            Some("videoUrl"),
        ),
        (with(json!({"audioUrl": "http://e.com/a.ogg"})), "invalid_media_url", Some("audioUrl")),
        (with(json!({"imageUrl": "https://e.com/a", "mimetype": "png"})), "invalid_mimetype", Some("mimetype")),
        (with(json!({"text": "hi", "preview": {"title": "x".repeat(2049)}})), "too_long", Some("preview.title")),
        (with(json!({"text": 5})), "invalid_type", Some("text")),
    ];
    for (body, code, field) in cases {
        let reply = app.generic_send(body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert_eq!(error.get("field").and_then(Value::as_str), field, "{body}");
    }
    let error = assert_error(
        &app.generic_send(with(json!({"text": "x".repeat(4097)}))).await,
        StatusCode::BAD_REQUEST,
        "message_too_long",
    );
    assert!(error["message"].as_str().unwrap().starts_with("text is 4097 characters"), "{error}");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn preview_fields_are_kept_on_the_record() {
    let app = Harness::new().await;
    let body = json!({"session": NUMBER, "to": "15550000010", "text": "https://example.com",
                      "preview": {"title": "Example", "description": "A page"}});
    let id = app.generic_send(body).await.json()["id"].as_str().unwrap().to_string();
    let record = app.record_by_unique_id(&id).await;
    assert_eq!(record.link_preview.get("title").map(String::as_str), Some("Example"));
    assert!(!record.hide_url_preview);
}

// --- Beeper: POST /v1/chats/{chatID}/messages and GET …/messages/{messageID} ---

#[tokio::test]
async fn a_beeper_send_converts_markdown_and_resolves_its_pending_id() {
    let app = Harness::new().await;
    let chat = "!whatsapp_15550101002:ba_EvYDBBsZbRQAy3UOSWqG0LuTVkc.local-whatsapp.localhost";
    let reply = app.beeper_send(chat, json!({"text": "**Order** ~~late~~ _shipped_ `#42`"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["chatID", "pendingMessageID"]));
    assert_eq!(body["chatID"], chat);
    let pending = body["pendingMessageID"].as_str().expect("a pending id");
    let record = app.record_by_unique_id(pending).await;
    assert_eq!(
        (record.text.as_deref(), record.chat_id.as_str()),
        (Some("*Order* ~late~ _shipped_ `#42`"), "15550101002@c.us")
    );

    let message = app.get(KEY, &format!("/v1/chats/{chat}/messages/{pending}")).await;
    assert_eq!(message.status, StatusCode::OK, "{}", message.text);
    let message = message.json();
    assert_eq!(
        keys(&message),
        BTreeSet::from([
            "id",
            "accountID",
            "chatID",
            "senderID",
            "sortKey",
            "timestamp",
            "isSender",
            "text",
            "attachments",
            "status",
            "ack"
        ])
    );
    assert_eq!(
        (&message["id"], &message["accountID"], &message["senderID"]),
        (&json!(pending), &json!(PHONE_ID), &json!(NUMBER))
    );
    assert_eq!(
        (&message["status"], &message["ack"], &message["attachments"], &message["isSender"]),
        (&json!("queued"), &json!(0), &json!([]), &json!(true))
    );
    assert_eq!(message["text"], "*Order* ~late~ _shipped_ `#42`");
    // Any form of the same chat finds it; another chat does not.
    for same in ["15550101002", "15550101002%40c.us", "15550101002@c.us"] {
        let found = app.get(KEY, &format!("/v1/chats/{same}/messages/{pending}")).await;
        assert_eq!(found.status, StatusCode::OK, "{same}: {}", found.text);
    }
    let other = app.get(KEY, &format!("/v1/chats/15550101003/messages/{pending}")).await;
    assert_error(&other, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn beeper_chat_ids_take_every_periskope_form_and_refuse_the_rest() {
    let app = Harness::new().await;
    for chat in ["15550000010", "15550000010%40c.us", "120363025246125486%40g.us", "!whatsapp_15550000010:s.example"] {
        let reply = app.beeper_send(chat, json!({"text": "hi"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{chat}: {}", reply.text);
    }
    for chat in ["abc", "%2B1555", "!whatsapp_abc:server", "!signal_15550000010:s"] {
        let reply = app.beeper_send(chat, json!({"text": "hi"})).await;
        assert_eq!(assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_chat_id")["field"], "chatID", "{chat}");
        let get = app.get(KEY, &format!("/v1/chats/{chat}/messages/3EB0000000000000000000")).await;
        assert_error(&get, StatusCode::BAD_REQUEST, "invalid_chat_id");
    }
    assert_eq!(app.jobs().len(), 4);
}

#[tokio::test]
async fn beeper_rejections_name_beepers_fields() {
    let app = Harness::new().await;
    let cases = [
        (json!({}), "empty_message", None),
        (json!({"text": ""}), "empty_message", None),
        (json!({"text": "x".repeat(4097)}), "message_too_long", Some("text")),
        (json!({"text": "hi", "replyToMessageID": " "}), "invalid_reply_to", Some("replyToMessageID")),
        (json!({"attachment": {}}), "missing_field", Some("attachment.uploadID")),
        (
            json!({"attachment": {"uploadID": "upload-x", "type": "document"}}),
            "invalid_media_type",
            Some("attachment.type"),
        ),
        (
            json!({"attachment": {"uploadID": "upload-x", "duration": -1}}),
            "invalid_duration",
            Some("attachment.duration"),
        ),
        (
            json!({"attachment": {"uploadID": "upload-x", "size": {"width": -2}}}),
            "invalid_size",
            Some("attachment.size.width"),
        ),
        (
            json!({"attachment": {"uploadID": "upload-x", "mimeType": "png"}}),
            "invalid_mimetype",
            Some("attachment.mimeType"),
        ),
    ];
    for (body, code, field) in cases {
        let error = assert_error(&app.beeper_send("15550000010", body.clone()).await, StatusCode::BAD_REQUEST, code);
        assert_eq!(error.get("field").and_then(Value::as_str), field, "{body}");
    }
    let unknown = app.beeper_send("15550000010", json!({"attachment": {"uploadID": "upload-nope"}})).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    assert!(app.jobs().is_empty());
}
