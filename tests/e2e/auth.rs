//! Accounts and sign-in under Spin: `/api/v1/auth/...` and `/api/v1/me...` with the keys,
//! issuer and audience given to `spin up` as variables (see [`crate::harness`]).
//!
//! Argon2id runs in the component once per registration, sign-in and password change: the
//! checks keep their number moderate (about 25 in all).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use keemu::auth::token::{AccessTokens, JwtAlgorithm, TokenKey};
use keemu::domain::UserId;
use keemu::http::api::routes::{Access, ROUTES};
use serde_json::{Value, json};

use crate::checks::Checks;
use crate::client::{Request, Response};
use crate::concurrency::all_at_once;
use crate::expect;
use crate::harness::{AUTH_AUDIENCE, AUTH_ISSUER, AUTH_KID, AUTH_SECRET, Postgres, Spin, TOKEN};

/// The password every account of these checks registers with (checked absent from logs).
pub const PASSWORD: &str = "e2e correct horse battery";
const NEW_PASSWORD: &str = "e2e brand new passphrase";
const OTHER_SECRET: &[u8] = b"not-the-e2e-secret-0123456789abc";

/// A signed-in user: the register or login answer's tokens.
pub(crate) struct Session {
    pub id: i64,
    pub access: String,
    pub refresh: String,
}

/// A request without the operator token, with a JSON body.
pub(crate) fn anon(method: &str, path: &str, body: &Value) -> Request {
    Request::json(method, path, body).authorization(None)
}

/// A request with a user's access token, and a JSON body if given.
pub(crate) fn bearer(method: &str, path: &str, token: &str, body: Option<&Value>) -> Request {
    let request = match body {
        Some(body) => Request::json(method, path, body),
        None => Request::new(method, path),
    };
    request.authorization(Some(&format!("Bearer {token}")))
}

fn me(spin: &Spin, token: &str) -> Response {
    spin.send(&bearer("GET", "/api/v1/me", token, None))
}

/// A token response (RFC 6749 §5.1) with this status, never cached.
fn token_body(r: &Response, status: u16) -> Value {
    let body = expect::json(r, status);
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{}",
        r.describe()
    );
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert_eq!(
        body["access_token"].as_str().map(|t| t.split('.').count()),
        Some(3),
        "{body}"
    );
    assert_eq!(
        body["refresh_token"].as_str().map(str::len),
        Some(43),
        "{body}"
    );
    body
}

pub(crate) fn register_response(spin: &Spin, email: &str, name: &str, password: &str) -> Response {
    spin.send(&anon(
        "POST",
        "/api/v1/auth/register",
        &json!({"email": email, "name": name, "password": password}),
    ))
}

pub(crate) fn register(spin: &Spin, email: &str, name: &str) -> Session {
    let r = register_response(spin, email, name, PASSWORD);
    let body = token_body(&r, 201);
    Session {
        id: body["user"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no user id: {body}")),
        access: body["access_token"].as_str().unwrap_or("").to_owned(),
        refresh: body["refresh_token"].as_str().unwrap_or("").to_owned(),
    }
}

pub(crate) fn login(spin: &Spin, email: &str, password: &str) -> Response {
    spin.send(&anon(
        "POST",
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    ))
}

pub(crate) fn refresh(spin: &Spin, token: &str) -> Response {
    spin.send(&anon(
        "POST",
        "/api/v1/auth/refresh",
        &json!({"refresh_token": token}),
    ))
}

/// A 401 problem with `WWW-Authenticate: Bearer`.
pub(crate) fn refused(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.describe());
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer"),
        "{what}: {}",
        r.describe()
    );
}

fn user_id(id: i64) -> UserId {
    UserId::parse(&id.to_string()).expect("user id")
}

/// Access tokens signed like the component's (or not, by the arguments).
fn tokens(kid: &str, secret: &[u8], issuer: &str, audience: &str) -> AccessTokens {
    AccessTokens::new(
        JwtAlgorithm::Hs256,
        issuer,
        audience,
        kid,
        vec![TokenKey::new(kid, secret).expect("key")],
    )
    .expect("token config")
}

fn e2e_tokens() -> AccessTokens {
    tokens(AUTH_KID, AUTH_SECRET, AUTH_ISSUER, AUTH_AUDIENCE)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Every operator route and method of the route table (HEAD with GET), `{id}` as `id`.
fn operator_routes(id: i64) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for route in ROUTES.iter().filter(|r| r.access == Access::Operator) {
        let path = format!("/api/v1{}", route.path.replace("{id}", &id.to_string()));
        for operation in route.operations {
            routes.push((operation.method.to_string(), path.clone()));
            if operation.method == http::Method::GET {
                routes.push(("HEAD".to_owned(), path.clone()));
            }
        }
    }
    routes
}

/// Every /me route and method, with a body that would be accepted.
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
        (
            "POST",
            "/api/v1/me/identities/google",
            Some(json!({"id_token": "x", "current_password": PASSWORD})),
        ),
    ]
}

fn every_me_route_refuses(spin: &Spin, token: &str, what: &str) {
    for (method, path, body) in me_routes() {
        let r = spin.send(&bearer(method, path, token, body.as_ref()));
        refused(&r, &format!("{what}: {method} {path}"));
    }
}

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run("auth: register, login, refresh, /me, logout", || {
        let r = spin.send(&anon(
            "POST",
            "/api/v1/auth/register",
            &json!({
                "email": " Flow.User@Example.COM ",
                "name": "Flow User",
                "password": PASSWORD,
                "timezone": "Europe/Paris"
            }),
        ));
        let body = token_body(&r, 201);
        assert_eq!(r.header("location"), Some("/api/v1/me"), "{}", r.describe());
        let etag = expect::strong_etag(&r);
        let user = &body["user"];
        assert_eq!(user["email"], "flow.user@example.com", "{body}");
        assert_eq!(user["timezone"], "Europe/Paris");
        assert!(!body.to_string().contains("argon2"), "{body}");
        let id = user["id"].as_i64().expect("id");
        let stored = pg.psql(&format!(
            "SELECT substr(password_hash, 1, 10) FROM users WHERE id = {id}"
        ));
        assert_eq!(stored, "$argon2id$");
        assert_eq!(
            pg.psql(&format!(
                "SELECT last_login IS NULL FROM users WHERE id = {id}"
            )),
            "t"
        );

        // The registration's access token reaches /me, the same representation.
        let access = body["access_token"].as_str().expect("access");
        let r = me(spin, access);
        assert_eq!(&expect::json(&r, 200), user);
        assert_eq!(expect::strong_etag(&r), etag);

        // Login (another email case): tokens, and last_login in the row.
        let r = login(spin, "FLOW.user@example.com", PASSWORD);
        let pair = token_body(&r, 200);
        assert_eq!(
            pg.psql(&format!(
                "SELECT last_login > now() - interval '1 minute' FROM users WHERE id = {id}"
            )),
            "t"
        );
        let first_refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();

        // Refresh: a new pair; the old refresh token is spent.
        let r = refresh(spin, &first_refresh);
        let next = token_body(&r, 200);
        let next_refresh = next["refresh_token"].as_str().expect("refresh").to_owned();
        let next_access = next["access_token"].as_str().expect("access").to_owned();
        assert_ne!(next_refresh, first_refresh);

        // /me with the new access token: conditional GET, PATCH with If-Match.
        let r = me(spin, &next_access);
        let current = expect::json(&r, 200);
        assert!(current["last_login"].is_string(), "{current}");
        let etag = expect::strong_etag(&r);
        let r = spin
            .send(&bearer("GET", "/api/v1/me", &next_access, None).header("If-None-Match", &etag));
        expect::status(&r, 304);
        expect::empty_body(&r);
        let r = spin.send(
            &bearer(
                "PATCH",
                "/api/v1/me",
                &next_access,
                Some(&json!({"name": "Flow Renamed"})),
            )
            .header("If-Match", &etag),
        );
        assert_eq!(expect::json(&r, 200)["name"], "Flow Renamed");
        let r = spin.send(
            &bearer(
                "PATCH",
                "/api/v1/me",
                &next_access,
                Some(&json!({"name": "Lost"})),
            )
            .header("If-Match", &etag),
        );
        expect::problem(&r, 412);
        let r = spin.send(&bearer(
            "PATCH",
            "/api/v1/me",
            &next_access,
            Some(&json!({"is_active": false})),
        ));
        expect::invalid_fields(&r, &["is_active"]);
        let r = spin.send(&bearer("GET", "/api/v1/me/preferences", &next_access, None));
        let prefs_etag = expect::strong_etag(&r);
        assert_eq!(expect::json(&r, 200)["user_id"], id);
        let r = spin.send(
            &bearer(
                "PATCH",
                "/api/v1/me/preferences",
                &next_access,
                Some(&json!({"update_frequency": "daily"})),
            )
            .header("If-Match", &prefs_etag),
        );
        assert_eq!(expect::json(&r, 200)["update_frequency"], "daily");

        // Logout: 204; its refresh token is dead, other sessions live.
        let r = spin.send(&anon(
            "POST",
            "/api/v1/auth/logout",
            &json!({"refresh_token": next_refresh}),
        ));
        expect::status(&r, 204);
        expect::empty_body(&r);
        refused(&refresh(spin, &next_refresh), "refresh after logout");
        let registration_refresh = body["refresh_token"].as_str().expect("refresh");
        token_body(&refresh(spin, registration_refresh), 200);
    });

    checks.run(
        "auth: register refuses a taken email in any case (409) and weak passwords (422)",
        || {
            register(spin, "taken@example.com", "Taken");
            let r = register_response(
                spin,
                "TAKEN@example.COM",
                "Again",
                "another fine passphrase",
            );
            let body = expect::problem(&r, 409);
            assert!(!body.to_string().contains("taken@"), "{body}");
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE lower(email) = 'taken@example.com'"),
                "1"
            );
            for password in ["short7!", "iloveyou", "LetMeIn1", &"x".repeat(129)] {
                let r = register_response(spin, "weak@example.com", "Weak", password);
                expect::invalid_fields(&r, &["password"]);
                assert!(!r.text().contains(password), "echoed: {}", r.describe());
            }
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email = 'weak@example.com'"),
                "0"
            );
        },
    );

    checks.run(
        "auth: forged access tokens are 401 (alg none, tampered, expired, other key, unknown kid, other issuer)",
        || {
            let me_ = register(spin, "forger@example.com", "Forger");
            let victim = register(spin, "forged-victim@example.com", "Forged Victim");
            let now = Utc::now();
            // A token made here with the e2e key is accepted: the crafting below is faithful,
            // and the component read auth_keys, auth_issuer and auth_audience.
            let crafted = e2e_tokens().issue(user_id(me_.id), now).expect("issued");
            assert_eq!(expect::json(&me(spin, crafted.as_str()), 200)["id"], me_.id);

            let claims = |sub: i64| {
                json!({
                    "sub": sub.to_string(), "iat": now.timestamp(), "exp": now.timestamp() + 900,
                    "iss": AUTH_ISSUER, "aud": AUTH_AUDIENCE, "jti": "forged"
                })
            };
            let header = |alg: &str| b64(&json!({"alg": alg, "kid": AUTH_KID, "typ": "JWT"}));
            let parts: Vec<&str> = me_.access.split('.').collect();
            let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
            signature[3] ^= 0x20;
            let mut payload: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload"))
                    .expect("json");
            payload["sub"] = json!(victim.id.to_string());
            let forged: Vec<(&str, String)> = vec![
                ("alg none", format!("{}.{}.", header("none"), b64(&claims(victim.id)))),
                ("alg none, two segments", format!("{}.{}", header("none"), b64(&claims(victim.id)))),
                ("HS256 without signature", format!("{}.{}.", header("HS256"), b64(&claims(victim.id)))),
                (
                    "tampered signature",
                    format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&signature)),
                ),
                ("tampered payload", format!("{}.{}.{}", parts[0], b64(&payload), parts[2])),
                (
                    "expired",
                    e2e_tokens()
                        .issue(user_id(me_.id), now - Duration::minutes(20))
                        .expect("issued")
                        .as_str()
                        .to_owned(),
                ),
                (
                    "HS256 with another key, same kid",
                    tokens(AUTH_KID, OTHER_SECRET, AUTH_ISSUER, AUTH_AUDIENCE)
                        .issue(user_id(victim.id), now)
                        .expect("issued")
                        .as_str()
                        .to_owned(),
                ),
                (
                    "the key under an unknown kid",
                    tokens("e2e9", AUTH_SECRET, AUTH_ISSUER, AUTH_AUDIENCE)
                        .issue(user_id(victim.id), now)
                        .expect("issued")
                        .as_str()
                        .to_owned(),
                ),
                (
                    "the default issuer (not the configured one)",
                    tokens(AUTH_KID, AUTH_SECRET, "keemu", AUTH_AUDIENCE)
                        .issue(user_id(victim.id), now)
                        .expect("issued")
                        .as_str()
                        .to_owned(),
                ),
                (
                    "another audience",
                    tokens(AUTH_KID, AUTH_SECRET, AUTH_ISSUER, "keemu-api")
                        .issue(user_id(victim.id), now)
                        .expect("issued")
                        .as_str()
                        .to_owned(),
                ),
                ("the operator token", TOKEN.to_owned()),
            ];
            for (what, token) in &forged {
                let r = me(spin, token);
                expect::problem(&r, 401);
                refused(&r, what);
                assert!(!r.text().contains("forged-victim@"), "{what}: {}", r.describe());
            }
            // One of them on every /me route, and nothing changed.
            every_me_route_refuses(spin, &forged[0].1, "alg none");
            assert_eq!(
                pg.psql(&format!("SELECT name FROM users WHERE id = {}", victim.id)),
                "Forged Victim"
            );
            assert_eq!(expect::json(&me(spin, &me_.access), 200)["id"], me_.id);
        },
    );

    checks.run(
        "auth: a replayed refresh token revokes its family; concurrent refreshes mint one successor",
        || {
            let s = register(spin, "replay@example.com", "Replay");
            let next = token_body(&refresh(spin, &s.refresh), 200);
            let successor = next["refresh_token"].as_str().expect("refresh").to_owned();
            let replay = refresh(spin, &s.refresh);
            expect::problem(&replay, 401);
            let unknown = refresh(spin, "no-such-token");
            assert_eq!(replay.body, unknown.body, "a replay looks like any refused token");
            refused(&refresh(spin, &successor), "successor of a replayed token");
            assert_eq!(
                pg.psql(&format!(
                    "SELECT count(*) FROM session_families WHERE user_id = {} AND revoked_at IS NOT NULL",
                    s.id
                )),
                "1"
            );

            // Eight clients present one token at once: one pair, and the family revoked.
            let r = login(spin, "replay@example.com", PASSWORD);
            let token = token_body(&r, 200)["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned();
            let requests = (0..8)
                .map(|_| anon("POST", "/api/v1/auth/refresh", &json!({"refresh_token": token})))
                .collect();
            let answers = all_at_once(spin.port, requests);
            let ok: Vec<&Response> = answers.iter().filter(|r| r.status == 200).collect();
            let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
            assert_eq!(ok.len(), 1, "{statuses:?}");
            assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 7, "{statuses:?}");
            let winner = ok[0].json()["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned();
            refused(&refresh(spin, &winner), "the race's successor");
            assert_eq!(pg.idle_in_transaction(), "0");
        },
    );

    checks.run(
        "auth: users A and B: /me is the token's user; a user token is 403 on every operator route; the operator token is 401 on /me",
        || {
            let a = register(spin, "user-a@example.com", "User Alpha");
            let b = register(spin, "user-b@example.com", "User Bravo");
            assert_eq!(expect::json(&me(spin, &a.access), 200)["id"], a.id);
            assert_eq!(expect::json(&me(spin, &b.access), 200)["id"], b.id);
            let b_before = expect::json(&me(spin, &b.access), 200);
            for (method, path) in operator_routes(b.id) {
                let body = match method.as_str() {
                    "POST" => Some(json!({"email": "mallory@example.com", "name": "Mallory"})),
                    "PATCH" if path.ends_with("/preferences") => {
                        Some(json!({"summary_length": "concise"}))
                    }
                    "PATCH" => Some(json!({"name": "Hijacked"})),
                    _ => None,
                };
                let r = spin.send(&bearer(&method, &path, &a.access, body.as_ref()));
                if method == "HEAD" {
                    expect::status(&r, 403);
                } else {
                    expect::problem(&r, 403);
                    assert!(
                        !r.text().contains("user-b@") && !r.text().contains("User Bravo"),
                        "{method} {path}: {}",
                        r.describe()
                    );
                }
            }
            let r = spin.send(&bearer(
                "PATCH",
                "/api/v1/me",
                &a.access,
                Some(&json!({"name": "Alpha Renamed", "id": b.id})),
            ));
            expect::invalid_fields(&r, &["id"]);
            let r = spin.send(&bearer(
                "PATCH",
                "/api/v1/me",
                &a.access,
                Some(&json!({"name": "Alpha Renamed"})),
            ));
            assert_eq!(expect::json(&r, 200)["id"], a.id);
            let r = spin.send(&bearer(
                "PATCH",
                "/api/v1/me",
                &a.access,
                Some(&json!({"email": "USER-B@example.com", "current_password": PASSWORD})),
            ));
            expect::problem(&r, 409);
            assert_eq!(expect::json(&me(spin, &b.access), 200), b_before, "B untouched");
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email = 'mallory@example.com'"),
                "0"
            );
            every_me_route_refuses(spin, TOKEN, "operator token");
            for (method, path, body) in me_routes() {
                let r = spin.send(
                    &Request::new(method, path)
                        .authorization(None)
                        .body(body.as_ref().map(|_| "application/json"), body.map(|b| b.to_string()).unwrap_or_default()),
                );
                refused(&r, &format!("{method} {path} without a token"));
            }
        },
    );

    checks.run(
        "auth: deleted and deactivated users' tokens are 401, their refresh tokens too",
        || {
            let gone = register(spin, "gone@example.com", "Gone");
            let r = spin.send(&Request::new(
                "DELETE",
                &format!("/api/v1/users/{}", gone.id),
            ));
            expect::status(&r, 204);
            every_me_route_refuses(spin, &gone.access, "deleted user");
            refused(&refresh(spin, &gone.refresh), "refresh of a deleted user");

            let paused = register(spin, "paused@example.com", "Paused");
            let path = format!("/api/v1/users/{}", paused.id);
            let r = spin.send(&Request::json("PATCH", &path, &json!({"is_active": false})));
            expect::status(&r, 200);
            every_me_route_refuses(spin, &paused.access, "deactivated user");
            refused(&refresh(spin, &paused.refresh), "refresh while deactivated");
            let wrong = login(spin, "paused@example.com", "not the password");
            let right = login(spin, "paused@example.com", PASSWORD);
            refused(&right, "login while deactivated");
            assert_eq!(wrong.body, right.body, "the same 401 as a wrong password");
            assert_eq!(
                pg.psql(&format!(
                    "SELECT name || ' ' || is_active FROM users WHERE id = {}",
                    paused.id
                )),
                "Paused false"
            );
        },
    );

    checks.run(
        "auth: 5 failed logins lock the email: 429 with Retry-After, also for the right password",
        || {
            register(spin, "locked@example.com", "Locked");
            let unknown = login(spin, "nobody-here@example.com", "whatever it is");
            refused(&unknown, "unknown email");
            for attempt in 1..=5 {
                let r = login(spin, "locked@example.com", "wrong password!");
                refused(&r, &format!("failure {attempt}"));
                assert_eq!(r.body, unknown.body, "the same 401 as an unknown email");
            }
            assert_eq!(
                pg.psql(
                    "SELECT attempts FROM login_throttles WHERE email_key = 'locked@example.com'"
                ),
                "5"
            );
            for password in ["wrong password!", PASSWORD] {
                let r = login(spin, "Locked@Example.com", password);
                expect::problem(&r, 429);
                let retry: u64 = r
                    .header("retry-after")
                    .unwrap_or_else(|| panic!("no Retry-After: {}", r.describe()))
                    .parse()
                    .expect("seconds");
                assert!((1..=900).contains(&retry), "{retry}");
            }
            assert_eq!(
                pg.psql(
                    "SELECT attempts FROM login_throttles WHERE email_key = 'locked@example.com'"
                ),
                "5",
                "a locked attempt is not counted"
            );
            // The window ends: the right password signs in and clears the count.
            pg.psql(
                "UPDATE login_throttles SET window_start = now() - interval '16 minutes' \
                 WHERE email_key = 'locked@example.com'",
            );
            token_body(&login(spin, "locked@example.com", PASSWORD), 200);
            assert_eq!(
                pg.psql(
                    "SELECT count(*) FROM login_throttles WHERE email_key = 'locked@example.com'"
                ),
                "0"
            );
        },
    );

    checks.run(
        "auth: a password change needs the current password and ends every session",
        || {
            let s = register(spin, "changer@example.com", "Changer");
            let r = spin.send(&bearer(
                "POST",
                "/api/v1/me/password",
                &s.access,
                Some(&json!({"current_password": "not it at all", "new_password": NEW_PASSWORD})),
            ));
            expect::problem(&r, 403);
            let r = spin.send(&bearer(
                "POST",
                "/api/v1/me/password",
                &s.access,
                Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            ));
            expect::status(&r, 204);
            refused(
                &refresh(spin, &s.refresh),
                "refresh after a password change",
            );
            refused(
                &login(spin, "changer@example.com", PASSWORD),
                "old password",
            );
            token_body(&login(spin, "changer@example.com", NEW_PASSWORD), 200);
        },
    );
}
