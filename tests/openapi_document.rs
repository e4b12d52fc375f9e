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

/// Checks a response with `Content-Type: ct` (if given) and an ETag (required by some
/// replies).
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
    let mut headers = vec![("etag", "\"u1.2\"")];
    headers.extend(ct.map(|ct| ("Content-Type", ct)));
    library().check(method, path, status, &headers, &bytes)
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
    assert!(check("GET", "/api/v1/users/7", 410, PROBLEM, &problem).is_err());
    let mut invalid = problem.clone();
    invalid["status"] = json!(422);
    assert!(check("POST", "/api/v1/users", 422, PROBLEM, &invalid).is_err());
    invalid["errors"] = json!([{"field": "email", "message": "is required"}]);
    assert_eq!(
        check("POST", "/api/v1/users", 422, PROBLEM, &invalid),
        Ok(())
    );
    // A required header that is missing or malformed.
    let doc = library();
    let body = user().to_string();
    let json = ("content-type", "application/json");
    let user_path = "/api/v1/users/7";
    assert!(
        doc.check("GET", user_path, 200, &[json], body.as_bytes())
            .is_err()
    );
    let unquoted = [json, ("etag", "u1.2")];
    assert!(
        doc.check("GET", user_path, 200, &unquoted, body.as_bytes())
            .is_err()
    );
    let created = [json, ("etag", "\"u1.2\""), ("location", "/api/v1/users/7")];
    assert_eq!(
        doc.check("POST", "/api/v1/users", 201, &created, body.as_bytes()),
        Ok(())
    );
    assert!(
        doc.check("POST", "/api/v1/users", 201, &created[..2], body.as_bytes())
            .is_err()
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
        &common::api::NoOutbound,
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

/// Every operation of the document, answered once by the real handlers (through
/// `send_on`, which checks each answer against the document), with its success reply where
/// this configuration allows one. Needs the test database.
#[tokio::test]
async fn every_operation_answers_as_documented() {
    use common::api::{Api, request, send_on};
    let api = Api::new().await;
    let mut seen: Vec<String> = Vec::new();
    let mut send = async |method: &str, path: &str, body: Option<Value>, auth: Option<&str>| {
        let mut request = request(method, path, body, &[]);
        match auth {
            Some(token) => {
                let value = format!("Bearer {token}").parse().expect("header value");
                request.headers_mut().insert("authorization", value);
            }
            None => {
                request.headers_mut().remove("authorization");
            }
        }
        let reply = send_on(&api.instance, request).await;
        seen.push(format!("{method} {path} {}", reply.status));
        reply
    };
    let operator = Some(common::api::TOKEN);

    let created = send(
        "POST",
        "/api/v1/users",
        Some(
            json!({"email": "Op@Example.com", "name": "Op", "profession": "Tester",
            "profile_picture": "https://example.com/p.png", "date_of_birth": "1990-05-06",
            "timezone": "Europe/London"}),
        ),
        operator,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let user = format!("/api/v1/users/{id}");
    let prefs = format!("{user}/preferences");
    assert_eq!(
        send("GET", "/api/v1/users?limit=1", None, operator)
            .await
            .status,
        200
    );
    assert_eq!(send("GET", &user, None, operator).await.status, 200);
    let patch = json!({"profession": null, "is_active": true});
    assert_eq!(
        send("PATCH", &user, Some(patch), operator).await.status,
        200
    );
    assert_eq!(send("GET", &prefs, None, operator).await.status, 200);
    let patch = json!({"update_frequency": "daily", "summary_length": "concise"});
    assert_eq!(
        send("PATCH", &prefs, Some(patch), operator).await.status,
        200
    );
    assert_eq!(send("DELETE", &user, None, operator).await.status, 204);

    let registration = json!({"email": "me@example.com", "name": "Me",
        "password": "correct horse battery staple", "timezone": "Asia/Tokyo"});
    let registered = send("POST", "/api/v1/auth/register", Some(registration), None).await;
    assert_eq!(registered.status, 201, "{}", registered.json());
    assert_eq!(registered.header("location").as_deref(), Some("/api/v1/me"));
    let login = json!({"email": "me@example.com", "password": "correct horse battery staple"});
    let tokens = send("POST", "/api/v1/auth/login", Some(login), None).await;
    assert_eq!(tokens.status, 200);
    let refresh = tokens.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let refreshed = send(
        "POST",
        "/api/v1/auth/refresh",
        Some(json!({ "refresh_token": refresh })),
        None,
    )
    .await;
    assert_eq!(refreshed.status, 200);
    let access = refreshed.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = refreshed.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let me = Some(access.as_str());
    assert_eq!(send("GET", "/api/v1/me", None, me).await.status, 200);
    let patch = json!({"name": "Me Too", "date_of_birth": "2000-01-01"});
    assert_eq!(
        send("PATCH", "/api/v1/me", Some(patch), me).await.status,
        200
    );
    assert_eq!(
        send("GET", "/api/v1/me/preferences", None, me).await.status,
        200
    );
    let patch = json!({"email_notifications_enabled": false});
    let patched = send("PATCH", "/api/v1/me/preferences", Some(patch), me).await;
    assert_eq!(patched.status, 200);
    let logout = json!({ "refresh_token": refresh });
    assert_eq!(
        send("POST", "/api/v1/auth/logout", Some(logout), None)
            .await
            .status,
        204
    );
    let change = json!({"current_password": "correct horse battery staple",
        "new_password": "another fine passphrase"});
    let changed = send("POST", "/api/v1/me/password", Some(change), me).await;
    assert_eq!(changed.status, 204);
    // Google is not configured here: after the password check, a problem (503).
    let link = json!({"id_token": "x.y.z", "current_password": "another fine passphrase"});
    let linked = send("POST", "/api/v1/me/identities/google", Some(link), me).await;
    assert_eq!(linked.status, 503, "{}", linked.json());
    let proof = send("POST", "/api/v1/me/email/verification", None, me).await;
    assert_eq!(proof.status, 202, "{}", proof.json());
    // Subscriptions and the feed (a subreddit needs no fetch; NoOutbound fails any fetch).
    let subscriptions = "/api/v1/me/subscriptions";
    let subscribed = send("POST", subscriptions, Some(json!({"url": "r/rust"})), me).await;
    assert_eq!(subscribed.status, 201, "{}", subscribed.json());
    let again = send("POST", subscriptions, Some(json!({"url": "r/Rust"})), me).await;
    assert_eq!(again.status, 200);
    let unreachable = json!({"url": "https://blog.example/"});
    let unreachable = send("POST", subscriptions, Some(unreachable), me).await;
    assert_eq!(unreachable.status, 422);
    let subscription = format!("{subscriptions}/{}", subscribed.json()["id"]);
    let list = format!("{subscriptions}?limit=5");
    assert_eq!(send("GET", &list, None, me).await.status, 200);
    assert_eq!(send("GET", &subscription, None, me).await.status, 200);
    let patch = json!({"display_name": "Rust", "notifications_enabled": false});
    assert_eq!(
        send("PATCH", &subscription, Some(patch), me).await.status,
        200
    );
    let items = format!("{subscription}/items?limit=5");
    assert_eq!(send("GET", &items, None, me).await.status, 200);
    assert_eq!(
        send("GET", "/api/v1/me/feed?limit=5", None, me)
            .await
            .status,
        200
    );
    assert_eq!(send("DELETE", &subscription, None, me).await.status, 204);
    // Digests: one written by SQL (tests/api_digests.rs has built ones), listed and shown.
    api.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO digests (user_id, period_start, period_end, update_frequency,
                 summary_length, status, item_count)
             SELECT id, '2026-03-01T07:00:00Z', '2026-03-02T07:00:00Z', 'daily', 'concise',
                 'skipped', 0 FROM users WHERE email = 'me@example.com'",
        )
        .await
        .expect("a digest");
    let digests = send("GET", "/api/v1/me/digests?limit=5", None, me).await;
    assert_eq!(digests.status, 200, "{}", digests.json());
    let digest = format!("/api/v1/me/digests/{}", digests.json()["items"][0]["id"]);
    assert_eq!(send("GET", &digest, None, me).await.status, 200);
    assert_eq!(send("GET", &subscription, None, me).await.status, 404);
    assert_eq!(send("DELETE", "/api/v1/me", None, me).await.status, 204);
    // Google sign-in is not configured here: a problem, as the document allows.
    let google = json!({"id_token": "x.y.z"});
    assert_eq!(
        send("POST", "/api/v1/auth/google", Some(google), None)
            .await
            .status,
        503
    );
    // Errors of each kind of route are problems.
    assert_eq!(send("GET", "/api/v1/me", None, None).await.status, 401);
    assert_eq!(send("GET", &user, None, operator).await.status, 404);
    let invalid = json!({"email": "nope", "name": ""});
    assert_eq!(
        send("POST", "/api/v1/users", Some(invalid), operator)
            .await
            .status,
        422
    );

    // Every operation of the document was called.
    let doc = library().json();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if method == "parameters" || template == "/openapi.json" {
                continue;
            }
            let method = method.to_ascii_uppercase();
            let prefix = format!("{method} /api/v1");
            let called = seen.iter().any(|line| {
                line.strip_prefix(&prefix)
                    .and_then(|rest| rest.split(' ').next())
                    .is_some_and(|path| {
                        let path = path.split('?').next().unwrap_or("");
                        let t: Vec<&str> = template.split('/').collect();
                        let p: Vec<&str> = path.split('/').collect();
                        t.len() == p.len()
                            && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
                    })
            });
            assert!(called, "{method} {template} was not called: {seen:#?}");
        }
    }
}

/// The subscription limit is documented where clients read it, with the value the code
/// enforces (`MAX_SUBSCRIPTIONS`): the `NewSubscription` schema, the `subscribe` operation's
/// summary, and README's subscriptions API.
#[test]
fn the_subscription_limit_is_documented_with_its_value() {
    let limit = keemu::models::source::MAX_SUBSCRIPTIONS;
    let document = keemu::http::api::openapi::document().expect("document");
    let schema = document["components"]["schemas"]["NewSubscription"]["description"]
        .as_str()
        .expect("NewSubscription description");
    assert!(
        schema.contains(&format!("at most {limit} subscriptions")),
        "{schema}"
    );
    let summary = document["paths"]["/me/subscriptions"]["post"]["summary"]
        .as_str()
        .expect("subscribe summary");
    assert!(
        summary.contains(&format!("at most {limit} subscriptions")),
        "{summary}"
    );
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&format!("At most {limit} subscriptions per user")),
        "README's subscriptions API"
    );
}
