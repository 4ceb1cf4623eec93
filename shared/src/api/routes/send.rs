//! `POST /v1/send` (seed 003, the generic send API): `{session, to, text, imageUrl | videoUrl |
//! documentUrl | audioUrl, mimetype, filename, preview}`, translated here into the content every
//! dialect sends and answered in the seed's shape, `{id, to, content, type, timestamp, status,
//! fromMe, sender, recipient}`. The `id` is the message's unique_id.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::api::body::creating_request;
use crate::api::idempotency::{WorkAnswer, answer_once};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::chat_id::ChatId;
use crate::domain::content::Content;
use crate::domain::content::RawContent;
use crate::domain::media::{
    Attachment, Media, MediaKind, MediaSource, check_filename, check_mimetype, guess_mimetype, parse_url,
};
use crate::domain::send::ValidatedMessage;
use crate::domain::time::Timestamp;
use crate::domain::validation::ValidationError;
use crate::domain::wire::decode_json_like;

/// The body, field names exactly as in seed 003.
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
struct SendBody {
    session: Option<String>,
    to: Option<String>,
    text: Option<String>,
    #[serde(rename = "imageUrl")]
    image_url: Option<String>,
    #[serde(rename = "videoUrl")]
    video_url: Option<String>,
    #[serde(rename = "documentUrl")]
    document_url: Option<String>,
    #[serde(rename = "audioUrl")]
    audio_url: Option<String>,
    mimetype: Option<String>,
    filename: Option<String>,
    preview: Option<BTreeMap<String, String>>,
}

const EXAMPLE: &str = r#"{"session": "15550100000", "to": "+919537851844", "text": "Hello"}"#;

/// The seed's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendAnswer {
    id: String,
    to: String,
    content: String,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: Timestamp,
    status: &'static str,
    from_me: bool,
    sender: String,
    recipient: String,
}

pub async fn send(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    let request: SendBody = decode_json_like(&bytes, EXAMPLE)?;
    let session = required(request.session.as_deref(), "session")?.trim_start_matches('+').to_string();
    let to = required(request.to.as_deref(), "to")?.to_string();
    let chat_id = ChatId::parse_recipient(&to, "to")?;
    let (message, kind) = content(request, app.clock.now())?;
    let shown = message.text.clone().or_else(|| media_url(&message.media)).unwrap_or_default();
    let phone = app.find_phone(&caller, Some(&session), "session").await?;
    let recipient = chat_id.as_str().to_string();
    let enqueue = || async {
        let accepted = app
            .enqueuer
            .enqueue_message(&caller.org_id, &phone, ValidatedMessage { chat_id, content: message })
            .await?;
        let answer = SendAnswer {
            id: accepted.unique_id.to_string(),
            to,
            content: shown,
            kind,
            timestamp: accepted.queued_at,
            status: "queued",
            from_me: true,
            sender: format!("+{}", phone.number),
            recipient,
        };
        let json = serde_json::to_string(&answer).unwrap_or_default();
        Ok(WorkAnswer { json, keep_until: Some(accepted.expires_at) })
    };
    answer_once(&app, &caller.org_id, idempotency_key, "POST /v1/send", phone.phone_id.as_str(), &bytes, enqueue).await
}

fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, ValidationError> {
    value.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| ValidationError::missing_field(field))
}

/// The message's content, and its type as the seed names it (`text`, `image`, `video`,
/// `document`, or `ptt` for audio, which goes as a voice note).
fn content(request: SendBody, now: Timestamp) -> Result<(Content, &'static str), ValidationError> {
    let urls = [
        ("imageUrl", request.image_url, MediaKind::Image, "image"),
        ("videoUrl", request.video_url, MediaKind::Video, "video"),
        ("documentUrl", request.document_url, MediaKind::Document, "document"),
        ("audioUrl", request.audio_url, MediaKind::VoiceNote, "ptt"),
    ];
    let mut given = urls.into_iter().filter_map(|(field, url, kind, name)| {
        url.filter(|u| !u.trim().is_empty()).map(|url| (field, url, kind, name))
    });
    let first = given.next();
    if let Some((field, ..)) = given.next() {
        return Err(ValidationError::bad_request(
            "invalid_media_source",
            Some(field),
            "give at most one of imageUrl, videoUrl, documentUrl or audioUrl",
        ));
    }
    let text = request.text.filter(|t| !t.is_empty());
    if text.is_none() && first.is_none() {
        return Err(ValidationError::bad_request(
            "empty_message",
            None,
            "nothing to send; give text, a media URL (imageUrl, videoUrl, documentUrl or audioUrl), or both",
        ));
    }
    let (attachment, kind) = match first {
        None => (None, "text"),
        Some((field, url, kind, name)) => {
            let url = parse_url(url, field)?;
            let filename = match request.filename.filter(|f| !f.trim().is_empty()) {
                Some(filename) => check_filename(filename, "filename")?,
                None => file_name_of(&url),
            };
            let mimetype = match request.mimetype.filter(|m| !m.trim().is_empty()) {
                Some(mimetype) => check_mimetype(mimetype, "mimetype")?,
                None => guess_mimetype(&filename).unwrap_or("application/octet-stream").to_string(),
            };
            let media = Media { kind, source: MediaSource::Url(url), filename, mimetype };
            (Some(Attachment::Media(media)), name)
        }
    };
    let raw = RawContent { message: text, attachment, link_preview: request.preview, ..RawContent::default() };
    let content = Content::validate(raw, now).map_err(|err| err.renamed("message", "text"))?;
    Ok((content, kind))
}

/// The URL's last path segment, the name a client would save it under; `file` when it has none.
fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().filter(|_| path.matches('/').count() > 2).unwrap_or_default();
    // Percent-decoded as a form value would be, with a literal '+' kept as it is in a path.
    let encoded = format!("n={}", last.replace('+', "%2B"));
    let name = url::form_urlencoded::parse(encoded.as_bytes()).next().map(|(_, v)| v.into_owned());
    name.filter(|n| !n.trim().is_empty()).map(|n| n.chars().take(255).collect()).unwrap_or_else(|| "file".into())
}

fn media_url(media: &Option<Attachment>) -> Option<String> {
    match media {
        Some(Attachment::Media(Media { source: MediaSource::Url(url), .. })) => Some(url.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_file_name_is_its_last_segment() {
        assert_eq!(file_name_of("https://cdn.example.com/a/b/photo%20one.jpg?x=1#f"), "photo one.jpg");
        assert_eq!(file_name_of("https://cdn.example.com/c++.pdf"), "c++.pdf");
        assert_eq!(file_name_of("https://cdn.example.com/"), "file");
        assert_eq!(file_name_of("https://cdn.example.com"), "file");
    }
}
