//! Meta's WhatsApp Cloud API: `POST {graph_url}/{version}/{phone_number_id}/messages` with a bearer token.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DeliveryError, MAX_PROVIDER_ID_BYTES, Provider, Receipt, bounded_id, media_link, read_answer, request_error,
    retryable_status, snippet,
};
use crate::domain::media::MediaKind;
use crate::domain::message::MessageRecord;
use crate::ports::MediaStore;

const NAME: &str = "whatsapp-cloud";

/// Graph error codes Meta documents as temporary: throttling (4 app calls, 80007 account,
/// 130429 throughput, 131048 spam rate, 131056 pair rate) and service trouble (1 unknown,
/// 2 service, 131000 something went wrong, 131016 service unavailable, 133004 server unavailable).
const TRANSIENT_CODES: [i64; 10] = [1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004];

/// One Cloud API phone number, with its access token.
pub struct WhatsappCloud {
    http: reqwest::Client,
    endpoint: String,
    access_token: SecretString,
    media: Arc<dyn MediaStore>,
}

impl WhatsappCloud {
    pub fn new(
        http: reqwest::Client,
        endpoint: String,
        access_token: SecretString,
        media: Arc<dyn MediaStore>,
    ) -> Self {
        WhatsappCloud { http, endpoint, access_token, media }
    }

    /// The messages endpoint of a phone number.
    pub fn endpoint(graph_url: &str, graph_version: &str, phone_number_id: &str) -> String {
        format!("{}/{graph_version}/{phone_number_id}/messages", graph_url.trim_end_matches('/'))
    }

    async fn send(&self, message: &MessageRecord) -> Result<Receipt, DeliveryError> {
        let to = recipient(message)?;
        let link = match &message.media {
            Some(media) => Some(media_link(media, self.media.as_ref(), NAME).await?),
            None => None,
        };
        let body = request_body(message, to, link.as_deref());
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(self.access_token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|err| request_error(NAME, err))?;
        let status = response.status();
        let text = read_answer(NAME, response).await?;
        if status.is_success() { receipt(status, &text) } else { Err(graph_error(status, &text)) }
    }
}

#[async_trait]
impl Provider for WhatsappCloud {
    async fn deliver(&self, message: &MessageRecord, _attempt: u32) -> Result<Receipt, DeliveryError> {
        self.send(message).await.map_err(|err| err.redact(&self.access_token))
    }
}

/// The recipient's number, once the message is known to be one the Cloud API can carry.
fn recipient(message: &MessageRecord) -> Result<&str, DeliveryError> {
    let unsupported = |what: &str| Err(DeliveryError::Permanent(format!("{NAME}: {what}")));
    if message.poll.is_some() {
        return unsupported("polls are not supported by the WhatsApp Cloud API; send the question as text");
    }
    if let Some(media) = &message.media {
        let uncaptioned = matches!(media.kind.whatsapp_type(), "audio" | "sticker");
        if uncaptioned && message.text.is_some() {
            return unsupported(&format!(
                "{} messages cannot carry text on the WhatsApp Cloud API; send the text as its own message",
                media.kind.whatsapp_type()
            ));
        }
    }
    match message.chat_id.digits() {
        Some(digits) => Ok(digits),
        None => unsupported(&format!(
            "the WhatsApp Cloud API cannot send to groups ({}); send to each member's number instead",
            message.chat_id.as_str()
        )),
    }
}

/// The Graph request body: text with its link preview setting, or media by link with the text
/// as caption (and the filename for documents, `voice` for a voice note), plus `context` for a
/// reply. A gif goes as a video: the Cloud API has no gif playback. Custom link-preview fields
/// have no place in the Cloud API either: the default preview is kept.
fn request_body(message: &MessageRecord, to: &str, link: Option<&str>) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
    match message.media.as_ref().zip(link) {
        Some((media, link)) => {
            let kind = media.kind.whatsapp_type();
            let mut object = json!({"link": link});
            if let Some(text) = &message.text {
                object["caption"] = json!(text);
            }
            if media.kind == MediaKind::Document {
                object["filename"] = json!(media.filename);
            }
            if media.kind == MediaKind::VoiceNote {
                object["voice"] = json!(true);
            }
            body["type"] = json!(kind);
            body[kind] = object;
        }
        None => {
            body["type"] = json!("text");
            body["text"] =
                json!({"body": message.text.as_deref().unwrap_or_default(), "preview_url": !message.hide_url_preview});
        }
    }
    if let Some(reply_to) = &message.reply_to {
        body["context"] = json!({"message_id": reply_to});
    }
    body
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

/// The `wamid` of an accepted message. Without one the message may still have been accepted,
/// so it is not retried: a retry could send it twice.
fn receipt(status: StatusCode, text: &str) -> Result<Receipt, DeliveryError> {
    serde_json::from_str::<Accepted>(text)
        .ok()
        .and_then(|accepted| accepted.messages.into_iter().next())
        .and_then(|message| bounded_id(message.id))
        .map(|provider_message_id| Receipt { provider_message_id })
        .ok_or_else(|| {
            DeliveryError::Permanent(format!(
                "{NAME}: HTTP {} without a messages[0].id of at most {MAX_PROVIDER_ID_BYTES} bytes, so whether it was sent is unknown; not retried: {}",
                status.as_u16(),
                snippet(text)
            ))
        })
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: Option<i64>,
    message: Option<String>,
    error_data: Option<GraphErrorData>,
}

#[derive(Deserialize)]
struct GraphErrorData {
    details: Option<String>,
}

/// Classifies a Graph error by its code first, as Meta advises, then by HTTP status.
fn graph_error(status: StatusCode, text: &str) -> DeliveryError {
    let error = serde_json::from_str::<GraphErrorBody>(text).ok().map(|body| body.error);
    let code = error.as_ref().and_then(|error| error.code);
    let description = match &error {
        Some(error) => {
            let details = error.error_data.as_ref().and_then(|data| data.details.as_deref());
            let mut text = match code {
                Some(code) => format!("error {code}"),
                None => "error".to_string(),
            };
            for part in [error.message.as_deref(), details].into_iter().flatten() {
                text.push_str(": ");
                text.push_str(part);
            }
            text
        }
        None => snippet(text),
    };
    let text = format!("{NAME}: HTTP {}, {description}", status.as_u16());
    if code.is_some_and(|code| TRANSIENT_CODES.contains(&code)) || retryable_status(status) {
        DeliveryError::Transient(text)
    } else {
        DeliveryError::Permanent(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat_id::ChatId;
    use crate::domain::message::StoredMedia;
    use crate::domain::message::sending_fixture;
    use crate::domain::poll::Poll;
    use crate::domain::tenant::ProviderKind;

    fn text(body: &str) -> MessageRecord {
        sending_fixture("phone-1", ProviderKind::WhatsappCloud, body)
    }

    fn with_media(kind: MediaKind, caption: Option<&str>) -> MessageRecord {
        let media = StoredMedia {
            kind,
            filename: "report.pdf".into(),
            mimetype: "application/pdf".into(),
            url: None,
            s3_key: Some("media/o/q/report.pdf".into()),
            size: Some(3),
        };
        MessageRecord { media: Some(media), text: caption.map(Into::into), ..text("") }
    }

    fn body_of(message: &MessageRecord, link: Option<&str>) -> Value {
        request_body(message, recipient(message).expect("supported"), link)
    }

    fn permanent_reason(message: &MessageRecord) -> String {
        match recipient(message) {
            Err(DeliveryError::Permanent(reason)) => reason,
            other => panic!("expected a permanent error, got {other:?}"),
        }
    }

    #[test]
    fn endpoints_join_url_version_and_phone_number_id() {
        assert_eq!(
            WhatsappCloud::endpoint("https://graph.facebook.com/", "v21.0", "1065"),
            "https://graph.facebook.com/v21.0/1065/messages"
        );
    }

    #[test]
    fn a_text_goes_to_the_digits_with_its_preview_setting_and_reply_context() {
        let message = MessageRecord { reply_to: Some("wamid.ABC".into()), ..text("see https://example.com") };
        assert_eq!(
            body_of(&message, None),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "919537851844",
                "type": "text", "text": {"body": "see https://example.com", "preview_url": true},
                "context": {"message_id": "wamid.ABC"}
            })
        );
        let hidden = MessageRecord { hide_url_preview: true, ..text("x") };
        assert_eq!(body_of(&hidden, None)["text"]["preview_url"], false);
        assert!(body_of(&hidden, None).get("context").is_none());
    }

    #[test]
    fn media_goes_by_link_with_the_text_as_caption_and_documents_keep_their_filename() {
        let link = Some("https://bucket.s3/signed");
        let document = body_of(&with_media(MediaKind::Document, Some("Q4")), link);
        assert_eq!(document["type"], "document");
        assert_eq!(
            document["document"],
            json!({"link": "https://bucket.s3/signed", "caption": "Q4", "filename": "report.pdf"})
        );
        let image = body_of(&with_media(MediaKind::Image, None), link);
        assert_eq!(
            (image["type"].clone(), image["image"].clone()),
            (json!("image"), json!({"link": "https://bucket.s3/signed"}))
        );
        let audio = body_of(&with_media(MediaKind::Audio, None), link);
        assert_eq!(audio["audio"], json!({"link": "https://bucket.s3/signed"}));
        assert!(audio.get("text").is_none());
    }

    #[test]
    fn voice_notes_gifs_and_stickers_go_as_the_cloud_apis_types() {
        let link = Some("https://bucket.s3/signed");
        let voice = body_of(&with_media(MediaKind::VoiceNote, None), link);
        assert_eq!(
            (voice["type"].clone(), voice["audio"].clone()),
            (json!("audio"), json!({"link": link, "voice": true}))
        );
        let gif = body_of(&with_media(MediaKind::Gif, Some("ha")), link);
        assert_eq!(
            (gif["type"].clone(), gif["video"].clone()),
            (json!("video"), json!({"link": link, "caption": "ha"}))
        );
        let sticker = body_of(&with_media(MediaKind::Sticker, None), link);
        assert_eq!((sticker["type"].clone(), sticker["sticker"].clone()), (json!("sticker"), json!({"link": link})));
        for kind in [MediaKind::Sticker, MediaKind::VoiceNote] {
            assert!(permanent_reason(&with_media(kind, Some("hi"))).contains("cannot carry text"), "{kind:?}");
        }
    }

    #[test]
    fn groups_polls_and_captioned_audio_are_refused_permanently() {
        let group = MessageRecord { chat_id: ChatId::parse("120363025246125486@g.us").unwrap(), ..text("hi") };
        assert!(permanent_reason(&group).contains("cannot send to groups"));
        let poll = Poll {
            name: "Lunch?".into(),
            options: vec!["yes".into(), "no".into()],
            allow_multiple_answers: false,
            poll_id: None,
        };
        let poll = MessageRecord { poll: Some(poll), text: None, ..text("") };
        assert!(permanent_reason(&poll).contains("polls are not supported by the WhatsApp Cloud API"));
        assert!(
            permanent_reason(&with_media(MediaKind::Audio, Some("listen")))
                .contains("audio messages cannot carry text")
        );
    }

    #[test]
    fn the_receipt_is_the_first_message_id() {
        let accepted = r#"{"messaging_product":"whatsapp","contacts":[{"input":"919537851844","wa_id":"919537851844"}],"messages":[{"id":"wamid.HBgL"}]}"#;
        assert_eq!(receipt(StatusCode::OK, accepted), Ok(Receipt { provider_message_id: "wamid.HBgL".into() }));
        assert!(matches!(receipt(StatusCode::OK, r#"{"messages":[]}"#), Err(DeliveryError::Permanent(_))));
        assert!(matches!(receipt(StatusCode::OK, "<html>"), Err(DeliveryError::Permanent(_))));
        // An id longer than 256 bytes is not kept: no id, so not retried.
        let long = json!({"messages": [{"id": "w".repeat(MAX_PROVIDER_ID_BYTES + 1)}]}).to_string();
        assert!(matches!(receipt(StatusCode::OK, &long), Err(DeliveryError::Permanent(_))));
        let at_limit = json!({"messages": [{"id": "w".repeat(MAX_PROVIDER_ID_BYTES)}]}).to_string();
        assert!(receipt(StatusCode::OK, &at_limit).is_ok());
    }

    fn graph(status: u16, code: i64) -> DeliveryError {
        let body = json!({"error": {"message": format!("(#{code}) title"), "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "why"}, "fbtrace_id": "A1"}});
        graph_error(StatusCode::from_u16(status).unwrap(), &body.to_string())
    }

    #[test]
    fn temporary_graph_codes_and_statuses_are_transient_the_rest_permanent() {
        for (status, code) in [
            (400, 131000),
            (400, 131056),
            (400, 131048),
            (429, 130429),
            (400, 4),
            (400, 80007),
            (500, 1),
            (503, 2),
            (500, 131016),
            (503, 133004),
            (500, 3),
        ] {
            assert!(matches!(graph(status, code), DeliveryError::Transient(_)), "{status} {code}");
        }
        for (status, code) in
            [(400, 131026), (401, 190), (400, 100), (403, 10), (400, 131047), (400, 131008), (403, 368)]
        {
            assert!(matches!(graph(status, code), DeliveryError::Permanent(_)), "{status} {code}");
        }
        assert!(matches!(
            graph_error(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>"),
            DeliveryError::Transient(_)
        ));
        assert!(matches!(graph_error(StatusCode::NOT_FOUND, ""), DeliveryError::Permanent(_)));
    }

    #[test]
    fn graph_errors_name_the_code_title_and_details() {
        assert_eq!(graph(400, 131026).to_string(), "whatsapp-cloud: HTTP 400, error 131026: (#131026) title: why");
    }
}
