//! Google sign-in under Spin: a local key-set server (the fixture JWKS of
//! tests/fixtures/google/, on 127.0.0.1) stands in for Google's, and ID tokens are signed here
//! with the fixture's private key. Every `spin up` of the e2e tests is pointed at it
//! (`google_jwks_url`, `google_jwks_origin`, `google_client_id`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use jwt_compact::alg::{Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use serde_json::{Value, json};

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::harness::Spin;

const JWKS: &str = include_str!("../fixtures/google/jwks.json");
const PRIVATE_JWK: &str = include_str!("../fixtures/google/test-signing-key.jwk.json");
const KID: &str = "keemu-test-1";
pub const CLIENT_ID: &str = "e2e-keemu.apps.googleusercontent.com";

/// The key-set server: its port and how many key sets it served.
pub struct KeySetServer {
    pub port: u16,
    pub served: AtomicU32,
}

/// The process's key-set server, started on first use.
pub fn key_set_server() -> &'static KeySetServer {
    static SERVER: OnceLock<&'static KeySetServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the key-set server");
        let port = listener.local_addr().expect("address").port();
        let server: &'static KeySetServer = Box::leak(Box::new(KeySetServer {
            port,
            served: AtomicU32::new(0),
        }));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                // Read the request head; the body is empty (GET).
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                server.served.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     cache-control: public, max-age=3600\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n",
                    JWKS.len()
                );
                let mut stream = &stream;
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(JWKS.as_bytes());
            }
        });
        server
    })
}

/// The `spin up` variables that point the api component at the key-set server.
pub fn spin_variables() -> Vec<String> {
    let port = key_set_server().port;
    vec![
        format!("google_client_id={CLIENT_ID}"),
        format!("google_jwks_url=http://127.0.0.1:{port}/certs"),
        format!("google_jwks_origin=http://127.0.0.1:{port}"),
    ]
}

pub(crate) fn id_token(claims: &Value) -> String {
    let jwk: JsonWebKey<'_> = serde_json::from_str(PRIVATE_JWK).expect("fixture JWK");
    let key = RsaPrivateKey::try_from(&jwk).expect("fixture private key");
    let header = Header::empty().with_key_id(KID).with_token_type("JWT");
    Rsa::rs256()
        .token(&header, &Claims::new(claims.clone()), &key)
        .expect("signed")
}

pub(crate) fn claims(sub: &str, email: &str) -> Value {
    let iat = chrono::Utc::now().timestamp();
    json!({
        "iss": "accounts.google.com",
        "aud": CLIENT_ID,
        "sub": sub,
        "email": email,
        "email_verified": true,
        "name": "Katherine Johnson",
        "iat": iat,
        "exp": iat + 600,
    })
}

pub fn checks(spin: &Spin, checks: &mut Checks) {
    checks.run(
        "google: a verified ID token creates an account (201), then finds it (200); its access token works on /me",
        || {
            let token = id_token(&claims("e2e-google-1", "kj@example.org"));
            let body = json!({ "id_token": token });
            let r = spin.send(&Request::json("POST", "/api/v1/auth/google", &body));
            let created = expect::json(&r, 201);
            assert_eq!(created["token_type"], "Bearer", "{}", r.describe());
            let r = spin.send(&Request::json("POST", "/api/v1/auth/google", &body));
            let again = expect::json(&r, 200);
            let access = again["access_token"].as_str().expect("access token");
            let r = spin.send(
                &Request::get("/api/v1/me").authorization(Some(&format!("Bearer {access}"))),
            );
            let me = expect::json(&r, 200);
            assert_eq!(me["email"], "kj@example.org");
            assert!(
                key_set_server().served.load(Ordering::SeqCst) >= 1,
                "the component fetched the key set from the local server"
            );
        },
    );
    checks.run(
        "google: wrong audience, unverified email, expired, tampered and alg none are 401",
        || {
            let mut wrong_aud = claims("e2e-google-2", "x2@example.org");
            wrong_aud["aud"] = json!("another-client");
            let mut unverified = claims("e2e-google-2", "x2@example.org");
            unverified["email_verified"] = json!(false);
            let mut expired = claims("e2e-google-2", "x2@example.org");
            expired["exp"] = json!(chrono::Utc::now().timestamp() - 600);
            let valid = id_token(&claims("e2e-google-2", "x2@example.org"));
            let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
            parts[2] = parts[2].chars().rev().collect();
            let tampered = parts.join(".");
            let none = format!(
                "eyJhbGciOiJub25lIiwia2lkIjoia2VlbXUtdGVzdC0xIn0.{}.",
                parts[1]
            );
            for (what, token) in [
                ("wrong aud", id_token(&wrong_aud)),
                ("unverified", id_token(&unverified)),
                ("expired", id_token(&expired)),
                ("tampered", tampered),
                ("alg none", none),
            ] {
                let r = spin.send(&Request::json(
                    "POST",
                    "/api/v1/auth/google",
                    &json!({ "id_token": token }),
                ));
                let problem = expect::problem(&r, 401);
                assert_eq!(
                    problem["detail"], "the Google ID token is not valid",
                    "{what}"
                );
            }
        },
    );
}
