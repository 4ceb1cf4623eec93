//! `POST /v1/media/uploads`: `{filename, mimetype, size, type}` answered `{upload_id, url, method:
//! "PUT", headers, expires_at}`. The client PUTs the file to `url` with `headers` (Content-Type
//! and Content-Length are signed), which bypasses Lambda's 6 MB, then sends `upload_id`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::api::body::json_body;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::upload::PresignRequest;

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = json_body(&app, &headers, body).await?;
    let presign = PresignRequest::from_json(&bytes)?.validate()?;
    let made = app.uploads.presign(&caller.org_id, presign).await?;
    let headers: Map<String, Value> =
        made.put.headers.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
    Ok(Json(json!({
        "upload_id": made.upload.upload_id,
        "url": made.put.url,
        "method": "PUT",
        "headers": headers,
        "expires_at": made.put_expires_at,
        "upload_expires_at": made.upload.expires(),
    })))
}
