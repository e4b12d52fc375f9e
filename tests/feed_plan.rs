//! The cost of a page of `GET /api/v1/me/feed` and of a subscription's items does not grow
//! with how deep the page is, and the feed's does not grow with how many sources the user
//! follows (issue 22 item 8: it read a page per followed source).
//!
//! Fills a test database with enough items for the planner to plan as it would in
//! production (many sources, many items each; the user follows some of them), then runs the
//! FEED and ITEMS statements under `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)` for the first
//! page and for a page deep in the past, with the parameters bound as the host binds them.
//! No timings are read: the assertions are on the rows each plan node handled (a plan that
//! walks the items from the newest handles as many rows as the page is deep), on the index
//! the items are read from, and on the planner's estimated cost.

mod common;

use chrono::NaiveDateTime;
use common::TestDatabase;
use common::plan::{buffers, describe, explain, explain_buffers, nodes, rows_handled};
use keemu::models::source::sql;
use serde_json::Value;
use tokio_postgres::Client;

/// Sources in the table, and how many of them the user follows.
const SOURCES: i64 = 200;
const FOLLOWED: i64 = 20;
/// Items per source: 200 x 1,000 = 200,000 items.
const ITEMS_PER_SOURCE: i64 = 1_000;
/// The API's default page size; the store asks for one more row to see if there is a next page.
const LIMIT: i64 = 20 + 1;

async fn fill(client: &Client) {
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO users (email, name) VALUES ('plan@example.com', 'Plan');
             INSERT INTO content_sources (kind, identifier, feed_url)
                 SELECT 'subreddit', 'sub' || g, 'https://www.reddit.com/r/sub' || g || '/.rss'
                 FROM generate_series(1, {SOURCES}) AS g;
             INSERT INTO user_subscriptions (user_id, source_id, is_active)
                 SELECT u.id, s.id, s.id <> 2
                 FROM users u, content_sources s WHERE s.id <= {FOLLOWED};
             INSERT INTO content_items (source_id, external_id, title, published_at)
                 SELECT s.id, 'item-' || g, 'Item ' || g,
                        timestamptz '2020-01-01 00:00:00+00'
                            + (g * interval '1 hour') + (s.id * interval '1 second')
                 FROM content_sources s, generate_series(1, {ITEMS_PER_SOURCE}) AS g;
             SET session_replication_role = DEFAULT;
             ANALYZE users; ANALYZE content_sources; ANALYZE user_subscriptions;
             ANALYZE content_items;"
        ))
        .await
        .expect("fill the tables");
}

fn user(client_rows: &[tokio_postgres::Row]) -> i64 {
    client_rows[0].get(0)
}

/// A cursor `hours` hours after the first item (the page starts just before it).
fn cursor(hours: i64) -> (Option<NaiveDateTime>, Option<i64>) {
    let at = NaiveDateTime::parse_from_str("2020-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")
        .expect("time")
        + chrono::Duration::hours(hours);
    (Some(at), Some(i64::MAX))
}

/// The per-source index: a subscription's items, and the feed's per-source heads.
const PER_SOURCE: &str = "ix_content_items_source_id_published_at_id";
/// All items in feed order (with their source): the feed's window of the newest items.
const ALL_ITEMS: &str = "ix_content_items_published_at_id_source_id";

/// The checks shared by both statements: bounded rows per node, items read from the
/// per-source index or the feed-order index with the cursor as an index condition, or by
/// primary key for the page's own rows (never a sequential scan or a sort of all items), and
/// a deep page estimated to cost what the first page costs.
fn check_plans(name: &str, first: &Value, deep: &Value, max_rows: f64, indexes: &[&str]) {
    for (which, plan) in [("first page", first), ("deep page", deep)] {
        // Rows read from tables and indexes (joins of a few rows in memory are not counted:
        // a nested loop over a CTE of 20 rows compares each of them with each row it meets).
        for node in nodes(plan)
            .into_iter()
            .filter(|n| n.get("Relation Name").is_some())
        {
            assert!(
                rows_handled(node) <= max_rows,
                "{name} {which}: {} handled {} rows (bound {max_rows}); plan: {plan:#}",
                describe(node),
                rows_handled(node)
            );
            if node["Relation Name"] == "content_items" {
                let index = node["Index Name"].as_str().unwrap_or("");
                let condition = node["Index Cond"].as_str().unwrap_or("");
                if index == "pk_content_items" {
                    assert!(
                        rows_handled(node) <= LIMIT as f64,
                        "{name} {which}: more items read by id than a page; plan: {plan:#}"
                    );
                    continue;
                }
                assert!(
                    indexes.contains(&index),
                    "{name} {which}: items read by {}; plan: {plan:#}",
                    describe(node)
                );
                assert!(
                    condition.contains("published_at"),
                    "{name} {which}: the cursor is not an index condition: {condition}; plan: {plan:#}"
                );
            }
        }
    }
    let cost = |plan: &Value| plan["Total Cost"].as_f64().expect("Total Cost");
    assert!(
        cost(deep) <= 1.5 * cost(first),
        "{name}: estimated cost of the deep page {} vs the first page {}; deep plan: {deep:#}",
        cost(deep),
        cost(first)
    );
}

#[tokio::test]
async fn a_deep_page_of_the_feed_costs_what_the_first_page_costs() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    fill(&client).await;
    let user_id = user(
        &client
            .query("SELECT id FROM users", &[])
            .await
            .expect("user"),
    );

    // A deep page: 10 % of the way from the oldest item, i.e. 90 % of the items are newer.
    let (deep_at, deep_id) = cursor(ITEMS_PER_SOURCE / 10);
    let none: (Option<NaiveDateTime>, Option<i64>) = (None, None);

    // The statement returns the right rows for a deep page: the newest items older than the
    // cursor, of the active subscriptions (source 2's subscription is inactive).
    let rows = client
        .query(sql::FEED, &[&user_id, &deep_at, &deep_id, &LIMIT])
        .await
        .expect("feed page");
    assert_eq!(rows.len() as i64, LIMIT);
    let expected: Vec<i64> = client
        .query(
            "SELECT ci.id FROM content_items ci
             JOIN user_subscriptions us ON us.source_id = ci.source_id AND us.is_active
             WHERE ci.published_at < ($1::timestamp AT TIME ZONE 'UTC')
             ORDER BY ci.published_at DESC, ci.id DESC LIMIT $2",
            &[&deep_at, &LIMIT],
        )
        .await
        .expect("expected rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let got: Vec<i64> = rows.iter().map(|r| r.get("id")).collect();
    assert_eq!(got, expected);

    let first = explain(&client, sql::FEED, &[&user_id, &none.0, &none.1, &LIMIT]).await;
    let deep = explain(&client, sql::FEED, &[&user_id, &deep_at, &deep_id, &LIMIT]).await;
    // Nothing reads more than the window of the newest items (50 pages), or a page per
    // followed source.
    check_plans(
        "feed",
        &first,
        &deep,
        (50 * LIMIT).max(FOLLOWED * LIMIT * 2) as f64,
        &[PER_SOURCE, ALL_ITEMS],
    );
}

#[tokio::test]
async fn a_deep_page_of_a_subscriptions_items_costs_what_the_first_page_costs() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    fill(&client).await;
    let user_id = user(
        &client
            .query("SELECT id FROM users", &[])
            .await
            .expect("user"),
    );
    let subscription: i64 = client
        .query_one("SELECT id FROM user_subscriptions WHERE source_id = 7", &[])
        .await
        .expect("subscription")
        .get(0);
    let (deep_at, deep_id) = cursor(ITEMS_PER_SOURCE / 10);
    let none: (Option<NaiveDateTime>, Option<i64>) = (None, None);

    let rows = client
        .query(
            sql::ITEMS,
            &[&user_id, &subscription, &deep_at, &deep_id, &LIMIT],
        )
        .await
        .expect("items page");
    assert_eq!(rows.len() as i64, LIMIT);

    let first = explain(
        &client,
        sql::ITEMS,
        &[&user_id, &subscription, &none.0, &none.1, &LIMIT],
    )
    .await;
    let deep = explain(
        &client,
        sql::ITEMS,
        &[&user_id, &subscription, &deep_at, &deep_id, &LIMIT],
    )
    .await;
    check_plans("items", &first, &deep, (LIMIT * 2) as f64, &[PER_SOURCE]);
}

/// Sources publishing all the time, and sources gone quiet (their items a year older).
const BUSY_SOURCES: i64 = 1_200;
const QUIET_SOURCES: i64 = 1_000;
const ITEMS_EACH: i64 = 100;

/// 2,200 sources x 100 items; users `ten` (10 busy sources), `thousand` (1,000 busy
/// sources) and `quiet` (the 1,000 quiet sources: none of their items is among the newest,
/// the worst case for the feed), and 500 others following 30 sources each.
async fn fill_many(client: &Client) {
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO users (email, name) VALUES
                 ('ten@example.com', 'Ten'), ('thousand@example.com', 'Thousand'),
                 ('quiet@example.com', 'Quiet');
             INSERT INTO content_sources (kind, identifier, feed_url)
                 SELECT 'subreddit', 'sub' || g, 'https://www.reddit.com/r/sub' || g || '/.rss'
                 FROM generate_series(1, {BUSY_SOURCES} + {QUIET_SOURCES}) AS g;
             INSERT INTO user_subscriptions (user_id, source_id)
                 SELECT u.id, s.id FROM users u, content_sources s
                 WHERE (u.name = 'Ten' AND s.id % 100 = 7 AND s.id <= 1000)
                    OR (u.name = 'Thousand' AND s.id <= 1000)
                    OR (u.name = 'Quiet' AND s.id > {BUSY_SOURCES})
                 ORDER BY random();
             -- Everyone else: 500 users following 30 sources each.
             INSERT INTO users (email, name)
                 SELECT 'other' || g || '@example.com', 'Other' FROM generate_series(1, 500) AS g;
             INSERT INTO user_subscriptions (user_id, source_id)
                 SELECT u.id, s.id FROM users u, content_sources s
                 WHERE u.name = 'Other' AND (s.id + u.id * 7) % 73 = 0;
             INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
                 SELECT s.id, 'item-' || g, 'Item ' || g, 'https://example.com/' || s.id || '/' || g,
                        repeat('summary ', 50),
                        timestamptz '2026-01-01 00:00:00+00'
                            - (g * interval '1 hour' * (1 + s.id % 37))
                            - (random() * interval '1 hour')
                            - CASE WHEN s.id > {BUSY_SOURCES} THEN interval '1 year'
                                   ELSE interval '0' END
                 FROM content_sources s, generate_series(1, {ITEMS_EACH}) AS g
                 ORDER BY random();
             SET session_replication_role = DEFAULT;"
        ))
        .await
        .expect("fill the tables");
    // Each on its own (VACUUM refuses a transaction block). The items are analysed but not
    // vacuumed: as in production, where the newest items are not yet all-visible, reading an
    // item's index entry also visits its row (the worst case, and a deterministic one).
    for table in ["users", "content_sources", "user_subscriptions"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .expect("vacuum");
    }
    client
        .batch_execute("ANALYZE content_items")
        .await
        .expect("analyze");
}

/// Issue 22 item 8: the feed page read a page of items per followed source, so a user
/// following 1,000 sources paid 100 times what a user following 10 paid (measured 4-7 ms
/// against 31-84 ms). Now the page of a user following 1,000 busy sources touches at most
/// twice the pages (buffers) of a user following 10, and a user following 1,000 sources
/// none of which published lately (every source needs its own probe) stays within a few
/// pages per source. The pages are counted by EXPLAIN (ANALYZE, BUFFERS); no timing is read.
#[tokio::test]
async fn a_feed_page_costs_about_the_same_following_1000_sources_as_10() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    fill_many(&client).await;
    let id = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one("SELECT id FROM users WHERE name = $1", &[&name])
                .await
                .expect("user")
                .get::<_, i64>(0)
        }
    };
    let (ten, thousand, quiet) = (id("Ten").await, id("Thousand").await, id("Quiet").await);
    let none: (Option<NaiveDateTime>, Option<i64>) = (None, None);

    let mut touched = Vec::new();
    for (user, who) in [
        (ten, "10 sources"),
        (thousand, "1,000 sources"),
        (quiet, "1,000 quiet sources"),
    ] {
        // The right rows: the user's newest items across their active subscriptions.
        let got: Vec<i64> = client
            .query(sql::FEED, &[&user, &none.0, &none.1, &LIMIT])
            .await
            .expect("feed page")
            .iter()
            .map(|r| r.get("id"))
            .collect();
        let expected: Vec<i64> = client
            .query(
                "SELECT ci.id FROM content_items ci
                 JOIN user_subscriptions us ON us.source_id = ci.source_id AND us.is_active
                 WHERE us.user_id = $1
                 ORDER BY ci.published_at DESC, ci.id DESC LIMIT $2",
                &[&user, &LIMIT],
            )
            .await
            .expect("expected rows")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, expected, "{who}");
        assert_eq!(got.len() as i64, LIMIT, "{who}");
        // Warm: the figures compare the statement's work, not what the cache held.
        explain_buffers(&client, sql::FEED, &[&user, &none.0, &none.1, &LIMIT]).await;
        let plan = explain_buffers(&client, sql::FEED, &[&user, &none.0, &none.1, &LIMIT]).await;
        eprintln!("feed, {who}: {} buffers", buffers(&plan));
        if std::env::var_os("FEED_PLAN_DUMP").is_some() {
            eprintln!("PLAN {who}: {plan}");
        }
        touched.push((who, buffers(&plan), plan));
    }
    let (_, ten_pages, _) = &touched[0];
    let (_, thousand_pages, thousand_plan) = &touched[1];
    let (_, quiet_pages, quiet_plan) = &touched[2];
    assert!(
        *thousand_pages <= 2.0 * ten_pages,
        "1,000 sources: {thousand_pages} buffers, 10 sources: {ten_pages}; plan: {thousand_plan:#}"
    );
    // The worst case: the window, then one index probe per followed source (the index's
    // levels and the item's row: 4 or 5 pages each), bounded by the subscription limit.
    assert!(
        *quiet_pages <= 5.0 * QUIET_SOURCES as f64 + 50.0 * LIMIT as f64,
        "1,000 quiet sources: {quiet_pages} buffers; plan: {quiet_plan:#}"
    );
    // The old statement read a page of items per source: 1,000 x 21 index entries and item
    // rows for 1,000 sources (about 27,000 buffers, at 2,000 sources x 200 items). Now no
    // table or index gives more rows than the window or one per followed source.
    for (who, _, plan) in &touched {
        for node in nodes(plan)
            .into_iter()
            .filter(|n| n.get("Relation Name").is_some())
        {
            assert!(
                rows_handled(node) <= (50 * LIMIT).max(QUIET_SOURCES + 1) as f64,
                "{who}: {} handled {} rows; plan: {plan:#}",
                describe(node),
                rows_handled(node)
            );
        }
    }
}
