//! The cost of a page of `GET /api/v1/users` does not grow with how deep it is.
//!
//! Fills a test database with enough users for the planner to plan as it would in
//! production, then runs the LIST statement under `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)`
//! for the first page and for a page near the end, with the parameters bound as the host
//! binds them. No timings are read: the assertions are on the rows each plan node handled
//! (a plan that walks an index from its first entry handles as many rows as the page is deep)
//! and on the planner's estimated cost.

mod common;

use common::TestDatabase;
use common::plan::{describe, explain, nodes, rows_handled};
use keemu::models::user::sql;
use serde_json::Value;
use tokio_postgres::Client;

/// Users in the table: enough that a plan which walks from the first entry is plainly
/// visible, few enough to load in a few seconds.
const USERS: i64 = 200_000;
/// The API's default page size; the store asks for one more row to see if there is a next page.
const LIMIT: i64 = 20 + 1;

async fn fill(client: &Client) {
    // The test server's superuser may skip the foreign-key triggers while loading rows whose
    // references are right by construction (one preferences row per user).
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO users (email, name)
                 SELECT 'user' || g || '@example.com', 'User ' || g
                 FROM generate_series(1, {USERS}) AS g;
             INSERT INTO user_preferences (user_id) SELECT id FROM users;
             SET session_replication_role = DEFAULT;
             ANALYZE users;
             ANALYZE user_preferences;"
        ))
        .await
        .expect("fill the tables");
}

/// The plan of the LIST statement for a page after `after`.
async fn plan(client: &Client, after: Option<i64>) -> Value {
    explain(client, sql::LIST, &[&after, &None::<String>, &LIMIT]).await
}

#[tokio::test]
async fn a_deep_page_costs_what_the_first_page_costs() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    fill(&client).await;

    // 90 % of the way in, like `after=900000` among a million users. (Very near the end the
    // old statement's planner chose a nested loop anyway; here it chose a merge join that
    // walked the preferences' index from the first entry.)
    let deep = USERS / 10 * 9;

    // The statement itself returns the right rows for a deep page.
    let rows = client
        .query(sql::LIST, &[&Some(deep), &None::<String>, &LIMIT])
        .await
        .expect("list a deep page");
    let ids: Vec<i64> = rows.iter().map(|r| r.get("id")).collect();
    assert_eq!(ids, ((deep + 1)..=(deep + LIMIT)).collect::<Vec<_>>());

    let first = plan(&client, None).await;
    let last = plan(&client, Some(deep)).await;
    for (name, plan) in [("first page", &first), ("deep page", &last)] {
        for node in nodes(plan) {
            // Each node handles at most the page's rows (twice over, for slack); a node that
            // walks an index from its start up to `after` handles `after` rows.
            assert!(
                rows_handled(node) <= (2 * LIMIT) as f64,
                "{name}: {} handled {} rows for a page of {LIMIT}; plan: {plan:#}",
                describe(node),
                rows_handled(node)
            );
        }
    }

    let cost = |plan: &Value| plan["Total Cost"].as_f64().expect("Total Cost");
    assert!(
        cost(&last) <= 1.5 * cost(&first),
        "estimated cost of the deep page {} vs the first page {}; deep plan: {last:#}",
        cost(&last),
        cost(&first)
    );
}
