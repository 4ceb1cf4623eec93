//! Meta's WhatsApp Cloud API: `POST {graph_url}/{version}/{phone_number_id}/messages` with a bearer token.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DeliveryError, MAX_PROVIDER_ID_BYTES, Provider, Receipt, bounded_id, media_link, read_answer, request_error,
    retry_after, retryable_status, snippet,
};
use crate::domain::capabilities::{Shape, refusal};
use crate::domain::media::MediaKind;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::ProviderKind;
use crate::ports::MediaStore;
use crate::telemetry::xray::{UrlShown, send_remote};

const NAME: &str = "whatsapp-cloud";

/// Graph error codes Meta documents as temporary: throttling (4 app calls, 80007 account,
/// 130429 throughput, 131048 spam rate, 131056 pair rate) and service trouble (1 unknown,
/// 2 service, 131000 something went wrong, 131016 service unavailable, 133004 server unavailable).
const TRANSIENT_CODES: [i64; 10] = [1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004];
/// Of those, the ones that mean "slow down" for this number: 130429 (the number's throughput, 80
/// messages/s by default) and 131056 (too many messages to one recipient); they wait without
/// using an attempt, like an HTTP 429.
const SLOW_DOWN_CODES: [i64; 2] = [130429, 131056];

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
        let request = self.http.post(&self.endpoint).bearer_auth(self.access_token.expose_secret()).json(&body);
        // The path is the phone number id and version; the token travels in a header, never recorded.
        let response = send_remote(request, UrlShown::Path).await.map_err(|err| request_error(NAME, err))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let text = read_answer(NAME, response).await?;
        if status.is_success() { receipt(status, &text) } else { Err(graph_error(status, &text, wait)) }
    }
}

#[async_trait]
impl Provider for WhatsappCloud {
    async fn deliver(&self, message: &MessageRecord, _attempt: u32) -> Result<Receipt, DeliveryError> {
        self.send(message).await.map_err(|err| err.redact(&self.access_token))
    }
}

/// The recipient's number, once the message is known to be one the Cloud API can carry (the
/// capability table the send checked too; a message queued before it is refused here).
fn recipient(message: &MessageRecord) -> Result<&str, DeliveryError> {
    if let Some(reason) = refusal(ProviderKind::WhatsappCloud, Shape::of_record(message)) {
        return Err(DeliveryError::Permanent(reason));
    }
    message.chat_id.digits().ok_or_else(|| {
        DeliveryError::Permanent(format!("{NAME}: chat {} has no phone number", message.chat_id.as_str()))
    })
}

/// The Graph request body: text with its link preview setting, or media by link with the text
/// as caption (and the filename for documents, `voice` for a voice note), plus `context` for a
/// reply, and our queue_id as `biz_opaque_callback_data`. A gif goes as a video: the Cloud API has no gif playback. Custom link-preview fields
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
    // Meta echoes it in this message's status webhooks: the receipt finds the record by GetItem.
    body["biz_opaque_callback_data"] = json!(message.queue_id);
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

/// Classifies a Graph error by its code first, as Meta advises, then by HTTP status;
/// `retry_after` is the answer's `Retry-After`, if any.
fn graph_error(status: StatusCode, text: &str, retry_after: Option<Duration>) -> DeliveryError {
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
    if status == StatusCode::TOO_MANY_REQUESTS || code.is_some_and(|code| SLOW_DOWN_CODES.contains(&code)) {
        return DeliveryError::SlowDown { retry_after, reason: text };
    }
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
                "context": {"message_id": "wamid.ABC"}, "biz_opaque_callback_data": "q-1"
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
        assert!(permanent_reason(&poll).contains("cannot send polls"));
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
        graph_error(StatusCode::from_u16(status).unwrap(), &body.to_string(), None)
    }

    #[test]
    fn temporary_graph_codes_and_statuses_are_transient_the_rest_permanent() {
        for (status, code) in [
            (400, 131000),
            (400, 131048),
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
            graph_error(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>", None),
            DeliveryError::Transient(_)
        ));
        assert!(matches!(graph_error(StatusCode::NOT_FOUND, "", None), DeliveryError::Permanent(_)));
    }

    #[test]
    fn throughput_and_pair_rate_limits_and_429s_are_slow_downs_with_their_retry_after() {
        for (status, code) in [(429, 130429), (400, 130429), (400, 131056), (429, 4)] {
            assert!(
                matches!(graph(status, code), DeliveryError::SlowDown { retry_after: None, .. }),
                "{status} {code}"
            );
        }
        let wait = Some(Duration::from_secs(12));
        match graph_error(StatusCode::TOO_MANY_REQUESTS, "", wait) {
            DeliveryError::SlowDown { retry_after, reason } => {
                assert_eq!(retry_after, wait);
                assert_eq!(reason, "whatsapp-cloud: HTTP 429, (empty body)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn graph_errors_name_the_code_title_and_details() {
        assert_eq!(graph(400, 131026).to_string(), "whatsapp-cloud: HTTP 400, error 131026: (#131026) title: why");
    }

    #[tokio::test]
    async fn a_traced_send_is_a_remote_subsegment_with_the_path_and_never_the_token() {
        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use crate::adapters::memory::MemoryMedia;
        use crate::net::egress::Egress;
        use crate::telemetry::xray::in_invocation;
        use crate::telemetry::xray::tests::{FakeDaemon, assert_subsegment_of_the_invocation, sampled_header};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        let authorization = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&authorization);
        let graph = axum::Router::new().fallback(move |headers: http::HeaderMap| async move {
            *seen.lock().expect("not poisoned") = headers.get("authorization").cloned();
            r#"{"messages": [{"id": "wamid.1"}]}"#
        });
        tokio::spawn(async move { axum::serve(listener, graph).await });
        let provider = WhatsappCloud::new(
            super::super::http_client(&Egress::new(true)).expect("a client"),
            WhatsappCloud::endpoint(&origin, "v21.0", "1065"),
            "EAAG-secret-token".into(),
            Arc::new(MemoryMedia::default()),
        );
        let fake = FakeDaemon::start().await;
        let sent = in_invocation(Some(&fake.daemon()), Some(&sampled_header()), provider.deliver(&text("hi"), 1)).await;
        assert_eq!(sent.expect("accepted").provider_message_id, "wamid.1");
        // The token went to the Graph API, in its header...
        let header = authorization.lock().expect("not poisoned").clone().expect("an Authorization header");
        assert_eq!(header, "Bearer EAAG-secret-token");
        let documents = fake.documents(Duration::from_secs(2)).await;
        assert_eq!(documents.len(), 1, "{documents:?}");
        let document = &documents[0];
        assert_subsegment_of_the_invocation(document);
        assert_eq!(document["namespace"], "remote");
        assert_eq!(document["name"], "127.0.0.1");
        assert_eq!(
            document["http"],
            json!({"request": {"method": "POST", "url": format!("{origin}/v21.0/1065/messages")}, "response": {"status": 200}})
        );
        assert_eq!([&document["error"], &document["throttle"], &document["fault"]], [&json!(false); 3]);
        // ...and into no part of the trace.
        assert!(!document.to_string().contains("secret-token"), "{document}");
    }
}
