//! Issue 9's "Done when" as one flow under a real `spin up`: a user subscribes through the
//! API by every URL form, `POST /internal/ingest` fills the items, `GET /api/v1/me/feed`
//! pages newest first without gaps or repeats, a second ingest adds nothing, a conditional
//! `304` writes no item, and a broken source backs off while the others are ingested.
//!
//! The feed server on 127.0.0.1 ([`FeedServer`]) stands in for YouTube (`youtube_origin`:
//! the `@handle` page for the api, the channel feed for the ingestion), Reddit
//! (`reddit_origin`) and the blogs. Sources keep their canonical URLs
//! (`https://www.youtube.com/feeds/...`, `https://www.reddit.com/r/rust/.rss`); only the
//! origin fetched is the server's. Traffic goes to loopback only.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::feed_server::{CHANNEL, FeedServer};
use crate::harness::{Postgres, Spin, SpinOptions};
use crate::sources::{get, id, newest_first, register, subscribe, walk};

/// `spin up` with both components fetching from `feeds` (loopback allowed by the URL check,
/// the harness's runtime config blocking no network).
pub fn options(feeds: &FeedServer) -> SpinOptions {
    SpinOptions {
        runtime_config: None,
        variables: vec![
            ("outbound_allow_loopback".into(), "true".into()),
            ("youtube_origin".into(), feeds.origin()),
            ("reddit_origin".into(), feeds.origin()),
            ("fetch_extra_origin".into(), feeds.origin()),
            ("ingest_fetch_timeout_ms".into(), "1000".into()),
        ],
        ..SpinOptions::default()
    }
}

fn ingest(spin: &Spin) -> Value {
    let response = spin.send(&Request::new("POST", "/internal/ingest"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn n(body: &Value, key: &str) -> u64 {
    body[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

/// The item ids of every source, newest first, as the database orders them.
fn items_in_db_order(pg: &Postgres) -> Vec<i64> {
    pg.psql("SELECT id FROM content_items ORDER BY published_at DESC, id DESC")
        .lines()
        .map(|l| l.parse().unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Requests the feed server got, per path, since `before`.
fn sent_since(feeds: &FeedServer, before: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    feeds
        .counts()
        .into_iter()
        .filter_map(|(path, count)| {
            let new = count - before.get(&path).copied().unwrap_or(0);
            (new > 0).then_some((path, new))
        })
        .collect()
}

pub fn checks(spin: &Spin, pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    let token = register(spin, "flow.reader@example.com");
    let youtube_feed = format!("/feeds/videos.xml?channel_id={CHANNEL}");
    // Source ids by name, filled by the first check.
    let mut sources: BTreeMap<&str, i64> = BTreeMap::new();

    checks.run(
        "flow: a user subscribes by every URL form, one source each",
        || {
            let created = |url: &str| expect::json(&subscribe(spin, &token, url), 201);
            let same = |url: &str, first: &Value| {
                let again = expect::json(&subscribe(spin, &token, url), 200);
                assert_eq!(id(&again), id(first), "{url}");
            };
            let yt = created(&format!("https://www.youtube.com/channel/{CHANNEL}"));
            assert_eq!(yt["source"]["identifier"], CHANNEL);
            assert_eq!(
                yt["source"]["feed_url"],
                format!("https://www.youtube.com{youtube_feed}")
            );
            same("https://www.youtube.com/@keemu", &yt);
            assert_eq!(feeds.count("/@keemu"), 1, "the handle's page was read");
            same(&format!("https://www.youtube.com{youtube_feed}"), &yt);

            let reddit = created("https://www.reddit.com/r/rust");
            assert_eq!(
                reddit["source"]["feed_url"],
                "https://www.reddit.com/r/rust/.rss"
            );
            same("r/rust", &reddit);

            let blog = created(&feeds.url("/blog/"));
            assert_eq!(blog["source"]["identifier"], feeds.url("/blog_rss.xml"));
            // The feed's own link and title (tests/fixtures/feeds/blog_rss.xml), not the page's.
            assert_eq!(blog["source"]["site_url"], "https://blog.fixture.example/");
            assert_eq!(blog["source"]["title"], "Fixture Engineering Blog");
            let atom = created(&feeds.url("/blog_atom.xml"));
            assert_eq!(atom["source"]["kind"], "blog");
            let broken = created(&feeds.url("/broken.xml"));

            // Subscribing fetched no YouTube or Reddit feed.
            assert_eq!(feeds.count(&youtube_feed), 0);
            assert_eq!(feeds.count("/r/rust/.rss"), 0);
            for (name, body) in [
                ("youtube", &yt),
                ("reddit", &reddit),
                ("rss", &blog),
                ("atom", &atom),
                ("broken", &broken),
            ] {
                let source = body["source"]["id"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("source id: {body}"));
                sources.insert(name, source);
            }
            assert_eq!(pg.psql("SELECT count(*) FROM content_sources"), "5");
            assert_eq!(pg.psql("SELECT count(*) FROM user_subscriptions"), "5");
        },
    );

    checks.run(
        "flow: one ingest fills every source; the broken one backs off, the others are ingested",
        || {
            let before = feeds.counts();
            let body = ingest(spin);
            assert_eq!(
                (n(&body, "claimed"), n(&body, "fetched"), n(&body, "failed")),
                (5, 4, 1),
                "{body}"
            );
            assert_eq!(n(&body, "items_added"), 5 + 4 + 3 + 2, "{body}");
            let expected: BTreeMap<String, usize> = [
                (youtube_feed.as_str(), 1),
                ("/r/rust/.rss", 1),
                ("/blog_rss.xml", 1),
                ("/blog_atom.xml", 1),
                ("/broken.xml", 1),
            ]
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c))
            .collect();
            assert_eq!(sent_since(feeds, &before), expected);
            for (name, items) in [
                ("youtube", 5),
                ("reddit", 4),
                ("rss", 3),
                ("atom", 2),
                ("broken", 0),
            ] {
                let count = pg.psql(&format!(
                    "SELECT count(*) FROM content_items WHERE source_id = {}",
                    sources[name]
                ));
                assert_eq!(count, items.to_string(), "{name}");
            }
            let broken = pg.psql(&format!(
                "SELECT consecutive_failures, last_status, \
                 next_fetch_at > now() + interval '9 minutes' \
                 FROM content_sources WHERE id = {}",
                sources["broken"]
            ));
            assert_eq!(broken, "1|200|t");
            let healthy = pg.psql(
                "SELECT count(*) FROM content_sources WHERE consecutive_failures = 0 \
                 AND last_status = 200 AND next_fetch_at > now() + interval '29 minutes'",
            );
            assert_eq!(healthy, "4");
        },
    );

    let mut first_walk = Vec::new();
    checks.run(
        "flow: the feed pages newest first without gaps or repeats (limit=3)",
        || {
            let items = walk(spin, &token, "/api/v1/me/feed?limit=3");
            let ids: Vec<i64> = items.iter().map(id).collect();
            assert_eq!(ids.len(), 14, "{ids:?}");
            assert_eq!(
                ids,
                items_in_db_order(pg),
                "the database's order, every item once"
            );
            newest_first(&items);
            for item in &items {
                assert!(
                    item["source"]["subscription_id"].as_i64().is_some(),
                    "{item}"
                );
            }
            for kind in ["youtube_channel", "subreddit", "blog"] {
                assert!(
                    items.iter().any(|i| i["source"]["kind"] == kind),
                    "{kind} in the feed"
                );
            }
            first_walk = ids;
        },
    );

    checks.run(
        "flow: a second ingest adds nothing; the 304s write no item; the broken source backs off further",
        || {
            // Right away: nothing is due, nothing is sent.
            let before = feeds.counts();
            let body = ingest(spin);
            assert_eq!((n(&body, "claimed"), n(&body, "items_added")), (0, 0), "{body}");
            assert_eq!(feeds.counts(), before);

            // Everything due again: conditional requests.
            let count = pg.psql("SELECT count(*) FROM content_items");
            let versions = pg.psql("SELECT sum(xmin::text::bigint) FROM content_items");
            pg.psql("UPDATE content_sources SET next_fetch_at = now()");
            let body = ingest(spin);
            assert_eq!(n(&body, "claimed"), 5, "{body}");
            // YouTube and the Atom blog (ETag), the RSS blog (Last-Modified).
            assert_eq!(n(&body, "not_modified"), 3, "{body}");
            // Reddit sends no validator: fetched and parsed again, nothing new.
            assert_eq!(n(&body, "fetched"), 1, "{body}");
            assert_eq!(n(&body, "failed"), 1, "{body}");
            assert_eq!(n(&body, "items_added"), 0, "{body}");
            assert_eq!(pg.psql("SELECT count(*) FROM content_items"), count);
            assert_eq!(
                pg.psql("SELECT sum(xmin::text::bigint) FROM content_items"),
                versions,
                "no item row was written"
            );
            let statuses = pg.psql(&format!(
                "SELECT last_status FROM content_sources WHERE id IN ({}, {}, {}) ORDER BY id",
                sources["youtube"], sources["rss"], sources["atom"]
            ));
            assert_eq!(statuses, "304\n304\n304");
            let broken = pg.psql(&format!(
                "SELECT consecutive_failures, next_fetch_at > now() + interval '19 minutes' \
                 FROM content_sources WHERE id = {}",
                sources["broken"]
            ));
            assert_eq!(broken, "2|t", "the second failure waits twice as long");
            let again: Vec<i64> = walk(spin, &token, "/api/v1/me/feed?limit=3")
                .iter()
                .map(id)
                .collect();
            assert_eq!(again, first_walk, "the feed is unchanged");
        },
    );

    checks.run("flow: one subscription's items, newest first", || {
        let list = expect::json(&get(spin, &token, "/api/v1/me/subscriptions?limit=10"), 200);
        let reddit = list["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|s| s["source"]["kind"] == "subreddit")
                    .cloned()
            })
            .unwrap_or_else(|| panic!("the subreddit subscription: {list}"));
        let items = walk(
            spin,
            &token,
            &format!("/api/v1/me/subscriptions/{}/items?limit=3", id(&reddit)),
        );
        assert_eq!(items.len(), 4);
    });
}
