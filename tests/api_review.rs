//! Defects found in review (issue 6, part 5), through the API handler against a real
//! PostgreSQL: inputs the parsers must refuse before the database does, duplicate JSON keys,
//! and the configured bearer token.

mod common;

use common::{Instance, TestDatabase};
use keemu::http::Response;
use keemu::http::api::{self, ApiConfig};
use serde_json::{Value, json};

const TOKEN: &str = "review-token-0123456789";

struct Api {
    db: TestDatabase,
    instance: Instance,
    token: String,
}

fn body(response: &Response) -> Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

impl Api {
    async fn new() -> Api {
        Api::with_token(TOKEN).await
    }

    /// The handler with `configured` as the `api_token` variable's raw value.
    async fn with_token(configured: &str) -> Api {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        Api {
            db,
            instance,
            token: configured.to_owned(),
        }
    }

    async fn send_raw(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        let mut builder = http::Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(bytes::Bytes::from(body.unwrap_or("").to_owned()))
            .expect("request");
        let config = ApiConfig::new(&self.token);
        let db = self.instance.request_db();
        api::handle(
            &request,
            &config,
            &db,
            &common::api::NoOutbound,
            chrono::Utc::now(),
        )
        .await
    }

    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let authorization = format!("Bearer {TOKEN}");
        self.send_raw(method, path, Some(&authorization), body)
            .await
    }

    async fn users(&self) -> i64 {
        self.db
            .client()
            .await
            .query_one("SELECT count(*) FROM users", &[])
            .await
            .expect("count")
            .get(0)
    }
}

// ------------------------------------------------------------------ profile pictures

const PICTURES_THE_DATABASE_REFUSES: [&str; 3] = [
    "http:example.com",
    "http:/example.com",
    "https:\\\\cdn.example.com/x.png",
];

#[tokio::test(flavor = "current_thread")]
async fn pictures_the_database_refuses_are_422_on_post_and_patch() {
    let api = Api::new().await;
    for picture in PICTURES_THE_DATABASE_REFUSES {
        let payload =
            json!({"email": "ada@example.com", "name": "Ada", "profile_picture": picture});
        let response = api
            .send("POST", "/api/v1/users", Some(&payload.to_string()))
            .await;
        assert_eq!(
            response.status(),
            422,
            "POST {picture:?}: {}",
            body(&response)
        );
        assert_eq!(body(&response)["errors"][0]["field"], "profile_picture");
    }
    assert_eq!(api.users().await, 0);

    let created = api
        .send(
            "POST",
            "/api/v1/users",
            Some(r#"{"email":"ada@example.com","name":"Ada"}"#),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", body(&created));
    let id = body(&created)["id"].clone();
    for picture in PICTURES_THE_DATABASE_REFUSES {
        let payload = json!({ "profile_picture": picture });
        let response = api
            .send(
                "PATCH",
                &format!("/api/v1/users/{id}"),
                Some(&payload.to_string()),
            )
            .await;
        assert_eq!(
            response.status(),
            422,
            "PATCH {picture:?}: {}",
            body(&response)
        );
        assert_eq!(body(&response)["errors"][0]["field"], "profile_picture");
    }
    let stored: Option<String> = api
        .db
        .client()
        .await
        .query_one("SELECT profile_picture FROM users", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(stored, None);
}

// ------------------------------------------------------------------ duplicate JSON keys

fn assert_problem(response: &Response, status: u16) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(body(response)["status"], status);
}

#[tokio::test(flavor = "current_thread")]
async fn duplicate_keys_are_400_and_write_nothing() {
    let api = Api::new().await;
    let response = api
        .send(
            "POST",
            "/api/v1/users",
            Some(r#"{"email":"a@x.io","name":"A","email":"b@x.io"}"#),
        )
        .await;
    assert_problem(&response, 400);
    let detail = body(&response)["detail"].as_str().unwrap_or("").to_owned();
    assert!(detail.contains("duplicate key"), "{detail}");
    assert!(
        !detail.contains("email") && !detail.contains("x.io"),
        "{detail}"
    );
    assert_eq!(api.users().await, 0);

    let created = api
        .send(
            "POST",
            "/api/v1/users",
            Some(r#"{"email":"a@x.io","name":"A"}"#),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", body(&created));
    let id = body(&created)["id"].clone();
    for patch in [
        r#"{"name":"B","name":"C"}"#,
        r#"{"name":"B","extra":{"k":1,"k":2}}"#,
    ] {
        let response = api
            .send("PATCH", &format!("/api/v1/users/{id}"), Some(patch))
            .await;
        assert_problem(&response, 400);
    }
    let response = api
        .send(
            "PATCH",
            &format!("/api/v1/users/{id}/preferences"),
            Some(r#"{"summary_length":"concise","summary_length":"detailed"}"#),
        )
        .await;
    assert_problem(&response, 400);
    let row = api
        .db
        .client()
        .await
        .query_one(
            "SELECT u.name, p.summary_length FROM users u JOIN user_preferences p \
             ON p.user_id = u.id",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "A");
    assert_eq!(row.get::<_, String>(1), "standard");
}

// ------------------------------------------------------------------ api_token

#[tokio::test(flavor = "current_thread")]
async fn a_configured_token_with_surrounding_whitespace_is_trimmed() {
    for configured in [
        format!("{TOKEN}\n"),
        format!("  {TOKEN}\r\n"),
        format!("\t{TOKEN} "),
    ] {
        let api = Api::with_token(&configured).await;
        let response = api.send("GET", "/api/v1/users", None).await;
        assert_eq!(
            response.status(),
            200,
            "{configured:?}: {}",
            body(&response)
        );
        let wrong = api
            .send_raw(
                "GET",
                "/api/v1/users",
                Some("Bearer review-token-012345678"),
                None,
            )
            .await;
        assert_problem(&wrong, 401);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_or_short_token_refuses_every_request_with_503() {
    for configured in [
        "",
        " \n",
        "0123456789abcde",
        "0123456789abcde\n",
        " 0123456789abcde ",
    ] {
        let api = Api::with_token(configured).await;
        let bearer = format!("Bearer {}", configured.trim());
        let bearer = (!configured.trim().is_empty()).then_some(bearer.as_str());
        for (method, path, authorization, payload) in [
            ("GET", "/api/v1/users", bearer, None),
            ("GET", "/api/v1/users", None, None),
            ("GET", "/api/v1/users", Some("Bearer "), None),
            (
                "POST",
                "/api/v1/users",
                bearer,
                Some(r#"{"email":"a@x.io","name":"A"}"#),
            ),
        ] {
            let response = api.send_raw(method, path, authorization, payload).await;
            assert_problem(&response, 503);
            assert_eq!(body(&response)["detail"], "the API is not configured");
            assert!(response.headers().get("www-authenticate").is_none());
            let text = String::from_utf8_lossy(response.body()).into_owned();
            if !configured.trim().is_empty() {
                assert!(!text.contains(configured.trim()), "{text}");
            }
        }
        // The route table is read before any token: an unknown route is 404 for everyone.
        let response = api.send_raw("GET", "/api/v1/nowhere", bearer, None).await;
        assert_problem(&response, 404);
        assert_eq!(api.users().await, 0, "{configured:?}");
    }
}
