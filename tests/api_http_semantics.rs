//! HTTP semantics clients rely on (RFC 9110): HEAD wherever GET is, `Allow` listing HEAD,
//! `If-None-Match` (304) and `If-Match` with lists of tags, on reads and writes.

mod common;

use common::api::{Api, Reply};
use common::{Instance, TestDatabase, refused_address, request};
use keemu::http::health::{self, HealthInfo};
use keemu_pg_native::NativeConnector;
use serde_json::json;

/// The headers a HEAD must share with GET.
const SHARED_HEADERS: [&str; 5] = [
    "content-type",
    "etag",
    "cache-control",
    "www-authenticate",
    "allow",
];

/// Sends GET and HEAD with the same headers; checks that HEAD has GET's status and headers,
/// `Content-Length` of GET's body and no body, each in as many statements as GET.
async fn assert_head_like_get(api: &Api, path: &str, headers: &[(&str, &str)]) -> Reply {
    let get = api.call_with("GET", path, None, headers).await;
    let head = api.call_with("HEAD", path, None, headers).await;
    assert_eq!(head.status, get.status, "HEAD {path}");
    for name in SHARED_HEADERS {
        assert_eq!(head.header(name), get.header(name), "HEAD {path}: {name}");
    }
    assert!(head.response.body().is_empty(), "HEAD {path} has a body");
    assert!(!get.response.body().is_empty(), "GET {path} has no body");
    assert_eq!(
        head.header("content-length"),
        Some(get.response.body().len().to_string()),
        "HEAD {path}: Content-Length of what GET sends"
    );
    assert_eq!(head.statements, get.statements, "HEAD {path}: statements");
    get
}

#[tokio::test]
async fn head_answers_like_get_on_every_get_route_without_a_body() {
    let api = Api::new().await;
    let (path, _) = api.create("head@example.com", "Head").await;
    let prefs = format!("{path}/preferences");
    for route in [
        "/api/v1/users",
        "/api/v1/users?limit=1",
        "/api/v1/users?email=head@example.com",
        path.as_str(),
        prefs.as_str(),
    ] {
        let get = assert_head_like_get(&api, route, &[]).await;
        assert_eq!(get.status, 200, "{route}");
        assert_eq!(get.statements, 1, "{route}");
    }
    // The single resources carry their ETag on HEAD too.
    let head = api.call("HEAD", &path, None).await;
    assert!(head.etag().starts_with("\"u"), "{}", head.etag());
    let head = api.call("HEAD", &prefs, None).await;
    assert!(head.etag().starts_with("\"p"), "{}", head.etag());

    // Errors too: HEAD gets GET's status and headers without the problem document.
    for (route, status) in [
        ("/api/v1/users/999999", 404),
        ("/api/v1/users/999999/preferences", 404),
        ("/api/v1/users/abc", 404),
        ("/api/v1/users?limit=0", 422),
        ("/api/v1/nothing", 404),
    ] {
        let get = assert_head_like_get(&api, route, &[]).await;
        assert_eq!(get.status, status, "{route}");
        assert_eq!(
            get.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
    let unauthenticated = http::Request::builder()
        .method("HEAD")
        .uri(path.as_str())
        .body(bytes::Bytes::new())
        .expect("request");
    let reply = api.send(unauthenticated).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));
    assert!(reply.response.body().is_empty());
    assert_eq!(reply.statements, 0);
}

#[tokio::test]
async fn head_of_a_conditional_get_is_304_without_content_length() {
    let api = Api::new().await;
    let (path, _) = api.create("head304@example.com", "Head").await;
    let etag = api.call("GET", &path, None).await.etag();
    let head = api
        .call_with("HEAD", &path, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(head.status, 304);
    assert_eq!(head.header("etag"), Some(etag));
    assert_eq!(head.header("content-length"), None);
    assert!(head.response.body().is_empty());
}

#[tokio::test]
async fn allow_lists_head_wherever_get_is_allowed() {
    let api = Api::new().await;
    for (method, path, allow) in [
        ("PUT", "/api/v1/users", "GET, HEAD, POST"),
        ("DELETE", "/api/v1/users", "GET, HEAD, POST"),
        ("OPTIONS", "/api/v1/users", "GET, HEAD, POST"),
        ("POST", "/api/v1/users/1", "GET, HEAD, PATCH, DELETE"),
        ("PUT", "/api/v1/users/1", "GET, HEAD, PATCH, DELETE"),
        ("DELETE", "/api/v1/users/1/preferences", "GET, HEAD, PATCH"),
        ("POST", "/api/v1/users/1/preferences", "GET, HEAD, PATCH"),
    ] {
        let reply = api.call(method, path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow").as_deref(), Some(allow));
        assert_eq!(reply.statements, 0);
    }
}

fn info() -> HealthInfo {
    HealthInfo {
        app_name: "KeeMU".into(),
        environment: "test".into(),
    }
}

#[tokio::test]
async fn health_answers_head_on_both_routes_without_a_body() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let head = health::handle(&request("HEAD", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(
        head.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );

    // Liveness never touches the database: a refused address still answers.
    let refused = Instance::new(NativeConnector::new(&refused_address()).expect("connector"));
    let db = refused.request_db();
    let get = health::handle(&request("GET", "/health/live"), &info(), &db).await;
    let head = health::handle(&request("HEAD", "/health/live"), &info(), &db).await;
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert!(!get.body().is_empty());
    for name in ["content-type", "cache-control"] {
        assert_eq!(head.headers().get(name), get.headers().get(name), "{name}");
    }
    assert_eq!(db.statements_sent(), 0);
    let post = health::handle(&request("POST", "/health/live"), &info(), &db).await;
    assert_eq!(post.status(), 405);
    assert_eq!(
        post.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET, HEAD"[..])
    );
}

/// A 304: the ETag, `Cache-Control`, no body, no representation metadata, one statement.
fn assert_not_modified(reply: &Reply, etag: &str) {
    assert_eq!(reply.status, 304);
    assert_eq!(reply.header("etag").as_deref(), Some(etag));
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(reply.header("content-type"), None);
    assert!(reply.response.body().is_empty());
    assert_eq!(reply.statements, 1);
}

#[tokio::test]
async fn if_none_match_answers_304_when_any_tag_matches_weakly() {
    let api = Api::new().await;
    let (path, _) = api.create("inm@example.com", "Cached").await;
    let prefs = format!("{path}/preferences");
    let user_etag = api.call("GET", &path, None).await.etag();
    let prefs_etag = api.call("GET", &prefs, None).await.etag();

    for (route, etag) in [(&path, &user_etag), (&prefs, &prefs_etag)] {
        for value in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            format!("W/\"x\",{etag} , \"y\""),
            "*".to_owned(),
        ] {
            for method in ["GET", "HEAD"] {
                let reply = api
                    .call_with(method, route, None, &[("if-none-match", &value)])
                    .await;
                assert_not_modified(&reply, etag);
            }
        }
        // No listed tag matches: the full representation.
        for value in ["\"other\"", "W/\"other\", \"u1.2\"", "garbage"] {
            let reply = api
                .call_with("GET", route, None, &[("if-none-match", value)])
                .await;
            assert_eq!(reply.status, 200, "{route} {value}");
            assert_eq!(reply.header("etag").as_ref(), Some(etag));
            assert!(!reply.response.body().is_empty());
        }
    }
    // The user's tag is not the preferences' tag.
    let reply = api
        .call_with("GET", &prefs, None, &[("if-none-match", &user_etag)])
        .await;
    assert_eq!(reply.status, 200);

    // A change moves both ETags: the old tag no longer matches.
    let patched = api
        .call("PATCH", &prefs, Some(json!({"summary_length": "detailed"})))
        .await;
    assert_eq!(patched.status, 200);
    for (route, old) in [(&path, &user_etag), (&prefs, &prefs_etag)] {
        let reply = api
            .call_with("GET", route, None, &[("if-none-match", old)])
            .await;
        assert_eq!(reply.status, 200, "{route}");
        assert_ne!(reply.header("etag").as_ref(), Some(old));
    }

    // `*` matches only an existing resource: an unknown user is still 404.
    let reply = api
        .call_with(
            "GET",
            "/api/v1/users/999999",
            None,
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn if_match_on_reads_is_412_unless_a_tag_matches_strongly() {
    let api = Api::new().await;
    let (path, _) = api.create("imread@example.com", "Reader").await;
    let etag = api.call("GET", &path, None).await.etag();
    for (value, status) in [
        (etag.clone(), 200),
        (format!("\"u1.2\", {etag}"), 200),
        ("*".to_owned(), 200),
        ("\"u1.2\"".to_owned(), 412),
        (format!("W/{etag}"), 412),
    ] {
        let reply = api
            .call_with("GET", &path, None, &[("if-match", &value)])
            .await;
        assert_eq!(reply.status, status, "{value}");
        assert_eq!(reply.statements, 1);
    }
    // If-Match is evaluated first: a failing If-Match is 412 even if If-None-Match matches.
    let reply = api
        .call_with(
            "GET",
            &path,
            None,
            &[("if-match", "\"u1.2\""), ("if-none-match", &etag)],
        )
        .await;
    assert_eq!(reply.status, 412);
}

#[tokio::test]
async fn if_match_lists_on_writes_succeed_when_any_tag_matches() {
    let api = Api::new().await;
    let (path, id) = api.create("imlist@example.com", "Listed").await;
    let prefs = format!("{path}/preferences");
    let first = api.call("GET", &path, None).await.etag();
    let renamed = api
        .call("PATCH", &path, Some(json!({"name": "Renamed"})))
        .await;
    let current = renamed.etag();
    assert_ne!(first, current);

    // Only stale, weak or foreign tags: 412 and nothing changes, in one statement.
    for list in [
        format!("{first}, \"u1.2\""),
        format!("W/{current}, {first}"),
        "\"p1\", \"nonsense\"".to_owned(),
    ] {
        let reply = api
            .call_with(
                "PATCH",
                &path,
                Some(json!({"name": "Nope"})),
                &[("if-match", &list)],
            )
            .await;
        assert_eq!(reply.status, 412, "{list}");
        assert_eq!(reply.statements, 1);
        let reply = api
            .call_with("DELETE", &path, None, &[("if-match", &list)])
            .await;
        assert_eq!(reply.status, 412, "{list}");
        assert_eq!(reply.statements, 1);
    }
    assert_eq!(api.call("GET", &path, None).await.json()["name"], "Renamed");

    // A list holding the current tag, in one header or across several lines: written.
    let reply = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({"name": "Listed again"})),
            &[("if-match", &format!("{first}, {current}, \"u1.2\""))],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.statements, 1);
    assert_eq!(reply.json()["name"], "Listed again");
    let current = reply.etag();
    // An empty patch writes nothing but checks the list the same way.
    let reply = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({})),
            &[("if-match", &format!("{first}, {current}"))],
        )
        .await;
    assert_eq!(reply.status, 200);
    let reply = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({})),
            &[("if-match", &format!("{first}, \"u1.2\""))],
        )
        .await;
    assert_eq!(reply.status, 412);

    // Preferences: the same with their own tags.
    let prefs_etag = api.call("GET", &prefs, None).await.etag();
    let reply = api
        .call_with(
            "PATCH",
            &prefs,
            Some(json!({"summary_length": "concise"})),
            &[("if-match", &format!("\"p1\", {current}"))],
        )
        .await;
    assert_eq!(reply.status, 412, "a user tag is no preferences tag");
    let reply = api
        .call_with(
            "PATCH",
            &prefs,
            Some(json!({"summary_length": "concise"})),
            &[("if-match", &format!("\"p1\", {prefs_etag}"))],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.statements, 1);
    assert_eq!(reply.json()["summary_length"], "concise");

    // DELETE with a list holding the current tag (the preferences change moved it).
    let current = api.call("GET", &path, None).await.etag();
    let mut request = common::api::request("DELETE", &path, None, &[]);
    for line in [first.as_str(), "\"u1.2\"", current.as_str()] {
        request.headers_mut().append(
            "if-match",
            http::HeaderValue::from_str(line).expect("header"),
        );
    }
    let reply = api.send(request).await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.statements, 1);
    assert_eq!(
        api.count(&format!("SELECT count(*) FROM users WHERE id = {id}"))
            .await,
        0
    );
    // Gone: 404 whatever the list says.
    let reply = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({"name": "Ghost"})),
            &[("if-match", &current)],
        )
        .await;
    assert_eq!(reply.status, 404);
}
