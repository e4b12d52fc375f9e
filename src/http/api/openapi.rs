//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the api component, public.
//!
//! The document is built from the route table ([`super::routes::ROUTES`]): its paths,
//! methods, `operationId`s, summaries, parameters (path, query, `If-Match`/`If-None-Match`),
//! request bodies, success replies and security; the JSON Schemas the table names are kept
//! in `openapi/schemas.json` beside this file and become `components.schemas`. Paths are
//! relative to the one server, `/api/v1`. HEAD is allowed wherever GET is and is not listed
//! separately. Every error is `default`: `application/problem+json` (`Problem`).
//!
//! The document is built and serialised once per instance; it is served with an `ETag`
//! (`If-None-Match` gives 304) and `Cache-Control: public, max-age=300`.

use std::sync::LazyLock;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::etag::{self, ReadCondition};
use super::routes::{Access, Op, Operation, ROUTES, Reply, Route};
use crate::auth::token::sha256_hex;
use crate::http::{ApiError, Request, Response, empty_response};
use crate::observability::log;

/// The JSON Schemas the route table names, by name (`components.schemas`).
const SCHEMAS: &str = include_str!("openapi/schemas.json");

/// How clients may cache the document.
const CACHE_CONTROL: &str = "public, max-age=300";

/// Reply schemas whose responses carry an `ETag` (as does every 304), and what it tags.
const WITH_ETAG: &[(&str, &str)] = &[
    (
        "UserWithPreferences",
        "The user's entity tag, for If-Match and If-None-Match.",
    ),
    (
        "Preferences",
        "The preferences' entity tag, for If-Match and If-None-Match.",
    ),
    (
        "OpenApiDocument",
        "The document's entity tag, for If-None-Match.",
    ),
    (
        "RegistrationResponse",
        "The entity tag of the new user at `/me` (not of this body), for If-Match there.",
    ),
];

/// Operations whose 201 carries a `Location`, and where it points.
const WITH_LOCATION: &[(Op, &str)] = &[
    (
        Op::CreateUser,
        "The new user's path (`/api/v1/users/{id}`).",
    ),
    (Op::Register, "The new user's own resource, `/api/v1/me`."),
    (
        Op::Subscribe,
        "The subscription's path (`/api/v1/me/subscriptions/{subscription_id}`).",
    ),
];

/// The schema of each `{name}` path parameter.
const PATH_PARAMETERS: &[(&str, &str)] = &[
    ("id", "UserId"),
    ("subscription_id", "SubscriptionId"),
    ("digest_id", "DigestId"),
];

const INFO: &str = "The users, preferences and subscriptions API of KeeMU: people follow \
YouTube channels, subreddits and blogs (`/me/subscriptions`, by a URL as pasted) and read \
their items newest first (`/me/feed`) and the digests built for them (`/me/digests`). \
Every error is \
`application/problem+json` (RFC 9457: `type`, `title`, `status`, `detail`; 422 adds \
`errors: [{field, message}]`). A 503 on a write whose `detail` says it may or may not have \
been applied means the database stopped answering after the change was sent: read the \
resource before repeating it. HEAD is answered wherever GET is, with GET's status and \
headers and no body. Reads of a user or of preferences carry an `ETag`; `If-None-Match` \
gives 304, `If-Match` makes a read or a write conditional (412 when it does not match). \
PATCH bodies are JSON merge patches (RFC 7396). The operator's routes take \
`Authorization: Bearer <api_token>`; a user's routes take the access token from \
`/auth/login`, `/auth/register` or `/auth/refresh`.";

/// The document as JSON.
///
/// # Errors
///
/// If `openapi/schemas.json` is not a JSON object (a build of this crate whose tests pass
/// cannot have that).
pub fn document() -> Result<Value, serde_json::Error> {
    let schemas: Map<String, Value> = serde_json::from_str(SCHEMAS)?;
    let mut paths = Map::new();
    for route in ROUTES {
        paths.insert(route.path.to_owned(), path_item(route));
    }
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "KeeMU",
            "version": crate::VERSION,
            "description": INFO,
        },
        "servers": [{ "url": super::PREFIX }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Problem": problem_response(),
            },
            "securitySchemes": {
                "operatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's `api_token`.",
                },
                "accessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A user's access token.",
                },
            },
        },
    }))
}

/// A `$ref` to a schema of `components.schemas`.
fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The names of the `{name}` segments of a path template, in order.
pub fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn path_item(route: &Route) -> Value {
    let mut item = Map::new();
    let parameters: Vec<Value> = path_parameters(route.path)
        .map(|name| {
            let schema = PATH_PARAMETERS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| json!({ "type": "string" }), |(_, s)| schema_ref(s));
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    if !parameters.is_empty() {
        item.insert("parameters".into(), Value::Array(parameters));
    }
    for operation in route.operations {
        item.insert(
            operation.method.as_str().to_ascii_lowercase(),
            operation_object(route, operation),
        );
    }
    Value::Object(item)
}

/// The tag of a route: its first path segment (`users`, `auth`, `me`, `openapi`).
fn tag(path: &str) -> &str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    first.split('.').next().unwrap_or(first)
}

/// An optional request header's parameter object.
fn optional_header(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": false,
        "description": description,
        "schema": { "type": "string" },
    })
}

fn operation_object(route: &Route, operation: &Operation) -> Value {
    let mut object = Map::new();
    object.insert("operationId".into(), operation.id.into());
    object.insert("summary".into(), operation.summary.into());
    object.insert("tags".into(), json!([tag(route.path)]));
    let security = match route.access {
        Access::Public => json!([]),
        Access::Operator => json!([{ "operatorToken": [] }]),
        Access::User => json!([{ "accessToken": [] }]),
    };
    object.insert("security".into(), security);
    let mut parameters: Vec<Value> = operation
        .query
        .iter()
        .map(|(name, schema)| {
            json!({ "name": name, "in": "query", "required": false, "schema": schema_ref(schema) })
        })
        .collect();
    if operation.conditional {
        parameters.push(optional_header(
            "If-Match",
            "`*` or ETags: proceed only if one matches the current representation (else 412).",
        ));
        if operation.method == Method::GET {
            parameters.push(optional_header(
                "If-None-Match",
                "`*` or ETags: 304 without a body if one matches.",
            ));
        }
    }
    if !parameters.is_empty() {
        object.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(schema) = operation.request {
        let mut content = Map::new();
        content.insert(
            "application/json".into(),
            json!({ "schema": schema_ref(schema) }),
        );
        if operation.method == Method::PATCH {
            content.insert(
                "application/merge-patch+json".into(),
                json!({ "schema": schema_ref(schema) }),
            );
        }
        object.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content }),
        );
    }
    let mut responses = Map::new();
    for reply in operation.replies {
        responses.insert(reply.status.to_string(), response_object(operation, reply));
    }
    responses.insert(
        "default".into(),
        json!({ "$ref": "#/components/responses/Problem" }),
    );
    object.insert("responses".into(), Value::Object(responses));
    Value::Object(object)
}

fn response_object(operation: &Operation, reply: &Reply) -> Value {
    let mut object = Map::new();
    object.insert("description".into(), reply.description.into());
    let mut headers = Map::new();
    let etag = WITH_ETAG
        .iter()
        .find(|(name, _)| reply.schema == Some(*name))
        .map(|(_, description)| *description)
        .or((reply.status == 304).then_some("The entity tag that matched If-None-Match."));
    if let Some(description) = etag {
        headers.insert(
            "ETag".into(),
            json!({
                "description": description,
                "required": true,
                "schema": { "type": "string", "pattern": "^\"[!#-~]*\"$" },
            }),
        );
    }
    let location = WITH_LOCATION
        .iter()
        .find(|(op, _)| reply.status == 201 && *op == operation.op);
    if let Some((_, description)) = location {
        headers.insert(
            "Location".into(),
            json!({
                "description": description,
                "required": true,
                "schema": { "type": "string" },
            }),
        );
    }
    if !headers.is_empty() {
        object.insert("headers".into(), Value::Object(headers));
    }
    if let Some(schema) = reply.schema {
        object.insert(
            "content".into(),
            json!({ "application/json": { "schema": schema_ref(schema) } }),
        );
    }
    Value::Object(object)
}

fn problem_response() -> Value {
    json!({
        "description": "An error: RFC 9457 problem details.",
        "headers": {
            "WWW-Authenticate": {
                "description": "`Bearer`, on 401.",
                "schema": { "type": "string" },
            },
            "Allow": {
                "description": "The route's methods, on 405.",
                "schema": { "type": "string" },
            },
            "Retry-After": {
                "description": "Seconds to wait, on 429 and on 503 when the database is unavailable.",
                "schema": { "type": "integer", "minimum": 1 },
            },
        },
        "content": {
            "application/problem+json": { "schema": schema_ref("Problem") },
        },
    })
}

/// The serialised document and its ETag.
struct Served {
    body: Vec<u8>,
    etag: String,
}

static SERVED: LazyLock<Option<Served>> = LazyLock::new(|| {
    let body = serde_json::to_vec(&document().ok()?).ok()?;
    let etag = format!(
        "\"o{}\"",
        sha256_hex(&String::from_utf8_lossy(&body)).get(..32)?
    );
    Some(Served { body, etag })
});

/// Serves the OpenAPI document.
pub fn serve(request: &Request) -> Result<Response, ApiError> {
    let Some(served) = SERVED.as_ref() else {
        log::error("openapi_document_invalid", json!({}));
        return Err(ApiError::Internal);
    };
    let mut response = match etag::read_condition(request.headers(), &served.etag) {
        ReadCondition::Proceed => {
            let mut response = http::Response::new(served.body.clone());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        ReadCondition::NotModified => empty_response(StatusCode::NOT_MODIFIED),
        ReadCondition::Failed => return Err(ApiError::PreconditionFailed),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&served.etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document().expect("schemas.json is a JSON object")
    }

    /// Every `$ref` in `value`, with the JSON pointer of where it is.
    fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        if let Some(target) = child.as_str() {
                            found.push((at.clone(), target));
                        }
                    } else {
                        refs(child, format!("{at}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    refs(child, format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn is_openapi_3_1_with_the_crate_version() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "KeeMU");
        assert_eq!(doc["info"]["version"], crate::VERSION);
        assert_eq!(doc["servers"], json!([{ "url": "/api/v1" }]));
        // The served bytes are this document.
        let served = SERVED.as_ref().expect("served");
        let parsed: Value = serde_json::from_slice(&served.body).expect("JSON");
        assert_eq!(parsed, doc);
    }

    #[test]
    fn every_route_and_method_is_documented_and_nothing_else() {
        let doc = doc();
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.len(), ROUTES.len());
        let mut documented = 0;
        for (path, item) in paths {
            let route = ROUTES
                .iter()
                .find(|r| r.path == path)
                .unwrap_or_else(|| panic!("{path} is not in ROUTES"));
            for (key, operation) in item.as_object().expect("path item") {
                if key == "parameters" {
                    continue;
                }
                let method =
                    Method::from_bytes(key.to_ascii_uppercase().as_bytes()).expect("method");
                let expected = route
                    .operations
                    .iter()
                    .find(|o| o.method == method)
                    .unwrap_or_else(|| panic!("{key} {path} is not in ROUTES"));
                assert_eq!(operation["operationId"], expected.id, "{key} {path}");
                assert_eq!(operation["summary"], expected.summary);
                documented += 1;
            }
        }
        let in_table: usize = ROUTES.iter().map(|r| r.operations.len()).sum();
        assert_eq!(documented, in_table);
        for route in ROUTES {
            for operation in route.operations {
                let method = operation.method.as_str().to_ascii_lowercase();
                let documented = &doc["paths"][route.path][&method];
                assert_eq!(documented["operationId"], operation.id);
                for reply in operation.replies {
                    let response = &documented["responses"][reply.status.to_string()];
                    assert_eq!(response["description"], reply.description);
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    match reply.schema {
                        Some(name) => {
                            assert_eq!(*schema, format!("#/components/schemas/{name}"))
                        }
                        None => assert!(response.get("content").is_none()),
                    }
                }
                assert_eq!(
                    documented["responses"]["default"]["$ref"],
                    "#/components/responses/Problem"
                );
                let security = match route.access {
                    Access::Public => json!([]),
                    Access::Operator => json!([{ "operatorToken": [] }]),
                    Access::User => json!([{ "accessToken": [] }]),
                };
                assert_eq!(documented["security"], security, "{}", operation.id);
                let body = &documented["requestBody"]["content"]["application/json"]["schema"];
                match operation.request {
                    Some(name) => assert_eq!(body["$ref"], format!("#/components/schemas/{name}")),
                    None => assert!(documented.get("requestBody").is_none()),
                }
            }
        }
    }

    #[test]
    fn parameters_follow_the_table() {
        let doc = doc();
        for route in ROUTES {
            let item = &doc["paths"][route.path];
            let names: Vec<&str> = path_parameters(route.path).collect();
            let declared: Vec<&str> = item["parameters"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(names, declared, "{}", route.path);
            for name in names {
                assert!(
                    PATH_PARAMETERS.iter().any(|(n, _)| *n == name),
                    "{name} in {} has no schema",
                    route.path
                );
            }
            for operation in route.operations {
                let documented =
                    &doc["paths"][route.path][operation.method.as_str().to_ascii_lowercase()];
                let parameters = documented["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let named = |name: &str, place: &str| {
                    parameters
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == place)
                };
                for (name, _) in operation.query {
                    assert!(named(name, "query"), "{} {name}", operation.id);
                }
                assert_eq!(named("If-Match", "header"), operation.conditional);
                assert_eq!(
                    named("If-None-Match", "header"),
                    operation.conditional && operation.method == Method::GET
                );
            }
        }
    }

    #[test]
    fn every_ref_resolves_and_every_schema_is_used() {
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, String::new(), &mut found);
        assert!(found.len() > 20);
        for (at, target) in &found {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: {target} is not local"));
            assert!(
                doc.pointer(pointer).is_some(),
                "{at}: {target} does not resolve"
            );
        }
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for name in schemas.keys() {
            let target = format!("#/components/schemas/{name}");
            assert!(
                found.iter().any(|(_, t)| *t == target),
                "{name} is never referred to"
            );
        }
    }

    #[test]
    fn response_objects_are_closed() {
        // Every object schema of a response says which properties it has, so a field added
        // to a body without the document fails the tests that validate responses.
        let doc = doc();
        for name in [
            "UserWithPreferences",
            "Preferences",
            "UserPage",
            "TokenResponse",
            "RegistrationResponse",
            "Problem",
            "FieldError",
        ] {
            assert_eq!(
                doc["components"]["schemas"][name]["additionalProperties"], false,
                "{name}"
            );
        }
    }

    fn get(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder()
            .method("GET")
            .uri("/api/v1/openapi.json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(bytes::Bytes::new()).expect("request")
    }

    #[test]
    fn served_with_etag_and_cache_control_and_304() {
        let response = serve(&get(&[])).expect("served");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CACHE_CONTROL], CACHE_CONTROL);
        let etag = response.headers()[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        assert!(etag.starts_with("\"o") && etag.len() == 35, "{etag}");
        let body: Value = serde_json::from_slice(response.body()).expect("JSON");
        assert_eq!(body["openapi"], "3.1.0");

        let again = serve(&get(&[("if-none-match", &etag)])).expect("served");
        assert_eq!(again.status(), 304);
        assert!(again.body().is_empty());
        assert_eq!(again.headers()[header::ETAG], etag.as_str());
        assert_eq!(again.headers()[header::CACHE_CONTROL], CACHE_CONTROL);

        assert_eq!(
            serve(&get(&[("if-match", "\"other\"")])).err(),
            Some(ApiError::PreconditionFailed)
        );
    }
}
