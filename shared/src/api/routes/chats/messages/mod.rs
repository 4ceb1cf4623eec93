//! `POST /v1/chats/{chatID}/messages`: `{text, replyToMessageID, attachment{uploadID, fileName,
//! mimeType, type, duration, size}}`, answered `{chatID, pendingMessageID}`. `text` is Markdown,
//! sent in WhatsApp's formatting; the attachment names an upload, its type a Beeper hint. The
//! `pendingMessageID` is the message's unique_id, so every Outbox lookup route takes it.

pub mod message;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::chat_of;
use crate::api::body::creating_request;
use crate::api::idempotency::{WorkAnswer, answer_once};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::content::Content;
use crate::domain::content::RawContent;
use crate::domain::markdown;
use crate::domain::media::{Attachment, MediaKind, UploadRef, check_filename, check_mimetype, parse_upload_id};
use crate::domain::send::ValidatedMessage;
use crate::domain::time::Timestamp;
use crate::domain::validation::ValidationError;
use crate::domain::wire::decode_json_like;

/// The body, field names exactly as in seed 004.
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
struct SendBody {
    text: Option<String>,
    #[serde(rename = "replyToMessageID")]
    reply_to_message_id: Option<String>,
    attachment: Option<AttachmentBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "an object with uploadID")]
struct AttachmentBody {
    #[serde(rename = "uploadID")]
    upload_id: Option<String>,
    #[serde(rename = "fileName")]
    file_name: Option<String>,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
    #[serde(rename = "type")]
    hint: Option<String>,
    /// Accepted as Beeper does; WhatsApp reads the duration and size from the file itself.
    duration: Option<f64>,
    size: Option<Dimensions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "an object with height and width")]
struct Dimensions {
    height: Option<f64>,
    width: Option<f64>,
}

const EXAMPLE: &str = r#"{"text": "**Hello** from Outbox"}"#;

/// The path's `chatID`, or a 404 when it is not text.
fn chat_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(chat)| chat)
        .map_err(|_| ApiError::NotFound("no chat with that chatID: it is not valid UTF-8".into()))
}

pub async fn send(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let raw_chat = chat_path(path)?;
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    let chat_id = chat_of(&raw_chat)?;
    let request: SendBody = decode_json_like(&bytes, EXAMPLE)?;
    let content = content(request, app.clock.now())?;
    let phone = app.resolve_phone(&caller, &headers).await?;
    let enqueue = || async {
        let accepted =
            app.enqueuer.enqueue_message(&caller.org_id, &phone, ValidatedMessage { chat_id, content }).await?;
        let json = json!({"chatID": raw_chat, "pendingMessageID": accepted.unique_id}).to_string();
        Ok(WorkAnswer { json, keep_until: Some(accepted.expires_at) })
    };
    // The chat is part of what makes a retry "the same request".
    let route = format!("POST /v1/chats/{raw_chat}/messages");
    answer_once(&app, &caller.org_id, idempotency_key, &route, phone.phone_id.as_str(), &bytes, enqueue).await
}

/// The content every dialect sends: the text in WhatsApp's formatting, the reply, the upload.
fn content(request: SendBody, now: Timestamp) -> Result<Content, ValidationError> {
    let text = request.text.map(|text| markdown::to_whatsapp(&text)).filter(|text| !text.is_empty());
    let attachment = request.attachment.map(attachment).transpose()?;
    if text.is_none() && attachment.is_none() {
        return Err(ValidationError::bad_request(
            "empty_message",
            None,
            "nothing to send; give text, an attachment with an uploadID, or both",
        ));
    }
    let raw = RawContent { message: text, attachment, reply_to: request.reply_to_message_id, ..RawContent::default() };
    Content::validate(raw, now).map_err(|err| err.renamed("message", "text").renamed("reply_to", "replyToMessageID"))
}

fn attachment(body: AttachmentBody) -> Result<Attachment, ValidationError> {
    let upload_id = body
        .upload_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| ValidationError::missing_field("attachment.uploadID"))?;
    let kind = body.hint.map(|hint| MediaKind::from_beeper_hint(&hint, "attachment.type")).transpose()?;
    let filename = body.file_name.filter(|f| !f.trim().is_empty());
    let filename = filename.map(|f| check_filename(f, "attachment.fileName")).transpose()?;
    let mimetype = body.mime_type.filter(|m| !m.trim().is_empty());
    let mimetype = mimetype.map(|m| check_mimetype(m, "attachment.mimeType")).transpose()?;
    if body.duration.is_some_and(|d| !d.is_finite() || d < 0.0) {
        return Err(ValidationError::bad_request(
            "invalid_duration",
            Some("attachment.duration"),
            "attachment.duration is seconds, a number of at least 0",
        ));
    }
    let dimensions = body.size.map(|size| [("height", size.height), ("width", size.width)]).unwrap_or_default();
    for (name, value) in dimensions {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            let field = format!("attachment.size.{name}");
            return Err(ValidationError::bad_request(
                "invalid_size",
                Some(&field),
                format!("{field} is pixels, a number of at least 0"),
            ));
        }
    }
    Ok(Attachment::Upload(UploadRef {
        upload_id: parse_upload_id(&upload_id),
        kind,
        filename,
        mimetype,
        field: "attachment.uploadID",
    }))
}
