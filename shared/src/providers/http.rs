//! The `http` provider: each message POSTed as JSON to the user's own endpoint, signed with
//! HMAC-SHA256 so the endpoint can tell it came from this deployment.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{
    DeliveryError, Provider, Receipt, bounded_id, media_link, read_answer, request_error, retry_after,
    retryable_status, snippet,
};
use crate::domain::message::MessageRecord;
use crate::domain::poll::Poll;
use crate::net::signatures::outbox_signature;
use crate::ports::{Clock, MediaStore};
use crate::telemetry::xray::{UrlShown, send_remote};

const NAME: &str = "http";

/// One endpoint, with the secret its requests are signed with.
pub struct HttpEndpoint {
    http: reqwest::Client,
    url: String,
    signing_secret: SecretString,
    media: Arc<dyn MediaStore>,
    /// Stamps `X-Outbox-Timestamp`, which the signature covers.
    clock: Arc<dyn Clock>,
}

/// What the endpoint receives.
#[derive(Serialize)]
struct Payload<'a> {
    queue_id: &'a str,
    unique_id: &'a str,
    org_id: &'a str,
    phone_id: &'a str,
    chat_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    text: Option<&'a str>,
    media: Option<MediaPayload<'a>>,
    poll: Option<PollPayload<'a>>,
    reply_to: Option<&'a str>,
    hide_url_preview: bool,
    /// Custom link-preview fields (`/v1/send`'s `preview`), passed on as given.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    link_preview: &'a BTreeMap<String, String>,
    attempt: u32,
}

#[derive(Serialize)]
struct MediaPayload<'a> {
    /// Outbox's kind (`gif`, `voice_note` and `sticker` included), so the gateway can present it.
    #[serde(rename = "type")]
    kind: &'a str,
    /// The sender's URL, or a time-limited signed link to the staged copy.
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_key: Option<&'a str>,
    filename: &'a str,
    mimetype: &'a str,
}

/// The poll as the sender wrote it, in Periskope's shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PollPayload<'a> {
    poll_name: &'a str,
    poll_options: &'a [String],
    options: PollOptions<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PollOptions<'a> {
    allow_multiple_answers: bool,
    poll_id: Option<&'a str>,
}

impl<'a> From<&'a Poll> for PollPayload<'a> {
    fn from(poll: &'a Poll) -> Self {
        PollPayload {
            poll_name: &poll.name,
            poll_options: &poll.options,
            options: PollOptions {
                allow_multiple_answers: poll.allow_multiple_answers,
                poll_id: poll.poll_id.as_deref(),
            },
        }
    }
}

impl HttpEndpoint {
    pub fn new(
        http: reqwest::Client,
        url: String,
        signing_secret: SecretString,
        media: Arc<dyn MediaStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        HttpEndpoint { http, url, signing_secret, media, clock }
    }

    async fn send(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        let media = match &message.media {
            Some(media) => Some(MediaPayload {
                kind: media.kind.as_str(),
                url: media_link(media, self.media.as_ref(), NAME).await?,
                s3_key: media.s3_key.as_deref(),
                filename: &media.filename,
                mimetype: &media.mimetype,
            }),
            None => None,
        };
        let payload = Payload {
            queue_id: message.queue_id.as_str(),
            unique_id: message.unique_id.as_str(),
            org_id: message.org_id.as_str(),
            phone_id: message.phone_id.as_str(),
            chat_id: message.chat_id.as_str(),
            kind: message.message_type(),
            text: message.text.as_deref(),
            media,
            poll: message.poll.as_ref().map(PollPayload::from),
            reply_to: message.reply_to.as_deref(),
            hide_url_preview: message.hide_url_preview,
            link_preview: &message.link_preview,
            attempt,
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|err| DeliveryError::Permanent(format!("{NAME}: could not encode the message: {err}")))?;
        let timestamp = self.clock.now().epoch_secs();
        let signature = outbox_signature(&self.signing_secret, timestamp, &body);
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Outbox-Timestamp", timestamp)
            .header("X-Outbox-Signature", signature)
            .header("Idempotency-Key", message.queue_id.as_str())
            .body(body);
        // The endpoint's path may carry a credential of its own: the trace shows its origin only.
        let response = send_remote(request, UrlShown::Origin).await.map_err(|err| request_error(NAME, err))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let text = read_answer(NAME, response).await?;
        if status.is_success() {
            let provider_message_id = answered_id(&text).unwrap_or_else(|| format!("http.{}", message.queue_id));
            return Ok(Receipt { provider_message_id });
        }
        let error = format!("{NAME}: the endpoint answered HTTP {}: {}", status.as_u16(), snippet(&text));
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(DeliveryError::SlowDown { retry_after: wait, reason: error });
        }
        Err(if retryable_status(status) { DeliveryError::Transient(error) } else { DeliveryError::Permanent(error) })
    }
}

#[async_trait]
impl Provider for HttpEndpoint {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        self.send(message, attempt).await.map_err(|err| err.redact(&self.signing_secret))
    }
}

/// The endpoint's own id for the message, when its answer names one we keep.
fn answered_id(text: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(text).ok()?;
    ["message_id", "id"]
        .into_iter()
        .find_map(|field| answer.get(field)?.as_str().map(str::to_owned))
        .and_then(bounded_id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_names_every_field_and_polls_keep_periskopes_shape() {
        let poll = Poll {
            name: "Lunch?".into(),
            options: vec!["yes".into(), "no".into()],
            allow_multiple_answers: true,
            poll_id: None,
        };
        let payload = Payload {
            queue_id: "q-1",
            unique_id: "3EB0",
            org_id: "org-1",
            phone_id: "phone-1",
            chat_id: "919537851844@c.us",
            kind: "image",
            text: Some("hi"),
            media: Some(MediaPayload {
                kind: "image",
                url: "https://signed".into(),
                s3_key: Some("media/k"),
                filename: "a.png",
                mimetype: "image/png",
            }),
            poll: Some(PollPayload::from(&poll)),
            reply_to: None,
            hide_url_preview: true,
            link_preview: &BTreeMap::new(),
            attempt: 2,
        };
        assert_eq!(
            serde_json::to_value(&payload).unwrap(),
            json!({
                "queue_id": "q-1", "unique_id": "3EB0", "org_id": "org-1", "phone_id": "phone-1",
                "chat_id": "919537851844@c.us", "type": "image", "text": "hi",
                "media": {"type": "image", "url": "https://signed", "s3_key": "media/k", "filename": "a.png", "mimetype": "image/png"},
                "poll": {"pollName": "Lunch?", "pollOptions": ["yes", "no"], "options": {"allowMultipleAnswers": true, "pollId": null}},
                "reply_to": null, "hide_url_preview": true, "attempt": 2
            })
        );
        let preview = BTreeMap::from([("title".to_string(), "Outbox".to_string())]);
        let with_preview = Payload { link_preview: &preview, media: None, poll: None, ..payload };
        assert_eq!(serde_json::to_value(&with_preview).unwrap()["link_preview"], json!({"title": "Outbox"}));
    }

    #[test]
    fn the_receipt_id_is_message_id_then_id() {
        assert_eq!(answered_id(r#"{"message_id": "m-1", "id": "i-1"}"#).as_deref(), Some("m-1"));
        assert_eq!(answered_id(r#"{"id": "i-1"}"#).as_deref(), Some("i-1"));
        assert_eq!(answered_id(r#"{"id": 7}"#), None);
        assert_eq!(answered_id("ok"), None);
        // At most 256 bytes: a longer id is no id (the queue_id stands in).
        let at_limit = "i".repeat(super::super::MAX_PROVIDER_ID_BYTES);
        assert_eq!(answered_id(&json!({"id": at_limit}).to_string()), Some(at_limit.clone()));
        assert_eq!(answered_id(&json!({"id": format!("{at_limit}i")}).to_string()), None);
    }

    /// A loopback server that takes one request and answers 200 with a 1 GiB body, writing until
    /// the client hangs up; its task returns how many body bytes it managed to write.
    async fn huge_answer_server() -> (String, tokio::task::JoinHandle<usize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("a connection");
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the body by its Content-Length.
            loop {
                let read = socket.read(&mut buffer).await.expect("the request");
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || read == 0 {
                        break;
                    }
                }
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n";
            socket.write_all(head.as_bytes()).await.expect("the head");
            let chunk = vec![b' '; 64 * 1024];
            let mut written = 0usize;
            while written < 1 << 30 {
                match socket.write(&chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => written += n,
                }
            }
            written
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_huge_answer_is_read_only_up_to_64_kib() {
        use crate::adapters::memory::MemoryMedia;
        use crate::domain::message::sending_fixture;
        use crate::domain::tenant::ProviderKind;
        use crate::ports::SystemClock;
        let (url, server) = huge_answer_server().await;
        let endpoint = HttpEndpoint {
            http: super::super::http_client(&crate::net::egress::Egress::new(true)).expect("a client"),
            url,
            signing_secret: "whsec_test".into(),
            media: Arc::new(MemoryMedia::default()),
            clock: Arc::new(SystemClock),
        };
        let message = sending_fixture("phone-1", ProviderKind::Http, "hi");
        let started = std::time::Instant::now();
        let receipt = endpoint.deliver(&message, 1).await.expect("accepted: a 2xx answer");
        // Unreadable as JSON once cut, so the queue_id stands in for the endpoint's id.
        assert_eq!(receipt.provider_message_id, "http.q-1");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let written = server.await.expect("the server");
        // What the kernel's socket buffers took, not the gigabyte.
        assert!(written < 32 << 20, "the server wrote {written} bytes");
    }

    #[tokio::test]
    async fn a_traced_send_records_only_the_endpoints_origin_and_a_429_as_a_throttle() {
        use crate::adapters::memory::MemoryMedia;
        use crate::domain::message::sending_fixture;
        use crate::domain::tenant::ProviderKind;
        use crate::ports::SystemClock;
        use crate::telemetry::xray::in_invocation;
        use crate::telemetry::xray::tests::{FakeDaemon, assert_subsegment_of_the_invocation, sampled_header};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        let busy = axum::Router::new().fallback(|| async { (http::StatusCode::TOO_MANY_REQUESTS, "busy") });
        tokio::spawn(async move { axum::serve(listener, busy).await });
        let endpoint = HttpEndpoint {
            http: super::super::http_client(&crate::net::egress::Egress::new(true)).expect("a client"),
            url: format!("{origin}/hooks/path-credential?token=query-credential"),
            signing_secret: "whsec_test".into(),
            media: Arc::new(MemoryMedia::default()),
            clock: Arc::new(SystemClock),
        };
        let message = sending_fixture("phone-1", ProviderKind::Http, "hi");
        let fake = FakeDaemon::start().await;
        let sent = in_invocation(Some(&fake.daemon()), Some(&sampled_header()), endpoint.deliver(&message, 1)).await;
        assert!(matches!(sent, Err(DeliveryError::SlowDown { .. })), "{sent:?}");
        let documents = fake.documents(Duration::from_secs(2)).await;
        assert_eq!(documents.len(), 1, "{documents:?}");
        let document = &documents[0];
        assert_subsegment_of_the_invocation(document);
        assert_eq!(document["namespace"], "remote");
        assert_eq!(
            document["http"],
            json!({"request": {"method": "POST", "url": origin}, "response": {"status": 429}})
        );
        assert_eq!(
            [&document["error"], &document["throttle"], &document["fault"]],
            [&json!(true), &json!(true), &json!(false)]
        );
        assert!(!document.to_string().contains("credential"), "{document}");
    }
}
