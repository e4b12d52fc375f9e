//! `/api/v1/me/subscriptions...` and `/api/v1/me/feed` through the handler against a real
//! PostgreSQL, with a fake web (fixture pages by URL) behind the `Outbound` trait.
//!
//! Every URL form people paste; the same source pasted two ways is one row; subscribing
//! twice is 200 with the same subscription; refused URLs are never fetched; nobody sees or
//! changes another user's subscriptions; the feed pages newest first without gaps or
//! repeats; each request sends one statement.

mod common;

use std::cell::RefCell;

use chrono::Utc;
use common::api::{AUTH_KEYS, TOKEN};
use common::{Instance, TestDatabase};
use keemu::domain::UserId;
use keemu::http::api::{self, ApiConfig, Variables};
use keemu::ingest::IngestSettings;
use keemu::outbound::{FetchRequest, Fetched, NetPolicy, Outbound, OutboundError};
use keemu::sources::resolve::{ResolveSettings, youtube_origin};
use serde_json::{Value, json};

const CHANNEL: &str = "UCBa659QWEk1AI4Tg--mrJ2A";
const OTHER_CHANNEL: &str = "UC0123456789abcdefghij_-";

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>A blog</title><link>https://blog.example/</link></channel></rss>"#;
const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>An Atom blog</title></feed>"#;

/// Pages by URL: (status, content type, body or `Location`). Any other URL is 404. Every
/// fetch is recorded.
struct FakeWeb {
    pages: RefCell<Vec<(String, u16, &'static str, String)>>,
    fetched: RefCell<Vec<String>>,
}

impl FakeWeb {
    fn new() -> FakeWeb {
        let channel_page = format!(
            r#"<!doctype html><html><head><title>Some Channel - YouTube</title>
            <link rel="canonical" href="https://www.youtube.com/channel/{CHANNEL}">
            <meta property="og:title" content="Some Channel"></head><body></body></html>"#
        );
        let other_page = format!(
            r#"<html><head><meta itemprop="channelId" content="{OTHER_CHANNEL}"></head></html>"#
        );
        let blog = r#"<html><head><title>A blog</title>
            <link rel="alternate" type="application/rss+xml" href="/feed.xml">
            <link rel="alternate" type="application/atom+xml" href="/atom.xml"></head></html>"#;
        let pages = vec![
            (
                "https://www.youtube.com/@some",
                200,
                "text/html",
                channel_page,
            ),
            (
                "https://www.youtube.com/@other",
                200,
                "text/html",
                other_page,
            ),
            (
                "https://www.youtube.com/@nobody",
                404,
                "text/html",
                String::new(),
            ),
            (
                "https://blog.example/",
                200,
                "text/html; charset=utf-8",
                blog.into(),
            ),
            (
                "https://blog.example/feed.xml",
                200,
                "application/rss+xml",
                RSS.into(),
            ),
            (
                "http://blog.example/feed.xml",
                301,
                "text/plain",
                "https://blog.example/feed.xml".into(),
            ),
            (
                "https://atom.example/feed",
                200,
                "application/atom+xml",
                ATOM.into(),
            ),
            (
                "https://plain.example/",
                200,
                "text/html",
                "<title>no feed</title>".into(),
            ),
            ("https://loop.example/", 302, "text/plain", "/".into()),
            (
                "https://to-metadata.example/",
                302,
                "text/plain",
                "http://169.254.169.254/latest/".into(),
            ),
            (
                "http://127.0.0.1:9/feed",
                200,
                "application/rss+xml",
                RSS.into(),
            ),
        ];
        FakeWeb {
            pages: RefCell::new(
                pages
                    .into_iter()
                    .map(|(u, s, t, b)| (u.to_owned(), s, t, b))
                    .collect(),
            ),
            fetched: RefCell::new(Vec::new()),
        }
    }

    fn fetched(&self) -> Vec<String> {
        self.fetched.borrow().clone()
    }

    /// Serves `body` at `url` from now on (replacing what it served).
    fn set(&self, url: &str, content_type: &'static str, body: &str) {
        let mut pages = self.pages.borrow_mut();
        pages.retain(|(u, ..)| u != url);
        pages.push((url.to_owned(), 200, content_type, body.to_owned()));
    }
}

impl Outbound for FakeWeb {
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        self.fetched.borrow_mut().push(request.url.to_owned());
        let pages = self.pages.borrow();
        let Some((_, status, content_type, body)) =
            pages.iter().find(|(url, ..)| url == request.url)
        else {
            return Ok(Fetched {
                status: 404,
                headers: vec![],
                body: vec![],
            });
        };
        let mut headers = vec![("content-type".to_owned(), (*content_type).to_owned())];
        if (300..400).contains(status) {
            headers.push(("location".to_owned(), body.clone()));
        }
        Ok(Fetched {
            status: *status,
            headers,
            body: body.clone().into_bytes(),
        })
    }
}

struct Env {
    db: TestDatabase,
    instance: Instance,
    config: ApiConfig,
    web: FakeWeb,
}

struct Reply {
    status: u16,
    body: Value,
    location: Option<String>,
    statements: u32,
}

impl Env {
    async fn new() -> Env {
        Env::with_policy(NetPolicy::default()).await
    }

    async fn with_policy(policy: NetPolicy) -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let config = ApiConfig::from_variables(&Variables {
            api_token: Some(TOKEN.into()),
            auth_keys: Some(AUTH_KEYS.into()),
            hash_budget: common::api::NO_HASH_LIMIT.map(Into::into),
            ..Variables::default()
        })
        .with_sources(ResolveSettings {
            policy,
            youtube_origin: youtube_origin(),
        });
        Env {
            db,
            instance,
            config,
            web: FakeWeb::new(),
        }
    }

    /// Creates a user through the operator API; returns an access token for it and its id.
    async fn user(&self, email: &str) -> (String, i64) {
        let reply = self
            .call(
                TOKEN,
                "POST",
                "/api/v1/users",
                Some(json!({"email": email, "name": "Test User"})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.body["id"].as_i64().expect("id");
        let token = self
            .config
            .tokens
            .as_ref()
            .expect("tokens")
            .issue(UserId::new(id).expect("id"), Utc::now())
            .expect("token");
        (token.as_str().to_owned(), id)
    }

    async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_on(&self.instance, token, method, path, body)
            .await
    }

    /// [`Env::call`] on another instance (its own shared connection).
    async fn call_on(
        &self,
        instance: &Instance,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(bytes::Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .expect("request");
        let db = instance.request_db();
        let response = api::handle(&request, &self.config, &db, &self.web, Utc::now()).await;
        common::openapi::library().assert_response(method, path, &response);
        Reply {
            status: response.status().as_u16(),
            body: if response.body().is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(response.body()).expect("JSON body")
            },
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().expect("location").to_owned()),
            statements: db.statements_sent(),
        }
    }

    async fn subscribe(&self, token: &str, url: &str) -> Reply {
        self.call(
            token,
            "POST",
            "/api/v1/me/subscriptions",
            Some(json!({ "url": url })),
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

    async fn execute(&self, sql: &str) {
        self.db
            .client()
            .await
            .batch_execute(sql)
            .await
            .expect("execute");
    }
}

fn field_error(reply: &Reply) -> String {
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "url", "{}", reply.body);
    reply.body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

#[tokio::test]
async fn every_url_form_and_one_row_per_source() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;

    // YouTube: the channel URL creates; the feed URL, the handle and other spellings find
    // the same subscription.
    let first = env
        .subscribe(&ada, &format!("https://www.youtube.com/channel/{CHANNEL}"))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.statements, 1);
    let sub_id = first.body["id"].as_i64().expect("id");
    assert_eq!(
        first.location.as_deref(),
        Some(format!("/api/v1/me/subscriptions/{sub_id}").as_str())
    );
    let source = &first.body["source"];
    assert_eq!(source["kind"], "youtube_channel");
    assert_eq!(source["identifier"], CHANNEL);
    assert_eq!(
        source["feed_url"],
        format!("https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}")
    );
    assert_eq!(first.body["is_active"], true);
    assert_eq!(first.body["notifications_enabled"], true);
    assert_eq!(first.body["display_name"], Value::Null);
    for again in [
        format!("youtube.com/channel/{CHANNEL}/videos"),
        format!("https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}"),
        "https://www.youtube.com/@some".to_owned(),
        "m.youtube.com/@some/featured".to_owned(),
    ] {
        let reply = env.subscribe(&ada, &again).await;
        assert_eq!(reply.status, 200, "{again}: {}", reply.body);
        assert_eq!(reply.body["id"].as_i64(), Some(sub_id), "{again}");
        assert_eq!(reply.statements, 1);
    }
    // The handle's page gave the source a title, kept from then on.
    let reply = env
        .subscribe(&ada, &format!("youtube.com/channel/{CHANNEL}"))
        .await;
    assert_eq!(reply.body["source"]["title"], "Some Channel");
    let other = env.subscribe(&ada, "youtube.com/@other").await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert_eq!(other.body["source"]["identifier"], OTHER_CHANNEL);
    let missing = env.subscribe(&ada, "youtube.com/@nobody").await;
    assert!(field_error(&missing).contains("not found"));

    // Reddit.
    let reply = env.subscribe(&ada, "r/Rust").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["source"]["identifier"], "rust");
    assert_eq!(
        reply.body["source"]["feed_url"],
        "https://www.reddit.com/r/rust/.rss"
    );
    let rust = reply.body["id"].clone();
    for again in [
        "https://www.reddit.com/r/rust/",
        "old.reddit.com/r/RUST/top/?t=week",
        "np.reddit.com/r/rust/.rss",
        "/r/rust",
    ] {
        let reply = env.subscribe(&ada, again).await;
        assert_eq!((reply.status, &reply.body["id"]), (200, &rust), "{again}");
    }

    // A blog by its page, then by its feed (also over http, redirected to https).
    let reply = env.subscribe(&ada, "https://Blog.Example/#top").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["source"]["kind"], "blog");
    assert_eq!(
        reply.body["source"]["identifier"],
        "https://blog.example/feed.xml"
    );
    assert_eq!(reply.body["source"]["site_url"], "https://blog.example/");
    assert_eq!(reply.body["source"]["title"], "A blog");
    let blog = reply.body["id"].clone();
    for again in [
        "https://blog.example/feed.xml",
        "http://blog.example/feed.xml",
    ] {
        let reply = env.subscribe(&ada, again).await;
        assert_eq!((reply.status, &reply.body["id"]), (200, &blog), "{again}");
    }
    let reply = env.subscribe(&ada, "atom.example/feed").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.body["source"]["identifier"],
        "https://atom.example/feed"
    );

    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 5);
    assert_eq!(
        env.count("SELECT count(*) FROM user_subscriptions").await,
        5
    );

    // Another user following the same source shares its row.
    let (bob, _) = env.user("bob@example.com").await;
    let reply = env.subscribe(&bob, "reddit.com/r/rust").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_ne!(reply.body["id"], rust);
    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 5);
}

#[tokio::test]
async fn urls_that_lead_nowhere_are_422_on_url() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let cases: &[(&str, &str)] = &[
        ("", "must not be empty"),
        ("ftp://example.com/feed", "http or https"),
        ("https://user:pw@blog.example/", "user name or password"),
        ("youtube.com/watch?v=abc", "not a channel's"),
        ("youtube.com/channel/UCshort", "channel id"),
        ("reddit.com/user/someone", "not a subreddit's"),
        ("r/x", "subreddit name"),
        ("https://plain.example/", "no RSS or Atom feed"),
        ("https://nowhere.example/", "not found"),
        ("https://loop.example/", "redirects too many times"),
    ];
    for (url, message) in cases {
        let reply = env.subscribe(&ada, url).await;
        let got = field_error(&reply);
        assert!(got.contains(message), "{url}: {got}");
        assert_eq!(reply.statements, 0, "{url}");
        assert!(
            !got.contains(url) || url.is_empty(),
            "the message repeats the input"
        );
    }
    // Bodies: missing url, wrong type, unknown field.
    for body in [
        json!({}),
        json!({"url": 5}),
        json!({"url": null}),
        json!({"url": "r/rust", "x": 1}),
    ] {
        let reply = env
            .call(&ada, "POST", "/api/v1/me/subscriptions", Some(body.clone()))
            .await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
    }
    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 0);
    // No token, the operator's token: 401.
    let reply = env.subscribe("", "r/rust").await;
    assert_eq!(reply.status, 401);
    let reply = env.subscribe(TOKEN, "r/rust").await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn private_networks_are_refused_without_a_request() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    for url in [
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/feed",
        "http://[::1]/feed",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://localhost:8080/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
    ] {
        let reply = env.subscribe(&ada, url).await;
        let message = field_error(&reply);
        assert!(
            message.contains("private") || message.contains("local host name"),
            "{url}: {message}"
        );
    }
    assert!(env.web.fetched().is_empty(), "{:?}", env.web.fetched());
    // A public page that redirects to a private address: the first request only.
    let reply = env.subscribe(&ada, "https://to-metadata.example/").await;
    assert!(field_error(&reply).contains("private"));
    assert_eq!(env.web.fetched(), ["https://to-metadata.example/"]);
    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 0);

    // With loopback allowed (tests only), loopback is fetched and nothing else private is.
    let env = Env::with_policy(NetPolicy {
        allow_loopback: true,
    })
    .await;
    let (ada, _) = env.user("ada@example.com").await;
    let reply = env.subscribe(&ada, "http://127.0.0.1:9/feed").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.body["source"]["identifier"],
        "http://127.0.0.1:9/feed"
    );
    for url in ["http://10.0.0.1/feed", "http://169.254.169.254/"] {
        let reply = env.subscribe(&ada, url).await;
        assert!(field_error(&reply).contains("private"), "{url}");
    }
    assert_eq!(env.web.fetched(), ["http://127.0.0.1:9/feed"]);
}

#[tokio::test]
async fn nobody_sees_or_changes_another_users_subscriptions() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let (bob, _) = env.user("bob@example.com").await;
    let reply = env.subscribe(&ada, "r/rust").await;
    let id = reply.body["id"].as_i64().expect("id");
    let path = format!("/api/v1/me/subscriptions/{id}");

    let get = env.call(&bob, "GET", &path, None).await;
    assert_eq!(get.status, 404, "{}", get.body);
    assert_eq!(get.body["detail"], "no subscription with this id");
    let patch = env
        .call(&bob, "PATCH", &path, Some(json!({"display_name": "mine"})))
        .await;
    assert_eq!(patch.status, 404);
    let empty_patch = env.call(&bob, "PATCH", &path, Some(json!({}))).await;
    assert_eq!(empty_patch.status, 404);
    let items = env.call(&bob, "GET", &format!("{path}/items"), None).await;
    assert_eq!(items.status, 404);
    let delete = env.call(&bob, "DELETE", &path, None).await;
    assert_eq!(delete.status, 404);
    let list = env
        .call(&bob, "GET", "/api/v1/me/subscriptions", None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body, json!({"items": [], "next_cursor": null}));
    // Ada's subscription is untouched.
    let get = env.call(&ada, "GET", &path, None).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body["display_name"], Value::Null);
    assert_eq!(get.statements, 1);
    // Ids that name nothing.
    for bad in ["0", "-1", "x", "007", "99999999999"] {
        let reply = env
            .call(
                &ada,
                "GET",
                &format!("/api/v1/me/subscriptions/{bad}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 404, "{bad}");
    }
}

#[tokio::test]
async fn patch_delete_and_resubscribe() {
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    let reply = env.subscribe(&ada, "r/rust").await;
    let id = reply.body["id"].as_i64().expect("id");
    let path = format!("/api/v1/me/subscriptions/{id}");

    let reply = env
        .call(
            &ada,
            "PATCH",
            &path,
            Some(json!({"display_name": "  Rust news ", "notifications_enabled": false})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.statements, 1);
    assert_eq!(reply.body["display_name"], "Rust news");
    assert_eq!(reply.body["notifications_enabled"], false);
    assert_eq!(reply.body["source"]["identifier"], "rust");
    // Absent keeps, null clears.
    let reply = env
        .call(&ada, "PATCH", &path, Some(json!({"is_active": false})))
        .await;
    assert_eq!(
        (&reply.body["display_name"], &reply.body["is_active"]),
        (&json!("Rust news"), &json!(false))
    );
    let reply = env
        .call(&ada, "PATCH", &path, Some(json!({"display_name": null})))
        .await;
    assert_eq!(reply.body["display_name"], Value::Null);
    // Invalid patches: all errors at once, nothing written.
    let reply = env
        .call(
            &ada,
            "PATCH",
            &path,
            Some(
                json!({"display_name": "", "notifications_enabled": "no", "is_active": null,
                        "url": "r/go", "id": 3}),
            ),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for field in [
        "display_name",
        "notifications_enabled",
        "is_active",
        "url",
        "id",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    assert_eq!(reply.statements, 0);
    let long = "é".repeat(101);
    let reply = env
        .call(&ada, "PATCH", &path, Some(json!({"display_name": long})))
        .await;
    assert_eq!(reply.status, 422);
    // An empty patch reads.
    let reply = env.call(&ada, "PATCH", &path, Some(json!({}))).await;
    assert_eq!((reply.status, reply.statements), (200, 1));
    assert_eq!(reply.body["is_active"], false);

    // Subscribing again reactivates the same subscription: 200.
    let reply = env.subscribe(&ada, "reddit.com/r/rust").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["id"].as_i64(), Some(id));
    assert_eq!(reply.body["is_active"], true);
    assert_eq!(
        reply.body["notifications_enabled"], false,
        "settings are kept"
    );

    // DELETE: 204 once, then 404; the source stays for others.
    let reply = env.call(&ada, "DELETE", &path, None).await;
    assert_eq!((reply.status, reply.statements), (204, 1));
    assert_eq!(env.call(&ada, "DELETE", &path, None).await.status, 404);
    assert_eq!(env.call(&ada, "GET", &path, None).await.status, 404);
    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 1);
    // Subscribing after a delete is a new subscription.
    let reply = env.subscribe(&ada, "r/rust").await;
    assert_eq!(reply.status, 201);
    assert_ne!(reply.body["id"].as_i64(), Some(id));

    // A deactivated account's token: 401 on every route, in the route's one statement;
    // nothing written.
    let path = format!("/api/v1/me/subscriptions/{}", reply.body["id"]);
    env.execute(&format!(
        "UPDATE users SET is_active = false WHERE id = {ada_id}"
    ))
    .await;
    let reply = env.subscribe(&ada, "r/golang").await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(env.count("SELECT count(*) FROM content_sources").await, 1);
    let patch = Some(json!({"is_active": false}));
    for (method, path, body) in [
        ("GET", "/api/v1/me/subscriptions".to_owned(), None),
        ("GET", "/api/v1/me/feed".to_owned(), None),
        ("GET", path.clone(), None),
        ("GET", format!("{path}/items"), None),
        ("PATCH", path.clone(), patch.clone()),
        ("PATCH", path.clone(), Some(json!({}))),
        ("DELETE", path.clone(), None),
    ] {
        let reply = env.call(&ada, method, &path, body).await;
        assert_eq!(
            (reply.status, reply.statements),
            (401, 1),
            "{method} {path}"
        );
    }
    assert_eq!(
        env.count("SELECT count(*) FROM user_subscriptions WHERE is_active")
            .await,
        1
    );
}

#[tokio::test]
async fn subscriptions_page_by_id() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let mut ids = Vec::new();
    for n in 0..25 {
        let reply = env.subscribe(&ada, &format!("r/sub{n:02}")).await;
        assert_eq!(reply.status, 201);
        ids.push(reply.body["id"].as_i64().expect("id"));
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/me/subscriptions?limit=10".to_owned();
    loop {
        let reply = env.call(&ada, "GET", &path, None).await;
        assert_eq!((reply.status, reply.statements), (200, 1), "{}", reply.body);
        let items = reply.body["items"].as_array().expect("items");
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|i| i["id"].as_i64().expect("id")));
        match reply.body["next_cursor"].as_i64() {
            Some(after) => path = format!("/api/v1/me/subscriptions?limit=10&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let reply = env
        .call(&ada, "GET", "/api/v1/me/subscriptions", None)
        .await;
    assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(20));
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "after=0",
        "after=x",
        "before=1",
        "limit=1&limit=2",
    ] {
        let reply = env
            .call(
                &ada,
                "GET",
                &format!("/api/v1/me/subscriptions?{query}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 422, "{query}");
    }
}

/// Loads items for the sources named by identifier: `per_source` each, with published_at
/// values that collide across sources (ties broken by id).
async fn load_items(env: &Env, identifiers: &[&str], per_source: i64) {
    let list = identifiers
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    env.execute(&format!(
        "INSERT INTO content_items (source_id, external_id, title, published_at)
         SELECT s.id, 'item-' || g, s.identifier || ' #' || g,
                timestamptz '2026-01-01 00:00:00+00' + ((g / 3) * interval '1 hour')
                    + (g % 3) * interval '1 microsecond'
         FROM content_sources s, generate_series(1, {per_source}) AS g
         WHERE s.identifier IN ({list})"
    ))
    .await;
}

/// Walks every page of `first_path` (a list of items); returns the item ids in order.
async fn walk(env: &Env, token: &str, first_path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first_path.to_owned();
    let separator = if first_path.contains('?') { '&' } else { '?' };
    loop {
        let reply = env.call(token, "GET", &path, None).await;
        assert_eq!(
            (reply.status, reply.statements),
            (200, 1),
            "{path}: {}",
            reply.body
        );
        let page = reply.body["items"].as_array().expect("items").clone();
        assert!(page.len() <= limit);
        items.extend(page);
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(!cursor.is_empty());
                path = format!("{first_path}{separator}before={cursor}");
            }
            None => break,
        }
    }
    items
}

fn is_newest_first(items: &[Value]) -> bool {
    items.windows(2).all(|w| {
        let key = |i: &Value| {
            (
                i["published_at"].as_str().expect("published_at").to_owned(),
                i["id"].as_i64().expect("id"),
            )
        };
        key(&w[0]) > key(&w[1])
    })
}

#[tokio::test]
async fn the_feed_pages_newest_first_without_gaps_or_repeats() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let (bob, _) = env.user("bob@example.com").await;
    let mut subs = Vec::new();
    for name in ["r/alpha", "r/beta", "r/gamma", "r/delta"] {
        let reply = env.subscribe(&ada, name).await;
        subs.push(reply.body["id"].as_i64().expect("id"));
    }
    let bob_only = env.subscribe(&bob, "r/bobs").await;
    assert_eq!(bob_only.status, 201);
    load_items(&env, &["alpha", "beta", "gamma", "delta", "bobs"], 17).await;
    // gamma's subscription is inactive: not in the feed.
    let reply = env
        .call(
            &ada,
            "PATCH",
            &format!("/api/v1/me/subscriptions/{}", subs[2]),
            Some(json!({"is_active": false, "display_name": "G"})),
        )
        .await;
    assert_eq!(reply.status, 200);
    env.call(
        &ada,
        "PATCH",
        &format!("/api/v1/me/subscriptions/{}", subs[0]),
        Some(json!({"display_name": "Alpha!"})),
    )
    .await;

    let items = walk(&env, &ada, "/api/v1/me/feed?limit=7", 7).await;
    assert_eq!(
        items.len(),
        3 * 17,
        "every item of the active subscriptions, once"
    );
    assert!(is_newest_first(&items));
    let mut ids: Vec<i64> = items
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3 * 17, "no repeats");
    let expected = env
        .count(
            "SELECT count(*) FROM content_items ci JOIN content_sources s ON s.id = ci.source_id
             WHERE s.identifier IN ('alpha', 'beta', 'delta')",
        )
        .await;
    assert_eq!(expected, 51);
    for item in &items {
        let source = &item["source"];
        assert_eq!(source["kind"], "subreddit");
        assert!(
            ["alpha", "beta", "delta"]
                .iter()
                .any(|n| item["title"].as_str().expect("title").starts_with(n)),
            "{item}"
        );
        assert!(source["subscription_id"].as_i64().is_some());
        assert!(source["id"].as_i64().is_some());
        if item["title"].as_str().expect("title").starts_with("alpha") {
            assert_eq!(source["display_name"], "Alpha!");
        }
        assert!(item["published_at"].as_str().expect("time").ends_with('Z'));
    }
    // The default page is 20; HEAD is answered like GET.
    let reply = env.call(&ada, "GET", "/api/v1/me/feed", None).await;
    assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(20));
    let reply = env.call(&ada, "HEAD", "/api/v1/me/feed", None).await;
    assert_eq!(reply.status, 200);
    // Bob sees only his source.
    let bobs = walk(&env, &bob, "/api/v1/me/feed", 20).await;
    assert_eq!(bobs.len(), 17);
    // A user with no subscriptions has an empty feed.
    let (cy, _) = env.user("cy@example.com").await;
    let reply = env.call(&cy, "GET", "/api/v1/me/feed", None).await;
    assert_eq!(reply.body, json!({"items": [], "next_cursor": null}));

    // One subscription's items, inactive or not.
    let path = format!("/api/v1/me/subscriptions/{}/items?limit=5", subs[2]);
    let gamma = walk(&env, &ada, &path, 5).await;
    assert_eq!(gamma.len(), 17);
    assert!(is_newest_first(&gamma));
    assert!(
        gamma
            .iter()
            .all(|i| i["title"].as_str().expect("t").starts_with("gamma"))
    );
    assert!(gamma.iter().all(|i| i.get("source").is_none()));
    // A subscription without items.
    let reply = env.subscribe(&ada, "r/empty").await;
    let path = format!("/api/v1/me/subscriptions/{}/items", reply.body["id"]);
    let reply = env.call(&ada, "GET", &path, None).await;
    assert_eq!(reply.body, json!({"items": [], "next_cursor": null}));

    // Bad cursors and limits.
    for query in [
        "before=x",
        "before=",
        "before=MTIz",
        "limit=0",
        "after=1",
        "limit=1&limit=1",
    ] {
        let reply = env
            .call(&ada, "GET", &format!("/api/v1/me/feed?{query}"), None)
            .await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(reply.statements, 0);
    }
}

#[tokio::test]
async fn routes_and_methods() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let reply = env
        .call(&ada, "PUT", "/api/v1/me/subscriptions", None)
        .await;
    assert_eq!(reply.status, 405);
    let reply = env.call(&ada, "POST", "/api/v1/me/feed", None).await;
    assert_eq!(reply.status, 405);
    let reply = env
        .call(&ada, "DELETE", "/api/v1/me/subscriptions/1/items", None)
        .await;
    assert_eq!(reply.status, 405);
    let reply = env.call("", "GET", "/api/v1/me/feed", None).await;
    assert_eq!(reply.status, 401);
}

/// Issue 22 item 9: a subscription's own name refuses Unicode format characters (an
/// invisible or direction-changing character) with 422 on `display_name`; nothing written.
#[tokio::test]
async fn a_display_name_with_format_characters_is_refused() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    let reply = env.subscribe(&ada, "r/rust").await;
    let path = format!(
        "/api/v1/me/subscriptions/{}",
        reply.body["id"].as_i64().expect("id")
    );
    for name in ["Rust\u{202e}news", "Rust\u{200b}", "\u{2066}Rust"] {
        let reply = env
            .call(&ada, "PATCH", &path, Some(json!({ "display_name": name })))
            .await;
        assert_eq!(reply.status, 422, "{}", reply.body);
        assert_eq!(reply.body["errors"][0]["field"], "display_name");
        assert_eq!(reply.statements, 0);
    }
    assert_eq!(
        env.count("SELECT count(*) FROM user_subscriptions WHERE display_name IS NOT NULL")
            .await,
        0
    );
}

/// Fills `user_id`'s subscriptions with `n` subreddits `filler1`..`fillerN` (in SQL: the
/// limit is what is tested, not 500 requests).
async fn fill_subscriptions(env: &Env, user_id: i64, n: i64) {
    env.execute(&format!(
        "INSERT INTO content_sources (kind, identifier, feed_url)
             SELECT 'subreddit', 'filler' || g, 'https://www.reddit.com/r/filler' || g || '/.rss'
             FROM generate_series(1, {n}) AS g
             ON CONFLICT DO NOTHING;
         INSERT INTO user_subscriptions (user_id, source_id)
             SELECT {user_id}, id FROM content_sources
             WHERE kind = 'subreddit' AND identifier ~ '^filler[0-9]+$'
               AND substr(identifier, 7)::int <= {n};"
    ))
    .await;
}

/// Issue 22 item 8: one user subscribed to 3,000 sources in 6.5 s, each a source the
/// service then fetches. At most `MAX_SUBSCRIPTIONS` (paused ones included): one more is
/// 422 on `url` and writes nothing (not even the source); following an already followed
/// source again (active or paused) is not a new one; deleting one makes room.
#[tokio::test]
async fn subscriptions_are_limited_per_user_and_resubscribing_is_not_new() {
    let limit = keemu::models::source::MAX_SUBSCRIPTIONS;
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    let (bob, _) = env.user("bob@example.com").await;
    fill_subscriptions(&env, ada_id, limit - 1).await;

    let last = env.subscribe(&ada, "r/rust").await;
    assert_eq!(last.status, 201, "{}", last.body);
    let over = env.subscribe(&ada, "r/golang").await;
    assert_eq!(over.status, 422, "{}", over.body);
    assert_eq!(over.statements, 1);
    assert_eq!(over.body["errors"][0]["field"], "url");
    let message = over.body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains(&format!("at most {limit}")), "{message}");
    assert_eq!(
        env.count("SELECT count(*) FROM content_sources WHERE identifier = 'golang'")
            .await,
        0,
        "a refused subscribe stores no source (nothing would fetch it for nobody)"
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM user_subscriptions WHERE user_id = {ada_id}"
        ))
        .await,
        limit
    );

    // Already followed: 200 (the same subscription), also when paused (reactivated).
    let again = env.subscribe(&ada, "https://www.reddit.com/r/rust/").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], last.body["id"]);
    env.execute("UPDATE user_subscriptions SET is_active = false WHERE source_id = (SELECT id FROM content_sources WHERE identifier = 'filler7')")
        .await;
    let paused = env.subscribe(&ada, "r/filler7").await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["is_active"], true);

    // Another user is not affected by Ada's count.
    assert_eq!(env.subscribe(&bob, "r/golang").await.status, 201);

    // Deleting one makes room for one.
    let path = format!(
        "/api/v1/me/subscriptions/{}",
        last.body["id"].as_i64().expect("id")
    );
    assert_eq!(env.call(&ada, "DELETE", &path, None).await.status, 204);
    assert_eq!(env.subscribe(&ada, "r/golang").await.status, 201);
    assert_eq!(env.subscribe(&ada, "r/rust").await.status, 422);
}

/// The limit holds under concurrency: with 5 places left, 20 subscribes to 20 different
/// sources sent at once over 20 connections give exactly 5 x 201 and 15 x 422, and the user
/// ends with exactly `MAX_SUBSCRIPTIONS`.
#[tokio::test]
async fn concurrent_subscribes_cannot_pass_the_limit() {
    let limit = keemu::models::source::MAX_SUBSCRIPTIONS;
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    fill_subscriptions(&env, ada_id, limit - 5).await;
    let instances: Vec<Instance> = (0..20).map(|_| Instance::new(env.db.connector())).collect();
    let calls = instances.iter().enumerate().map(|(i, instance)| {
        env.call_on(
            instance,
            &ada,
            "POST",
            "/api/v1/me/subscriptions",
            Some(json!({ "url": format!("r/concurrent{i}") })),
        )
    });
    let replies = futures_util::future::join_all(calls).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM user_subscriptions WHERE user_id = {ada_id}"
        ))
        .await,
        limit
    );
}

/// Issue 22: anyone could set the title and link everyone else sees for a blog, by
/// subscribing through a page of their own that names the blog's feed: the page's title and
/// URL were stored on the shared source, first value forever. Now a source's title and site
/// come from its own feed, at subscription and at every successful ingestion.
#[tokio::test]
async fn a_page_naming_someone_elses_feed_sets_nothing_on_the_source() {
    let env = Env::new().await;
    env.web.set(
        "https://evil.example/",
        "text/html",
        "<title>Evil</title>\
         <link rel=alternate type=application/rss+xml href=https://blog.example/feed.xml>",
    );
    let (mallory, _) = env.user("mallory@example.com").await;
    let reply = env.subscribe(&mallory, "https://evil.example/").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let source = &reply.body["source"];
    assert_eq!(source["identifier"], "https://blog.example/feed.xml");
    // The feed's own title and link (RSS above), not the page's.
    assert_eq!(source["title"], "A blog", "{source}");
    assert_eq!(source["site_url"], "https://blog.example/", "{source}");
    let (ada, _) = env.user("ada@example.com").await;
    let reply = env.subscribe(&ada, "https://blog.example/feed.xml").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["source"]["title"], "A blog");

    // A title stored by the former rule (the page's) is replaced by the feed's at the next
    // ingestion, and a later change of the feed's title and link is picked up.
    env.execute(
        "UPDATE content_sources SET title = 'Evil', site_url = 'https://evil.example/' \
         WHERE identifier = 'https://blog.example/feed.xml'",
    )
    .await;
    let ingest = async || {
        env.execute("UPDATE content_sources SET next_fetch_at = now()")
            .await;
        let db = env.instance.request_db();
        let report = keemu::ingest::run_round(&db, &env.web, &IngestSettings::default())
            .await
            .expect("round");
        assert_eq!(report.fetched, 1, "{report:?}");
    };
    let title_and_site = async || {
        let client = env.db.client().await;
        let row = client
            .query_one(
                "SELECT title, site_url FROM content_sources \
                 WHERE identifier = 'https://blog.example/feed.xml'",
                &[],
            )
            .await
            .expect("source");
        (row.get::<_, String>(0), row.get::<_, String>(1))
    };
    ingest().await;
    assert_eq!(
        title_and_site().await,
        ("A blog".to_owned(), "https://blog.example/".to_owned())
    );
    env.web.set(
        "https://blog.example/feed.xml",
        "application/rss+xml",
        "<rss version=\"2.0\"><channel><title>A blog, renamed</title>\
         <link>https://blog.example/new/</link></channel></rss>",
    );
    ingest().await;
    assert_eq!(
        title_and_site().await,
        (
            "A blog, renamed".to_owned(),
            "https://blog.example/new/".to_owned()
        )
    );
    let listed = env
        .call(&ada, "GET", "/api/v1/me/subscriptions", None)
        .await;
    assert_eq!(
        listed.body["items"][0]["source"]["title"], "A blog, renamed",
        "{}",
        listed.body
    );
}
