//! The signed links (`/links/...`, issue 19) through the api's handler against a real
//! PostgreSQL: a digest's page, one-click unsubscribe and the Atom feed of digests. The
//! attacks first: forged, altered, expired and other-purpose tokens answer 404 and change
//! nothing.

mod common;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use common::{Instance, TestDatabase};
use keemu::auth::link::{LinkKey, Purpose};
use keemu::digests::links::Links;
use keemu::http::Response;
use keemu::http::api::{self, ApiConfig};

const BASE: &str = "https://keemu.example";

fn key() -> LinkKey {
    LinkKey::parse(&base64::engine::general_purpose::STANDARD.encode([42u8; 32])).unwrap()
}

fn other_key() -> LinkKey {
    LinkKey::parse(&base64::engine::general_purpose::STANDARD.encode([43u8; 32])).unwrap()
}

fn links() -> Links {
    Links::new(BASE, key()).unwrap()
}

fn config() -> ApiConfig {
    ApiConfig::new("test-token-0123456789").with_links(links())
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn later() -> Option<DateTime<Utc>> {
    Some(now() + TimeDelta::days(1))
}

struct Env {
    _db: TestDatabase,
    instance: Instance,
    client: tokio_postgres::Client,
    /// The reader (preferences row, weekly) and their built digest with hostile items.
    reader: i64,
    digest: i64,
    /// A user without a preferences row.
    bare: i64,
}

/// Titles, summaries and links as hostile feeds send them.
const HOSTILE: &str = "
    INSERT INTO content_sources (kind, identifier, title, feed_url) VALUES
      ('blog', 'https://evil.example/', '<b onmouseover=alert(1)>Evil</b>',
       'https://evil.example/feed.xml');
    INSERT INTO user_subscriptions (user_id, source_id)
      SELECT u.id, s.id FROM users u, content_sources s WHERE u.email = 'reader@example.org';
    INSERT INTO content_items (source_id, external_id, title, url, published_at) VALUES
      ((SELECT id FROM content_sources), 'a', '<script>document.title=''pwned''</script>',
       'https://evil.example/a', '2026-03-10T08:00:00Z'),
      ((SELECT id FROM content_sources), 'b', '\"><img src=x onerror=alert(1)>',
       'javascript:alert(1)', '2026-03-10T09:00:00Z'),
      ((SELECT id FROM content_sources), 'c', 'Plain title',
       'data:text/html,<script>alert(1)</script>', '2026-03-10T10:00:00Z');
    INSERT INTO digests (user_id, period_start, period_end, update_frequency, summary_length,
        status, item_count, sent_at)
      SELECT id, '2026-03-09T07:00:00Z', '2026-03-16T07:00:00Z', 'weekly', 'standard',
        'sent', 3, '2026-03-16T07:01:00Z' FROM users WHERE email = 'reader@example.org';
    INSERT INTO digest_items (digest_id, content_item_id, position, excerpt)
      SELECT d.id, ci.id, row_number() OVER (ORDER BY ci.external_id),
        '<script>alert(''excerpt'')</script>'
      FROM digests d, content_items ci;";

impl Env {
    async fn new() -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let client = db.client().await;
        client
            .batch_execute(
                "INSERT INTO users (email, name, timezone) VALUES
                   ('reader@example.org', 'Reader <b>', 'Europe/Paris'),
                   ('bare@example.org', 'Bare', 'UTC');
                 INSERT INTO user_preferences (user_id, update_frequency, summary_length)
                   SELECT id, 'daily', 'concise' FROM users WHERE email = 'reader@example.org';",
            )
            .await
            .unwrap();
        client.batch_execute(HOSTILE).await.unwrap();
        let id = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
        };
        let reader = id("SELECT id FROM users WHERE email = 'reader@example.org'").await;
        let bare = id("SELECT id FROM users WHERE email = 'bare@example.org'").await;
        let digest = id("SELECT id FROM digests").await;
        Env {
            _db: db,
            instance,
            client,
            reader,
            digest,
            bare,
        }
    }

    async fn send_with(
        &self,
        config: &ApiConfig,
        method: &str,
        path: &str,
        body: &str,
    ) -> Response {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bytes::Bytes::from(body.to_owned()))
            .unwrap();
        let db = self.instance.request_db();
        api::handle(&request, config, &db, &common::api::NoOutbound, now()).await
    }

    async fn send(&self, method: &str, path: &str) -> Response {
        self.send_with(&config(), method, path, "List-Unsubscribe=One-Click")
            .await
    }

    /// The preferences rows: `user_id email_on frequency length updated_at`, by user.
    async fn preferences(&self) -> String {
        let rows = self
            .client
            .query(
                "SELECT user_id || ' ' || email_notifications_enabled || ' ' || update_frequency
                     || ' ' || summary_length || ' ' || updated_at
                 FROM user_preferences ORDER BY user_id",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn text(response: &Response) -> String {
    String::from_utf8(response.body().clone()).unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn assert_hardened(response: &Response) {
    assert_eq!(
        header(response, "content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "cache-control"), "private, no-store");
}

fn assert_refused(response: &Response, what: &str) {
    assert_eq!(response.status(), 404, "{what}: {}", text(response));
    assert!(text(response).contains("\"no such link\""), "{what}");
    assert_hardened(response);
}

fn path(route: &str, token: &str) -> String {
    format!("{route}?token={token}")
}

#[tokio::test]
async fn forged_altered_expired_and_other_purpose_tokens_are_404_and_change_nothing() {
    let env = Env::new().await;
    let before = env.preferences().await;
    let k = key();
    let reader = env.reader;
    let digest = env.digest;
    let past = Some(now() - TimeDelta::seconds(1));
    let good_unsub = k.sign(Purpose::Unsubscribe, reader, later());
    let altered = good_unsub.replacen(&format!("{reader}."), &format!("{}.", env.bare), 1);
    // (path, what)
    let mut cases: Vec<(String, &str)> = Vec::new();
    for (route, purpose, subject) in [
        ("/links/digest", Purpose::ViewDigest, digest),
        ("/links/unsubscribe", Purpose::Unsubscribe, reader),
        ("/links/digests.atom", Purpose::DigestFeed, reader),
    ] {
        cases.push((route.to_owned(), "no token"));
        cases.push((path(route, ""), "empty token"));
        cases.push((
            path(route, &other_key().sign(purpose, subject, later())),
            "signed with another key",
        ));
        cases.push((path(route, &k.sign(purpose, subject, past)), "expired"));
        for other in [
            Purpose::ViewDigest,
            Purpose::Unsubscribe,
            Purpose::DigestFeed,
        ] {
            if other != purpose {
                cases.push((
                    path(route, &k.sign(other, subject, later())),
                    "other purpose",
                ));
            }
        }
        cases.push((path(route, "1.0.AAAA"), "junk"));
    }
    cases.push((path("/links/unsubscribe", &altered), "altered subject"));
    // A valid token for a digest or user that does not exist.
    cases.push((
        path(
            "/links/digest",
            &k.sign(Purpose::ViewDigest, 999_999, later()),
        ),
        "no such digest",
    ));
    cases.push((
        path(
            "/links/unsubscribe",
            &k.sign(Purpose::Unsubscribe, 999_999, later()),
        ),
        "no such user",
    ));
    cases.push((
        path(
            "/links/digests.atom",
            &k.sign(Purpose::DigestFeed, 999_999, None),
        ),
        "no such user",
    ));
    for (p, what) in &cases {
        for method in ["GET", "POST"] {
            let response = env.send(method, p).await;
            if method == "POST" && !p.starts_with("/links/unsubscribe") {
                assert_eq!(response.status(), 405, "{p}");
                continue;
            }
            assert_refused(&response, &format!("{method} {p} ({what})"));
        }
    }
    assert_eq!(env.preferences().await, before);
    assert_eq!(
        env.client
            .query_one("SELECT count(*) FROM user_preferences", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1,
        "no row was created for the user without preferences"
    );
}

#[tokio::test]
async fn the_digest_page_is_escaped_and_hardened() {
    let env = Env::new().await;
    let token = key().sign(Purpose::ViewDigest, env.digest, later());
    let response = env.send("GET", &path("/links/digest", &token)).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_hardened(&response);
    let page = text(&response);
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    // The reader's zone (Paris, UTC+1 in March) names the period: 9-16 Mar.
    assert!(
        page.contains("<title>Your weekly KeeMU digest: 3 new items, 9\u{2013}16 Mar 2026</title>"),
        "{page}"
    );
    let lower = page.to_ascii_lowercase();
    for forbidden in ["<script", "<img", "<b ", "javascript:", "data:"] {
        assert!(!lower.contains(forbidden), "{forbidden} in {page}");
    }
    // No tag of the page has an event handler attribute (escaped text may spell one).
    for tag in lower.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        assert!(!tag.contains(" on"), "handler in <{tag}>");
    }
    assert!(page.contains("&lt;script&gt;document.title=&apos;pwned&apos;&lt;/script&gt;</a>"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</span>"));
    assert!(page.contains(">Plain title</span>"));
    assert!(page.contains("&lt;b onmouseover=alert(1)&gt;Evil&lt;/b&gt;</h2>"));
    // Footer: unsubscribe (a fresh link that verifies), no "view in your browser".
    let unsubscribe = page
        .split("href=\"https://keemu.example/links/unsubscribe?token=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an unsubscribe link");
    assert_eq!(
        key().verify(Purpose::Unsubscribe, unsubscribe, now()),
        Some(env.reader)
    );
    assert!(!page.contains("View in your browser"));
    // HEAD: the same headers, no body.
    let head = env.send("HEAD", &path("/links/digest", &token)).await;
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(header(&head, "content-length"), page.len().to_string());
    assert_hardened(&head);
    // An inactive reader's digest is gone.
    env.client
        .batch_execute("UPDATE users SET is_active = false WHERE email = 'reader@example.org'")
        .await
        .unwrap();
    assert_refused(
        &env.send("GET", &path("/links/digest", &token)).await,
        "inactive reader",
    );
}

#[tokio::test]
async fn unsubscribe_get_changes_nothing_and_post_turns_email_off_once() {
    let env = Env::new().await;
    let before = env.preferences().await;
    let token = key().sign(Purpose::Unsubscribe, env.reader, later());
    let page = env.send("GET", &path("/links/unsubscribe", &token)).await;
    assert_eq!(page.status(), 200);
    assert_hardened(&page);
    let html = text(&page);
    assert!(
        html.contains("<form method=\"post\"><button type=\"submit\""),
        "{html}"
    );
    assert!(!html.contains("action="));
    assert_eq!(env.preferences().await, before, "a GET changes nothing");

    let done = env.send("POST", &path("/links/unsubscribe", &token)).await;
    assert_eq!(done.status(), 200, "{}", text(&done));
    assert_eq!(header(&done, "content-type"), "text/html; charset=utf-8");
    assert_hardened(&done);
    assert!(text(&done).contains("You are unsubscribed"));
    let after = env.preferences().await;
    assert!(
        after.starts_with(&format!("{} false daily concise ", env.reader)),
        "{after}"
    );
    // Again (mail clients retry): 200, and the row is not written twice.
    let again = env
        .send_with(&config(), "POST", &path("/links/unsubscribe", &token), "")
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(env.preferences().await, after);

    // A user without a preferences row gets one: the defaults, e-mail off.
    let token = key().sign(Purpose::Unsubscribe, env.bare, later());
    let done = env
        .send_with(
            &config(),
            "POST",
            &path("/links/unsubscribe", &token),
            "anything at all",
        )
        .await;
    assert_eq!(done.status(), 200);
    let rows = env.preferences().await;
    assert!(
        rows.lines()
            .any(|l| l.starts_with(&format!("{} false weekly standard ", env.bare))),
        "{rows}"
    );
}

#[tokio::test]
async fn the_feed_lists_the_newest_twenty_digests_not_skipped_with_signed_pages() {
    let env = Env::new().await;
    // 21 more weekly digests before the first, and a skipped one after it.
    env.client
        .batch_execute(
            "INSERT INTO digests (user_id, period_start, period_end, update_frequency,
                 summary_length, status, item_count)
               SELECT u.id, '2026-03-09T07:00:00Z'::timestamptz - n * interval '7 days',
                 '2026-03-16T07:00:00Z'::timestamptz - n * interval '7 days', 'weekly',
                 'standard', 'built', 0
               FROM users u, generate_series(1, 21) n WHERE u.email = 'reader@example.org';
             INSERT INTO digests (user_id, period_start, period_end, update_frequency,
                 summary_length, status, item_count)
               SELECT id, '2026-03-16T07:00:00Z', '2026-03-23T07:00:00Z', 'weekly',
                 'standard', 'skipped', 0 FROM users WHERE email = 'reader@example.org';",
        )
        .await
        .unwrap();
    let token = key().sign(Purpose::DigestFeed, env.reader, None);
    let response = env.send("GET", &path("/links/digests.atom", &token)).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(
        header(&response, "content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_hardened(&response);
    let feed = text(&response);
    assert!(feed.starts_with(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\""
    ));
    assert_eq!(feed.matches("<entry>").count(), 20, "{feed}");
    // The newest first: the hostile digest, then the built ones; never the skipped one.
    let first_id = format!("<id>tag:keemu.example,2026:digest/{}</id>", env.digest);
    let first_entry = feed.split("<entry>\n").nth(1).expect("an entry");
    assert_eq!(first_entry.lines().next(), Some(first_id.as_str()));
    assert!(feed.contains("<title>KeeMU digests for Reader &lt;b&gt;</title>"));
    let skipped: i64 = env
        .client
        .query_one("SELECT id FROM digests WHERE status = 'skipped'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!feed.contains(&format!("digest/{skipped}<")));
    // Each entry links to its page, with a token that opens it.
    let page_tokens: Vec<&str> = feed
        .split("href=\"https://keemu.example/links/digest?token=")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(page_tokens.len(), 20);
    assert_eq!(
        key().verify(Purpose::ViewDigest, page_tokens[0], now()),
        Some(env.digest)
    );
    let page = env
        .send("GET", &path("/links/digest", page_tokens[0]))
        .await;
    assert_eq!(page.status(), 200);
    // Hostile content is escaped twice (HTML in XML).
    assert!(!feed.to_ascii_lowercase().contains("<script"));
    assert!(!feed.to_ascii_lowercase().contains("javascript:"));
    // Well-formed.
    let mut reader = quick_xml::Reader::from_str(&feed);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed: {e}\n{feed}"),
        }
    }
}

#[tokio::test]
async fn links_disabled_or_misconfigured_and_wrong_methods() {
    let env = Env::new().await;
    let token = key().sign(Purpose::Unsubscribe, env.reader, later());
    let before = env.preferences().await;
    let disabled = ApiConfig::new("test-token-0123456789");
    let response = env
        .send_with(&disabled, "POST", &path("/links/unsubscribe", &token), "")
        .await;
    assert_eq!(response.status(), 404);
    assert!(text(&response).contains("signed links are disabled on this server"));
    let broken = ApiConfig::from_variables(&api::Variables {
        api_token: Some("test-token-0123456789".into()),
        link_key: Some("c2hvcnQ".into()),
        ..api::Variables::default()
    });
    let response = env
        .send_with(&broken, "POST", &path("/links/unsubscribe", &token), "")
        .await;
    assert_eq!(response.status(), 503);
    assert!(!text(&response).contains("c2hvcnQ"));
    assert_eq!(env.preferences().await, before);

    let response = env.send("DELETE", &path("/links/digest", "x")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "GET, HEAD");
    let response = env.send("PUT", "/links/unsubscribe").await;
    assert_eq!(header(&response, "allow"), "GET, HEAD, POST");
    let response = env.send("GET", "/links/other").await;
    assert_eq!(response.status(), 404);
    // Still the JSON API beside them.
    let response = env.send("GET", "/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
}
