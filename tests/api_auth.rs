//! Accounts and sign-in end to end through the api handler, against a real PostgreSQL via
//! the host-like adapter: `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/me...`, and the access-token rules (algorithm, signature, expiry, key ids and rotation,
//! deleted and deactivated accounts, operator versus user routes).
//!
//! Argon2id runs once per registration, sign-in and password change; the tests keep their
//! number moderate.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use common::api::{AUTH_KEYS, Api, NoOutbound, Reply, TOKEN, config};
use common::{Instance, within_one_second};
use http::Method;
use keemu::auth::token::{AccessTokens, JwtAlgorithm, TokenKey, sha256_hex};
use keemu::domain::UserId;
use keemu::http::api::routes::{Access, ROUTES};
use keemu::http::api::{self, ApiConfig};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a new and different passphrase";
/// A second signing secret (32 bytes), for rotation and foreign-key checks.
const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210";

/// The secret of key `k1` in [`AUTH_KEYS`].
fn k1_secret() -> Vec<u8> {
    let (_, secret) = AUTH_KEYS.split_once(':').expect("kid:secret");
    STANDARD_NO_PAD.decode(secret).expect("base64")
}

/// Access tokens with one key, the tests' issuer and audience.
fn tokens_with(kid: &str, secret: &[u8]) -> AccessTokens {
    AccessTokens::new(
        JwtAlgorithm::Hs256,
        "keemu",
        "keemu-api",
        kid,
        vec![TokenKey::new(kid, secret).expect("key")],
    )
    .expect("token config")
}

/// The api settings with `auth_keys` and `auth_signing_kid` as given.
fn config_with_keys(keys: &str, signing: &str) -> ApiConfig {
    let config = ApiConfig::from_variables(&api::Variables {
        api_token: Some(TOKEN.into()),
        auth_keys: Some(keys.into()),
        auth_signing_kid: Some(signing.into()),
        hash_budget: common::api::NO_HASH_LIMIT.map(Into::into),
        ..api::Variables::default()
    });
    assert!(config.tokens.is_ok(), "{:?}", config.tokens);
    config
}

fn other_key_entry(kid: &str) -> String {
    format!("{kid}:{}", STANDARD_NO_PAD.encode(OTHER_SECRET))
}

/// A request with no operator token: `bearer` if given, a JSON body if given, `headers`.
fn request(
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> http::Request<bytes::Bytes> {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    builder.body(bytes::Bytes::from(bytes)).expect("request")
}

/// Sends `request` through the handler with `config` at `now`.
async fn send_at(
    instance: &Instance,
    config: &ApiConfig,
    request: http::Request<bytes::Bytes>,
    now: DateTime<Utc>,
) -> Reply {
    let db = instance.request_db();
    let response = api::handle(&request, config, &db, &NoOutbound, now).await;
    Reply {
        status: response.status().as_u16(),
        response,
        statements: db.statements_sent(),
    }
}

/// A signed-in user: the register or login answer's tokens.
#[derive(Debug, Clone)]
struct Session {
    id: i64,
    access: String,
    refresh: String,
}

/// The handler with the tests' settings (operator token, key `k1`) over a fresh database.
struct Auth {
    api: Api,
    config: ApiConfig,
}

impl Auth {
    async fn new() -> Auth {
        Auth {
            api: Api::new().await,
            config: config(),
        }
    }

    async fn send(&self, request: http::Request<bytes::Bytes>) -> Reply {
        send_at(&self.api.instance, &self.config, request, Utc::now()).await
    }

    /// Without any token.
    async fn anon(&self, method: &str, path: &str, body: Value) -> Reply {
        self.send(request(method, path, None, Some(&body), &[]))
            .await
    }

    /// With a user's access token.
    async fn user(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send(request(method, path, Some(token), body.as_ref(), headers))
            .await
    }

    /// With the operator token.
    async fn operator(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send(request(method, path, Some(TOKEN), body.as_ref(), &[]))
            .await
    }

    async fn register_reply(&self, email: &str, name: &str, password: &str) -> Reply {
        self.anon(
            "POST",
            "/api/v1/auth/register",
            json!({"email": email, "name": name, "password": password}),
        )
        .await
    }

    /// Registers; returns the session and the 201's body.
    async fn register(&self, email: &str, name: &str) -> (Session, Value) {
        let reply = self.register_reply(email, name, PASSWORD).await;
        assert_eq!(reply.status, 201, "{}", reply.json());
        let body = reply.json();
        let session = Session {
            id: body["user"]["id"].as_i64().expect("user id"),
            access: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        };
        (session, body)
    }

    async fn login(&self, email: &str, password: &str) -> Reply {
        self.anon(
            "POST",
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in (must succeed); returns the new session.
    async fn signed_in(&self, email: &str, password: &str) -> Session {
        let reply = self.login(email, password).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        let body = reply.json();
        let access = body["access_token"].as_str().expect("access").to_owned();
        let id = tokens_with("k1", &k1_secret())
            .verify(&access, Utc::now())
            .expect("valid access token")
            .user_id;
        Session {
            id: id.to_string().parse().expect("numeric id"),
            access,
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    async fn refresh(&self, token: &str) -> Reply {
        self.anon(
            "POST",
            "/api/v1/auth/refresh",
            json!({"refresh_token": token}),
        )
        .await
    }

    async fn logout(&self, token: &str) -> Reply {
        self.anon(
            "POST",
            "/api/v1/auth/logout",
            json!({"refresh_token": token}),
        )
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.api.count(sql).await
    }
}

/// A token response (RFC 6749 §5.1): exactly these members, never cached.
fn token_body(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.json());
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(reply.header("pragma").as_deref(), Some("no-cache"));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    let access = body["access_token"].as_str().expect("access_token");
    assert_eq!(access.split('.').count(), 3, "a compact JWT");
    let refresh = body["refresh_token"].as_str().expect("refresh_token");
    assert_eq!(refresh.len(), 43, "32 random bytes, base64url");
    body
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// Claims as ours look, for `sub`, valid from now.
fn claims(sub: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": sub.to_string(), "iat": now, "exp": now + 900,
        "iss": "keemu", "aud": "keemu-api", "jti": "forged-jti"
    })
}

fn user_id(id: i64) -> UserId {
    UserId::parse(&id.to_string()).expect("user id")
}

fn refused(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.json());
    assert_eq!(
        reply.header("www-authenticate").as_deref(),
        Some("Bearer"),
        "{what}"
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
}

// ---------------------------------------------------------------------------------------
// Register
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn register_creates_the_account_and_signs_it_in() {
    let t = Auth::new().await;
    let reply = t
        .anon(
            "POST",
            "/api/v1/auth/register",
            json!({
                "email": " Reg.User@Example.COM ",
                "name": "Reg User",
                "password": PASSWORD,
                "timezone": "Europe/Paris"
            }),
        )
        .await;
    let body = token_body(&reply, 201);
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "token_type",
            "user"
        ]
    );
    assert_eq!(reply.statements, 2, "the user, then its first session");
    assert_eq!(reply.header("location").as_deref(), Some("/api/v1/me"));
    let user = &body["user"];
    assert_eq!(user["email"], "reg.user@example.com");
    assert_eq!(user["name"], "Reg User");
    assert_eq!(user["timezone"], "Europe/Paris");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["preferences"]["update_frequency"], "weekly");
    let text = body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2"),
        "{text}"
    );
    assert!(user.get("password_hash").is_none());
    let id = user["id"].as_i64().expect("id");
    // Nor does the operator ever see the hash.
    let by_operator = t
        .operator("GET", &format!("/api/v1/users/{id}"), None)
        .await
        .json();
    assert!(by_operator.get("password_hash").is_none());
    assert!(!by_operator.to_string().contains("argon2"));
    let listed = t.operator("GET", "/api/v1/users", None).await.json();
    assert!(!listed.to_string().contains("argon2"), "{listed}");

    // The access token names the user and verifies with the configured key.
    let access = body["access_token"].as_str().expect("access");
    let verified = tokens_with("k1", &k1_secret())
        .verify(access, Utc::now())
        .expect("valid");
    assert_eq!(verified.user_id, user_id(id));
    // The same representation as GET /me, with the same ETag.
    let me = t.user(access, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(me.status, 200);
    assert_eq!(&me.json(), user);
    assert_eq!(me.header("etag"), reply.header("etag"));

    // Rows: an argon2id hash, one session family with one token stored as its SHA-256.
    let hashed = t
        .count(&format!(
            "SELECT count(*) FROM users WHERE id = {id} AND password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'"
        ))
        .await;
    assert_eq!(hashed, 1);
    assert_eq!(t.count("SELECT count(*) FROM session_families").await, 1);
    let refresh = body["refresh_token"].as_str().expect("refresh");
    let stored = t
        .count(&format!(
            "SELECT count(*) FROM sessions WHERE token_hash = '{}'",
            sha256_hex(refresh)
        ))
        .await;
    assert_eq!(stored, 1, "only the digest is stored");
}

#[tokio::test]
async fn register_refuses_a_taken_email_in_any_case() {
    let t = Auth::new().await;
    t.register("taken@example.com", "First").await;
    let reply = t
        .register_reply("TAKEN@Example.Com", "Second", "another good passphrase")
        .await;
    assert_eq!(reply.status, 409, "{}", reply.json());
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let text = reply.json().to_string();
    assert!(
        !text.contains("taken@") && !text.contains("passphrase"),
        "{text}"
    );
    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(t.count("SELECT count(*) FROM session_families").await, 1);

    // An account the operator created (no password) holds its email too.
    t.operator(
        "POST",
        "/api/v1/users",
        Some(json!({"email": "operator-made@example.com", "name": "Op"})),
    )
    .await;
    let reply = t
        .register_reply("Operator-Made@example.com", "Claimer", PASSWORD)
        .await;
    assert_eq!(reply.status, 409);
}

#[tokio::test]
async fn register_refuses_weak_passwords_without_echoing_them() {
    let t = Auth::new().await;
    let long = "x".repeat(129);
    let cases: [(&str, &str); 5] = [
        ("short7!", "at least 8"),
        ("ILoveYou", "too common"),
        ("LetMeIn1", "too common"),
        ("qwertyuiop", "too common"),
        (&long, "at most 128"),
    ];
    for (password, message) in cases {
        let reply = t.register_reply("weak@example.com", "Weak", password).await;
        assert_eq!(reply.status, 422, "{password}: {}", reply.json());
        let body = reply.json();
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["field"], "password");
        let text = errors[0]["message"].as_str().expect("message");
        assert!(text.contains(message), "{password}: {text}");
        assert!(
            !body.to_string().contains(password),
            "the password is never echoed: {body}"
        );
        assert_eq!(reply.statements, 0);
    }
    // Eight characters that are not common pass (NFKC: the full-width letters count as one each).
    let reply = t
        .register_reply("ok@example.com", "Ok", "ｚｘｃｖ８４２１")
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json());

    // Missing, null and non-string passwords, and fields register does not take.
    for body in [
        json!({"email": "m@example.com", "name": "M"}),
        json!({"email": "m@example.com", "name": "M", "password": null}),
        json!({"email": "m@example.com", "name": "M", "password": 12345678}),
        json!({"email": "m@example.com", "name": "M", "password": PASSWORD, "is_active": false}),
    ] {
        let reply = t.anon("POST", "/api/v1/auth/register", body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json());
    }
    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
}

// ---------------------------------------------------------------------------------------
// Login and the throttle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn login_issues_tokens_and_records_last_login() {
    let t = Auth::new().await;
    let (registered, _) = t.register("login@example.com", "Login").await;
    let before = t
        .count(&format!(
            "SELECT count(*) FROM users WHERE id = {} AND last_login IS NULL",
            registered.id
        ))
        .await;
    assert_eq!(before, 1, "registering is not signing in with a password");

    let reply = t.login("LOGIN@example.com", PASSWORD).await;
    let body = token_body(&reply, 200);
    assert_eq!(
        keys(&body),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(
        reply.statements, 2,
        "the check, then session and last_login"
    );
    let recent = t
        .count(&format!(
            "SELECT count(*) FROM users WHERE id = {} \
             AND last_login > now() - interval '1 minute'",
            registered.id
        ))
        .await;
    assert_eq!(recent, 1, "last_login is set");
    assert_eq!(t.count("SELECT count(*) FROM session_families").await, 2);

    let access = body["access_token"].as_str().expect("access");
    let me = t.user(access, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["id"], registered.id);
    assert!(me.json()["last_login"].is_string());

    // The password is compared after NFKC normalisation, not trimmed or case-folded.
    assert_eq!(
        t.login("login@example.com", "Correct horse battery staple")
            .await
            .status,
        401
    );
    assert_eq!(
        t.login("login@example.com", " correct horse battery staple")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let t = Auth::new().await;
    t.register("known@example.com", "Known").await;
    t.register("inactive@example.com", "Inactive").await;
    let inactive_id = t
        .count("SELECT id FROM users WHERE email = 'inactive@example.com'")
        .await;
    let off = t
        .operator(
            "PATCH",
            &format!("/api/v1/users/{inactive_id}"),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(off.status, 200);
    // An operator-made account has no password.
    t.operator(
        "POST",
        "/api/v1/users",
        Some(json!({"email": "nopassword@example.com", "name": "No Password"})),
    )
    .await;

    let wrong = t.login("known@example.com", "not the password").await;
    refused(&wrong, "wrong password");
    let cases = [
        ("nobody@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
        ("inactive@example.com", PASSWORD),
        ("nopassword@example.com", PASSWORD),
        ("not-an-email", PASSWORD),
        ("known@example.com", ""),
    ];
    for (email, password) in cases {
        let reply = t.login(email, password).await;
        refused(&reply, email);
        assert_eq!(
            reply.response.body(),
            wrong.response.body(),
            "{email}: the same body"
        );
        let headers = |r: &Reply| {
            let mut h: Vec<String> = r
                .response
                .headers()
                .iter()
                .map(|(n, v)| format!("{n}: {v:?}"))
                .collect();
            h.sort();
            h
        };
        assert_eq!(
            headers(&reply),
            headers(&wrong),
            "{email}: the same headers"
        );
    }
    let detail = wrong.json()["detail"].as_str().expect("detail").to_owned();
    assert!(!detail.contains("known@"), "{detail}");

    // Bodies that are not credentials are 422, not a sign-in attempt.
    for body in [
        json!({"email": "known@example.com"}),
        json!({"email": "known@example.com", "password": 1}),
        json!({"email": "known@example.com", "password": "x", "remember": true}),
    ] {
        let reply = t.anon("POST", "/api/v1/auth/login", body.clone()).await;
        assert_eq!(reply.status, 422, "{body}");
    }
}

#[tokio::test]
async fn five_failures_lock_the_email_until_the_window_ends() {
    let t = Auth::new().await;
    t.register("locked@example.com", "Locked").await;
    for attempt in 1..=5 {
        let reply = t.login("locked@example.com", "wrong password!").await;
        refused(&reply, &format!("failure {attempt}"));
        let failures = t
            .count("SELECT attempts::bigint FROM login_throttles WHERE email_key = 'locked@example.com'")
            .await;
        assert_eq!(failures, attempt, "counted in the database");
    }
    // Locked: wrong and right password alike, in any case of the email, without a new count.
    for (email, password) in [
        ("locked@example.com", "wrong password!"),
        ("locked@example.com", PASSWORD),
        ("LOCKED@Example.com", PASSWORD),
    ] {
        let reply = t.login(email, password).await;
        assert_eq!(reply.status, 429, "{email}: {}", reply.json());
        assert_eq!(reply.statements, 1, "no password check, no new count");
        let retry: u64 = reply
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=900).contains(&retry), "{retry}");
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        assert!(!reply.json().to_string().contains("locked@"));
    }
    assert_eq!(
        t.count("SELECT attempts::bigint FROM login_throttles")
            .await,
        5
    );

    // An email nobody has is locked the same way (the lock tells nothing about accounts).
    for _ in 0..5 {
        refused(&t.login("ghost@example.com", PASSWORD).await, "ghost");
    }
    assert_eq!(t.login("ghost@example.com", PASSWORD).await.status, 429);

    // The window ends: the right password signs in and clears the count.
    t.api
        .db
        .client()
        .await
        .execute(
            "UPDATE login_throttles SET window_start = now() - interval '16 minutes' \
             WHERE email_key = 'locked@example.com'",
            &[],
        )
        .await
        .expect("age the window");
    let reply = t.login("locked@example.com", PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(
        t.count("SELECT count(*) FROM login_throttles WHERE email_key = 'locked@example.com'")
            .await,
        0
    );
}

/// Issue 22, attack 3: the throttle was read, then the hash computed, then the failure
/// recorded, so a burst of concurrent guesses all passed the check (35-39 verifications of
/// 40, and the right password sent last signed in). Now the attempt is reserved in the
/// statement that checks the limit, before any hash.
#[tokio::test]
async fn fifty_concurrent_guesses_get_at_most_five_verifications() {
    let t = Auth::new().await;
    t.register("race@example.com", "Race").await;
    let guesses = (0..50).map(|i| {
        let password = if i == 49 {
            PASSWORD.to_owned()
        } else {
            format!("wrong password {i}")
        };
        let t = &t;
        async move { t.login("race@example.com", &password).await }
    });
    let replies = futures_util::future::join_all(guesses).await;
    let verified = replies.iter().filter(|r| r.status != 429).count();
    assert!(
        verified <= 5,
        "{verified} of 50 concurrent guesses were verified: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        replies.last().map(|r| r.status),
        Some(429),
        "the right password sent last finds the email locked"
    );
    assert_eq!(
        t.count("SELECT attempts::bigint FROM login_throttles")
            .await,
        5
    );
}

/// Issue 22, attack 5: a password over 128 characters failed parsing but still wrote a
/// throttle row, so five 40-ms requests locked a known account for 15 minutes, renewable
/// forever, without costing the attacker a hash of ours.
#[tokio::test]
async fn input_that_cannot_be_a_password_locks_nothing() {
    let t = Auth::new().await;
    t.register("victim@example.com", "Victim").await;
    for _ in 0..10 {
        let reply = t.login("victim@example.com", &"x".repeat(129)).await;
        refused(&reply, "129 characters");
        assert_eq!(reply.statements, 0, "refused before the database");
        refused(&t.login("not an address", PASSWORD).await, "no address");
    }
    assert_eq!(t.count("SELECT count(*) FROM login_throttles").await, 0);
    assert_eq!(t.login("victim@example.com", PASSWORD).await.status, 200);
}

/// Issue 22, item 11: a wrong current password on `/me/password` counts toward the sign-in
/// throttle, like a wrong password at sign-in (it was unlimited: a stolen access token could
/// guess the password forever).
#[tokio::test]
async fn wrong_current_passwords_count_toward_the_throttle() {
    let t = Auth::new().await;
    let (me, _) = t.register("guessed@example.com", "Guessed").await;
    let change = |current: &str| json!({"current_password": current, "new_password": "a brand new passphrase"});
    for n in 1..=5 {
        let reply = t
            .user(
                &me.access,
                "POST",
                "/api/v1/me/password",
                Some(change(&format!("guess number {n}"))),
                &[],
            )
            .await;
        assert_eq!(reply.status, 403, "guess {n}: {}", reply.json());
    }
    let locked = t
        .user(
            &me.access,
            "POST",
            "/api/v1/me/password",
            Some(change(PASSWORD)),
            &[],
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.json());
    assert!(locked.header("retry-after").is_some());
    assert_eq!(
        t.login("guessed@example.com", PASSWORD).await.status,
        429,
        "the same throttle as sign-in"
    );
}

/// Issue 22, attack 4: anonymous requests made the service compute Argon2id without bound.
/// Now each client, and all clients together, have a budget of hashes per second, counted in
/// the database before any hash: 429 with `Retry-After: 1` beyond it. The client is the
/// address the host puts last in `spin-client-addr` (a client that sends the header itself
/// is counted by its real address all the same).
#[tokio::test]
async fn password_hashes_are_bounded_per_client_and_in_all() {
    let mut t = Auth::new().await;
    t.config = config().with_hash_budget(keemu::models::account::HashBudget {
        per_client: 2,
        global: 3,
    });
    t.register("budget@example.com", "Budget").await;
    async fn login_from(t: &Auth, spoofed: Option<String>, real: &str) -> Reply {
        let mut request = request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "budget@example.com", "password": "wrong password!"})),
            &[],
        );
        if let Some(spoofed) = spoofed {
            request
                .headers_mut()
                .append("spin-client-addr", spoofed.parse().expect("header"));
        }
        request
            .headers_mut()
            .append("spin-client-addr", real.parse().expect("header"));
        t.send(request).await
    }
    within_one_second(
        &t.api.db,
        "DELETE FROM hash_budgets; DELETE FROM login_throttles",
        || async {
            let mut statuses = Vec::new();
            for n in 0..3 {
                let reply =
                    login_from(&t, Some(format!("198.51.100.{n}:1")), "192.0.2.7:4000").await;
                statuses.push(reply.status);
                if reply.status == 429 {
                    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
                    assert!(
                        reply.json()["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains("password checks"))
                    );
                }
            }
            // Another client gets the service's last hash of this second, then nobody does.
            statuses.push(login_from(&t, None, "192.0.2.8:4000").await.status);
            statuses.push(login_from(&t, None, "192.0.2.9:4000").await.status);
            statuses == [401, 401, 429, 401, 429]
        },
    )
    .await;
    // Registration hashes a new password: the same budgets.
    within_one_second(
        &t.api.db,
        "DELETE FROM hash_budgets; DELETE FROM login_throttles",
        || async {
        let mut statuses = Vec::new();
        for n in 0..3 {
            let mut request = request(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(&json!({"email": format!("new{n}-{}@example.com", Utc::now().timestamp_micros()), "name": "New", "password": PASSWORD})),
                &[],
            );
            request
                .headers_mut()
                .append("spin-client-addr", "192.0.2.20:1".parse().expect("header"));
            statuses.push(t.send(request).await.status);
        }
        statuses == [201, 201, 429]
    })
    .await;
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let t = Auth::new().await;
    t.register("reset@example.com", "Reset").await;
    for _ in 0..4 {
        refused(
            &t.login("reset@example.com", "wrong password!").await,
            "wrong",
        );
    }
    assert_eq!(t.login("reset@example.com", PASSWORD).await.status, 200);
    assert_eq!(t.count("SELECT count(*) FROM login_throttles").await, 0);
    // Four more failures: counted from zero, so still not locked.
    for _ in 0..4 {
        refused(
            &t.login("reset@example.com", "wrong password!").await,
            "wrong",
        );
    }
    assert_eq!(
        t.count("SELECT attempts::bigint FROM login_throttles")
            .await,
        4
    );
    assert_eq!(t.login("reset@example.com", PASSWORD).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Refresh and logout
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_spends_the_token_and_issues_a_new_pair() {
    let t = Auth::new().await;
    let (first, _) = t.register("refresh@example.com", "Refresh").await;
    let reply = t.refresh(&first.refresh).await;
    let body = token_body(&reply, 200);
    assert_eq!(reply.statements, 1);
    let second_refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    let second_access = body["access_token"].as_str().expect("access").to_owned();
    assert_ne!(second_refresh, first.refresh);
    assert_ne!(second_access, first.access);
    let me = t.user(&second_access, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(me.json()["id"], first.id);
    // The old token is spent (replaced by the new one, same family).
    let spent = t
        .count(&format!(
            "SELECT count(*) FROM sessions WHERE token_hash = '{}' AND replaced_by IS NOT NULL",
            sha256_hex(&first.refresh)
        ))
        .await;
    assert_eq!(spent, 1);
    assert_eq!(t.count("SELECT count(*) FROM session_families").await, 1);

    // The next rotation works from the new token.
    let third = token_body(&t.refresh(&second_refresh).await, 200);
    let third_refresh = third["refresh_token"].as_str().expect("refresh").to_owned();

    // Refresh bodies that cannot be a token: 401; malformed requests: 422/415.
    let unknown = t.refresh("no-such-token").await;
    refused(&unknown, "unknown");
    refused(&t.refresh("").await, "empty");
    refused(&t.refresh(&"x".repeat(5000)).await, "huge");
    assert_eq!(
        t.anon("POST", "/api/v1/auth/refresh", json!({}))
            .await
            .status,
        422
    );
    let plain = t
        .send(request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            None,
            &[("content-type", "text/plain")],
        ))
        .await;
    assert_eq!(plain.status, 415);
    // Nothing above touched the live token.
    assert_eq!(t.refresh(&third_refresh).await.status, 200);
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_whole_family() {
    let t = Auth::new().await;
    let (first, _) = t.register("replay@example.com", "Replay").await;
    let other = t.signed_in("replay@example.com", PASSWORD).await;
    let rotated = token_body(&t.refresh(&first.refresh).await, 200);
    let successor = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // Someone presents the spent token: refused, and the family is revoked.
    let replay = t.refresh(&first.refresh).await;
    refused(&replay, "replayed");
    assert_eq!(replay.statements, 1);
    let unknown = t.refresh("no-such-token").await;
    assert_eq!(
        replay.response.body(),
        unknown.response.body(),
        "a replay looks like any refused token"
    );
    let revoked = t
        .count(&format!(
            "SELECT count(*) FROM session_families f JOIN sessions s ON s.family_id = f.id \
             WHERE s.token_hash = '{}' AND f.revoked_at IS NOT NULL",
            sha256_hex(&successor)
        ))
        .await;
    assert_eq!(revoked, 1, "the family is revoked");
    // The successor, minted from the same family, is refused now too.
    refused(
        &t.refresh(&successor).await,
        "successor of a replayed token",
    );
    refused(&t.refresh(&first.refresh).await, "replayed twice");
    // Another sign-in of the same user is another family: still live.
    let still = t.refresh(&other.refresh).await;
    assert_eq!(still.status, 200, "{}", still.json());
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_mint_at_most_one_successor() {
    let t = Auth::new().await;
    let (me, _) = t.register("racer@example.com", "Racer").await;
    // Eight component instances present the same token at once.
    let instances: Vec<Instance> = (0..8)
        .map(|_| Instance::new(t.api.db.connector()))
        .collect();
    let body = json!({"refresh_token": me.refresh});
    let replies = futures_util::future::join_all(instances.iter().map(|instance| {
        send_at(
            instance,
            &t.config,
            request("POST", "/api/v1/auth/refresh", None, Some(&body), &[]),
            Utc::now(),
        )
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        7,
        "{statuses:?}"
    );
    // One successor was minted; the others saw the token spent, a replay: the family is
    // revoked, so the successor is dead too.
    assert_eq!(t.count("SELECT count(*) FROM sessions").await, 2);
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NOT NULL")
            .await,
        1
    );
    let winner = replies.iter().find(|r| r.status == 200).expect("a 200");
    let successor = winner.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    refused(&t.refresh(&successor).await, "successor after a race");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_without_revoking() {
    let t = Auth::new().await;
    let (me, _) = t.register("stale@example.com", "Stale").await;
    let rotated = token_body(&t.refresh(&me.refresh).await, 200);
    let live = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    t.api
        .db
        .client()
        .await
        .execute(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE replaced_by IS NULL",
            &[],
        )
        .await
        .expect("expire");
    refused(&t.refresh(&live).await, "expired");
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NULL")
            .await,
        1,
        "expiry is not a replay"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM sessions").await,
        2,
        "nothing minted"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let t = Auth::new().await;
    let (first, _) = t.register("logout@example.com", "Logout").await;
    let other = t.signed_in("logout@example.com", PASSWORD).await;

    let reply = t.logout(&first.refresh).await;
    assert_eq!(reply.status, 204);
    assert!(reply.response.body().is_empty());
    assert_eq!(reply.statements, 1);
    refused(&t.refresh(&first.refresh).await, "logged out");
    // Again, or with a token nobody has: 204 all the same (nothing to tell).
    assert_eq!(t.logout(&first.refresh).await.status, 204);
    assert_eq!(t.logout("no-such-token").await.status, 204);
    assert_eq!(t.logout("").await.status, 204);
    assert_eq!(
        t.anon("POST", "/api/v1/auth/logout", json!({"token": "x"}))
            .await
            .status,
        422
    );

    // Logging out with a rotated token ends the family it belongs to.
    let rotated = token_body(&t.refresh(&other.refresh).await, 200);
    let successor = rotated["refresh_token"].as_str().expect("refresh");
    assert_eq!(t.logout(successor).await.status, 204);
    refused(&t.refresh(successor).await, "logged out after rotation");
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NULL")
            .await,
        0
    );
}

// ---------------------------------------------------------------------------------------
// /me
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn me_reads_and_patches_the_signed_in_user_with_etags() {
    let t = Auth::new().await;
    let (me, registered) = t.register("me@example.com", "Me Myself").await;
    let token = me.access.as_str();

    let get = t.user(token, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.statements, 1);
    assert_eq!(get.json(), registered["user"]);
    let etag = get.etag();

    let not_modified = t
        .user(
            token,
            "GET",
            "/api/v1/me",
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.statements, 1);
    assert!(not_modified.response.body().is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.clone()));
    let head = t.user(token, "HEAD", "/api/v1/me", None, &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.response.body().is_empty());
    assert_eq!(head.header("etag"), Some(etag.clone()));
    let mismatch = t
        .user(
            token,
            "GET",
            "/api/v1/me",
            None,
            &[("if-match", "\"other\"")],
        )
        .await;
    assert_eq!(mismatch.status, 412);

    let patched = t
        .user(
            token,
            "PATCH",
            "/api/v1/me",
            Some(json!({"name": "Me Renamed", "profession": "Tester", "date_of_birth": "1990-01-31"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json());
    assert_eq!(patched.statements, 1);
    assert_eq!(patched.json()["name"], "Me Renamed");
    assert_eq!(patched.json()["profession"], "Tester");
    let new_etag = patched.etag();
    assert_ne!(new_etag, etag);

    let stale = t
        .user(
            token,
            "PATCH",
            "/api/v1/me",
            Some(json!({"name": "Lost Update"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.statements, 1);
    let now = t.user(token, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(now.json()["name"], "Me Renamed");
    assert_eq!(now.etag(), new_etag);

    // Bad fields: 422 listing them, nothing sent to the database.
    let invalid = t
        .user(
            token,
            "PATCH",
            "/api/v1/me",
            Some(json!({"email": "nope", "timezone": "Mars/Base"})),
            &[],
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.statements, 0);

    // Preferences: the same rules.
    let prefs = t
        .user(token, "GET", "/api/v1/me/preferences", None, &[])
        .await;
    assert_eq!(prefs.status, 200);
    assert_eq!(prefs.statements, 1);
    assert_eq!(prefs.json(), registered["user"]["preferences"]);
    let prefs_etag = prefs.etag();
    let prefs_304 = t
        .user(
            token,
            "GET",
            "/api/v1/me/preferences",
            None,
            &[("if-none-match", &prefs_etag)],
        )
        .await;
    assert_eq!(prefs_304.status, 304);
    let changed = t
        .user(
            token,
            "PATCH",
            "/api/v1/me/preferences",
            Some(json!({"update_frequency": "daily", "email_notifications_enabled": false})),
            &[("if-match", &prefs_etag)],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.json());
    assert_eq!(changed.statements, 1);
    assert_eq!(changed.json()["update_frequency"], "daily");
    assert_eq!(changed.json()["email_notifications_enabled"], false);
    assert_ne!(changed.etag(), prefs_etag);
    let stale = t
        .user(
            token,
            "PATCH",
            "/api/v1/me/preferences",
            Some(json!({"update_frequency": "monthly"})),
            &[("if-match", &prefs_etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    let after = t
        .user(token, "GET", "/api/v1/me/preferences", None, &[])
        .await;
    assert_eq!(after.json()["update_frequency"], "daily");
    let unknown = t
        .user(
            token,
            "PATCH",
            "/api/v1/me/preferences",
            Some(json!({"user_id": 1})),
            &[],
        )
        .await;
    assert_eq!(unknown.status, 422);

    // Methods the routes do not have.
    let put = t.user(token, "PUT", "/api/v1/me", None, &[]).await;
    assert_eq!(put.status, 405);
    assert_eq!(
        put.header("allow").as_deref(),
        Some("GET, HEAD, PATCH, DELETE")
    );
    let get_password = t.user(token, "GET", "/api/v1/me/password", None, &[]).await;
    assert_eq!(get_password.status, 405);
    assert_eq!(get_password.header("allow").as_deref(), Some("POST"));
}

#[tokio::test]
async fn me_cannot_change_is_active() {
    let t = Auth::new().await;
    let (me, _) = t.register("active@example.com", "Active").await;
    for body in [
        json!({"is_active": false}),
        json!({"is_active": true}),
        json!({"is_active": false, "name": "Sneaky"}),
    ] {
        let reply = t
            .user(&me.access, "PATCH", "/api/v1/me", Some(body.clone()), &[])
            .await;
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(reply.statements, 0);
        let body_json = reply.json();
        let fields: Vec<&str> = body_json["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(fields, ["is_active"], "{body}");
    }
    let row = t
        .count("SELECT count(*) FROM users WHERE is_active AND name = 'Active'")
        .await;
    assert_eq!(row, 1, "nothing changed");

    // Preferences inside the user body: 422 pointing at the user's own preferences route,
    // never at the operator's.
    let reply = t
        .user(
            &me.access,
            "PATCH",
            "/api/v1/me",
            Some(json!({"preferences": {"update_frequency": "daily"}})),
            &[],
        )
        .await;
    assert_eq!(reply.status, 422);
    let body = reply.json();
    assert_eq!(body["errors"][0]["field"], "preferences", "{body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("/api/v1/me/preferences"), "{message}");
    assert!(!message.contains("/users/"), "{message}");
}

#[tokio::test]
async fn delete_me_removes_the_account_and_its_sessions() {
    let t = Auth::new().await;
    let (me, _) = t.register("leaving@example.com", "Leaving").await;
    let (stays, _) = t.register("staying@example.com", "Staying").await;
    let etag = t
        .user(&me.access, "GET", "/api/v1/me", None, &[])
        .await
        .etag();
    // A preferences change moves the user's ETag: a delete with the old one is refused.
    t.user(
        &me.access,
        "PATCH",
        "/api/v1/me/preferences",
        Some(json!({"summary_length": "concise"})),
        &[],
    )
    .await;
    let stale = t
        .user(
            &me.access,
            "DELETE",
            "/api/v1/me",
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(t.count("SELECT count(*) FROM users").await, 2);

    let deleted = t.user(&me.access, "DELETE", "/api/v1/me", None, &[]).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.statements, 1);
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM users WHERE id = {}", me.id))
            .await,
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM session_families WHERE user_id = {}",
            me.id
        ))
        .await,
        0,
        "sessions go with the account"
    );
    // The token outlives the account but reaches nothing.
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("DELETE", "/api/v1/me"),
        ("GET", "/api/v1/me/preferences"),
    ] {
        let reply = t.user(&me.access, method, path, None, &[]).await;
        refused(&reply, path);
    }
    refused(
        &t.refresh(&me.refresh).await,
        "refresh of a deleted account",
    );
    // The other account is untouched.
    let other = t.user(&stays.access, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.json()["id"], stays.id);
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_ends_every_session() {
    let t = Auth::new().await;
    let (me, _) = t.register("pw@example.com", "Password Changer").await;
    let second = t.signed_in("pw@example.com", PASSWORD).await;

    let wrong = t
        .user(
            &me.access,
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": "not my password", "new_password": NEW_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.json());
    assert!(!wrong.json().to_string().contains(NEW_PASSWORD));
    let weak = t
        .user(
            &me.access,
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "password1"})),
            &[],
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.json());
    assert_eq!(weak.json()["errors"][0]["field"], "new_password");
    assert!(!weak.json().to_string().contains("password1"));
    assert_eq!(weak.statements, 0);
    let missing = t
        .user(
            &me.access,
            "POST",
            "/api/v1/me/password",
            Some(json!({"new_password": NEW_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(missing.status, 422);
    // Nothing changed so far: the sessions are live.
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NULL")
            .await,
        2
    );

    let changed = t
        .user(
            &me.access,
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.response.body());
    assert_eq!(
        changed.statements, 2,
        "the current hash, then hash and revocation"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NULL")
            .await,
        0
    );
    refused(&t.refresh(&me.refresh).await, "the registration's session");
    refused(
        &t.refresh(&second.refresh).await,
        "the other sign-in's session",
    );
    refused(&t.login("pw@example.com", PASSWORD).await, "old password");
    let session = t.signed_in("pw@example.com", NEW_PASSWORD).await;
    assert_eq!(session.id, me.id);
}

// ---------------------------------------------------------------------------------------
// Access-token rules
// ---------------------------------------------------------------------------------------

/// Every route a user's token may call, with a body that would be accepted.
fn me_routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/v1/me", None),
        ("HEAD", "/api/v1/me", None),
        ("PATCH", "/api/v1/me", Some(json!({"name": "Changed"}))),
        ("DELETE", "/api/v1/me", None),
        ("GET", "/api/v1/me/preferences", None),
        ("HEAD", "/api/v1/me/preferences", None),
        (
            "PATCH",
            "/api/v1/me/preferences",
            Some(json!({"summary_length": "detailed"})),
        ),
        (
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        ),
        ("GET", "/api/v1/me/subscriptions", None),
        ("HEAD", "/api/v1/me/subscriptions", None),
        (
            "POST",
            "/api/v1/me/subscriptions",
            Some(json!({"url": "r/rust"})),
        ),
        ("GET", "/api/v1/me/subscriptions/1", None),
        ("HEAD", "/api/v1/me/subscriptions/1", None),
        (
            "PATCH",
            "/api/v1/me/subscriptions/1",
            Some(json!({"display_name": "Mine"})),
        ),
        ("DELETE", "/api/v1/me/subscriptions/1", None),
        ("GET", "/api/v1/me/subscriptions/1/items", None),
        ("HEAD", "/api/v1/me/subscriptions/1/items", None),
        ("GET", "/api/v1/me/feed", None),
        ("HEAD", "/api/v1/me/feed", None),
        ("GET", "/api/v1/me/digests", None),
        ("HEAD", "/api/v1/me/digests", None),
        ("GET", "/api/v1/me/digests/1", None),
        ("HEAD", "/api/v1/me/digests/1", None),
        ("POST", "/api/v1/me/email/verification", None),
        (
            "POST",
            "/api/v1/me/identities/google",
            Some(json!({"id_token": "x", "current_password": PASSWORD})),
        ),
    ]
}

#[test]
fn me_routes_cover_the_route_table() {
    let mut table: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.access == Access::User)
        .flat_map(|r| {
            r.operations.iter().flat_map(move |o| {
                // Path parameters as me_routes() fills them.
                let path = r
                    .path
                    .replace("{subscription_id}", "1")
                    .replace("{digest_id}", "1");
                let mut v = vec![format!("{} /api/v1{path}", o.method)];
                if o.method == Method::GET {
                    v.push(format!("HEAD /api/v1{path}"));
                }
                v
            })
        })
        .collect();
    table.sort();
    let mut listed: Vec<String> = me_routes()
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    listed.sort();
    assert_eq!(listed, table);
}

/// Asserts every /me route refuses `token` with 401 and sends no statement; the account's
/// row must be unchanged afterwards (checked by the caller).
async fn every_me_route_refuses(t: &Auth, token: &str, what: &str) {
    for (method, path, body) in me_routes() {
        let reply = t.user(token, method, path, body, &[]).await;
        assert_eq!(reply.status, 401, "{what}: {method} {path}");
        assert_eq!(
            reply.header("www-authenticate").as_deref(),
            Some("Bearer"),
            "{what}: {method} {path}"
        );
    }
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused() {
    let t = Auth::new().await;
    let (me, _) = t.register("tokens@example.com", "Tokens").await;
    let (other, _) = t.register("victim@example.com", "Victim").await;
    let header = |alg: &str| b64(&json!({"alg": alg, "kid": "k1", "typ": "JWT"}));

    let mut forged: Vec<(&str, String)> = Vec::new();
    // alg none, with and without a signature segment.
    forged.push((
        "alg none",
        format!("{}.{}.", header("none"), b64(&claims(me.id))),
    ));
    forged.push((
        "alg none, no signature",
        format!("{}.{}", header("none"), b64(&claims(me.id))),
    ));
    forged.push((
        "alg None",
        format!("{}.{}.", header("None"), b64(&claims(me.id))),
    ));
    // HS256 claimed, empty signature.
    forged.push((
        "empty signature",
        format!("{}.{}.", header("HS256"), b64(&claims(me.id))),
    ));
    // The real token with a flipped signature bit.
    let parts: Vec<&str> = me.access.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    signature[0] ^= 0x01;
    forged.push((
        "tampered signature",
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(&signature)
        ),
    ));
    // The real signature over another user's id.
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("json");
    payload["sub"] = json!(other.id.to_string());
    forged.push((
        "tampered payload",
        format!("{}.{}.{}", parts[0], b64(&payload), parts[2]),
    ));
    // Signed with another key under our kid, and our key under an unknown kid.
    let now = Utc::now();
    let foreign = tokens_with("k1", OTHER_SECRET)
        .issue(user_id(me.id), now)
        .expect("issued");
    forged.push(("another key, same kid", foreign.as_str().to_owned()));
    let unknown_kid = tokens_with("k9", &k1_secret())
        .issue(user_id(me.id), now)
        .expect("issued");
    forged.push(("unknown kid", unknown_kid.as_str().to_owned()));
    // Right key, but another issuer or audience.
    let key = || vec![TokenKey::new("k1", &k1_secret()).expect("key")];
    let other_iss = AccessTokens::new(JwtAlgorithm::Hs256, "evil", "keemu-api", "k1", key())
        .expect("config")
        .issue(user_id(me.id), now)
        .expect("issued");
    forged.push(("another issuer", other_iss.as_str().to_owned()));
    let other_aud = AccessTokens::new(JwtAlgorithm::Hs256, "keemu", "elsewhere", "k1", key())
        .expect("config")
        .issue(user_id(me.id), now)
        .expect("issued");
    forged.push(("another audience", other_aud.as_str().to_owned()));
    // Right key, another HMAC algorithm.
    let hs512 = AccessTokens::new(JwtAlgorithm::Hs512, "keemu", "keemu-api", "k1", key())
        .expect("config")
        .issue(user_id(me.id), now)
        .expect("issued");
    forged.push(("HS512", hs512.as_str().to_owned()));
    // Expired: issued an hour ago with the right key.
    let expired = tokens_with("k1", &k1_secret())
        .issue(user_id(me.id), now - Duration::hours(1))
        .expect("issued");
    forged.push(("expired", expired.as_str().to_owned()));
    // Not a JWT at all; the operator's token.
    forged.push(("garbage", "not.a.token".to_owned()));
    forged.push(("operator token", TOKEN.to_owned()));

    for (what, token) in &forged {
        let reply = t.user(token, "GET", "/api/v1/me", None, &[]).await;
        refused(&reply, what);
        assert_eq!(reply.statements, 0, "{what}: refused before the database");
        let body = reply.json().to_string();
        assert!(
            !body.contains("tokens@") && !body.contains("victim@"),
            "{body}"
        );
    }
    // Each is refused on every /me route, and changes nothing.
    for (what, token) in &forged {
        every_me_route_refuses(&t, token, what).await;
    }
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE name IN ('Tokens', 'Victim')")
            .await,
        2
    );
    // No token, or another scheme.
    let none = t.send(request("GET", "/api/v1/me", None, None, &[])).await;
    refused(&none, "no token");
    let basic = t
        .send(request(
            "GET",
            "/api/v1/me",
            None,
            None,
            &[("authorization", &format!("Basic {}", me.access))],
        ))
        .await;
    refused(&basic, "Basic scheme");

    // A genuine token still works.
    assert_eq!(
        t.user(&me.access, "GET", "/api/v1/me", None, &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn access_tokens_expire_after_15_minutes() {
    let t = Auth::new().await;
    let (me, _) = t.register("expiry@example.com", "Expiry").await;
    let get = |at: DateTime<Utc>| {
        send_at(
            &t.api.instance,
            &t.config,
            request("GET", "/api/v1/me", Some(&me.access), None, &[]),
            at,
        )
    };
    let now = Utc::now();
    assert_eq!(get(now + Duration::minutes(14)).await.status, 200);
    refused(&get(now + Duration::minutes(16)).await, "16 minutes later");
    refused(&get(now + Duration::days(1)).await, "a day later");
    // A refresh after the access token expired still works (30-day refresh token).
    let later = send_at(
        &t.api.instance,
        &t.config,
        request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": me.refresh})),
            &[],
        ),
        now + Duration::hours(2),
    )
    .await;
    assert_eq!(later.status, 200);
}

#[tokio::test]
async fn signing_keys_rotate_by_kid() {
    let t = Auth::new().await;
    let (me, _) = t.register("rotate@example.com", "Rotate").await;
    let old_token = me.access.clone(); // signed with k1
    let get = |config: ApiConfig, token: String| {
        let instance = &t.api.instance;
        async move {
            send_at(
                instance,
                &config,
                request("GET", "/api/v1/me", Some(&token), None, &[]),
                Utc::now(),
            )
            .await
        }
    };
    // During the rotation: k2 signs, k1 still verifies.
    let both = config_with_keys(&format!("{},{AUTH_KEYS}", other_key_entry("k2")), "k2");
    assert_eq!(get(both.clone(), old_token.clone()).await.status, 200);
    // New tokens are signed with k2 (a sign-in under that configuration).
    let login = send_at(
        &t.api.instance,
        &both,
        request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "rotate@example.com", "password": PASSWORD})),
            &[],
        ),
        Utc::now(),
    )
    .await;
    let new_token = token_body(&login, 200)["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new_token.split('.').next().expect("header"))
            .expect("base64url"),
    )
    .expect("json");
    assert_eq!(header["kid"], "k2");
    assert_eq!(header["alg"], "HS256");
    assert_eq!(get(both.clone(), new_token.clone()).await.status, 200);
    // Before the rotation, k2 was unknown.
    refused(
        &get(config(), new_token.clone()).await,
        "k2 before rotation",
    );
    // After: k1 removed; its tokens are refused, k2's accepted.
    let after = config_with_keys(&other_key_entry("k2"), "k2");
    refused(&get(after.clone(), old_token).await, "k1 after rotation");
    assert_eq!(get(after, new_token).await.status, 200);
}

#[tokio::test]
async fn a_deleted_users_token_is_refused() {
    let t = Auth::new().await;
    let (me, _) = t.register("deleted@example.com", "Deleted").await;
    let path = format!("/api/v1/users/{}", me.id);
    assert_eq!(t.operator("DELETE", &path, None).await.status, 204);
    every_me_route_refuses(&t, &me.access, "deleted user").await;
    refused(&t.refresh(&me.refresh).await, "refresh of a deleted user");
    assert_eq!(t.count("SELECT count(*) FROM users").await, 0);
    // Registering the email again is a new account; the old token does not reach it.
    let (again, _) = t.register("deleted@example.com", "Again").await;
    assert_ne!(again.id, me.id);
    refused(
        &t.user(&me.access, "GET", "/api/v1/me", None, &[]).await,
        "old token, new account",
    );
}

#[tokio::test]
async fn a_deactivated_users_token_and_refresh_token_are_refused() {
    let t = Auth::new().await;
    let (me, _) = t.register("paused@example.com", "Paused").await;
    let path = format!("/api/v1/users/{}", me.id);
    let off = t
        .operator("PATCH", &path, Some(json!({"is_active": false})))
        .await;
    assert_eq!(off.status, 200);

    every_me_route_refuses(&t, &me.access, "deactivated user").await;
    let get = t.user(&me.access, "GET", "/api/v1/me", None, &[]).await;
    assert_eq!(
        get.statements, 1,
        "the account is checked in the statement itself"
    );
    refused(&t.refresh(&me.refresh).await, "refresh while deactivated");
    refused(
        &t.login("paused@example.com", PASSWORD).await,
        "login while deactivated",
    );
    // The row, the preferences and the password are as they were; the sessions ended with
    // the deactivation, in its statement.
    let row = t.operator("GET", &path, None).await.json();
    assert_eq!(row["name"], "Paused");
    assert_eq!(row["is_active"], false);
    assert_eq!(row["preferences"]["summary_length"], "standard");
    assert_eq!(
        t.count("SELECT count(*) FROM session_families WHERE revoked_at IS NULL")
            .await,
        0
    );

    // The operator reactivates the account: the same tokens work again.
    let on = t
        .operator("PATCH", &path, Some(json!({"is_active": true})))
        .await;
    assert_eq!(on.status, 200);
    assert_eq!(
        t.user(&me.access, "GET", "/api/v1/me", None, &[])
            .await
            .status,
        200
    );
    // Its sessions stay ended: it signs in again.
    refused(
        &t.refresh(&me.refresh).await,
        "refresh after the reactivation",
    );
    assert_eq!(t.login("paused@example.com", PASSWORD).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Operator routes and user routes; one user and another
// ---------------------------------------------------------------------------------------

/// Every operator route and method of the route table (HEAD with GET), with `{id}` as `id`.
fn operator_routes(id: i64) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for route in ROUTES.iter().filter(|r| r.access == Access::Operator) {
        let path = format!("/api/v1{}", route.path.replace("{id}", &id.to_string()));
        for operation in route.operations {
            routes.push((operation.method.to_string(), path.clone()));
            if operation.method == Method::GET {
                routes.push(("HEAD".to_owned(), path.clone()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn a_user_token_is_forbidden_on_every_operator_route() {
    let t = Auth::new().await;
    let (a, _) = t.register("alice@example.com", "Alice Example").await;
    let (b, _) = t.register("bob@example.com", "Bob Example").await;
    let routes = operator_routes(b.id);
    assert!(routes.len() >= 9, "{routes:?}");
    for (method, path) in &routes {
        let body = match method.as_str() {
            "POST" => Some(json!({"email": "mallory@example.com", "name": "Mallory"})),
            "PATCH" if path.ends_with("/preferences") => Some(json!({"summary_length": "concise"})),
            "PATCH" => Some(json!({"name": "Hijacked", "is_active": false})),
            _ => None,
        };
        let reply = t.user(&a.access, method, path, body, &[]).await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(reply.statements, 0, "{method} {path}");
        if method != "HEAD" {
            let text = reply.json().to_string();
            assert!(
                !text.contains("bob@") && !text.contains("Bob Example"),
                "{method} {path}: {text}"
            );
        }
        // Not a valid user token either way: 401, not 403.
        let forged = format!("{}x", a.access);
        let reply = t.user(&forged, method, path, None, &[]).await;
        assert_eq!(reply.status, 401, "{method} {path} with a broken token");
    }
    // Nothing changed, nothing created.
    assert_eq!(t.count("SELECT count(*) FROM users").await, 2);
    let bob = t
        .operator("GET", &format!("/api/v1/users/{}", b.id), None)
        .await
        .json();
    assert_eq!(bob["name"], "Bob Example");
    assert_eq!(bob["is_active"], true);
    assert_eq!(bob["preferences"]["summary_length"], "standard");

    // The operator's token is not a user's: 401 on every /me route.
    every_me_route_refuses(&t, TOKEN, "operator token").await;
    // And no token at all: 401 everywhere that needs one.
    for (method, path, body) in me_routes() {
        let reply = t
            .send(request(method, path, None, body.as_ref(), &[]))
            .await;
        assert_eq!(reply.status, 401, "{method} {path} without a token");
    }
    for (method, path) in &routes {
        let reply = t.send(request(method, path, None, None, &[])).await;
        assert_eq!(reply.status, 401, "{method} {path} without a token");
    }
}

#[tokio::test]
async fn me_only_ever_addresses_the_tokens_user() {
    let t = Auth::new().await;
    let (a, _) = t.register("anna@example.com", "Anna Example").await;
    let (b, _) = t.register("ben@example.com", "Ben Example").await;

    // Each sees itself.
    let seen_a = t
        .user(&a.access, "GET", "/api/v1/me", None, &[])
        .await
        .json();
    let seen_b = t
        .user(&b.access, "GET", "/api/v1/me", None, &[])
        .await
        .json();
    assert_eq!(seen_a["id"], a.id);
    assert_eq!(seen_b["id"], b.id);

    // Query strings and body fields naming another user change nothing.
    let with_query = t
        .user(
            &a.access,
            "GET",
            &format!("/api/v1/me?id={}", b.id),
            None,
            &[],
        )
        .await;
    assert_eq!(with_query.json()["id"], a.id);
    for body in [json!({"id": b.id}), json!({"user_id": b.id})] {
        let reply = t
            .user(&a.access, "PATCH", "/api/v1/me", Some(body.clone()), &[])
            .await;
        assert_eq!(reply.status, 422, "{body}");
    }
    // /me/{id} does not exist.
    let by_id = t
        .user(&a.access, "GET", &format!("/api/v1/me/{}", b.id), None, &[])
        .await;
    assert_eq!(by_id.status, 404);
    // B's email is B's: A cannot take it.
    let taken = t
        .user(
            &a.access,
            "PATCH",
            "/api/v1/me",
            Some(json!({"email": "BEN@example.com", "current_password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(taken.status, 409);

    // A's writes land on A only.
    let renamed = t
        .user(
            &a.access,
            "PATCH",
            "/api/v1/me",
            Some(json!({"name": "Anna Renamed"})),
            &[],
        )
        .await;
    assert_eq!(renamed.json()["id"], a.id);
    t.user(
        &a.access,
        "PATCH",
        "/api/v1/me/preferences",
        Some(json!({"update_frequency": "daily"})),
        &[],
    )
    .await;
    let b_now = t
        .user(&b.access, "GET", "/api/v1/me", None, &[])
        .await
        .json();
    assert_eq!(b_now, seen_b, "B is untouched");

    // B's refresh token in A's hands yields B's tokens only (bearer tokens are bearer
    // tokens); A's refresh token never yields B.
    let a_pair = token_body(&t.refresh(&a.refresh).await, 200);
    let a_new = a_pair["access_token"].as_str().expect("access");
    assert_eq!(
        t.user(a_new, "GET", "/api/v1/me", None, &[]).await.json()["id"],
        a.id
    );

    // A deletes itself: B still there.
    assert_eq!(
        t.user(&a.access, "DELETE", "/api/v1/me", None, &[])
            .await
            .status,
        204
    );
    assert_eq!(
        t.user(&b.access, "GET", "/api/v1/me", None, &[])
            .await
            .json(),
        seen_b
    );
}

#[tokio::test]
async fn auth_routes_are_not_configured_without_keys() {
    // Without auth_keys the operator API works and /auth, /me answer 503.
    let db = common::TestDatabase::create().await;
    let instance = Instance::new(db.connector());
    let bare = ApiConfig::from_variables(&api::Variables {
        api_token: Some(TOKEN.into()),
        ..api::Variables::default()
    });
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/auth/register",
            Some(json!({"email": "x@example.com", "name": "X", "password": PASSWORD})),
        ),
        (
            "POST",
            "/api/v1/auth/login",
            Some(json!({"email": "x@example.com", "password": PASSWORD})),
        ),
        (
            "POST",
            "/api/v1/auth/refresh",
            Some(json!({"refresh_token": "x"})),
        ),
        ("GET", "/api/v1/me", None),
    ] {
        let reply = send_at(
            &instance,
            &bare,
            request(method, path, Some("whatever"), body.as_ref(), &[]),
            Utc::now(),
        )
        .await;
        assert_eq!(reply.status, 503, "{method} {path}");
        assert_eq!(reply.statements, 0);
    }
    let users = send_at(
        &instance,
        &bare,
        request("GET", "/api/v1/users", Some(TOKEN), None, &[]),
        Utc::now(),
    )
    .await;
    assert_eq!(users.status, 200);
}

/// Issue 22 item 9: `con\u{200b}foo@…` registered as an account that looks exactly like
/// `confoo@…`, and a name ending in U+202E reversed what followed it. Registration and
/// `PATCH /me` refuse Unicode format characters (category Cf) with 422 naming the field,
/// and canonically equivalent e-mails are one account.
#[tokio::test]
async fn register_and_me_refuse_invisible_and_direction_changing_characters() {
    let t = Auth::new().await;
    let field_of = |reply: &Reply| -> Vec<String> {
        reply.json()["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for (email, name, field) in [
        ("con\u{200b}foo@example.com", "Con", "email"),
        ("confoo@example.com\u{202e}", "Con", "email"),
        ("\u{feff}confoo@example.com", "Con", "email"),
        ("confoo@example.com", "Con\u{202e}gnp.exe", "name"),
        ("confoo@example.com", "\u{2067}Con", "name"),
    ] {
        let reply = t.register_reply(email, name, PASSWORD).await;
        assert_eq!(reply.status, 422, "{email:?} {name:?}: {}", reply.json());
        assert!(
            field_of(&reply).contains(&field.to_owned()),
            "{email:?} {name:?}: {}",
            reply.json()
        );
    }
    assert_eq!(t.count("SELECT count(*) FROM users").await, 0);

    let (me, _) = t.register("confoo@example.com", "Con").await;
    for (body, field) in [
        (json!({"email": "con\u{200b}foo@example.com"}), "email"),
        (json!({"name": "Con\u{202e}"}), "name"),
        (json!({"name": "C\u{ad}on"}), "name"),
    ] {
        let reply = t
            .user(&me.access, "PATCH", "/api/v1/me", Some(body.clone()), &[])
            .await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json());
        assert!(field_of(&reply).contains(&field.to_owned()), "{body}");
    }
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'confoo@example.com' AND name = 'Con'")
            .await,
        1
    );

    // `é` precomposed and `e` + combining acute are one address (NFC before comparing).
    t.register("\u{e9}lodie@example.fr", "Élodie").await;
    let reply = t
        .register_reply("E\u{301}LODIE@example.fr", "Other", PASSWORD)
        .await;
    assert_eq!(reply.status, 409, "{}", reply.json());
    t.signed_in("e\u{301}lodie@example.fr", PASSWORD).await;
}
