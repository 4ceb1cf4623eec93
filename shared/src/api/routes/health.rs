//! `GET /health` and `GET /v1/health`: 200 once the process serves requests; no key.

pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}
