//! E-mail address proofs (issue 19) against a real PostgreSQL: `POST
//! /api/v1/me/email/verification` queues one (bounded), the delivery round mails it with a
//! signed link, and `POST /links/verify-email` sets the address verified, only while it is
//! still the user's address. Forged, expired and other-purpose tokens answer 404 and change
//! nothing.

mod common;

use std::cell::RefCell;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::api::{Reply, send_on};
use common::{Instance, TestDatabase};
use keemu::auth::link::{LinkKey, Purpose};
use keemu::digests::deliver::{self, DeliveryReport, DeliverySettings, PROOF_SUBJECT};
use keemu::digests::links::Links;
use keemu::http::Response;
use keemu::http::api;
use keemu::outbound::mail::MailApi;
use keemu::outbound::{FetchRequest, Fetched, Outbound, OutboundError};
use serde_json::{Value, json};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PATH: &str = "/api/v1/me/email/verification";

const SETTINGS: DeliverySettings = DeliverySettings {
    limit: 20,
    lease_seconds: 900,
    max_age_seconds: 2 * 24 * 3600,
};

/// A mail API that records each request's headers and JSON body and answers 200.
#[derive(Default)]
struct FakeApi {
    seen: RefCell<Vec<Sent>>,
}

/// A request's headers and JSON body.
type Sent = (Vec<(&'static str, String)>, Value);

impl Outbound for FakeApi {
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        let body = serde_json::from_slice(request.body.unwrap_or_default()).expect("JSON body");
        self.seen.borrow_mut().push((request.headers.clone(), body));
        Ok(Fetched {
            status: 200,
            headers: Vec::new(),
            body: br#"{"id":"fake"}"#.to_vec(),
        })
    }
}

struct Env {
    _db: TestDatabase,
    instance: Instance,
    client: tokio_postgres::Client,
    api: MailApi,
    links: Links,
}

impl Env {
    async fn new() -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let client = db.client().await;
        let api = MailApi::new(
            "https://api.resend.com/emails",
            "re_test_token",
            "KeeMU <digests@keemu.example>",
            Duration::from_secs(5),
        )
        .expect("mail settings");
        let links =
            Links::new("https://keemu.example", LinkKey::parse(KEY).expect("key")).expect("links");
        Env {
            _db: db,
            instance,
            client,
            api,
            links,
        }
    }

    async fn one(&self, query: &str) -> String {
        let row = self.client.query_one(query, &[]).await.expect(query);
        row.get::<_, Option<String>>(0).unwrap_or_default()
    }

    async fn sql(&self, statement: &str) {
        self.client.batch_execute(statement).await.expect(statement);
    }

    /// Registers `email`; its access token.
    async fn register(&self, email: &str) -> String {
        let request = http::Request::builder()
            .method("POST")
            .uri("/api/v1/auth/register")
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(
                json!({"email": email, "name": "Reader", "password": "correct horse battery staple"})
                    .to_string(),
            ))
            .expect("request");
        let reply = send_on(&self.instance, request).await;
        assert_eq!(reply.status, 201, "{}", reply.json());
        reply.json()["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// `POST /me/email/verification` as the user of `access`.
    async fn ask(&self, access: &str) -> Reply {
        let request = http::Request::builder()
            .method("POST")
            .uri(PATH)
            .header("authorization", format!("Bearer {access}"))
            .body(bytes::Bytes::new())
            .expect("request");
        send_on(&self.instance, request).await
    }

    async fn deliver_with(&self, api: &FakeApi, links: Option<&Links>) -> DeliveryReport {
        deliver::run(
            &self.instance.request_db(),
            api,
            &self.api,
            links,
            &SETTINGS,
        )
        .await
        .expect("delivery round")
    }

    async fn deliver(&self, api: &FakeApi) -> DeliveryReport {
        self.deliver_with(api, Some(&self.links)).await
    }

    /// `method` on a signed link (path and query).
    async fn link(&self, method: &str, path: &str) -> Response {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(bytes::Bytes::new())
            .expect("request");
        let config = common::api::config().with_links(self.links.clone());
        let db = self.instance.request_db();
        api::handle(&request, &config, &db, &common::api::NoOutbound, Utc::now()).await
    }

    async fn verified(&self, email: &str) -> String {
        self.one(&format!(
            "SELECT (email_verified_at IS NOT NULL)::text FROM users WHERE email = '{email}'"
        ))
        .await
    }
}

fn text(response: &Response) -> String {
    String::from_utf8(response.body().clone()).expect("utf-8")
}

/// The link (path and query) in a proof's text part.
fn link_in(body: &Value) -> String {
    let text = body["text"].as_str().expect("text part");
    let start = text
        .find("https://keemu.example/links/verify-email?token=")
        .expect("the link");
    let url = text[start..].split_whitespace().next().expect("url");
    url.trim_start_matches("https://keemu.example").to_owned()
}

#[tokio::test]
async fn a_proof_is_queued_once_mailed_and_its_link_verifies_the_address() {
    let env = Env::new().await;
    let access = env.register("reader@example.org").await;
    let first = env.ask(&access).await;
    assert_eq!(first.status, 202, "{}", first.json());
    assert_eq!(first.json(), json!({"verified": false, "queued": true}));
    assert_eq!(first.statements, 1, "one statement");
    let second = env.ask(&access).await;
    assert_eq!(second.status, 202);
    assert_eq!(second.json(), json!({"verified": false, "queued": false}));
    assert_eq!(
        env.one("SELECT count(*)::text FROM email_proofs").await,
        "1"
    );

    let mail = FakeApi::default();
    let report = env.deliver(&mail).await;
    assert_eq!(
        (report.proofs_claimed, report.proofs_sent, report.claimed),
        (1, 1, 0),
        "{report:?}"
    );
    let seen = mail.seen.borrow().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let id = env.one("SELECT id::text FROM email_proofs").await;
    assert!(headers.contains(&("idempotency-key", format!("email-proof/{id}"))));
    assert_eq!(body["to"], json!(["reader@example.org"]));
    assert_eq!(body["subject"], PROOF_SUBJECT);
    let link = link_in(body);
    assert!(body["html"].as_str().expect("html").contains(&link));
    let token = link.split("token=").nth(1).expect("token");
    assert_eq!(
        env.links
            .key()
            .verify(
                Purpose::VerifyEmail,
                token,
                Utc::now() + TimeDelta::hours(23)
            )
            .map(|p| p.to_string()),
        Some(id.clone())
    );
    assert_eq!(
        env.links.key().verify(
            Purpose::VerifyEmail,
            token,
            Utc::now() + TimeDelta::hours(24)
        ),
        None,
        "valid 24 hours"
    );
    assert_eq!(
        env.one("SELECT status || ' ' || delivery_attempts || ' ' || (sent_at IS NOT NULL) FROM email_proofs")
            .await,
        "sent 1 true"
    );
    assert_eq!(env.deliver(&mail).await.proofs_claimed, 0, "sent once");

    let page = env.link("GET", &link).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    assert!(text(&page).contains("<form method=\"post\">"));
    assert_eq!(
        env.verified("reader@example.org").await,
        "false",
        "a GET changes nothing"
    );
    let done = env.link("POST", &link).await;
    assert_eq!(done.status(), 200, "{}", text(&done));
    assert_eq!(
        done.headers()["content-security-policy"],
        api::links::CONTENT_SECURITY_POLICY
    );
    assert_eq!(env.verified("reader@example.org").await, "true");

    let verified = env.ask(&access).await;
    assert_eq!(verified.status, 200);
    assert_eq!(verified.json(), json!({"verified": true}));
    assert_eq!(
        env.one("SELECT count(*)::text FROM email_proofs").await,
        "1"
    );
}

#[tokio::test]
async fn forged_expired_other_purpose_and_changed_address_proofs_change_nothing() {
    let env = Env::new().await;
    let access = env.register("reader@example.org").await;
    assert_eq!(env.ask(&access).await.status, 202);
    let mail = FakeApi::default();
    env.deliver(&mail).await;
    let link = link_in(&mail.seen.borrow()[0].1);
    let id: i64 = env
        .one("SELECT id::text FROM email_proofs")
        .await
        .parse()
        .expect("id");
    let key = env.links.key();
    let other = LinkKey::parse("BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key");
    let later = Some(Utc::now() + TimeDelta::hours(1));
    for (token, what) in [
        (other.sign(Purpose::VerifyEmail, id, later), "forged"),
        (key.sign(Purpose::Unsubscribe, id, later), "other purpose"),
        (
            key.sign(
                Purpose::VerifyEmail,
                id,
                Some(Utc::now() - TimeDelta::seconds(1)),
            ),
            "expired",
        ),
        (
            key.sign(Purpose::VerifyEmail, id + 1, later),
            "no such proof",
        ),
        (String::new(), "no token"),
    ] {
        for method in ["GET", "POST"] {
            let response = env
                .link(method, &format!("/links/verify-email?token={token}"))
                .await;
            assert_eq!(response.status(), 404, "{what} {method}");
            assert!(text(&response).contains("\"no such link\""), "{what}");
        }
    }
    assert_eq!(env.verified("reader@example.org").await, "false");

    // The address changes: the proof of the old one proves nothing.
    env.sql("UPDATE users SET email = 'new@example.org'").await;
    for method in ["GET", "POST"] {
        assert_eq!(env.link(method, &link).await.status(), 404, "{method}");
    }
    assert_eq!(env.verified("new@example.org").await, "false");

    // A proof queued for an address that changes before it is sent is dropped, unsent.
    assert_eq!(env.ask(&access).await.json()["queued"], true);
    env.sql("UPDATE users SET email = 'newer@example.org'")
        .await;
    let quiet = FakeApi::default();
    let report = env.deliver(&quiet).await;
    assert_eq!(
        (
            report.proofs_claimed,
            report.proofs_failed,
            report.proofs_sent
        ),
        (1, 1, 0),
        "{report:?}"
    );
    assert!(quiet.seen.borrow().is_empty());
    assert_eq!(
        env.one("SELECT status || ' ' || last_error FROM email_proofs ORDER BY id DESC LIMIT 1")
            .await,
        "failed address_changed"
    );
}

#[tokio::test]
async fn proofs_are_bounded_per_day_and_need_an_active_account() {
    let env = Env::new().await;
    let access = env.register("reader@example.org").await;
    env.sql(
        "INSERT INTO email_proofs (user_id, email, status, created_at)
         SELECT id, email, 'failed', now() - interval '1 hour' FROM users, generate_series(1, 5)",
    )
    .await;
    let refused = env.ask(&access).await;
    assert_eq!(refused.status, 429, "{}", refused.json());
    let wait: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((22 * 3600..=23 * 3600 + 60).contains(&wait), "{wait}");
    assert_eq!(
        env.one("SELECT count(*)::text FROM email_proofs").await,
        "5"
    );

    // Older than a day, they no longer count.
    env.sql("UPDATE email_proofs SET created_at = now() - interval '25 hours'")
        .await;
    assert_eq!(env.ask(&access).await.status, 202);

    // Without links configured, the round leaves proofs pending and sends nothing.
    let mail = FakeApi::default();
    let report = env.deliver_with(&mail, None).await;
    assert_eq!(
        (report.proofs_claimed, report.proofs_unsent),
        (0, 1),
        "{report:?}"
    );
    assert!(mail.seen.borrow().is_empty());
    assert_eq!(
        env.one("SELECT count(*)::text FROM email_proofs WHERE status = 'pending'")
            .await,
        "1"
    );

    env.sql("UPDATE users SET is_active = false").await;
    assert_eq!(env.ask(&access).await.status, 401);
}
