//! Digests under a real `spin up` (issue 19), after the flow's ingestion: `POST
//! /internal/digests` at a named instant builds the reader's weekly digest once, with the
//! period's items round-robin across sources, through the host's statements (a `Jsonb`
//! parameter, timestamps bound and read as UTC `timestamp`s).

use serde_json::Value;

use crate::checks::Checks;
use crate::client::Request;
use crate::harness::{Postgres, Spin};

fn round(spin: &Spin, query: &str) -> Value {
    let response = spin.send(&Request::new("POST", &format!("/internal/digests?{query}")));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run(
        "digests: a round at as_of builds the week's digest once, round-robin across sources",
        || {
            // The reader followed everything before the fixtures' items were published, and
            // reads weekly (Mondays 07:00 UTC), standard length (12 items).
            pg.psql("UPDATE user_subscriptions SET created_at = '2025-01-01T00:00:00Z'");
            pg.psql(
                "UPDATE user_preferences SET update_frequency = 'weekly', \
                 summary_length = 'standard'",
            );
            let body = round(spin, "as_of=2025-06-02T08%3A00%3A00Z");
            assert_eq!(
                (&body["claimed"], &body["built"], &body["existed"]),
                (&Value::from(1), &Value::from(1), &Value::from(0)),
                "{body}"
            );
            let period = pg.psql(
                "SELECT status, (period_start AT TIME ZONE 'UTC'), \
                 (period_end AT TIME ZONE 'UTC'), item_count FROM digests",
            );
            // What the period holds, one URL once, from the active subscriptions.
            let expected = pg.psql(
                "SELECT count(DISTINCT COALESCE(ci.url, ci.id::text)) FROM content_items ci \
                 JOIN user_subscriptions us ON us.source_id = ci.source_id AND us.is_active \
                 WHERE ci.published_at > '2025-05-26T07:00:00Z' \
                   AND ci.published_at <= '2025-06-02T07:00:00Z'",
            );
            let expected: u32 = expected.parse().expect("count");
            assert!(
                expected > 1,
                "the fixtures have items in the week: {expected}"
            );
            assert_eq!(
                period,
                format!(
                    "built|2025-05-26 07:00:00|2025-06-02 07:00:00|{}",
                    expected.min(12)
                )
            );
            // Round-robin: the first positions come from as many sources as have items.
            let sources_with_items = pg.psql(
                "SELECT count(DISTINCT ci.source_id) FROM content_items ci \
                 JOIN user_subscriptions us ON us.source_id = ci.source_id AND us.is_active \
                 WHERE ci.published_at > '2025-05-26T07:00:00Z' \
                   AND ci.published_at <= '2025-06-02T07:00:00Z'",
            );
            let first_round = pg.psql(&format!(
                "SELECT count(DISTINCT ci.source_id) FROM digest_items di \
                 JOIN content_items ci ON ci.id = di.content_item_id \
                 WHERE di.position <= {sources_with_items}"
            ));
            assert_eq!(first_round, sources_with_items);
            // Standard length: excerpts of at most 280 characters.
            let longest =
                pg.psql("SELECT COALESCE(max(char_length(excerpt)), 0) FROM digest_items");
            assert!(longest.parse::<u32>().is_ok_and(|n| n <= 280), "{longest}");
            // The same round again: nothing is due, nothing is built twice.
            let again = round(spin, "as_of=2025-06-02T08%3A00%3A00Z");
            assert_eq!(again["claimed"], 0, "{again}");
            assert_eq!(pg.psql("SELECT count(*) FROM digests"), "1");
            // The next week: one digest from where the last one ended.
            let next = round(spin, "as_of=2025-06-09T07%3A00%3A00Z");
            assert_eq!(next["claimed"], 1, "{next}");
            assert_eq!(
                next["built"].as_u64().unwrap_or(0) + next["skipped"].as_u64().unwrap_or(0),
                1,
                "{next}"
            );
            assert_eq!(
                pg.psql(
                    "SELECT string_agg((period_start AT TIME ZONE 'UTC') || ' ' \
                     || (period_end AT TIME ZONE 'UTC'), ', ' ORDER BY period_end) FROM digests"
                ),
                "2025-05-26 07:00:00 2025-06-02 07:00:00, 2025-06-02 07:00:00 2025-06-09 07:00:00"
            );
        },
    );
    checks.run("digests: a bad query is 400, never a round", || {
        for query in ["as_of=yesterday", "limit=0", "limit=501", "other=1"] {
            let response = spin.send(&Request::new("POST", &format!("/internal/digests?{query}")));
            assert_eq!(response.status, 400, "{query}: {}", response.text());
        }
        let response = spin.send(&Request::new("GET", "/internal/digests"));
        assert_eq!(response.status, 405);
    });
}
