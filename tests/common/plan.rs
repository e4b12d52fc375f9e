//! Reading `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)` plans, for the tests that check a
//! page costs the same at any depth (list_plan, feed_plan).

use serde_json::Value;
use tokio_postgres::Client;

/// The plan of `sql` with `params`, run under `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)`.
pub async fn explain(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Value {
    let explain = format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}");
    let row = client.query_one(&explain, params).await.expect("explain");
    let value: Value = row.get(0);
    value[0]["Plan"].clone()
}

/// The plan of `sql` with `params` under `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT
/// JSON)`: the top node's `Shared Hit Blocks` and `Shared Read Blocks` count the pages the
/// whole statement touched (its CTEs and subplans included).
pub async fn explain_buffers(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Value {
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {sql}");
    let row = client.query_one(&explain, params).await.expect("explain");
    let value: Value = row.get(0);
    value[0]["Plan"].clone()
}

/// Pages (8 KiB buffers) a plan touched, found in shared buffers or read: its top node's
/// figures, which include every node below it.
pub fn buffers(plan: &Value) -> f64 {
    plan["Shared Hit Blocks"].as_f64().unwrap_or(0.0)
        + plan["Shared Read Blocks"].as_f64().unwrap_or(0.0)
}

/// Every node of a plan tree, depth first.
pub fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            out.extend(nodes(child));
        }
    }
    out
}

/// Rows a node produced over all its loops, plus those its filters removed.
pub fn rows_handled(node: &Value) -> f64 {
    let number = |key: &str| node[key].as_f64().unwrap_or(0.0);
    number("Actual Rows") * number("Actual Loops").max(1.0)
        + number("Rows Removed by Filter")
        + number("Rows Removed by Join Filter")
        + number("Rows Removed by Index Recheck")
}

/// A node's type, relation and index, for failure messages.
pub fn describe(node: &Value) -> String {
    format!(
        "{} {} {}",
        node["Node Type"].as_str().unwrap_or("?"),
        node["Relation Name"].as_str().unwrap_or(""),
        node["Index Name"].as_str().unwrap_or("")
    )
}
