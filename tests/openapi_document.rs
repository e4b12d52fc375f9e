//! The OpenAPI document and the response validator of the tests (`common::openapi`): the
//! validator catches a body, status or content type the document does not allow. Needs no
//! database.

mod common;

use common::openapi::library;
use serde_json::{Value, json};

fn user() -> Value {
    json!({
        "id": 7, "email": "a@example.com", "name": "A", "profile_picture": null,
        "profession": null, "date_of_birth": "1990-02-03", "timezone": "UTC",
        "is_active": true, "last_login": null,
        "created_at": "2026-01-02T03:04:05.123456Z", "updated_at": "2026-01-02T03:04:05.123456Z",
        "preferences": {
            "id": 9, "user_id": 7, "update_frequency": "weekly", "summary_length": "standard",
            "email_notifications_enabled": true,
            "created_at": "2026-01-02T03:04:05.123456Z", "updated_at": "2026-01-02T03:04:05.123456Z"
        }
    })
}

fn check(
    method: &str,
    path: &str,
    status: u16,
    ct: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    library().check(method, path, status, ct, &bytes)
}

const JSON: Option<&str> = Some("application/json");
const PROBLEM: Option<&str> = Some("application/problem+json");

#[test]
fn the_validator_catches_drift() {
    assert_eq!(check("GET", "/api/v1/users/7", 200, JSON, &user()), Ok(()));
    assert_eq!(
        check("HEAD", "/api/v1/users/7", 200, JSON, &Value::Null),
        Ok(())
    );
    assert_eq!(
        check("GET", "/api/v1/users/7", 304, None, &Value::Null),
        Ok(())
    );
    let mut extra = user();
    extra["age"] = json!(36);
    let message = check("GET", "/api/v1/users/7", 200, JSON, &extra).expect_err("extra field");
    assert!(
        message.contains("GET /api/v1/users/7 -> 200") && message.contains("UserWithPreferences"),
        "{message}"
    );
    assert!(message.contains("age"), "{message}");
    let mut missing = user();
    missing.as_object_mut().unwrap().remove("last_login");
    assert!(check("GET", "/api/v1/users/7", 200, JSON, &missing).is_err());
    let mut bad_time = user();
    bad_time["created_at"] = json!("2026-01-02T03:04:05Z");
    assert!(check("GET", "/api/v1/users/7", 200, JSON, &bad_time).is_err());
    // An undocumented status, content type or body.
    assert!(check("GET", "/api/v1/users/7", 201, JSON, &user()).is_err());
    assert!(check("GET", "/api/v1/users/7", 200, Some("text/plain"), &user()).is_err());
    assert!(check("DELETE", "/api/v1/users/7", 204, JSON, &user()).is_err());
    // Errors: problem+json, 422 with errors and only 422.
    let problem =
        json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "x"});
    assert_eq!(
        check("GET", "/api/v1/users/7?x=1", 404, PROBLEM, &problem),
        Ok(())
    );
    assert_eq!(
        check("GET", "/api/v1/nowhere", 404, PROBLEM, &problem),
        Ok(())
    );
    assert!(check("GET", "/api/v1/nowhere", 200, JSON, &user()).is_err());
    assert!(check("GET", "/api/v1/users/7", 404, JSON, &problem).is_err());
    let mut invalid = problem.clone();
    invalid["status"] = json!(422);
    assert!(check("POST", "/api/v1/users", 422, PROBLEM, &invalid).is_err());
    invalid["errors"] = json!([{"field": "email", "message": "is required"}]);
    assert_eq!(
        check("POST", "/api/v1/users", 422, PROBLEM, &invalid),
        Ok(())
    );
    // The literal path wins over a template; the query is not part of the path.
    let page = json!({"items": [user()], "next_cursor": null});
    assert_eq!(
        check("GET", "/api/v1/users?limit=1", 200, JSON, &page),
        Ok(())
    );
}

fn openapi_request(method: &str, headers: &[(&str, &str)]) -> http::Request<bytes::Bytes> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri("/api/v1/openapi.json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(bytes::Bytes::new()).expect("request")
}

/// `GET /api/v1/openapi.json` is public (no token, any token, even with no `api_token`
/// configured), needs no database, and is cacheable; HEAD and `If-None-Match` work.
#[tokio::test]
async fn the_document_is_served_without_a_token() {
    use keemu_pg_native::NativeConnector;
    let instance =
        common::Instance::new(NativeConnector::new(&common::refused_address()).expect("connector"));
    let expected = keemu::http::api::openapi::document().expect("document");
    for auth in [None, Some("Bearer wrong-token-0123456789")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let reply = common::api::send_on(&instance, openapi_request("GET", &headers)).await;
        assert_eq!(reply.status, 200, "{auth:?}");
        assert_eq!(reply.statements, 0);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("public, max-age=300")
        );
        assert_eq!(reply.json(), expected);
        let etag = reply.etag();

        let head = common::api::send_on(&instance, openapi_request("HEAD", &headers)).await;
        assert_eq!(head.status, 200);
        assert!(head.response.body().is_empty());
        assert_eq!(head.etag(), etag);
        assert_eq!(
            head.header("content-length"),
            Some(reply.response.body().len().to_string())
        );

        let cached = common::api::send_on(
            &instance,
            openapi_request("GET", &[("if-none-match", &etag)]),
        )
        .await;
        assert_eq!(cached.status, 304);
        assert!(cached.response.body().is_empty());
        assert_eq!(cached.etag(), etag);
    }
    // Without any token configured, the document is still served.
    let unconfigured =
        keemu::http::api::ApiConfig::from_variables(&keemu::http::api::Variables::default());
    let response = keemu::http::api::handle(
        &openapi_request("GET", &[]),
        &unconfigured,
        &instance.request_db(),
        chrono::Utc::now(),
    )
    .await;
    assert_eq!(response.status(), 200);
    library().assert_response("GET", "/api/v1/openapi.json", &response);
    // Other methods: 405 with Allow, a problem the document allows.
    let post = common::api::send_on(&instance, openapi_request("POST", &[])).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow").as_deref(), Some("GET, HEAD"));
}
