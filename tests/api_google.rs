//! `POST /api/v1/auth/google` through the handler against a real PostgreSQL, with Google's
//! key set served by a fake outbound client (the fixture key set in tests/fixtures/google/)
//! and ID tokens signed here with the fixture's private key.

mod common;

use std::cell::{Cell, RefCell};

use chrono::{DateTime, Utc};
use common::api::{AUTH_KEYS, TOKEN};
use common::{Instance, TestDatabase};
use jwt_compact::alg::{Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use keemu::auth::google::GoogleConfig;
use keemu::http::api::{self, ApiConfig, Variables};
use keemu::outbound::{FetchRequest, Fetched, Outbound, OutboundError};
use serde_json::{Value, json};

const JWKS: &str = include_str!("fixtures/google/jwks.json");
const PRIVATE_JWK: &str = include_str!("fixtures/google/test-signing-key.jwk.json");
const KID: &str = "keemu-test-1";
const CLIENT_ID: &str = "1234-keemu.apps.googleusercontent.com";
const JWKS_URL: &str = "https://keys.example.test/certs";

/// Serves the fixture key set (or fails), counting fetches.
struct FakeGoogle {
    fetches: Cell<u32>,
    fail: Cell<bool>,
    cache_control: RefCell<Option<String>>,
}

impl FakeGoogle {
    fn new() -> FakeGoogle {
        FakeGoogle {
            fetches: Cell::new(0),
            fail: Cell::new(false),
            cache_control: RefCell::new(Some("public, max-age=3600".into())),
        }
    }
}

impl Outbound for FakeGoogle {
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        let (url, max_bytes) = (request.url, request.max_bytes);
        assert_eq!(url, JWKS_URL);
        self.fetches.set(self.fetches.get() + 1);
        if self.fail.get() {
            return Err(OutboundError::Timeout);
        }
        assert!(JWKS.len() <= max_bytes);
        let headers = self
            .cache_control
            .borrow()
            .iter()
            .map(|v| ("cache-control".to_owned(), v.clone()))
            .collect();
        Ok(Fetched {
            status: 200,
            headers,
            body: JWKS.as_bytes().to_vec(),
        })
    }
}

struct Google {
    db: TestDatabase,
    instance: Instance,
    config: ApiConfig,
    google: FakeGoogle,
}

impl Google {
    async fn new() -> Google {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let config = ApiConfig::from_variables(&Variables {
            api_token: Some(TOKEN.into()),
            auth_keys: Some(AUTH_KEYS.into()),
            ..Variables::default()
        })
        .with_google(GoogleConfig {
            client_id: CLIENT_ID.into(),
            jwks_url: JWKS_URL.into(),
        });
        Google {
            db,
            instance,
            config,
            google: FakeGoogle::new(),
        }
    }

    async fn post(&self, path: &str, body: Value, now: DateTime<Utc>) -> (u16, Value) {
        let request = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(body.to_string()))
            .expect("request");
        let db = self.instance.request_db();
        let response = api::handle(&request, &self.config, &db, &self.google, now).await;
        common::openapi::library().assert_response("POST", path, &response);
        let json = if response.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(response.body()).expect("JSON")
        };
        (response.status().as_u16(), json)
    }

    async fn sign_in(&self, token: &str) -> (u16, Value) {
        self.post(
            "/api/v1/auth/google",
            json!({ "id_token": token }),
            Utc::now(),
        )
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db
            .client()
            .await
            .query_one(sql, &[])
            .await
            .expect("count")
            .get(0)
    }
}

fn signing_key() -> RsaPrivateKey {
    let jwk: JsonWebKey<'_> = serde_json::from_str(PRIVATE_JWK).expect("fixture JWK");
    RsaPrivateKey::try_from(&jwk).expect("fixture private key")
}

fn claims(sub: &str, email: &str) -> Value {
    let iat = Utc::now().timestamp();
    json!({
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "sub": sub,
        "email": email,
        "email_verified": true,
        "name": "Grace Hopper",
        "iat": iat,
        "exp": iat + 3600,
    })
}

fn sign_with(kid: &str, claims: &Value) -> String {
    let header = Header::empty().with_key_id(kid).with_token_type("JWT");
    Rsa::rs256()
        .token(&header, &Claims::new(claims.clone()), &signing_key())
        .expect("signed")
}

fn sign(claims: &Value) -> String {
    sign_with(KID, claims)
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_google_account_is_created_then_found_and_keys_are_cached() {
    let g = Google::new().await;
    let (status, body) = g.sign_in(&sign(&claims("g-1", "grace@example.com"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    assert_eq!(
        g.count("SELECT count(*) FROM users WHERE email = 'grace@example.com' AND password_hash IS NULL AND name = 'Grace Hopper'")
            .await,
        1
    );
    assert_eq!(
        g.count(
            "SELECT count(*) FROM user_identities WHERE provider = 'google' AND subject = 'g-1'"
        )
        .await,
        1
    );
    // The access token works on /me.
    let access = body["access_token"].as_str().expect("token").to_owned();
    let request = http::Request::builder()
        .uri("/api/v1/me")
        .header("authorization", format!("Bearer {access}"))
        .body(bytes::Bytes::new())
        .expect("request");
    let db = g.instance.request_db();
    let me = api::handle(&request, &g.config, &db, &g.google, Utc::now()).await;
    assert_eq!(me.status(), 200);
    let me: Value = serde_json::from_slice(me.body()).expect("JSON");
    assert_eq!(me["email"], "grace@example.com");

    let (status, _) = g.sign_in(&sign(&claims("g-1", "grace@example.com"))).await;
    assert_eq!(status, 200, "the second sign-in finds the account");
    assert_eq!(g.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        g.google.fetches.get(),
        1,
        "the key set is cached (max-age=3600)"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_google_sign_in_links_the_account_with_the_same_email() {
    let g = Google::new().await;
    let (status, body) = g
        .post(
            "/api/v1/auth/register",
            json!({"email": "Ada@Example.com", "name": "Ada", "password": "analytical engine 1843"}),
            Utc::now(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = g.sign_in(&sign(&claims("g-ada", "ada@example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(g.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        g.count("SELECT count(*) FROM user_identities i JOIN users u ON u.id = i.user_id WHERE lower(u.email) = 'ada@example.com'")
            .await,
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn refused_google_tokens_are_401_and_create_nothing() {
    let g = Google::new().await;
    let mut wrong_audience = claims("g-2", "x@example.com");
    wrong_audience["aud"] = json!("someone-else.apps.googleusercontent.com");
    let mut unverified = claims("g-2", "x@example.com");
    unverified["email_verified"] = json!(false);
    let mut expired = claims("g-2", "x@example.com");
    expired["exp"] = json!(Utc::now().timestamp() - 3600);
    let mut wrong_issuer = claims("g-2", "x@example.com");
    wrong_issuer["iss"] = json!("https://evil.example.com");
    let valid = sign(&claims("g-2", "x@example.com"));
    let (head, rest) = valid.split_once('.').expect("JWT");
    let tampered = format!(
        "{head}.{}",
        rest.replacen(
            &rest[..4],
            if &rest[..4] == "AAAA" { "BBBB" } else { "AAAA" },
            1
        )
    );
    for (what, token) in [
        ("wrong aud", sign(&wrong_audience)),
        ("email not verified", sign(&unverified)),
        ("expired", sign(&expired)),
        ("wrong iss", sign(&wrong_issuer)),
        ("tampered", tampered),
        ("not a JWT", "nonsense".to_owned()),
        (
            "alg none",
            format!(
                "eyJhbGciOiJub25lIiwia2lkIjoia2VlbXUtdGVzdC0xIn0.{}.",
                rest.split('.').next().unwrap_or("")
            ),
        ),
    ] {
        let (status, body) = g.sign_in(&token).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["detail"], "the Google ID token is not valid", "{what}");
    }
    assert_eq!(g.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn keys_that_cannot_be_fetched_are_503_and_a_stale_set_is_used_when_there_is_one() {
    let g = Google::new().await;
    g.google.fail.set(true);
    let token = sign(&claims("g-3", "k@example.com"));
    let (status, body) = g.sign_in(&token).await;
    assert_eq!(status, 503, "{body}");
    g.google.fail.set(false);
    *g.google.cache_control.borrow_mut() = Some("no-store".into());
    let (status, _) = g.sign_in(&token).await;
    assert_eq!(status, 201);
    // A `no-store` key set is kept five minutes: a later sign-in at +10 minutes refetches;
    // the fetch fails, and the stale set still verifies the token.
    g.google.fail.set(true);
    let later = Utc::now() + chrono::Duration::minutes(10);
    let mut fresh_claims = claims("g-3", "k@example.com");
    fresh_claims["iat"] = json!(later.timestamp());
    fresh_claims["exp"] = json!(later.timestamp() + 3600);
    let (status, body) = g
        .post(
            "/api/v1/auth/google",
            json!({ "id_token": sign(&fresh_claims) }),
            later,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(g.google.fetches.get(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn google_sign_in_is_503_when_not_configured() {
    let g = Google::new().await;
    let config = common::api::config();
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1/auth/google")
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({"id_token": "x"}).to_string()))
        .expect("request");
    let db = g.instance.request_db();
    let response = api::handle(&request, &config, &db, &g.google, Utc::now()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(g.google.fetches.get(), 0);
}
