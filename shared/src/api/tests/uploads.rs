//! Uploads: multipart and base64 assets, presigned uploads, and sends that name them in both
//! dialects; an upload is its org's only, and its real file is what is checked.

use axum::http::Method;
use base64::Engine as _;

use super::*;
use crate::domain::media::MediaKind;
use crate::ports::MediaStore;

const BOUNDARY: &str = "outbox-test-boundary";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-a-tiny-png";

/// One multipart part: name, file name, content type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart/form-data body of `parts`.
fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(file_name) = file_name {
            body.extend_from_slice(format!("; filename=\"{file_name}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl Harness {
    async fn upload_multipart(&self, key: &str, body: Vec<u8>) -> Reply {
        let request = Request::post("/v1/assets/upload")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"));
        self.call(request.body(Body::from(body)).expect("request")).await
    }

    /// Uploads `bytes` as base64 with the org's key; returns the uploadID.
    async fn upload_base64(&self, bytes: &[u8], file_name: &str, mime_type: &str) -> String {
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        let body = json!({"content": content, "fileName": file_name, "mimeType": mime_type});
        let reply = self.json(Method::POST, "/v1/assets/upload/base64", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["uploadID"].as_str().expect("an uploadID").to_string()
    }

    async fn presign(&self, body: Value) -> Reply {
        self.json(Method::POST, "/v1/media/uploads", body).await
    }
}

#[tokio::test]
async fn a_multipart_upload_is_staged_and_a_periskope_send_names_it() {
    let app = Harness::new().await;
    let reply = app.upload_multipart(KEY, multipart(&[("file", Some("dot.png"), Some("image/png"), PNG)])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["uploadID", "fileName", "mimeType", "fileSize", "expiresAt"]));
    assert_eq!(
        (&body["fileName"], &body["mimeType"], &body["fileSize"]),
        (&json!("dot.png"), &json!("image/png"), &json!(PNG.len()))
    );
    let upload_id = body["uploadID"].as_str().expect("an uploadID");
    let staged = app.staged_media();
    assert_eq!(staged.len(), 1);
    assert!(staged[0].0.starts_with(&format!("uploads/{}/{upload_id}/", app.org)), "{}", staged[0].0);
    assert_eq!(staged[0].1, PNG);

    let record = app
        .accepted(
            json!({"chat_id": "15550000010", "message": "a dot", "media": {"type": "image", "upload_id": upload_id}}),
        )
        .await;
    let media = record.media.expect("media");
    assert_eq!(
        (media.kind, media.filename.as_str(), media.mimetype.as_str(), media.size, media.s3_key.as_deref()),
        (MediaKind::Image, "dot.png", "image/png", Some(PNG.len() as u64), Some(staged[0].0.as_str()))
    );
    assert_eq!(app.staged_media().len(), 1, "the send references the upload, it does not copy it");
}

#[tokio::test]
async fn multipart_names_and_types_come_from_the_parts_or_the_bytes() {
    let app = Harness::new().await;
    let named = multipart(&[
        ("file", Some("ignored.bin"), Some("application/octet-stream"), PNG),
        ("fileName", None, None, b"chosen.png"),
        ("note", None, None, b"an unknown part is read past"),
    ]);
    let body = app.upload_multipart(KEY, named).await.json();
    assert_eq!((&body["fileName"], &body["mimeType"]), (&json!("chosen.png"), &json!("image/png")));
    let typed = multipart(&[("file", None, None, b"%PDF-1.7"), ("mimeType", None, None, b"application/x-custom")]);
    let body = app.upload_multipart(KEY, typed).await.json();
    assert_eq!((&body["fileName"], &body["mimeType"]), (&json!("file"), &json!("application/x-custom")));
}

#[tokio::test]
async fn bad_multipart_uploads_are_4xx() {
    let app = Harness::with_body_limit(4096).await;
    let missing = app.upload_multipart(KEY, multipart(&[("fileName", None, None, b"a.png")])).await;
    assert_eq!(assert_error(&missing, StatusCode::BAD_REQUEST, "missing_field")["field"], "file");
    let empty = app.upload_multipart(KEY, multipart(&[("file", Some("a"), None, b"")])).await;
    assert_error(&empty, StatusCode::BAD_REQUEST, "empty_file");
    let two = app.upload_multipart(KEY, multipart(&[("file", None, None, b"a"), ("file", None, None, b"b")])).await;
    assert_error(&two, StatusCode::BAD_REQUEST, "invalid_multipart");
    let long_name = app
        .upload_multipart(KEY, multipart(&[("file", None, None, b"a"), ("fileName", None, None, &[b'n'; 2000])]))
        .await;
    assert_eq!(assert_error(&long_name, StatusCode::BAD_REQUEST, "too_long")["field"], "fileName");
    let many: Vec<Part> = (0..9).map(|_| ("x", None, None, &b"y"[..])).collect();
    assert_error(&app.upload_multipart(KEY, multipart(&many)).await, StatusCode::BAD_REQUEST, "invalid_multipart");
    let garbage = app.upload_multipart(KEY, b"no boundary here".to_vec()).await;
    assert_error(&garbage, StatusCode::BAD_REQUEST, "invalid_multipart");
    let big = app.upload_multipart(KEY, multipart(&[("file", None, None, &[7u8; 5000])])).await;
    assert_error(&big, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let json_body = app.json(Method::POST, "/v1/assets/upload", json!({"file": "x"})).await;
    assert_error(&json_body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert!(app.staged_media().is_empty());
}

#[tokio::test]
async fn a_base64_upload_then_a_beeper_attachment_takes_its_kind_from_the_mime_type_or_the_hint() {
    let app = Harness::new().await;
    let upload_id = app.upload_base64(b"OggS-voice-bytes", "note.ogg", "audio/ogg; codecs=opus").await;
    let as_audio =
        app.json(Method::POST, "/v1/chats/15550000010/messages", json!({"attachment": {"uploadID": upload_id}})).await;
    let pending = as_audio.json()["pendingMessageID"].as_str().expect("a pending id").to_string();
    let as_voice =
        json!({"text": "listen", "attachment": {"uploadID": upload_id, "type": "voice-note", "fileName": "memo.ogg"}});
    let voice_pending =
        app.json(Method::POST, "/v1/chats/15550000010/messages", as_voice).await.json()["pendingMessageID"]
            .as_str()
            .expect("a pending id")
            .to_string();
    for (pending, kind, filename, is_voice) in
        [(pending, MediaKind::Audio, "note.ogg", false), (voice_pending, MediaKind::VoiceNote, "memo.ogg", true)]
    {
        let message = app.get(KEY, &format!("/v1/chats/15550000010/messages/{pending}")).await.json();
        let attachment = &message["attachments"][0];
        assert_eq!(
            (&attachment["type"], &attachment["isVoiceNote"], &attachment["fileName"]),
            (&json!("audio"), &json!(is_voice), &json!(filename))
        );
        let status = app.status_of(KEY, &pending).await.json();
        let record = app.record(&app.org, &QueueId::from(status["queue_id"].as_str().unwrap())).await.unwrap();
        assert_eq!(record.media.expect("media").kind, kind);
    }
    // A sticker must be WebP: this upload cannot be one.
    let sticker = json!({"attachment": {"uploadID": upload_id, "type": "sticker"}});
    let reply = app.json(Method::POST, "/v1/chats/15550000010/messages", sticker).await;
    assert_eq!(assert_error(&reply, StatusCode::BAD_REQUEST, "mimetype_mismatch")["field"], "attachment.uploadID");
    let bad = app.json(Method::POST, "/v1/assets/upload/base64", json!({"content": "%%%"})).await;
    assert_eq!(assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_base64")["field"], "content");
    assert_eq!(app.jobs().len(), 2);
}

#[tokio::test]
async fn another_orgs_upload_is_not_found_in_either_dialect() {
    let app = Harness::new().await;
    let upload_id = app.upload_base64(PNG, "dot.png", "image/png").await;
    app.add_org_b().await;
    let as_b = |method: Method, path: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer obx_test_key_of_org_b")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let periskope = json!({"chat_id": "15550000010", "media": {"type": "image", "upload_id": upload_id}});
    let reply = app.call(as_b(Method::POST, SEND, periskope)).await;
    let error = assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(!reply.text.contains(app.org.as_str()), "{error}");
    let beeper = json!({"attachment": {"uploadID": upload_id}});
    assert_error(
        &app.call(as_b(Method::POST, "/v1/chats/15550000010/messages", beeper)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn a_presigned_upload_is_bound_and_checked_when_sent() {
    let app = Harness::new().await;
    let size = 7 * 1024 * 1024;
    let reply =
        app.presign(json!({"filename": "talk.mp4", "mimetype": "video/mp4", "size": size, "type": "video"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        keys(&body),
        BTreeSet::from(["upload_id", "url", "method", "headers", "expires_at", "upload_expires_at"])
    );
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["headers"], json!({"content-type": "video/mp4", "content-length": size.to_string()}));
    assert_eq!(body["expires_at"], app.now().plus(std::time::Duration::from_secs(900)).to_string());
    let upload_id = body["upload_id"].as_str().expect("an upload_id");
    let send = json!({"chat_id": "15550000010", "media": {"type": "video", "upload_id": upload_id}});

    // Named before its PUT: nothing to send yet.
    let early = app.send(send.clone()).await;
    assert_eq!(assert_error(&early, StatusCode::BAD_REQUEST, "upload_incomplete")["field"], "media.upload_id");
    let (key, ..) = app.media.presigned_puts.lock().expect("lock")[0].clone();
    app.media.put(&key, vec![0; size], "video/mp4").await.expect("memory");
    let record = app.accepted(send).await;
    assert_eq!(record.media.expect("media").size, Some(size as u64));
    // The same file named as an image is over the image limit.
    let as_image =
        json!({"chat_id": "15550000010", "media": {"type": "image", "upload_id": upload_id, "mimetype": "image/jpeg"}});
    assert_error(&app.send(as_image).await, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large");
    assert_eq!(app.jobs().len(), 1);
}

#[tokio::test]
async fn presign_rejects_oversize_and_wrong_types() {
    let app = Harness::new().await;
    let over = app
        .presign(json!({"filename": "a.mp4", "mimetype": "video/mp4", "size": 16 * 1024 * 1024 + 1, "type": "video"}))
        .await;
    assert_eq!(assert_error(&over, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large")["field"], "size");
    let doc = app.presign(json!({"filename": "a.pdf", "mimetype": "application/pdf", "size": 100 * 1024 * 1024 + 1, "type": "document"})).await;
    assert_error(&doc, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large");
    let mismatch =
        app.presign(json!({"filename": "a.pdf", "mimetype": "application/pdf", "size": 10, "type": "image"})).await;
    assert_eq!(assert_error(&mismatch, StatusCode::BAD_REQUEST, "mimetype_mismatch")["field"], "mimetype");
    let kind = app.presign(json!({"filename": "a", "mimetype": "image/webp", "size": 10, "type": "sticker"})).await;
    assert_error(&kind, StatusCode::BAD_REQUEST, "invalid_media_type");
    assert!(app.media.presigned_puts.lock().expect("lock").is_empty());
}
