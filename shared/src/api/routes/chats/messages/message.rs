//! `GET /v1/chats/{chatID}/messages/{messageID}`: a message sent to that chat, by its
//! `pendingMessageID` (or any id Outbox gave it), in the Beeper API's shape plus Outbox's `status`.
//! A message of another chat or org is not found.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::super::chat_of;
use crate::api::routes::message::find_message;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::media::MediaKind;
use crate::domain::message::{MessageRecord, StoredMedia};
use crate::domain::receipt::ack;

pub async fn message(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((raw_chat, message_id)) = path.map_err(|_| {
        ApiError::NotFound("no message with that chatID and messageID: they are not valid UTF-8".into())
    })?;
    let chat_id = chat_of(&raw_chat)?;
    let record = find_message(&app, &caller, &message_id).await?;
    if record.chat_id != chat_id {
        return Err(ApiError::NotFound(format!("no message with id {message_id:?} in chat {raw_chat:?}")));
    }
    // The sender is the phone's number; a phone removed since shows its id.
    let phones = app.phones_of(&caller).await?;
    let sender = phones.iter().find(|p| p.phone_id == record.phone_id).map(|p| p.number.clone());
    Ok(Json(beeper_message(&record, &raw_chat, sender.unwrap_or_else(|| record.phone_id.to_string()))))
}

fn beeper_message(record: &MessageRecord, chat: &str, sender: String) -> Value {
    let queued_at = record.timeline.queued_at;
    json!({
        "id": record.unique_id,
        "accountID": record.phone_id,
        "chatID": chat,
        "senderID": sender,
        "sortKey": format!("{:013}{}", queued_at.epoch_millis(), record.unique_id),
        "timestamp": queued_at,
        "isSender": true,
        "text": record.text,
        "attachments": record.media.iter().map(attachment).collect::<Vec<_>>(),
        "status": record.status.as_str(),
        "ack": ack(record.status),
    })
}

/// Beeper's attachment: its coarse type plus the flags that tell a gif, sticker or voice note.
fn attachment(media: &StoredMedia) -> Value {
    let kind = match media.kind.whatsapp_type() {
        "image" | "sticker" => "img",
        "video" => "video",
        "audio" => "audio",
        _ => "unknown",
    };
    json!({
        "type": kind,
        "fileName": media.filename,
        "mimeType": media.mimetype,
        "fileSize": media.size,
        "srcURL": media.url,
        "isGif": media.kind == MediaKind::Gif,
        "isSticker": media.kind == MediaKind::Sticker,
        "isVoiceNote": media.kind == MediaKind::VoiceNote,
    })
}
