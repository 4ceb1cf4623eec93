//! The OpenAPI description over real HTTP: served without a key, byte for byte the top-level
//! `openapi.yaml`, and every route's access what the spec's `security` says. (That the spec lists
//! exactly `api::routes()` is a unit test next to the handler, `shared/src/api/openapi.rs`;
//! `scripts/fuzz.sh` runs schemathesis against the served spec.)

use outbox_tests::outbox::api::{Access, routes};
use outbox_tests::{Stack, StackOptions, assert_error_shape, json_of, workspace_root};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

fn no_consumers() -> StackOptions {
    StackOptions { consumers: outbox_tests::Consumers::None, ..StackOptions::default() }
}

#[tokio::test]
async fn the_spec_is_served_without_a_key_as_the_file() {
    let stack = Stack::start_with(no_consumers()).await;
    let file = std::fs::read_to_string(workspace_root().join("openapi.yaml")).expect("the top-level openapi.yaml");
    let response = stack.http.get(format!("{}/v1/openapi.yaml", stack.base_url)).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/yaml");
    let served = response.text().await.expect("body");
    assert!(served == file, "GET /v1/openapi.yaml differs from openapi.yaml: rebuild the binaries");
    assert!(served.starts_with("openapi: 3.1."), "not an OpenAPI 3.1 document");
}

#[tokio::test]
async fn keyed_routes_answer_401_without_a_key_public_ones_do_not_and_provider_ones_want_a_signature() {
    let stack = Stack::start_with(no_consumers()).await;
    for (method, path, access, _) in routes() {
        let url = format!("{}{}", stack.base_url, path.replace("{id}", "3EB0630434929F6B94327F"));
        let response = stack.http.request(method.clone(), &url).send().await.expect("request");
        let code = response.status();
        match access {
            Access::ApiKey => {
                let (code, body) = json_of(response).await;
                assert_eq!(code, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
                assert_error_shape(&body);
                assert_eq!(body["code"], "unauthorized", "{method} {path}: {body}");
            }
            Access::Public => assert_eq!(code, StatusCode::OK, "{method} {path} without a key"),
            // No key either, but nothing without the phone's signature (or, for Meta's handshake, its verify token).
            Access::ProviderSigned => {
                let (code, body) = json_of(response).await;
                assert!(
                    matches!(code, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                    "{method} {path}: {code} {body}"
                );
                assert_error_shape(&body);
            }
        }
    }
}
