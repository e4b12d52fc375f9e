//! The cost of a page of `GET /api/v1/me/feed` and of a subscription's items does not grow
//! with how deep the page is.
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
use common::plan::{describe, explain, nodes, rows_handled};
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

/// The checks shared by both statements: bounded rows per node, items read from the
/// per-source index with the cursor as an index condition (never a sequential scan or a
/// sort of all items), and a deep page estimated to cost what the first page costs.
fn check_plans(name: &str, first: &Value, deep: &Value, max_rows: f64) {
    for (which, plan) in [("first page", first), ("deep page", deep)] {
        for node in nodes(plan) {
            assert!(
                rows_handled(node) <= max_rows,
                "{name} {which}: {} handled {} rows (bound {max_rows}); plan: {plan:#}",
                describe(node),
                rows_handled(node)
            );
            if node["Relation Name"] == "content_items" {
                assert_eq!(
                    node["Index Name"],
                    "ix_content_items_source_id_published_at_id",
                    "{name} {which}: items read by {}; plan: {plan:#}",
                    describe(node)
                );
                let condition = node["Index Cond"].as_str().unwrap_or("");
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
    // Each followed source contributes at most a page's rows; nothing reads more than that.
    check_plans("feed", &first, &deep, (FOLLOWED * LIMIT * 2) as f64);
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
    check_plans("items", &first, &deep, (LIMIT * 2) as f64);
}
