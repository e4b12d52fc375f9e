//! Digests under a real `spin up` (issue 19), after the flow's ingestion: `POST
//! /internal/digests` at a named instant builds the reader's weekly digest once, with the
//! period's items round-robin across sources, through the host's statements (a `Jsonb`
//! parameter, timestamps bound and read as UTC `timestamp`s); then the reader lists their
//! digests (`GET /api/v1/me/digests`, keyset pages) and reads one with its items
//! (`GET /api/v1/me/digests/{digest_id}`), every answer checked against the OpenAPI
//! document the server serves; another user's digest is 404.

use serde_json::{Value, json};

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::harness::{Postgres, Spin};
use crate::sources::{get, register};

/// The flow's reader (registered by [`crate::flow`]) and their password
/// ([`crate::sources::register`]'s).
const READER: &str = "flow.reader@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Signs the flow's reader in again (their first access token may be older than 15 minutes).
fn reader_token(spin: &Spin) -> String {
    let r = spin.send(
        &Request::json(
            "POST",
            "/api/v1/auth/login",
            &json!({"email": READER, "password": PASSWORD}),
        )
        .authorization(None),
    );
    let body = expect::json(&r, 200);
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_owned()
}

/// Lines of `psql -At` output.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

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
    checks.run(
        "digests: the reader lists their digests newest first in pages and reads one",
        || read_the_digests(spin, pg),
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

fn read_the_digests(spin: &Spin, pg: &Postgres) {
    let token = reader_token(spin);
    // The list: every digest of the reader's, newest first, as the database orders them.
    let list = expect::json(&get(spin, &token, "/api/v1/me/digests"), 200);
    let listed: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {list}"))
        .iter()
        .map(|d| {
            format!(
                "{}|{}|{}|{}|{}",
                d["id"], d["status"], d["period_start"], d["period_end"], d["item_count"]
            )
        })
        .collect();
    let in_db = lines(&pg.psql(
        "SELECT d.id || '|\"' || d.status || '\"|\"' \
             || to_char(d.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             || '\"|\"' \
             || to_char(d.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             || '\"|' || d.item_count \
         FROM digests d JOIN users u ON u.id = d.user_id \
         WHERE u.email = 'flow.reader@example.com' \
         ORDER BY d.period_end DESC, d.id DESC",
    ));
    assert_eq!(listed, in_db, "{list}");
    assert_eq!(listed.len(), 2, "{list}");
    assert_eq!(list["next_cursor"], Value::Null, "{list}");
    assert_eq!(
        list["items"][1]["period_end"],
        "2025-06-02T07:00:00.000000Z"
    );
    assert_eq!(list["items"][1]["update_frequency"], "weekly");
    assert_eq!(list["items"][1]["summary_length"], "standard");
    assert_eq!(list["items"][1]["status"], "built");
    assert_eq!(list["items"][1]["sent_at"], Value::Null);
    // The reader's private Atom feed, named in the list: it works without signing in.
    let feed_url = list["feed_url"]
        .as_str()
        .unwrap_or_else(|| panic!("feed_url: {list}"));
    let prefix = format!("http://127.0.0.1:{}/links/digests.atom?token=", spin.port);
    let feed_path = feed_url
        .strip_prefix(&format!("http://127.0.0.1:{}", spin.port))
        .filter(|_| feed_url.starts_with(&prefix))
        .unwrap_or_else(|| panic!("feed_url: {feed_url}"));
    let feed = spin.send(&Request::get(feed_path).authorization(None));
    assert_eq!(feed.status, 200, "{}", feed.text());
    assert!(feed.text().contains("<feed"), "{}", feed.text());

    // Pages of one: the cursor leads to the older digest, then to the end.
    let first = expect::json(&get(spin, &token, "/api/v1/me/digests?limit=1"), 200);
    assert_eq!(first["items"][0]["id"], list["items"][0]["id"], "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {first}"));
    let second = expect::json(
        &get(
            spin,
            &token,
            &format!("/api/v1/me/digests?limit=1&before={cursor}"),
        ),
        200,
    );
    assert_eq!(second["items"][0]["id"], list["items"][1]["id"], "{second}");
    assert_eq!(second["next_cursor"], Value::Null, "{second}");

    // The built digest with its items in order, each with its source.
    let id = list["items"][1]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{list}"));
    let path = format!("/api/v1/me/digests/{id}");
    let digest = expect::json(&get(spin, &token, &path), 200);
    assert_eq!(digest["id"], id);
    assert_eq!(digest["period_start"], "2025-05-26T07:00:00.000000Z");
    assert_eq!(digest["item_count"], list["items"][1]["item_count"]);
    let shown: Vec<String> = digest["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {digest}"))
        .iter()
        .map(|i| {
            format!(
                "{}|{}|{}|{}",
                i["position"], i["item_id"], i["source"]["id"], i["source"]["kind"]
            )
        })
        .collect();
    let in_db = lines(&pg.psql(&format!(
        "SELECT di.position || '|' || ci.id || '|' || cs.id || '|\"' || cs.kind || '\"' \
         FROM digest_items di JOIN content_items ci ON ci.id = di.content_item_id \
         JOIN content_sources cs ON cs.id = ci.source_id \
         WHERE di.digest_id = {id} ORDER BY di.position"
    )));
    assert_eq!(shown, in_db, "{digest}");
    assert!(!shown.is_empty(), "{digest}");
    for item in digest["items"].as_array().into_iter().flatten() {
        assert!(
            item["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{item}"
        );
        assert!(
            item["source"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{item}"
        );
        expect::timestamp(&item["published_at"]);
    }
    let head = spin.send(&Request::head(&path).authorization(Some(&format!("Bearer {token}"))));
    expect::status(&head, 200);

    // Nobody else sees it, and nothing tells it apart from a digest that does not exist.
    let other = register(spin, "flow.other@example.com");
    let theirs = expect::problem(&get(spin, &other, &path), 404);
    let missing = expect::problem(&get(spin, &other, "/api/v1/me/digests/999999999"), 404);
    assert_eq!(theirs, missing);
    let empty = expect::json(&get(spin, &other, "/api/v1/me/digests"), 200);
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["next_cursor"], Value::Null);
    assert_ne!(
        empty["feed_url"], list["feed_url"],
        "each reader has their own feed"
    );
    // Not an id: 404; not a cursor: 422 on `before`.
    expect::problem(&get(spin, &token, "/api/v1/me/digests/abc"), 404);
    expect::invalid_fields(
        &get(spin, &token, "/api/v1/me/digests?before=nope"),
        &["before"],
    );
}
