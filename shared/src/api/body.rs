//! Reading a request body: JSON only, at most `max_body_bytes`, and for requests that create
//! messages the `Idempotency-Key` header too.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use http_body_util::BodyExt as _;

use super::error::ApiError;
use super::idempotency::IdempotencyKey;
use super::state::AppState;
use crate::domain::validation::ValidationError;

/// The `Idempotency-Key` (if any) and the JSON body of a request that creates messages.
pub async fn creating_request(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Option<IdempotencyKey>, Bytes), ApiError> {
    let key = headers.get(IdempotencyKey::HEADER).map(|v| IdempotencyKey::parse(v.as_bytes())).transpose()?;
    Ok((key, json_body(app, headers, body).await?))
}

/// A JSON body of at most `max_body_bytes`.
pub async fn json_body(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    require_json(headers)?;
    read_body(body, headers, app.max_body_bytes).await
}

/// JSON bodies only; a missing Content-Type is taken as JSON, as most clients intend.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType { expected: "application/json", got: value.to_string() })
    }
}

/// The body, refused with 413 past `limit` without reading it all. A body that arrives in frames
/// is gathered into one buffer of its declared length, not collected and then copied whole.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let mut body = http_body_util::Limited::new(body, limit);
    let (mut first, mut joined): (Option<Bytes>, Option<BytesMut>) = (None, None);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|err| read_error(err, limit))?.into_data() else { continue };
        match (joined.as_mut(), first.take()) {
            (Some(buffer), _) => buffer.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(head)) => {
                let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).max(head.len() + data.len()));
                buffer.extend_from_slice(&head);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    // A body in one frame (Lambda's, a small one) is kept as it came.
    Ok(joined.map(BytesMut::freeze).or(first).unwrap_or_default())
}

fn read_error(err: axum::BoxError, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return ApiError::BodyTooLarge { limit };
        }
        source = cause.source();
    }
    ApiError::Validation(ValidationError::bad_request("invalid_body", None, "the request body could not be read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_frames(frames: &[&'static str]) -> Body {
        let frames: Vec<Result<Bytes, std::io::Error>> =
            frames.iter().map(|f| Ok(Bytes::from_static(f.as_bytes()))).collect();
        Body::from_stream(futures_util::stream::iter(frames))
    }

    fn declaring(length: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, length.into());
        headers
    }

    #[tokio::test]
    async fn a_body_in_frames_is_read_whole_and_one_over_the_limit_is_413() {
        let body = read_body(in_frames(&["{\"a\"", ": ", "1}"]), &declaring(8), 8).await.expect("within the limit");
        assert_eq!(&body[..], b"{\"a\": 1}");
        let body = read_body(in_frames(&["{}"]), &HeaderMap::new(), 8).await.expect("one frame");
        assert_eq!(&body[..], b"{}");
        let body = read_body(in_frames(&["12345", "6789"]), &HeaderMap::new(), 20).await.expect("undeclared");
        assert_eq!(&body[..], b"123456789");
        let too_long = read_body(in_frames(&["12345", "6789"]), &HeaderMap::new(), 8).await;
        assert!(matches!(too_long, Err(ApiError::BodyTooLarge { limit: 8 })));
        let declared_too_long = read_body(in_frames(&["{}"]), &declaring(9), 8).await;
        assert!(matches!(declared_too_long, Err(ApiError::BodyTooLarge { limit: 8 })));
    }
}
