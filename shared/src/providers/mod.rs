//! Providers: whoever finally hands a message to WhatsApp (or, for `sandbox`, pretends to). The
//! `Provider` trait and what the real ones share live here; `registry` picks one per message and
//! `credentials` loads a phone's.

mod credentials;
pub mod http;
mod registry;
pub mod sandbox;
pub mod whatsapp_cloud;

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::message::{MessageRecord, StoredMedia};
use crate::net::egress::{Egress, refusal_in};
use crate::ports::MediaStore;
use crate::telemetry::chain;
pub use credentials::Credentials;
pub use registry::Providers;

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
}

/// Why a provider did not take a message; the variant alone decides whether it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    /// The provider asked us to slow down (a rate limit): try again later, after `retry_after`
    /// when it said how long, without counting this as one of the message's attempts.
    #[error("{reason}")]
    SlowDown { retry_after: Option<Duration>, reason: String },
}

impl DeliveryError {
    /// The same error with `secret` masked, so that no recorded error carries a credential,
    /// whatever a provider echoed back.
    fn redact(self, secret: &SecretString) -> DeliveryError {
        let secret = secret.expose_secret();
        let mask = |text: String| if secret.is_empty() { text } else { text.replace(secret, "[redacted]") };
        match self {
            DeliveryError::Transient(text) => DeliveryError::Transient(mask(text)),
            DeliveryError::Permanent(text) => DeliveryError::Permanent(mask(text)),
            DeliveryError::SlowDown { retry_after, reason } => {
                DeliveryError::SlowDown { retry_after, reason: mask(reason) }
            }
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// Delivers `message`; `attempt` counts from 1.
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError>;
}

/// How long a connection to a provider may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole provider call, below the delivery lease (30 s in AWS) so a hung call ends as a
/// transient error before `deliver_job`'s own budget runs out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a provider's answer that is read; the rest is never received into memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest provider message id kept; a longer one is treated as no id.
pub const MAX_PROVIDER_ID_BYTES: usize = 256;
/// How long a provider may fetch staged media through its signed link.
const MEDIA_LINK_TTL: Duration = Duration::from_secs(3600);

/// The HTTP client the real providers share: rustls over the aws-lc-rs provider the AWS SDK uses,
/// connecting only where `egress` allows (which also rules out redirects: an endpoint is
/// configured exactly, and a redirect would re-send the message somewhere else).
fn http_client(egress: &Egress) -> reqwest::Result<reqwest::Client> {
    egress
        .client_builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("outbox/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A request that never got an answer: retried, unless it could not even be built or its target
/// is one the egress rules refuse (that stays so until the phone is changed).
fn request_error(provider: &str, err: reqwest::Error) -> DeliveryError {
    if let Some(refused) = refusal_in(&err) {
        return DeliveryError::Permanent(format!("{provider}: the endpoint may not be reached: {refused}"));
    }
    if err.is_timeout() {
        return DeliveryError::Transient(format!(
            "{provider}: the request timed out ({} s to connect, {} s in all)",
            CONNECT_TIMEOUT.as_secs(),
            REQUEST_TIMEOUT.as_secs()
        ));
    }
    let builder = err.is_builder();
    // The URL is left out: an http provider's URL may carry credentials of its own.
    let err = err.without_url();
    let text = format!("{provider}: the request failed: {}", chain(&err));
    if builder { DeliveryError::Permanent(text) } else { DeliveryError::Transient(text) }
}

/// A provider's answer, read chunk by chunk up to `MAX_RESPONSE_BYTES` and cut there: a
/// misbehaving endpoint cannot make the consumer buffer more, however much it sends.
async fn read_answer(provider: &str, mut response: reqwest::Response) -> Result<String, DeliveryError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| request_error(provider, err))? {
        let room = MAX_RESPONSE_BYTES - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            tracing::warn!(
                provider,
                limit = MAX_RESPONSE_BYTES,
                "the answer is longer than the limit; the rest is not read"
            );
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A provider's message id, if it is one we keep: non-empty and at most `MAX_PROVIDER_ID_BYTES`.
fn bounded_id(id: String) -> Option<String> {
    (!id.is_empty() && id.len() <= MAX_PROVIDER_ID_BYTES).then_some(id)
}

/// Statuses that say "not now" rather than "never": timeouts, too early, rate limits, server trouble.
fn retryable_status(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error()
}

/// A `Retry-After` header in delta-seconds, the form rate limiters send; an HTTP date or anything
/// else is ignored (the caller's backoff applies).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The start of a response body, for an error message.
fn snippet(body: &str) -> String {
    const MAX_CHARS: usize = 300;
    let body = body.trim();
    if body.is_empty() {
        return "(empty body)".into();
    }
    match body.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_string(),
    }
}

/// A link the provider can fetch the media from: the sender's own URL, or a signed link to the staged copy.
async fn media_link(media: &StoredMedia, store: &dyn MediaStore, provider: &str) -> Result<String, DeliveryError> {
    match (&media.url, &media.s3_key) {
        (Some(url), _) => Ok(url.clone()),
        (None, Some(key)) => store.presigned_url(key, MEDIA_LINK_TTL).await.map_err(|err| {
            DeliveryError::Transient(format!("{provider}: could not sign a link to the staged media: {}", chain(&err)))
        }),
        (None, None) => Err(DeliveryError::Permanent(format!(
            "{provider}: the message's media has neither a url nor a staged file"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_every_occurrence_and_keeps_the_variant() {
        let err = DeliveryError::Permanent("token EAAB-1 rejected; EAAB-1 expired".into()).redact(&"EAAB-1".into());
        assert_eq!(err, DeliveryError::Permanent("token [redacted] rejected; [redacted] expired".into()));
        let err = DeliveryError::Transient("nothing to hide".into()).redact(&"".into());
        assert_eq!(err, DeliveryError::Transient("nothing to hide".into()));
    }

    #[test]
    fn only_timeouts_rate_limits_and_server_errors_are_retryable() {
        for code in [408, 425, 429, 500, 502, 503, 504] {
            assert!(retryable_status(reqwest::StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 301, 400, 401, 403, 404, 409, 410, 413, 422] {
            assert!(!retryable_status(reqwest::StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn retry_after_takes_delta_seconds_only() {
        use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            retry_after(&headers)
        };
        assert_eq!(with("30"), Some(Duration::from_secs(30)));
        assert_eq!(with(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn redaction_keeps_a_slow_down_and_its_delay() {
        let err =
            DeliveryError::SlowDown { retry_after: Some(Duration::from_secs(7)), reason: "tok-9 throttled".into() }
                .redact(&"tok-9".into());
        assert_eq!(
            err,
            DeliveryError::SlowDown {
                retry_after: Some(Duration::from_secs(7)),
                reason: "[redacted] throttled".into()
            }
        );
    }

    #[test]
    fn snippets_are_trimmed_and_bounded_on_char_boundaries() {
        assert_eq!(snippet("  \n"), "(empty body)");
        assert_eq!(snippet(" short "), "short");
        let long = "é".repeat(400);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
    }

    #[tokio::test]
    async fn media_links_use_the_url_or_sign_the_staged_copy() {
        use crate::adapters::memory::MemoryMedia;
        use crate::domain::media::MediaKind;
        let store = MemoryMedia::default();
        let media = StoredMedia {
            kind: MediaKind::Image,
            filename: "a.png".into(),
            mimetype: "image/png".into(),
            url: Some("https://cdn.example.com/a.png".into()),
            s3_key: None,
            size: None,
        };
        assert_eq!(media_link(&media, &store, "p").await.unwrap(), "https://cdn.example.com/a.png");
        let staged = StoredMedia { url: None, s3_key: Some("media/o/q/a.png".into()), ..media.clone() };
        assert_eq!(
            media_link(&staged, &store, "p").await.unwrap(),
            "https://media.invalid/media/o/q/a.png?expires_in=3600"
        );
        let neither = StoredMedia { url: None, s3_key: None, ..media };
        assert!(matches!(media_link(&neither, &store, "p").await, Err(DeliveryError::Permanent(_))));
    }
}
