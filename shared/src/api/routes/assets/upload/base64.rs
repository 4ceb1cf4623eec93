//! `POST /v1/assets/upload/base64`: `{content, fileName, mimeType}`, the file as base64 in JSON.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

use super::super::uploaded;
use crate::api::body::json_body;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::media::decode_base64;
use crate::domain::upload::{Base64Upload, name_file};
use crate::domain::validation::ValidationError;

pub async fn upload(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = json_body(&app, &headers, body).await?;
    let request = Base64Upload::from_json(&bytes)?;
    let content =
        request.content.filter(|c| !c.trim().is_empty()).ok_or_else(|| ValidationError::missing_field("content"))?;
    // The body limit already bounds the decoded size (about 4.5 MiB); the send checks the kind's.
    let file = decode_base64(&content, "content", None)?;
    let facts = name_file(&file, request.file_name, request.mime_type, "")?;
    let upload = app.uploads.store_file(&caller.org_id, facts, file).await?;
    Ok(Json(uploaded(&upload)))
}
