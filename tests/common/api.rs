//! The api component driven through its handler, for the integration tests: one
//! [`Instance`] (shared connection) per [`Api`], a statement log per request.

use chrono::{NaiveDate, Utc};
use keemu::http::Response;
use keemu::http::api::{self, ApiConfig};
use serde_json::{Value, json};

use super::{Instance, TestDatabase};

pub const TOKEN: &str = "test-token-0123456789";

pub struct Api {
    pub db: TestDatabase,
    pub instance: Instance,
}

/// A response, with the number of statements its request sent.
pub struct Reply {
    pub status: u16,
    pub response: Response,
    pub statements: u32,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.response.body()).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("header").to_owned())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag")
    }
}

/// Outbound HTTP that never reaches anything (every call fails).
pub struct NoOutbound;

impl keemu::outbound::Outbound for NoOutbound {
    async fn fetch(
        &self,
        _request: &keemu::outbound::FetchRequest<'_>,
    ) -> Result<keemu::outbound::Fetched, keemu::outbound::OutboundError> {
        Err(keemu::outbound::OutboundError::Failed)
    }
}

/// Access-token signing keys of the tests: `kid:base64(32 bytes)`.
pub const AUTH_KEYS: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";

/// Hash budgets that never refuse: the tests hash far faster than any client should (the
/// budgets have tests of their own).
pub const NO_HASH_LIMIT: Option<&str> = Some("1000000/1000000");

/// The api component's settings in the tests: the operator token and access tokens.
pub fn config() -> ApiConfig {
    ApiConfig::from_variables(&api::Variables {
        api_token: Some(TOKEN.into()),
        auth_keys: Some(AUTH_KEYS.into()),
        hash_budget: NO_HASH_LIMIT.map(Into::into),
        ..api::Variables::default()
    })
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A request with the bearer token.
pub fn builder(method: &str, path: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
}

/// A request with the bearer token, a JSON body if given, and `headers`.
pub fn request(
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> http::Request<bytes::Bytes> {
    let mut builder = builder(method, path);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    builder.body(bytes::Bytes::from(bytes)).expect("request")
}

/// Sends `request` through the handler on `instance`. Every response is checked against the
/// OpenAPI document (panics on a mismatch).
pub async fn send_on(instance: &Instance, request: http::Request<bytes::Bytes>) -> Reply {
    let db = instance.request_db();
    let config = config();
    let response = api::handle(&request, &config, &db, &NoOutbound, chrono::Utc::now()).await;
    super::openapi::library().assert_response(
        request.method().as_str(),
        &request.uri().to_string(),
        &response,
    );
    Reply {
        status: response.status().as_u16(),
        response,
        statements: db.statements_sent(),
    }
}

impl Api {
    pub async fn new() -> Api {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        Api { db, instance }
    }

    pub async fn send(&self, request: http::Request<bytes::Bytes>) -> Reply {
        send_on(&self.instance, request).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send(request(method, path, body, headers)).await
    }

    /// Creates a user; returns its path (`/api/v1/users/{id}`) and id.
    pub async fn create(&self, email: &str, name: &str) -> (String, i64) {
        let user = self.create_json(email, name).await;
        let id = user["id"].as_i64().expect("id");
        (format!("/api/v1/users/{id}"), id)
    }

    /// Creates a user; returns the 201's body.
    pub async fn create_json(&self, email: &str, name: &str) -> Value {
        let reply = self
            .call(
                "POST",
                "/api/v1/users",
                Some(json!({"email": email, "name": name})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.json());
        reply.json()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db
            .client()
            .await
            .query_one(sql, &[])
            .await
            .expect("count")
            .get(0)
    }
}
