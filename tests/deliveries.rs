//! Delivery rounds against a real PostgreSQL (the host-like native adapter) and a fake mail
//! API: each built digest is sent once with both parts and RFC 8058 one-click headers,
//! retried with backoff under the same idempotency key, given up on when refused, never
//! sent to people with e-mail off, and never twice by rounds running at once.

mod common;

use std::cell::RefCell;
use std::time::Duration;

use chrono::{NaiveTime, Utc, Weekday};
use common::{Instance, TestDatabase};
use keemu::auth::link::{LinkKey, Purpose};
use keemu::digests::deliver::{self, DeliveryReport, DeliverySettings, MAX_ATTEMPTS};
use keemu::digests::links::Links;
use keemu::digests::round::{self, RoundSettings};
use keemu::outbound::mail::MailApi;
use keemu::outbound::{FetchRequest, Fetched, Outbound, OutboundError};
use serde_json::Value;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const SETTINGS: DeliverySettings = DeliverySettings {
    limit: 20,
    lease_seconds: 900,
    max_age_seconds: 2 * 24 * 3600,
};

/// A mail API that records each request and answers with the next status of its script
/// (then 200).
#[derive(Default)]
struct FakeApi {
    statuses: RefCell<Vec<u16>>,
    seen: RefCell<Vec<Sent>>,
}

/// A request's headers and JSON body.
type Sent = (Vec<(&'static str, String)>, Value);

impl Outbound for FakeApi {
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        let body = serde_json::from_slice(request.body.unwrap_or_default()).expect("JSON body");
        self.seen.borrow_mut().push((request.headers.clone(), body));
        let status = if self.statuses.borrow().is_empty() {
            200
        } else {
            self.statuses.borrow_mut().remove(0)
        };
        Ok(Fetched {
            status,
            headers: Vec::new(),
            body: br#"{"id":"fake"}"#.to_vec(),
        })
    }
}

struct Env {
    db: TestDatabase,
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
        let links = Links::new(
            "https://keemu.example",
            LinkKey::parse(KEY).expect("link key"),
        )
        .expect("links");
        Env {
            db,
            instance,
            client,
            api,
            links,
        }
    }

    async fn sql(&self, statement: &str) {
        self.client.batch_execute(statement).await.expect(statement);
    }

    async fn one(&self, query: &str) -> String {
        let row = self.client.query_one(query, &[]).await.expect(query);
        row.get::<_, Option<String>>(0).unwrap_or_default()
    }

    async fn deliver(&self, api: &FakeApi) -> DeliveryReport {
        deliver::run(
            &self.instance.request_db(),
            api,
            &self.api,
            Some(&self.links),
            &SETTINGS,
        )
        .await
        .expect("delivery round")
    }

    /// Two readers (one with e-mail off) following a blog with two items yesterday; their
    /// daily digests built now.
    async fn built_digests(&self) {
        self.sql(
            "INSERT INTO users (email, name, timezone, email_verified_at) VALUES
               ('ada@example.org', 'Ada', 'Europe/Paris', now()),
               ('off@example.org', 'Off', 'UTC', now());
             INSERT INTO user_preferences (user_id, update_frequency, email_notifications_enabled)
               SELECT id, 'daily', email <> 'off@example.org' FROM users;
             INSERT INTO content_sources (kind, identifier, title, feed_url) VALUES
               ('blog', 'https://blog.example/', 'A blog', 'https://blog.example/feed.xml');
             INSERT INTO user_subscriptions (user_id, source_id, created_at)
               SELECT u.id, s.id, now() - interval '3 days' FROM users u, content_sources s;
             INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
               SELECT s.id, 'i' || n, 'Post ' || n, 'https://blog.example/' || n,
                      'Summary of post ' || n || '.', now() - interval '1 day' + n * interval '1 minute'
               FROM content_sources s, generate_series(1, 2) n;",
        )
        .await;
        let settings = RoundSettings {
            local_time: NaiveTime::from_hms_opt(7, 0, 0).expect("time"),
            weekday: Weekday::Mon,
            limit: 100,
            lease_seconds: 600,
        };
        let report = round::run(&self.instance.request_db(), Utc::now(), &settings)
            .await
            .expect("digest round");
        assert_eq!(report.built, 2, "{report:?}");
    }
}

#[tokio::test]
async fn a_digest_is_mailed_once_with_both_parts_and_one_click_unsubscribe() {
    let env = Env::new().await;
    env.built_digests().await;
    let api = FakeApi::default();
    let report = env.deliver(&api).await;
    assert_eq!(
        (
            report.claimed,
            report.sent,
            report.not_wanted,
            report.failed
        ),
        (2, 1, 1, 0),
        "{report:?}"
    );
    let seen = api.seen.borrow().clone();
    assert_eq!(
        seen.len(),
        1,
        "one message: the reader with e-mail off gets none"
    );
    let (headers, body) = &seen[0];
    let id = env
        .one("SELECT d.id::text FROM digests d JOIN users u ON u.id = d.user_id WHERE u.email = 'ada@example.org'")
        .await;
    assert!(headers.contains(&("idempotency-key", format!("digest/{id}"))));
    assert!(headers.contains(&("authorization", "Bearer re_test_token".to_owned())));
    assert_eq!(body["to"], serde_json::json!(["ada@example.org"]));
    for part in ["text", "html"] {
        let part = body[part].as_str().expect("both parts");
        assert!(part.contains("Post 1") && part.contains("Post 2"), "{part}");
    }
    assert!(body["subject"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        body["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = body["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("header");
    let token = unsubscribe
        .strip_prefix("<https://keemu.example/links/unsubscribe?token=")
        .and_then(|t| t.strip_suffix('>'))
        .expect("a signed one-click URL");
    let user = env
        .one("SELECT id::text FROM users WHERE email = 'ada@example.org'")
        .await;
    assert_eq!(
        env.links
            .key()
            .verify(Purpose::Unsubscribe, token, Utc::now())
            .map(|u| u.to_string()),
        Some(user)
    );
    assert_eq!(
        env.one("SELECT string_agg(u.email || ' ' || d.status || ' ' || d.delivery_attempts || ' ' || (d.sent_at IS NOT NULL) || ' ' || COALESCE(d.last_error, '-') || ' ' || (d.next_attempt_at IS NULL), ', ' ORDER BY u.email) FROM digests d JOIN users u ON u.id = d.user_id")
            .await,
        "ada@example.org sent 1 true - true, off@example.org built 0 false email_off true"
    );
    // Nothing is due any more.
    let again = env.deliver(&api).await;
    assert_eq!(again.claimed, 0, "{again:?}");
}

/// The attack: someone registers a victim's address; without a proof of the address, KeeMU
/// must never mail it (the digest stays readable in the app).
#[tokio::test]
async fn an_unverified_address_is_never_mailed_a_digest() {
    let env = Env::new().await;
    env.built_digests().await;
    env.sql("UPDATE users SET email_verified_at = NULL WHERE email = 'ada@example.org'")
        .await;
    let api = FakeApi::default();
    let report = env.deliver(&api).await;
    assert_eq!(
        (report.claimed, report.sent, report.not_wanted),
        (2, 0, 2),
        "{report:?}"
    );
    assert!(api.seen.borrow().is_empty(), "nothing mailed");
    assert_eq!(
        env.one("SELECT d.status || ' ' || d.delivery_attempts || ' ' || d.last_error || ' ' || (d.next_attempt_at IS NULL) FROM digests d JOIN users u ON u.id = d.user_id WHERE u.email = 'ada@example.org'")
            .await,
        "built 0 email_unverified true"
    );
}

#[tokio::test]
async fn failures_are_retried_with_the_same_key_and_message_then_given_up() {
    let env = Env::new().await;
    env.built_digests().await;
    let api = FakeApi::default();
    *api.statuses.borrow_mut() = vec![503; MAX_ATTEMPTS as usize];
    let first = env.deliver(&api).await;
    assert_eq!((first.sent, first.retrying), (0, 1), "{first:?}");
    // The next attempt waits a minute (backoff), not a round.
    assert_eq!(
        env.one("SELECT (next_attempt_at BETWEEN now() + interval '50 seconds' AND now() + interval '70 seconds')::text || ' ' || last_error FROM digests WHERE status = 'built' AND delivery_attempts = 1")
            .await,
        "true http_5xx"
    );
    assert_eq!(
        env.deliver(&api).await.claimed,
        0,
        "not due before its backoff"
    );
    for _ in 1..MAX_ATTEMPTS {
        env.sql("UPDATE digests SET next_attempt_at = now() WHERE next_attempt_at IS NOT NULL")
            .await;
        env.deliver(&api).await;
    }
    let seen = api.seen.borrow().clone();
    assert_eq!(seen.len(), MAX_ATTEMPTS as usize);
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "every attempt sends the same message under the same key"
    );
    assert_eq!(
        env.one("SELECT status || ' ' || delivery_attempts || ' ' || last_error || ' ' || (next_attempt_at IS NULL) FROM digests WHERE delivery_attempts > 0")
            .await,
        format!("failed {MAX_ATTEMPTS} http_5xx true")
    );
}

#[tokio::test]
async fn a_message_the_provider_refuses_is_given_up_at_once() {
    let env = Env::new().await;
    env.built_digests().await;
    let api = FakeApi::default();
    *api.statuses.borrow_mut() = vec![422];
    let report = env.deliver(&api).await;
    assert_eq!((report.failed, report.retrying), (1, 0), "{report:?}");
    assert_eq!(
        env.one("SELECT status || ' ' || last_error FROM digests WHERE delivery_attempts > 0")
            .await,
        "failed http_422"
    );
}

#[tokio::test]
async fn old_digests_are_not_sent_late() {
    let env = Env::new().await;
    env.built_digests().await;
    env.sql("UPDATE digests SET created_at = now() - interval '3 days'")
        .await;
    let api = FakeApi::default();
    let report = env.deliver(&api).await;
    assert_eq!((report.sent, report.not_wanted), (0, 2), "{report:?}");
    assert!(api.seen.borrow().is_empty());
}

#[tokio::test]
async fn rounds_at_once_send_each_digest_once() {
    let env = Env::new().await;
    env.built_digests().await;
    env.sql("UPDATE user_preferences SET email_notifications_enabled = true")
        .await;
    let other = Instance::new(env.db.connector());
    let (a, b) = (FakeApi::default(), FakeApi::default());
    let other_db = other.request_db();
    let (one, two) = tokio::join!(
        env.deliver(&a),
        deliver::run(&other_db, &b, &env.api, Some(&env.links), &SETTINGS)
    );
    let two = two.expect("round");
    assert_eq!(one.sent + two.sent, 2, "{one:?} {two:?}");
    let mut keys: Vec<String> = a
        .seen
        .borrow()
        .iter()
        .chain(b.seen.borrow().iter())
        .map(|(headers, _)| {
            headers
                .iter()
                .find(|(n, _)| *n == "idempotency-key")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 2, "two digests, two distinct messages");
}

#[tokio::test]
async fn the_route_needs_the_operator_token_and_the_mail_variables() {
    use keemu::http::mail::{MailConfig, MailVariables, handle};
    let env = Env::new().await;
    env.built_digests().await;
    let vars = MailVariables {
        api_token: Some("operator-token-0123456789".into()),
        mail_api_url: Some("https://api.resend.com/emails".into()),
        mail_api_token: Some("re_test_token".into()),
        mail_from: Some("digests@keemu.example".into()),
        link_key: Some(KEY.into()),
        public_base_url: Some("https://keemu.example".into()),
        ..MailVariables::default()
    };
    let api = FakeApi::default();
    let db = env.instance.request_db();
    let send = |config: MailConfig, path: &'static str, token: Option<&'static str>| {
        let api = &api;
        let db = &db;
        async move {
            let mut request = common::request("POST", path);
            if let Some(token) = token {
                request.headers_mut().insert(
                    "authorization",
                    format!("Bearer {token}").parse().expect("header"),
                );
            }
            handle(&request, &config, db, api).await
        }
    };
    let token = Some("operator-token-0123456789");
    let path = "/internal/deliveries";
    let status = |r: keemu::http::Response| r.status().as_u16();
    assert_eq!(
        status(send(MailConfig::from_variables(&vars), path, None).await),
        401
    );
    let no_mail = MailVariables {
        mail_api_token: None,
        ..vars.clone()
    };
    assert_eq!(
        status(send(MailConfig::from_variables(&no_mail), path, token).await),
        503
    );
    let bad_key = MailVariables {
        link_key: Some("short".into()),
        ..vars.clone()
    };
    assert_eq!(
        status(send(MailConfig::from_variables(&bad_key), path, token).await),
        503
    );
    assert!(
        api.seen.borrow().is_empty(),
        "nothing sent while misconfigured"
    );
    let bad = "/internal/deliveries?limit=26";
    assert_eq!(
        status(send(MailConfig::from_variables(&vars), bad, token).await),
        400
    );
    let ok = send(MailConfig::from_variables(&vars), path, token).await;
    assert_eq!(ok.status().as_u16(), 200);
    let body = common::json(&ok);
    assert_eq!(
        (body["claimed"].as_u64(), body["sent"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
}
