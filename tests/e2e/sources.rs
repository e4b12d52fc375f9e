//! Subscriptions and the feed under a real `spin up`: `/api/v1/me/subscriptions...` and
//! `/api/v1/me/feed`, with a local fixture server on 127.0.0.1 standing in for YouTube's
//! channel pages and for blogs (the components run with `outbound_allow_loopback=true`,
//! `youtube_origin` and `fetch_extra_origin` pointing at it).
//!
//! Then the same app with the repository's `runtime-config.toml`, whose `[outbound_networking]
//! block_networks = ["private"]` blocks loopback: once with the loopback exception of the URL
//! check off (the check refuses first), once with it on (the host refuses); either way
//! subscribing to the fixture server is refused and the server sees no request.
//!
//! Traffic goes to loopback only. The literal private addresses submitted (`10.0.0.1`,
//! `169.254.169.254`) are refused by the URL check inside the component, before any request.

use serde_json::{Value, json};

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::feed_server::{Answer, FeedServer};
use crate::harness::{Postgres, Spin, SpinOptions, repo};

pub const CHANNEL: &str = "UCBa659QWEk1AI4Tg--mrJ2A";
const SUBSCRIPTIONS: &str = "/api/v1/me/subscriptions";

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Fixture blog</title><link>http://127.0.0.1/blog/</link>
<item><title>First</title><guid>fixture-1</guid><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>"#;
const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Fixture Atom</title><id>urn:fixture</id>
<updated>2026-11-02T10:00:00Z</updated></feed>"#;

/// Serves a YouTube channel page, a blog page with a feed link, the feeds, a redirect and a
/// page without a feed.
pub fn fixtures() -> FeedServer {
    let server = FeedServer::start();
    let channel_page = format!(
        r#"<!doctype html><html><head><title>Fixture Channel - YouTube</title>
        <link rel="canonical" href="https://www.youtube.com/channel/{CHANNEL}">
        <meta property="og:title" content="Fixture Channel"></head>
        <body><script>var ytInitialData = {{"channelId":"UCxxxxxxxxxxxxxxxxxxxxxx"}};</script></body></html>"#
    );
    server.add(
        "/@fixture",
        Answer::ok("text/html; charset=utf-8", &channel_page),
    );
    server.add(
        "/blog/",
        Answer::ok(
            "text/html; charset=utf-8",
            r#"<!doctype html><html><head><title>A page about the blog</title>
            <link rel="alternate" type="application/rss+xml" title="RSS" href="feed.xml">
            <link rel="alternate" type="application/atom+xml" href="/atom.xml">
            </head><body><p>Hello</p></body></html>"#,
        ),
    );
    server.add("/blog/feed.xml", Answer::ok("application/rss+xml", RSS));
    server.add(
        "/atom.xml",
        Answer::ok("application/atom+xml; charset=utf-8", ATOM),
    );
    server.add("/old-feed", Answer::redirect(301, "/blog/feed.xml"));
    server.add(
        "/plain/",
        Answer::ok("text/html", "<title>No feed here</title>"),
    );
    server
}

/// How `spin up` runs for these checks: the URL check's loopback exception, and the
/// repository's runtime config (which blocks private networks, loopback included) or the
/// harness's (which blocks nothing).
pub fn options(
    server: &FeedServer,
    allow_loopback: bool,
    repository_runtime_config: bool,
) -> SpinOptions {
    SpinOptions {
        runtime_config: repository_runtime_config.then(|| repo().join("runtime-config.toml")),
        variables: vec![
            ("outbound_allow_loopback".into(), allow_loopback.to_string()),
            ("youtube_origin".into(), server.origin()),
            ("fetch_extra_origin".into(), server.origin()),
        ],
        ..SpinOptions::default()
    }
}

/// Registers a user; returns its access token.
pub fn register(spin: &Spin, email: &str) -> String {
    let r = spin.send(
        &Request::json(
            "POST",
            "/api/v1/auth/register",
            &json!({"email": email, "name": "Feed Reader", "password": "correct horse battery staple"}),
        )
        .authorization(None),
    );
    let body = expect::json(&r, 201);
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_owned()
}

fn as_user(request: Request, token: &str) -> Request {
    request.authorization(Some(&format!("Bearer {token}")))
}

pub fn subscribe(spin: &Spin, token: &str, url: &str) -> crate::client::Response {
    spin.send(&as_user(
        Request::json("POST", SUBSCRIPTIONS, &json!({ "url": url })),
        token,
    ))
}

pub fn get(spin: &Spin, token: &str, path: &str) -> crate::client::Response {
    spin.send(&as_user(Request::get(path), token))
}

fn url_message(response: &crate::client::Response) -> String {
    let body = expect::problem(response, 422);
    assert_eq!(body["errors"][0]["field"], "url", "{body}");
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

pub fn id(body: &Value) -> i64 {
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {body}"))
}

/// The feed's order key of each item, `(published_at, id)`, asserting that they strictly
/// decrease: newest first, ties broken by id.
pub fn newest_first(items: &[Value]) -> Vec<(chrono::DateTime<chrono::Utc>, i64)> {
    let keys: Vec<_> = items
        .iter()
        .map(|i| (expect::timestamp(&i["published_at"]), id(i)))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "newest first: {keys:?}"
    );
    keys
}

/// Every item of a paged list, following `next_cursor` as `before`.
pub fn walk(spin: &Spin, token: &str, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let body = expect::json(&get(spin, token, &path), 200);
        items.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&before={cursor}"),
            None => return items,
        }
    }
    panic!("more than 100 pages");
}

pub fn checks(spin: &Spin, pg: &Postgres, server: &FeedServer, checks: &mut Checks) {
    let ada = register(spin, "ada.sources@example.com");
    let bob = register(spin, "bob.sources@example.com");
    let mut ids: Vec<(String, i64)> = Vec::new();

    checks.run(
        "sources: a YouTube channel by id, feed URL and @handle is one subscription",
        || {
            server.forget_requests();
            let r = subscribe(
                spin,
                &ada,
                &format!("https://www.youtube.com/channel/{CHANNEL}"),
            );
            let created = expect::json(&r, 201);
            assert_eq!(
                r.header("location"),
                Some(format!("{SUBSCRIPTIONS}/{}", id(&created)).as_str())
            );
            assert_eq!(created["source"]["kind"], "youtube_channel");
            assert_eq!(created["source"]["identifier"], CHANNEL);
            expect::timestamp(&created["created_at"]);
            assert!(server.requested().is_empty(), "a channel id needs no fetch");
            let r = subscribe(
                spin,
                &ada,
                &format!("youtube.com/feeds/videos.xml?channel_id={CHANNEL}"),
            );
            assert_eq!(id(&expect::json(&r, 200)), id(&created));
            let r = subscribe(spin, &ada, "https://www.youtube.com/@fixture");
            let same = expect::json(&r, 200);
            assert_eq!(id(&same), id(&created));
            assert_eq!(same["source"]["title"], "Fixture Channel");
            assert_eq!(server.requested(), ["/@fixture"]);
            ids.push(("youtube".into(), id(&created)));
        },
    );

    checks.run(
        "sources: subreddits in every spelling are one subscription",
        || {
            let r = subscribe(spin, &ada, "r/Rust");
            let created = expect::json(&r, 201);
            assert_eq!(
                created["source"]["feed_url"],
                "https://www.reddit.com/r/rust/.rss"
            );
            for again in [
                "https://old.reddit.com/r/rust/top/",
                "reddit.com/r/RUST/.rss",
            ] {
                let r = subscribe(spin, &ada, again);
                assert_eq!(id(&expect::json(&r, 200)), id(&created), "{again}");
            }
            ids.push(("rust".into(), id(&created)));
        },
    );

    checks.run(
        "sources: a blog page, its feed and a redirect to it are one subscription",
        || {
            server.forget_requests();
            let r = subscribe(spin, &ada, &server.url("/blog/"));
            let created = expect::json(&r, 201);
            assert_eq!(created["source"]["kind"], "blog");
            assert_eq!(
                created["source"]["identifier"],
                server.url("/blog/feed.xml")
            );
            // The feed's own title and link, not the page's (issue 22: anyone can write a
            // page that names someone else's feed).
            assert_eq!(created["source"]["site_url"], "http://127.0.0.1/blog/");
            assert_eq!(created["source"]["title"], "Fixture blog");
            assert_eq!(server.requested(), ["/blog/", "/blog/feed.xml"]);
            for again in [server.url("/blog/feed.xml"), server.url("/old-feed#x")] {
                let r = subscribe(spin, &ada, &again);
                assert_eq!(id(&expect::json(&r, 200)), id(&created), "{again}");
            }
            let r = subscribe(spin, &ada, &server.url("/atom.xml"));
            let atom = expect::json(&r, 201);
            assert_eq!(atom["source"]["identifier"], server.url("/atom.xml"));
            ids.push(("blog".into(), id(&created)));
            ids.push(("atom".into(), id(&atom)));
            assert_eq!(
                pg.psql("SELECT count(*) FROM content_sources"),
                "4",
                "one row per source"
            );
        },
    );

    checks.run("sources: URLs without a feed are 422 on url", || {
        assert!(url_message(&subscribe(spin, &ada, &server.url("/plain/"))).contains("no RSS"));
        assert!(url_message(&subscribe(spin, &ada, &server.url("/missing"))).contains("not found"));
        assert!(url_message(&subscribe(spin, &ada, "youtube.com/watch?v=x")).contains("channel"));
        assert!(url_message(&subscribe(spin, &ada, "ftp://example.com/")).contains("http"));
    });

    checks.run(
        "sources: literal private addresses are refused without a request",
        || {
            for url in [
                "http://10.0.0.1/feed",
                "http://169.254.169.254/latest/meta-data/",
                "http://[fd00::1]/",
                "http://metadata.google.internal/",
            ] {
                let message = url_message(&subscribe(spin, &ada, url));
                assert!(
                    message.contains("private") || message.contains("local host name"),
                    "{url}: {message}"
                );
            }
        },
    );

    checks.run(
        "sources: another user's subscription is 404 to every method",
        || {
            let (_, theirs) = ids.first().cloned().expect("a subscription");
            let path = format!("{SUBSCRIPTIONS}/{theirs}");
            expect::problem(&get(spin, &bob, &path), 404);
            expect::problem(&get(spin, &bob, &format!("{path}/items")), 404);
            let r = spin.send(&as_user(
                Request::json("PATCH", &path, &json!({"display_name": "mine"})),
                &bob,
            ));
            expect::problem(&r, 404);
            expect::problem(
                &spin.send(&as_user(Request::new("DELETE", &path), &bob)),
                404,
            );
            let list = expect::json(&get(spin, &bob, SUBSCRIPTIONS), 200);
            assert_eq!(list, json!({"items": [], "next_cursor": null}));
            let mine = expect::json(&get(spin, &ada, &path), 200);
            assert_eq!(mine["display_name"], Value::Null);
        },
    );

    checks.run("sources: PATCH, list pages and DELETE", || {
        let (_, rust) = ids[1].clone();
        let path = format!("{SUBSCRIPTIONS}/{rust}");
        let r = spin.send(&as_user(
            Request::json(
                "PATCH",
                &path,
                &json!({"display_name": "Rust!", "notifications_enabled": false}),
            ),
            &ada,
        ));
        let patched = expect::json(&r, 200);
        assert_eq!(patched["display_name"], "Rust!");
        assert_eq!(patched["notifications_enabled"], false);
        let page = expect::json(&get(spin, &ada, &format!("{SUBSCRIPTIONS}?limit=3")), 200);
        assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
        let after = page["next_cursor"].as_i64().expect("a next page");
        let rest = expect::json(
            &get(
                spin,
                &ada,
                &format!("{SUBSCRIPTIONS}?limit=3&after={after}"),
            ),
            200,
        );
        assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(rest["next_cursor"], Value::Null);
        let head = spin.send(&as_user(Request::head(SUBSCRIPTIONS), &ada));
        expect::status(&head, 200);
        // Bob follows the Atom blog too, then leaves it.
        let r = subscribe(spin, &bob, &server.url("/atom.xml"));
        let bobs = id(&expect::json(&r, 201));
        let r = spin.send(&as_user(
            Request::new("DELETE", &format!("{SUBSCRIPTIONS}/{bobs}")),
            &bob,
        ));
        expect::status(&r, 204);
        expect::problem(&get(spin, &bob, &format!("{SUBSCRIPTIONS}/{bobs}")), 404);
    });

    checks.run(
        "sources: the feed pages newest first without gaps or repeats",
        || {
            // Items as ingestion would store them: 5 per source, colliding published_at values.
            pg.psql(
            "INSERT INTO content_items (source_id, external_id, title, url, published_at, summary)
             SELECT s.id, 'e2e-' || g, s.kind || ' item ' || g, 'https://example.org/' || g,
                    timestamptz '2026-11-01 00:00:00+00' + (g / 2) * interval '1 day',
                    CASE WHEN g % 2 = 0 THEN 'summary ' || g END
             FROM content_sources s, generate_series(1, 5) AS g",
        );
            // The Atom blog's subscription is paused: not in the feed.
            let (_, atom) = ids[3].clone();
            let r = spin.send(&as_user(
                Request::json(
                    "PATCH",
                    &format!("{SUBSCRIPTIONS}/{atom}"),
                    &json!({"is_active": false}),
                ),
                &ada,
            ));
            expect::status(&r, 200);
            let items = walk(spin, &ada, "/api/v1/me/feed?limit=4");
            assert_eq!(items.len(), 15, "3 active sources x 5 items: {items:?}");
            let keys = newest_first(&items);
            let mut unique: Vec<i64> = keys.iter().map(|k| k.1).collect();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 15, "no repeats");
            let rust = items
                .iter()
                .find(|i| i["source"]["kind"] == "subreddit")
                .expect("a subreddit item");
            assert_eq!(rust["source"]["display_name"], "Rust!");
            assert!(rust["source"]["subscription_id"].as_i64().is_some());
            // One subscription's items, paused or not.
            let atom_items = walk(spin, &ada, &format!("{SUBSCRIPTIONS}/{atom}/items?limit=2"));
            assert_eq!(atom_items.len(), 5);
            expect::problem(&get(spin, &ada, "/api/v1/me/feed?before=nope"), 422);
            let empty = expect::json(&get(spin, &bob, "/api/v1/me/feed"), 200);
            assert_eq!(empty, json!({"items": [], "next_cursor": null}));
        },
    );

    checks.run(
        "sources: at most MAX_SUBSCRIPTIONS per user, also when subscribing concurrently (issue 22)",
        || {
            let limit = keemu::models::source::MAX_SUBSCRIPTIONS;
            let carol = register(spin, "carol.sources@example.com");
            let carol_id = pg.psql(
                "SELECT id FROM users WHERE email = 'carol.sources@example.com'",
            );
            // limit - 3 subscriptions in SQL, then 12 different subreddits at once: 3 x 201.
            pg.psql(&format!(
                "INSERT INTO content_sources (kind, identifier, feed_url)
                     SELECT 'subreddit', 'limit' || g, 'https://www.reddit.com/r/limit' || g || '/.rss'
                     FROM generate_series(1, {limit}) AS g;
                 INSERT INTO user_subscriptions (user_id, source_id)
                     SELECT {carol_id}, id FROM content_sources
                     WHERE identifier ~ '^limit[0-9]+$' AND substr(identifier, 6)::int <= {limit} - 3"
            ));
            let requests = (0..12)
                .map(|i| {
                    as_user(
                        Request::json("POST", SUBSCRIPTIONS, &json!({ "url": format!("r/burst{i}") })),
                        &carol,
                    )
                })
                .collect();
            let replies = crate::concurrency::all_at_once(spin.port, requests);
            let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
            assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
            assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 9, "{statuses:?}");
            assert_eq!(
                pg.psql(&format!("SELECT count(*) FROM user_subscriptions WHERE user_id = {carol_id}")),
                limit.to_string()
            );
            let r = subscribe(spin, &carol, "r/onemore");
            assert!(url_message(&r).contains(&format!("at most {limit}")));
            // Following an already followed source again is not a new one.
            expect::json(&subscribe(spin, &carol, "r/limit1"), 200);
            // Carol's feed pages over her 500 sources (items from the limitN sources).
            pg.psql(
                "INSERT INTO content_items (source_id, external_id, title, published_at)
                 SELECT s.id, 'limit-' || g, 'Item ' || g,
                        timestamptz '2026-10-01 00:00:00+00' + g * interval '1 minute'
                            + s.id * interval '1 second'
                 FROM content_sources s, generate_series(1, 3) AS g
                 WHERE s.identifier ~ '^limit[0-9]+$'",
            );
            // Both ways of the statement: the window (default page, many sources) and one
            // probe per source (a page of 100: 500 sources are not more than 5 pages).
            for (query, n) in [("", 20), ("?limit=100", 100)] {
                let page = expect::json(&get(spin, &carol, &format!("/api/v1/me/feed{query}")), 200);
                let items = page["items"].as_array().expect("items");
                newest_first(items);
                let got: Vec<String> = items.iter().map(|i| id(i).to_string()).collect();
                let expected = pg.psql(&format!(
                    "SELECT string_agg(id::text, ',' ORDER BY published_at DESC, id DESC) FROM (
                         SELECT ci.id, ci.published_at FROM content_items ci
                         JOIN user_subscriptions us ON us.source_id = ci.source_id AND us.is_active
                         WHERE us.user_id = {carol_id}
                         ORDER BY ci.published_at DESC, ci.id DESC LIMIT {n}) page"
                ));
                assert_eq!(got.join(","), expected, "{query}");
            }
        },
    );

    checks.run("sources: no token, or the operator's, is 401", || {
        expect::problem(
            &spin.send(&Request::get("/api/v1/me/feed").authorization(None)),
            401,
        );
        expect::problem(&spin.send(&Request::get(SUBSCRIPTIONS)), 401);
    });
}

/// Under the repository's runtime config: the fixture server (loopback) is refused, by URL,
/// through a YouTube handle (its origin is loopback here) and as a feed, and never requested.
/// `by` names the layer that refuses loopback: the URL check (`outbound_allow_loopback=false`)
/// or the host (`block_networks`, with the URL check letting loopback through). Literal
/// private addresses other than loopback are the URL check's either way.
pub fn blocked_checks(spin: &Spin, server: &FeedServer, by: &str, checks: &mut Checks) {
    let ada = register(spin, &format!("ada.{by}@example.com"));
    let name =
        format!("sources (loopback blocked by the {by}): the fixture server is never requested");
    checks.run(&name, || {
        server.forget_requests();
        for url in [
            server.url("/blog/"),
            server.url("/blog/feed.xml"),
            "https://www.youtube.com/@fixture".to_owned(),
            format!("http://localhost:{}/blog/", server.port),
            "http://10.0.0.1/feed".to_owned(),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ] {
            // Whichever layer refuses, the message says the address is not fetched (the
            // host's refusal used to say "only ports 80 and 443 are allowed": issue 22).
            let message = url_message(&subscribe(spin, &ada, &url));
            assert!(
                message.contains("private") || message.contains("local host name"),
                "{url}: {message}"
            );
        }
        assert!(server.requested().is_empty(), "{:?}", server.requested());
        // What needs no fetch still works.
        expect::status(&subscribe(spin, &ada, "r/rust"), 201);
    });
}
