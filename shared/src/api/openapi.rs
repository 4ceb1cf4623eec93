//! `GET /v1/openapi.yaml`: the API's OpenAPI 3.1 description, the top-level `openapi.yaml` as
//! written, built into the binary. A test below keeps its operations equal to [`super::routes`].

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The top-level `openapi.yaml`.
pub const SPEC: &str = include_str!("../../../openapi.yaml");

pub async fn spec() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"))], SPEC).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::http::StatusCode;
    use http_body_util::BodyExt;

    use super::*;
    use crate::api::{Access, routes};

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    /// Path item keys that are not operations.
    const PATH_ITEM_FIELDS: [&str; 4] = ["summary", "description", "parameters", "servers"];

    /// `(METHOD, path) → public?` for every operation under `paths:`, where public means the
    /// operation says `security: []`. A line-based reading of the block style this file uses (no
    /// YAML crate in the workspace); anything else under `paths:` is an error, not a silent skip.
    fn spec_operations(spec: &str) -> Result<BTreeMap<(String, String), bool>, String> {
        let mut lines = spec.lines().enumerate().skip_while(|(_, line)| *line != "paths:");
        lines.next().ok_or("openapi.yaml has no top-level `paths:` block")?;
        let mut operations = BTreeMap::new();
        let (mut path, mut operation): (Option<String>, Option<(String, String)>) = (None, None);
        for (index, line) in lines {
            let at = |what: &str| format!("openapi.yaml line {}: {what}: {line:?}", index + 1);
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            if indent == 0 {
                break;
            }
            let key = || {
                content
                    .strip_suffix(':')
                    .map(|key| key.trim_matches(|c| c == '\'' || c == '"').to_string())
                    .ok_or_else(|| at("expected a block mapping key alone on its line"))
            };
            match indent {
                2 => {
                    let key = key()?;
                    if !key.starts_with('/') {
                        return Err(at("expected a path starting with '/'"));
                    }
                    (path, operation) = (Some(key), None);
                }
                4 => {
                    let name = content.split(':').next().unwrap_or_default();
                    if PATH_ITEM_FIELDS.contains(&name) {
                        operation = None;
                        continue;
                    }
                    let method = key()?;
                    if !METHODS.contains(&method.as_str()) {
                        return Err(at("expected an HTTP method (a `$ref` path item is not supported here)"));
                    }
                    let id = (method.to_uppercase(), path.clone().ok_or_else(|| at("an operation outside a path"))?);
                    if operations.insert(id.clone(), false).is_some() {
                        return Err(at("a duplicate operation"));
                    }
                    operation = Some(id);
                }
                6 if content.starts_with("security:") => {
                    if let Some(id) = &operation {
                        operations.insert(id.clone(), content == "security: []");
                    }
                }
                _ => {}
            }
        }
        Ok(operations)
    }

    #[test]
    fn the_spec_describes_exactly_the_routers_routes() {
        let spec = spec_operations(SPEC).unwrap_or_else(|err| panic!("{err}"));
        let router: BTreeMap<(String, String), bool> = routes()
            .into_iter()
            .map(|(method, path, access, _)| ((method.to_string(), path.to_string()), access != Access::ApiKey))
            .collect();
        let show = |(method, path): &(String, String), public: bool| {
            format!("{method} {path} ({})", if public { "public" } else { "API key" })
        };
        let (mut not_in_spec, mut not_in_router, mut access) = (vec![], vec![], vec![]);
        for (route, public) in &router {
            match spec.get(route) {
                None => not_in_spec.push(show(route, *public)),
                Some(spec_public) if spec_public != public => access.push(format!(
                    "{} in routes(), {} in the spec",
                    show(route, *public),
                    show(route, *spec_public)
                )),
                Some(_) => {}
            }
        }
        for (operation, public) in &spec {
            if !router.contains_key(operation) {
                not_in_router.push(show(operation, *public));
            }
        }
        let mut problems = String::new();
        for (heading, list) in [
            ("in api::routes() but not in openapi.yaml (describe them there)", &not_in_spec),
            ("in openapi.yaml but not in api::routes()", &not_in_router),
            ("access differs (a public operation says `security: []` in openapi.yaml)", &access),
        ] {
            if !list.is_empty() {
                problems += &format!("{heading}:\n  {}\n", list.join("\n  "));
            }
        }
        assert!(problems.is_empty(), "openapi.yaml and api::routes() disagree:\n{problems}");
        assert!(
            SPEC.contains("\nsecurity:\n  - bearerAuth: []\n"),
            "openapi.yaml must require bearerAuth by default, so that only `security: []` operations are public"
        );
    }

    #[test]
    fn the_reader_finds_operations_and_refuses_what_it_cannot_read() {
        let spec = "openapi: 3.1.0\npaths:\n  /a:\n    parameters: []\n    get:\n      security: []\n      \
                    responses: {}\n    post:\n      security:\n        - bearerAuth: []\n  '/b/{id}':\n    \
                    delete:\n      summary: x\ncomponents: {}\n";
        let found = spec_operations(spec).expect("readable");
        let expected: BTreeMap<(String, String), bool> = [
            (("GET".into(), "/a".into()), true),
            (("POST".into(), "/a".into()), false),
            (("DELETE".into(), "/b/{id}".into()), false),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, expected);
        for unreadable in [
            "paths:\n  /a: {get: {}}\n",
            "paths:\n  /a:\n    $ref: '#/x'\n",
            "paths:\n  /a:\n    get: {}\n",
            "paths:\n  /a:\n    fetch:\n",
            "paths:\n  a:\n",
            "paths:\n  /a:\n    get:\n    get:\n",
            "openapi: 3.1.0\n",
        ] {
            assert!(spec_operations(unreadable).is_err(), "{unreadable}");
        }
    }

    #[tokio::test]
    async fn the_served_spec_is_the_file_as_yaml() {
        let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
            .expect("the top-level openapi.yaml");
        let response = spec().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/yaml");
        let body = response.into_body().collect().await.expect("an in-memory body").to_bytes();
        assert!(body == file.as_bytes(), "the served spec differs from openapi.yaml: rebuild");
    }
}
