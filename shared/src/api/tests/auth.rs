//! Authentication (a Bearer API key, in the caller's org) and per-key rate limits.

use super::*;

async fn send_with_authorization(app: &Harness, authorization: Option<&str>) -> Reply {
    let body = text_to("15550000010").to_string();
    let mut request = Request::post(SEND).header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    app.call(request.body(Body::from(body)).expect("request")).await
}

#[tokio::test]
async fn a_missing_authorization_header_is_unauthorized() {
    let app = Harness::new().await;
    assert_error(&send_with_authorization(&app, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn a_malformed_authorization_header_is_unauthorized() {
    let app = Harness::new().await;
    for value in [KEY.to_string(), format!("Basic {KEY}"), "Bearer".into(), "Bearer    ".into()] {
        let reply = send_with_authorization(&app, Some(&value)).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn an_unknown_key_is_unauthorized_without_echoing_it() {
    let app = Harness::new().await;
    let reply = send_with_authorization(&app, Some("Bearer obx_nobody_has_this_key")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(!reply.text.contains("obx_nobody_has_this_key"), "{}", reply.text);
}

#[tokio::test]
async fn a_revoked_key_is_unauthorized() {
    let app = Harness::new().await;
    let mut revoked = NewApiKey::from_secret("obx_revoked_key".into(), app.org.clone(), None, app.now());
    revoked.record.revoked_at = Some(app.now());
    app.store.put_api_key(&revoked.hash, &revoked.record).await.expect("memory store");
    let reply = send_with_authorization(&app, Some("Bearer obx_revoked_key")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(app.jobs().is_empty());
}

#[tokio::test]
async fn status_lookups_need_a_key_too() {
    let app = Harness::new().await;
    let record = app.accepted(text_to("15550000010")).await;
    let request = Request::get(format!("/v1/message/{}/status", record.queue_id)).body(Body::empty()).expect("request");
    assert_error(&app.call(request).await, StatusCode::UNAUTHORIZED, "unauthorized");
}

// --- rate limits ---

#[tokio::test]
async fn rate_limit_headers_count_down_to_a_429_with_retry_after() {
    let h = Harness::new().await;
    let limited = NewApiKey::from_secret("limited-key".into(), h.org.clone(), Some(2), h.now());
    h.store.put_api_key(&limited.hash, &limited.record).await.unwrap();
    let mut seen = vec![];
    for _ in 0..3 {
        let request = Request::get("/v1/message/3EB0000000000000000000/status")
            .header(header::AUTHORIZATION, "Bearer limited-key")
            .body(Body::empty())
            .unwrap();
        let response = router(h.state.clone()).oneshot(request).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers.get("x-ratelimit-limit").unwrap(), "2");
        assert!(headers.get("x-ratelimit-reset").is_some());
        seen.push((response.status(), headers.get("x-ratelimit-remaining").unwrap().to_str().unwrap().to_string()));
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(headers.get(header::RETRY_AFTER).is_some());
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["code"], "rate_limited");
        }
    }
    // Unknown ids still count: the limit is on requests, not on successes.
    assert_eq!(
        seen,
        [
            (StatusCode::NOT_FOUND, "1".into()),
            (StatusCode::NOT_FOUND, "0".into()),
            (StatusCode::TOO_MANY_REQUESTS, "0".into())
        ]
    );
    // Public routes are not counted and carry no rate headers.
    let health = router(h.state.clone()).oneshot(Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
    assert!(health.headers().get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn a_new_window_counts_afresh() {
    let h = Harness::new().await;
    let limited = NewApiKey::from_secret("limited-key".into(), h.org.clone(), Some(1), h.now());
    h.store.put_api_key(&limited.hash, &limited.record).await.unwrap();
    let path = "/v1/message/3EB0000000000000000000/status";
    assert_eq!(h.get("limited-key", path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get("limited-key", path).await.status, StatusCode::TOO_MANY_REQUESTS);
    h.clock.advance(std::time::Duration::from_secs(60));
    let reply = h.get("limited-key", path).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert_eq!(reply.headers["x-ratelimit-remaining"], "0");
}
