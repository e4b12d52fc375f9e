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
            hash_budget: common::api::NO_HASH_LIMIT.map(Into::into),
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

    /// A request with a JSON body and, optionally, a user's access token.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Value,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = builder
            .body(bytes::Bytes::from(body.to_string()))
            .expect("request");
        let db = self.instance.request_db();
        let response = api::handle(&request, &self.config, &db, &self.google, Utc::now()).await;
        common::openapi::library().assert_response(method, path, &response);
        let json = if response.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(response.body()).expect("JSON")
        };
        (response.status().as_u16(), json)
    }

    /// Registers with a password: the access and refresh tokens.
    async fn register(&self, email: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "name": "Someone", "password": password}),
                Utc::now(),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (tokens_of(&body).0, tokens_of(&body).1)
    }

    async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
            Utc::now(),
        )
        .await
    }

    async fn refresh(&self, token: &str) -> u16 {
        self.post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": token}),
            Utc::now(),
        )
        .await
        .0
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

/// The access and refresh tokens of a token response.
fn tokens_of(body: &Value) -> (String, String) {
    (
        body["access_token"].as_str().expect("access").to_owned(),
        body["refresh_token"].as_str().expect("refresh").to_owned(),
    )
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

const ATTACKER_PASSWORD: &str = "the attacker's own passphrase";

/// Issue 22, attack 1a: someone registers the victim's address with a password of their
/// own; the victim later signs in with Google. The victim was "linked" into that account and
/// the attacker's password and refresh token still worked. Now Google's proof of the address
/// takes the account over: its unproved password, sessions and identities are discarded.
#[tokio::test(flavor = "current_thread")]
async fn an_account_registered_with_someone_elses_address_goes_to_its_google_holder() {
    let g = Google::new().await;
    let (attacker_access, attacker_refresh) =
        g.register("victim@example.com", ATTACKER_PASSWORD).await;
    // The attacker also links a Google account of their own, to come back through it.
    let (status, body) = g
        .call(
            "POST",
            "/api/v1/me/identities/google",
            json!({"id_token": sign(&claims("g-attacker", "attacker@example.com")), "current_password": ATTACKER_PASSWORD}),
            Some(&attacker_access),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (status, body) = g
        .sign_in(&sign(&claims("g-victim", "Victim@Example.com")))
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _) = g.login("victim@example.com", ATTACKER_PASSWORD).await;
    assert_eq!(status, 401, "the attacker's password is gone");
    assert_eq!(
        g.refresh(&attacker_refresh).await,
        401,
        "and their sessions"
    );
    assert_eq!(
        g.count("SELECT count(*) FROM users WHERE password_hash IS NULL AND email_verified_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        g.count("SELECT count(*) FROM user_identities WHERE subject = 'g-attacker'")
            .await,
        0,
        "and the identity they linked"
    );
    // The attacker's Google account now finds nothing of the victim's: a new account.
    let (status, _) = g
        .sign_in(&sign(&claims("g-attacker", "attacker@example.com")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(g.count("SELECT count(*) FROM users").await, 2);
}

/// Issue 22, attack 1b: the same through `PATCH /me {"email": victim}`: the moved address
/// is unproved, so the victim's Google sign-in takes the account over.
#[tokio::test(flavor = "current_thread")]
async fn an_address_moved_onto_someone_elses_goes_to_its_google_holder() {
    let g = Google::new().await;
    let (access, refresh) = g.register("attacker@example.com", ATTACKER_PASSWORD).await;
    let (status, body) = g
        .call(
            "PATCH",
            "/api/v1/me",
            json!({"email": "victim@example.com", "current_password": ATTACKER_PASSWORD}),
            Some(&access),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = g
        .sign_in(&sign(&claims("g-victim", "victim@example.com")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        g.login("victim@example.com", ATTACKER_PASSWORD).await.0,
        401
    );
    assert_eq!(g.refresh(&refresh).await, 401);
}

/// Issue 22, attack 1c: with only a stolen access token, `PATCH /me` moved the e-mail to an
/// address the attacker controls, and their Google sign-in then linked into the account.
/// Now a new address needs the current password, or for an account without one a fresh
/// Google proof of an identity linked to it; it is unproved, and the other sessions end.
#[tokio::test(flavor = "current_thread")]
async fn a_stolen_access_token_cannot_move_the_address() {
    let g = Google::new().await;
    let (first_access, first_refresh) = g
        .register("owner@example.com", "the owner's passphrase")
        .await;
    let (status, body) = g.login("owner@example.com", "the owner's passphrase").await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh) = tokens_of(&body);
    for (proof, expected) in [
        (json!({}), 422),
        (json!({"current_password": "a guess at it"}), 403),
        (
            json!({"id_token": sign(&claims("g-attacker", "owner@example.com"))}),
            403,
        ),
    ] {
        let mut body = proof.clone();
        body["email"] = json!("attacker@example.com");
        let (status, reply) = g
            .call("PATCH", "/api/v1/me", body, Some(&first_access))
            .await;
        assert_eq!(status, expected, "{proof}: {reply}");
    }
    assert_eq!(
        g.count("SELECT count(*) FROM users WHERE email = 'owner@example.com'")
            .await,
        1
    );
    // The same address in another case is no change and needs nothing.
    let (status, _) = g
        .call(
            "PATCH",
            "/api/v1/me",
            json!({"email": "OWNER@example.com"}),
            Some(&access),
        )
        .await;
    assert_eq!(status, 200);
    // The owner moves it, from the second session: the first one ends, theirs stays.
    let (status, body) = g
        .call(
            "PATCH",
            "/api/v1/me",
            json!({"email": "new@example.com", "current_password": "the owner's passphrase"}),
            Some(&access),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(
        g.refresh(&first_refresh).await,
        401,
        "the other session ended"
    );
    assert_eq!(
        g.refresh(&refresh).await,
        200,
        "the caller's session goes on"
    );
    assert_eq!(
        g.count("SELECT count(*) FROM users WHERE email_verified_at IS NULL")
            .await,
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_account_without_a_password_moves_its_address_with_a_fresh_google_proof() {
    let g = Google::new().await;
    let (status, body) = g.sign_in(&sign(&claims("g-1", "grace@example.com"))).await;
    assert_eq!(status, 201, "{body}");
    let (access, _) = tokens_of(&body);
    let mut stale = claims("g-1", "grace@example.com");
    let old = Utc::now().timestamp() - 20 * 60;
    stale["iat"] = json!(old);
    stale["exp"] = json!(old + 3600);
    for (proof, expected) in [
        (json!({}), 422),
        (json!({"current_password": "no password here"}), 403),
        (json!({"id_token": sign(&stale)}), 403),
        (
            json!({"id_token": sign(&claims("g-2", "grace@example.com"))}),
            403,
        ),
        (
            json!({"id_token": sign(&claims("g-1", "grace@example.com"))}),
            200,
        ),
    ] {
        let mut body = proof.clone();
        body["email"] = json!("grace.hopper@example.com");
        let (status, reply) = g.call("PATCH", "/api/v1/me", body, Some(&access)).await;
        assert_eq!(status, expected, "{proof}: {reply}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_google_sign_in_links_the_account_whose_address_was_proved() {
    let g = Google::new().await;
    let (status, _) = g.sign_in(&sign(&claims("g-1", "grace@example.com"))).await;
    assert_eq!(status, 201, "a Google account's address is proved");
    // Another Google account with that address (a recreated Workspace account, say).
    let (status, body) = g.sign_in(&sign(&claims("g-2", "grace@example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(g.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(g.count("SELECT count(*) FROM user_identities").await, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn linking_google_needs_the_current_password_and_a_free_identity() {
    let g = Google::new().await;
    let (access, _) = g
        .register("ada@example.com", "analytical engine 1843")
        .await;
    let token = sign(&claims("g-ada", "ada@example.com"));
    let link = |password: &str| json!({"id_token": token, "current_password": password});
    let (status, _) = g
        .call(
            "POST",
            "/api/v1/me/identities/google",
            link("not it at all"),
            Some(&access),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = g
        .call(
            "POST",
            "/api/v1/me/identities/google",
            link("analytical engine 1843"),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = g
        .call(
            "POST",
            "/api/v1/me/identities/google",
            link("analytical engine 1843"),
            Some(&access),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        g.count("SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL AND password_hash IS NOT NULL")
            .await,
        1,
        "Google's address is the account's: proved, and the password kept"
    );
    // Another account cannot take that Google identity.
    let (other, _) = g
        .register("bob@example.com", "difference engine 1822")
        .await;
    let (status, _) = g
        .call(
            "POST",
            "/api/v1/me/identities/google",
            json!({"id_token": token, "current_password": "difference engine 1822"}),
            Some(&other),
        )
        .await;
    assert_eq!(status, 409);
    // Signing in with it finds Ada, password and all.
    assert_eq!(g.sign_in(&token).await.0, 200);
    assert_eq!(
        g.login("ada@example.com", "analytical engine 1843").await.0,
        200
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
