//! The cost of a page of `GET /api/v1/me/digests` does not grow with how deep it is: the
//! LIST statement reads the user's digests from `ix_digests_user_id_period_end_id` starting
//! at the cursor (the row comparison is an index condition), in a generic plan too.
//!
//! Building one user's digest reads that user's subscriptions and their newest items of the
//! period only (issue 19): the CANDIDATES statement reads the user's subscriptions by index
//! and, per subscription, at most a digest's worth of items from
//! `ix_content_items_source_id_published_at_id` (the source and the period as index
//! conditions), and the pages it touches do not grow when the items table grows tenfold.
//!
//! Fills a test database with enough rows for the planner to plan as it would in
//! production, then runs the statements under `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)`
//! (and `BUFFERS` for the pages touched), with the parameters bound as the host binds them
//! (`Int64`, and times as `timestamp`). No timings are read.

mod common;

use chrono::NaiveDateTime;
use common::TestDatabase;
use common::plan::{buffers, describe, explain, explain_buffers, nodes, rows_handled};
use keemu::models::digest::sql;
use serde_json::Value;
use tokio_postgres::Client;

/// Other users, and the digests of each: 500 x 200 = 100,000 digests.
const USERS: i64 = 500;
const EACH: i64 = 200;
/// The user whose pages are read: ten years of daily digests.
const MINE: i64 = 3_650;
/// The API's default page size; the store asks for one more row to see if there is a next page.
const LIMIT: i64 = 20 + 1;
const INDEX: &str = "ix_digests_user_id_period_end_id";

async fn fill(client: &Client) -> i64 {
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO users (email, name)
                 SELECT 'user' || g || '@example.com', 'User ' || g
                 FROM generate_series(1, {USERS}) AS g;
             INSERT INTO users (email, name) VALUES ('plan@example.com', 'Plan');
             INSERT INTO digests (user_id, period_start, period_end, update_frequency,
                 summary_length, status, item_count)
                 SELECT u.id, timestamptz '2016-01-01 07:00:00+00' + (g - 1) * interval '1 day',
                        timestamptz '2016-01-01 07:00:00+00' + g * interval '1 day',
                        'daily', 'standard', 'sent', 12
                 FROM users u, generate_series(1, {EACH}) AS g
                 WHERE u.email <> 'plan@example.com';
             INSERT INTO digests (user_id, period_start, period_end, update_frequency,
                 summary_length, status, item_count)
                 SELECT u.id, timestamptz '2016-01-01 07:00:00+00' + (g - 1) * interval '1 day',
                        timestamptz '2016-01-01 07:00:00+00' + g * interval '1 day',
                        'daily', 'standard', 'sent', 12
                 FROM users u, generate_series(1, {MINE}) AS g
                 WHERE u.email = 'plan@example.com';
             SET session_replication_role = DEFAULT;
             ANALYZE users; ANALYZE digests;"
        ))
        .await
        .expect("fill the tables");
    client
        .query_one("SELECT id FROM users WHERE email = 'plan@example.com'", &[])
        .await
        .expect("the plan user")
        .get(0)
}

/// A cursor at `days` days after 2016-01-01 07:00 (with the largest id: the digest ending
/// then is on the page).
fn cursor(days: i64) -> (Option<NaiveDateTime>, Option<i64>) {
    let at = NaiveDateTime::parse_from_str("2016-01-01 07:00:00", "%Y-%m-%d %H:%M:%S")
        .expect("time")
        + chrono::Duration::days(days);
    (Some(at), Some(i64::MAX))
}

fn check(which: &str, plan: &Value) {
    let mut read_from_index = false;
    for node in nodes(plan)
        .into_iter()
        .filter(|n| n.get("Relation Name").is_some())
    {
        assert!(
            rows_handled(node) <= (2 * LIMIT) as f64,
            "{which}: {} handled {} rows for a page of {LIMIT}; plan: {plan:#}",
            describe(node),
            rows_handled(node)
        );
        if node["Relation Name"] == "digests" {
            assert_eq!(
                node["Index Name"],
                INDEX,
                "{which}: digests read by {}; plan: {plan:#}",
                describe(node)
            );
            let condition = node["Index Cond"].as_str().unwrap_or("");
            assert!(
                condition.contains("period_end") && condition.contains("user_id"),
                "{which}: the user and cursor are not index conditions: {condition}; plan: {plan:#}"
            );
            read_from_index = true;
        }
    }
    assert!(read_from_index, "{which}: no digests read; plan: {plan:#}");
}

#[tokio::test]
async fn a_deep_page_of_digests_costs_what_the_first_page_costs() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let user = fill(&client).await;
    let none: (Option<NaiveDateTime>, Option<i64>) = (None, None);
    let (deep_at, deep_id) = cursor(MINE / 10);

    // The statement returns the right rows for a deep page: the digests before the cursor
    // (the one ending at its time has a smaller id than its `i64::MAX`), newest first.
    let rows = client
        .query(sql::LIST, &[&user, &deep_at, &deep_id, &LIMIT])
        .await
        .expect("a deep page");
    let ends: Vec<NaiveDateTime> = rows.iter().map(|r| r.get("period_end")).collect();
    let expected: Vec<NaiveDateTime> = (0..LIMIT)
        .map(|k| cursor(MINE / 10 - k).0.expect("time"))
        .collect();
    assert_eq!(ends, expected);

    // A generic plan, as a statement prepared once and run many times may get.
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .expect("generic plans");
    let first = explain(&client, sql::LIST, &[&user, &none.0, &none.1, &LIMIT]).await;
    let deep = explain(&client, sql::LIST, &[&user, &deep_at, &deep_id, &LIMIT]).await;
    check("first page", &first);
    check("deep page", &deep);
    let cost = |plan: &Value| plan["Total Cost"].as_f64().expect("Total Cost");
    assert!(
        cost(&deep) <= 1.5 * cost(&first),
        "estimated cost of the deep page {} vs the first page {}; deep plan: {deep:#}",
        cost(&deep),
        cost(&first)
    );
}

/// Sources in the table, and how many of them the plan user follows (one of them inactive).
const SOURCES: i64 = 1_000;
const FOLLOWED: i64 = 20;
/// Items per source before the table grows (one an hour, the newest first), and after.
const RECENT_PER_SOURCE: i64 = 40;
const GROWN_PER_SOURCE: i64 = 400;
/// A standard digest's items (`Budget::of(SummaryLength::Standard).items`).
const DIGEST_ITEMS: i64 = 12;
const PER_SOURCE: &str = "ix_content_items_source_id_published_at_id";

/// When the newest items were published: the end of the period read.
fn period_end() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-06-01 07:00:00", "%Y-%m-%d %H:%M:%S").expect("time")
}

/// Items `from..=to` hours before [`period_end`] for every source (a second apart across
/// sources), with summaries of a realistic length.
async fn add_items(client: &Client, from: i64, to: i64) {
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
                 SELECT s.id, 'item-' || g, 'Item ' || g || ' of source ' || s.id,
                        'https://example.com/' || s.id || '/' || g, repeat('summary ', 40),
                        timestamptz '2026-06-01 07:00:00+00'
                            - (g * interval '1 hour') + (s.id * interval '1 second')
                 FROM content_sources s, generate_series({from}, {to}) AS g;
             SET session_replication_role = DEFAULT;
             ANALYZE content_items;"
        ))
        .await
        .expect("add items");
}

/// 1,000 sources with [`RECENT_PER_SOURCE`] items each; 500 other users following 20 sources
/// each; the plan user following 20 (source 3's subscription inactive). The plan user's id.
async fn fill_sources(client: &Client) -> i64 {
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO users (email, name) VALUES ('plan@example.com', 'Plan');
             INSERT INTO users (email, name)
                 SELECT 'other' || g || '@example.com', 'Other' FROM generate_series(1, 500) AS g;
             INSERT INTO content_sources (kind, identifier, feed_url)
                 SELECT 'subreddit', 'sub' || g, 'https://www.reddit.com/r/sub' || g || '/.rss'
                 FROM generate_series(1, {SOURCES}) AS g;
             INSERT INTO user_subscriptions (user_id, source_id, is_active)
                 SELECT u.id, s.id, s.id <> 3
                 FROM users u, content_sources s
                 WHERE u.name = 'Plan' AND s.id % 50 = 3 AND s.id <= {FOLLOWED} * 50;
             INSERT INTO user_subscriptions (user_id, source_id)
                 SELECT u.id, s.id FROM users u, content_sources s
                 WHERE u.name = 'Other' AND (s.id + u.id * 7) % 50 = 0;
             SET session_replication_role = DEFAULT;"
        ))
        .await
        .expect("fill the tables");
    for table in ["users", "content_sources", "user_subscriptions"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .expect("vacuum");
    }
    add_items(client, 1, RECENT_PER_SOURCE).await;
    client
        .query_one("SELECT id FROM users WHERE name = 'Plan'", &[])
        .await
        .expect("the plan user")
        .get(0)
}

/// The plan reads the user's subscriptions by index, and each active subscription's items of
/// the period from the per-source index, at most a digest's worth each.
fn check_candidates(which: &str, plan: &Value) {
    let mut items_read = false;
    for node in nodes(plan)
        .into_iter()
        .filter(|n| n.get("Relation Name").is_some())
    {
        let index = node["Index Name"].as_str().unwrap_or("");
        // An index scan's condition, or a bitmap heap scan's (its index scan's).
        let condition = node["Index Cond"]
            .as_str()
            .or(node["Recheck Cond"].as_str())
            .unwrap_or("");
        match node["Relation Name"].as_str().unwrap_or("") {
            "user_subscriptions" => {
                assert!(
                    condition.contains("user_id"),
                    "{which}: subscriptions read by {} without the user as an index condition; plan: {plan:#}",
                    describe(node)
                );
                assert!(
                    rows_handled(node) <= FOLLOWED as f64,
                    "{which}: {} handled {} rows; plan: {plan:#}",
                    describe(node),
                    rows_handled(node)
                );
            }
            "content_items" => {
                assert_eq!(
                    index,
                    PER_SOURCE,
                    "{which}: items read by {}; plan: {plan:#}",
                    describe(node)
                );
                assert!(
                    condition.contains("source_id") && condition.contains("published_at"),
                    "{which}: the source and the period are not index conditions: {condition}; plan: {plan:#}"
                );
                // One probe per active subscription, each stopping at the digest's limit.
                assert!(
                    rows_handled(node) <= ((FOLLOWED - 1) * DIGEST_ITEMS) as f64,
                    "{which}: {} handled {} rows; plan: {plan:#}",
                    describe(node),
                    rows_handled(node)
                );
                items_read = true;
            }
            other => panic!(
                "{which}: {other} read by {}; plan: {plan:#}",
                describe(node)
            ),
        }
    }
    assert!(items_read, "{which}: no items read; plan: {plan:#}");
}

#[tokio::test]
async fn a_digests_candidates_read_the_users_subscriptions_and_their_newest_items_only() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let user = fill_sources(&client).await;
    let end = period_end();
    let start = end - chrono::Duration::days(1);

    // The statement's rows: a digest's worth, round-robin over the active subscriptions
    // (every source's newest first), all published in the period.
    let rows = client
        .query(sql::CANDIDATES, &[&user, &start, &end, &DIGEST_ITEMS])
        .await
        .expect("candidates");
    assert_eq!(rows.len() as i64, DIGEST_ITEMS);
    let sources: Vec<i64> = rows.iter().map(|r| r.get("source_id")).collect();
    let mut distinct = sources.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        sources.len(),
        "one item per source first: {sources:?}"
    );
    assert!(
        sources.iter().all(|s| s % 50 == 3 && *s != 3),
        "only the active subscriptions' sources: {sources:?}"
    );

    let mut touched = Vec::new();
    for (which, plan_mode) in [
        ("custom plan", "auto"),
        ("generic plan", "force_generic_plan"),
    ] {
        client
            .batch_execute(&format!("SET plan_cache_mode = {plan_mode}"))
            .await
            .expect("plan mode");
        let plan = explain(
            &client,
            sql::CANDIDATES,
            &[&user, &start, &end, &DIGEST_ITEMS],
        )
        .await;
        check_candidates(which, &plan);
    }
    client
        .batch_execute("SET plan_cache_mode = auto")
        .await
        .expect("plan mode");
    // Warm, then counted: the figures compare the statement's work, not what the cache held.
    for grown in [false, true] {
        if grown {
            add_items(&client, RECENT_PER_SOURCE + 1, GROWN_PER_SOURCE).await;
        }
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&user, &start, &end, &DIGEST_ITEMS];
        explain_buffers(&client, sql::CANDIDATES, &params).await;
        let plan = explain_buffers(&client, sql::CANDIDATES, &params).await;
        check_candidates(if grown { "grown table" } else { "table" }, &plan);
        eprintln!(
            "candidates, {} items a source: {} buffers",
            if grown {
                GROWN_PER_SOURCE
            } else {
                RECENT_PER_SOURCE
            },
            buffers(&plan)
        );
        touched.push((buffers(&plan), plan));
    }
    let (small, _) = &touched[0];
    let (grown, grown_plan) = &touched[1];
    // Ten times the items: at most an index level more per subscription probed.
    assert!(
        *grown <= small + (2 * FOLLOWED) as f64,
        "{GROWN_PER_SOURCE} items a source: {grown} buffers, {RECENT_PER_SOURCE}: {small}; plan: {grown_plan:#}"
    );
}
