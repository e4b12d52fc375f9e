//! The cost of a page of `GET /api/v1/me/digests` does not grow with how deep it is: the
//! LIST statement reads the user's digests from `ix_digests_user_id_period_end_id` starting
//! at the cursor (the row comparison is an index condition), in a generic plan too.
//!
//! Fills a test database with enough digests for the planner to plan as it would in
//! production, then runs the statement under `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)`
//! for the first page and a deep one, with the parameters bound as the host binds them
//! (`Int64`, and the cursor's time as a `timestamp`). No timings are read.

mod common;

use chrono::NaiveDateTime;
use common::TestDatabase;
use common::plan::{describe, explain, nodes, rows_handled};
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
