//! `POST /v1/assets/upload`: multipart/form-data with a `file` part and optional `fileName` and
//! `mimeType` parts. Every part is bounded: the file by the body limit, the text parts by
//! `MAX_MULTIPART_TEXT_BYTES`, their number by `MAX_MULTIPART_PARTS`.

pub mod base64;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use serde_json::Value;

use super::uploaded;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::limits::{MAX_MULTIPART_PARTS, MAX_MULTIPART_TEXT_BYTES};
use crate::domain::upload::name_file;
use crate::domain::validation::ValidationError;

/// What the parts said.
#[derive(Default)]
struct Parts {
    file: Option<Bytes>,
    /// The `file` part's own file name and Content-Type.
    part_name: Option<String>,
    part_type: Option<String>,
    file_name: Option<String>,
    mime_type: Option<String>,
}

pub async fn upload(State(app): State<AppState>, caller: Caller, request: Request) -> Result<Json<Value>, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(ApiError::UnsupportedMediaType { expected: "multipart/form-data", got: content_type.to_string() });
    }
    let limit = app.max_body_bytes;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    // The route turns axum's 2 MB default off; this is the one limit, read as the body streams.
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let mut multipart = Multipart::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|_| invalid("the body is not multipart/form-data with a boundary"))?;
    let parts = read_parts(&mut multipart, limit).await?;
    let Some(file) = parts.file else { return Err(ValidationError::missing_field("file").into()) };
    if file.is_empty() {
        return Err(ValidationError::bad_request("empty_file", Some("file"), "file is empty").into());
    }
    // A generic part type says nothing; the file's own bytes say more.
    let part_type = parts.part_type.filter(|t| t != "application/octet-stream");
    let facts = name_file(&file, parts.file_name.or(parts.part_name), parts.mime_type.or(part_type), "")?;
    let upload = app.uploads.store_file(&caller.org_id, facts, file.to_vec()).await?;
    Ok(Json(uploaded(&upload)))
}

async fn read_parts(multipart: &mut Multipart, limit: usize) -> Result<Parts, ApiError> {
    let mut parts = Parts::default();
    for _ in 0..MAX_MULTIPART_PARTS {
        let Some(field) = multipart.next_field().await.map_err(multipart_error(limit))? else { return Ok(parts) };
        match field.name().unwrap_or_default() {
            "file" if parts.file.is_some() => {
                return Err(
                    ValidationError::bad_request("invalid_multipart", Some("file"), "send one file part").into()
                );
            }
            "file" => {
                parts.part_name = field.file_name().map(str::to_string);
                parts.part_type = field.content_type().map(str::to_string);
                parts.file = Some(read_field(field, limit, limit).await?);
            }
            "fileName" => parts.file_name = Some(text(field, "fileName", limit).await?),
            "mimeType" => parts.mime_type = Some(text(field, "mimeType", limit).await?),
            // Unknown parts are read past, within the same bounds.
            _ => drop(read_field(field, limit, MAX_MULTIPART_TEXT_BYTES).await?),
        }
    }
    match multipart.next_field().await.map_err(multipart_error(limit))? {
        None => Ok(parts),
        Some(_) => Err(invalid(&format!("at most {MAX_MULTIPART_PARTS} parts are read: file, fileName and mimeType"))),
    }
}

/// A part's bytes, refused past `max` (413 for the file, whose bound is the body limit).
async fn read_field(mut field: Field<'_>, body_limit: usize, max: usize) -> Result<Bytes, ApiError> {
    let name = field.name().unwrap_or_default().to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error(body_limit))? {
        if bytes.len() + chunk.len() > max {
            return Err(if max >= body_limit {
                ApiError::BodyTooLarge { limit: body_limit }
            } else {
                ValidationError::bad_request("too_long", Some(&name), format!("{name} is longer than {max} bytes"))
                    .into()
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

async fn text(field: Field<'_>, name: &str, body_limit: usize) -> Result<String, ApiError> {
    let bytes = read_field(field, body_limit, MAX_MULTIPART_TEXT_BYTES).await?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ValidationError::bad_request("invalid_multipart", Some(name), format!("{name} is not UTF-8 text")).into()
    })
}

fn invalid(message: &str) -> ApiError {
    ValidationError::bad_request("invalid_multipart", None, message).into()
}

/// The body limit reached is 413; anything else wrong with the parts is a 400.
fn multipart_error(limit: usize) -> impl Fn(MultipartError) -> ApiError {
    move |err| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge { limit }
        } else {
            invalid(&format!("the multipart body could not be read: {}", err.body_text()))
        }
    }
}
