//! `/api/v1/me/digests` and `/api/v1/me/digests/{digest_id}` through the handler against a
//! real PostgreSQL: digests built by the digest round (and more written by SQL for paging),
//! listed newest first in keyset pages without gaps or repeats, one shown with its items in
//! order; another user's digest is 404 like one that does not exist; bad queries are 422;
//! a deactivated account is 401; each request sends one statement. Every response is checked
//! against the OpenAPI document (`common::api::send_on`).

mod common;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use common::api::{Api, Reply, config, send_on};
use keemu::digests::round::{self, RoundSettings};
use keemu::domain::UserId;
use serde_json::{Value, json};

const SETTINGS: RoundSettings = RoundSettings {
    local_time: match NaiveTime::from_hms_opt(7, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    },
    weekday: Weekday::Mon,
    limit: 100,
    lease_seconds: 600,
};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

struct Env {
    api: Api,
    client: tokio_postgres::Client,
}

impl Env {
    async fn new() -> Env {
        let api = Api::new().await;
        let client = api.db.client().await;
        Env { api, client }
    }

    async fn sql(&self, statement: &str) {
        self.client.batch_execute(statement).await.expect(statement);
    }

    /// One text value (NULL as "").
    async fn one(&self, query: &str) -> String {
        let row = self.client.query_one(query, &[]).await.expect(query);
        row.get::<_, Option<String>>(0).unwrap_or_default()
    }

    /// Creates a user through the operator API; returns an access token for it and its id.
    async fn user(&self, email: &str) -> (String, i64) {
        let (_, id) = self.api.create(email, "Reader").await;
        let token = config()
            .tokens
            .as_ref()
            .expect("tokens")
            .issue(UserId::new(id).expect("id"), Utc::now())
            .expect("token");
        (token.as_str().to_owned(), id)
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(token, "GET", path).await
    }

    async fn send(&self, token: &str, method: &str, path: &str) -> Reply {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(bytes::Bytes::new())
            .expect("request");
        send_on(&self.api.instance, request).await
    }

    async fn round(&self, as_of: &str) {
        let report = round::run(&self.api.instance.request_db(), utc(as_of), &SETTINGS)
            .await
            .expect("round");
        assert_eq!(report.failed, 0, "{report:?}");
    }
}

/// `email` reads daily, standard length, and follows two sources since 2026-03-01 (one
/// under a name of their own), which published in (2026-03-10 07:00, 2026-03-11 07:00].
async fn reader(env: &Env, email: &str) {
    env.sql(&format!(
        "UPDATE user_preferences SET update_frequency = 'daily', summary_length = 'standard'
           WHERE user_id = (SELECT id FROM users WHERE email = '{email}');
         INSERT INTO content_sources (kind, identifier, feed_url, title) VALUES
           ('subreddit', 'busy', 'https://www.reddit.com/r/busy/.rss', 'r/busy'),
           ('blog', 'https://quiet.example/', 'https://quiet.example/feed.xml', 'Quiet')
           ON CONFLICT DO NOTHING;
         INSERT INTO user_subscriptions (user_id, source_id, display_name, created_at)
           SELECT u.id, s.id, CASE WHEN s.identifier = 'busy' THEN 'My busy one' END,
                  '2026-03-01T00:00:00Z'
           FROM users u, content_sources s WHERE u.email = '{email}';
         INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
           SELECT s.id, 'b' || n, 'Busy ' || n, 'https://busy.example/' || n,
                  'What busy ' || n || ' says.',
                  '2026-03-10T07:00:00Z'::timestamptz + n * interval '1 hour'
           FROM content_sources s, generate_series(1, 3) n WHERE s.identifier = 'busy'
           ON CONFLICT DO NOTHING;
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'q1', 'Quiet <one>', NULL, '2026-03-10T09:30:00Z'
           FROM content_sources s WHERE s.identifier = 'https://quiet.example/'
           ON CONFLICT DO NOTHING;"
    ))
    .await;
}

/// The ids of `user_id`'s digests in the list's order, from SQL.
async fn expected_order(env: &Env, user_id: i64) -> Vec<i64> {
    env.client
        .query(
            "SELECT id FROM digests WHERE user_id = $1 ORDER BY period_end DESC, id DESC",
            &[&user_id],
        )
        .await
        .expect("order")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn a_built_digest_is_listed_and_shown_with_its_items_in_order() {
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    reader(&env, "ada@example.com").await;
    // Nothing yet: an empty page.
    let empty = env.get(&ada, "/api/v1/me/digests").await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.json(),
        json!({"items": [], "next_cursor": null, "feed_url": null})
    );
    assert_eq!(empty.statements, 1);

    // The round builds the digest closing 2026-03-11 07:00; the next day's is skipped.
    env.round("2026-03-11T08:00:00Z").await;
    env.round("2026-03-12T08:00:00Z").await;
    let built: i64 = env
        .one("SELECT id::text FROM digests WHERE status = 'built'")
        .await
        .parse()
        .expect("built id");
    let skipped: i64 = env
        .one("SELECT id::text FROM digests WHERE status = 'skipped'")
        .await
        .parse()
        .expect("skipped id");

    let list = env.get(&ada, "/api/v1/me/digests").await;
    assert_eq!(list.status, 200, "{}", list.json());
    assert_eq!(list.statements, 1);
    assert_eq!(
        list.json(),
        json!({
            "items": [
                {
                    "id": skipped,
                    "period_start": "2026-03-11T07:00:00.000000Z",
                    "period_end": "2026-03-12T07:00:00.000000Z",
                    "update_frequency": "daily",
                    "summary_length": "standard",
                    "status": "skipped",
                    "item_count": 0,
                    "overview": null,
                    "sent_at": null,
                },
                {
                    "id": built,
                    "period_start": "2026-03-10T07:00:00.000000Z",
                    "period_end": "2026-03-11T07:00:00.000000Z",
                    "update_frequency": "daily",
                    "summary_length": "standard",
                    "status": "built",
                    "item_count": 4,
                    "overview": null,
                    "sent_at": null,
                },
            ],
            "next_cursor": null,
            "feed_url": null,
        })
    );

    let detail = env.get(&ada, &format!("/api/v1/me/digests/{built}")).await;
    assert_eq!(detail.status, 200, "{}", detail.json());
    assert_eq!(detail.statements, 1);
    let body = detail.json();
    assert_eq!(body["id"], built);
    assert_eq!(body["status"], "built");
    assert_eq!(body["period_end"], "2026-03-11T07:00:00.000000Z");
    assert_eq!(body["item_count"], 4);
    assert_eq!(body["overview"], Value::Null);
    let busy_id = env
        .one("SELECT id::text FROM content_sources WHERE identifier = 'busy'")
        .await;
    let items = body["items"].as_array().expect("items");
    // Round-robin: busy's newest, quiet's, then busy's next ones; positions from 1.
    let shown: Vec<(i64, &str)> = items
        .iter()
        .map(|i| {
            (
                i["position"].as_i64().expect("position"),
                i["title"].as_str().expect("title"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (1, "Busy 3"),
            (2, "Quiet <one>"),
            (3, "Busy 2"),
            (4, "Busy 1")
        ]
    );
    assert_eq!(
        items[0],
        json!({
            "position": 1,
            "item_id": env.one("SELECT id::text FROM content_items WHERE external_id = 'b3'")
                .await.parse::<i64>().expect("item id"),
            "title": "Busy 3",
            "url": "https://busy.example/3",
            "excerpt": "What busy 3 says.",
            "published_at": "2026-03-10T10:00:00.000000Z",
            "source": {
                "id": busy_id.parse::<i64>().expect("source id"),
                "kind": "subreddit",
                "name": "My busy one",
            },
        })
    );
    // A source without the user's own name shows its title; an item without a URL or
    // summary has null.
    assert_eq!(items[1]["source"]["name"], "Quiet");
    assert_eq!(items[1]["source"]["kind"], "blog");
    assert_eq!(items[1]["url"], Value::Null);
    assert_eq!(items[1]["excerpt"], Value::Null);

    // An empty digest has no items; HEAD answers as GET without a body.
    let empty = env
        .get(&ada, &format!("/api/v1/me/digests/{skipped}"))
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["items"], json!([]));
    assert_eq!(empty.json()["item_count"], 0);
    let head = env
        .send(&ada, "HEAD", &format!("/api/v1/me/digests/{built}"))
        .await;
    assert_eq!(head.status, 200);
    assert!(head.response.body().is_empty());

    // A sent digest with an overview shows both.
    env.sql(&format!(
        "UPDATE digests SET status = 'sent', sent_at = '2026-03-11T07:05:00.5Z',
             overview = 'A quiet day.' WHERE id = {built}"
    ))
    .await;
    let list = env.get(&ada, "/api/v1/me/digests").await.json();
    assert_eq!(list["items"][1]["status"], "sent");
    assert_eq!(list["items"][1]["sent_at"], "2026-03-11T07:05:00.500000Z");
    assert_eq!(list["items"][1]["overview"], "A quiet day.");
    let detail = env
        .get(&ada, &format!("/api/v1/me/digests/{built}"))
        .await
        .json();
    assert_eq!(detail["sent_at"], "2026-03-11T07:05:00.500000Z");
    assert_eq!(detail["overview"], "A quiet day.");
    assert_eq!(expected_order(&env, ada_id).await, [skipped, built]);
}

#[tokio::test]
async fn digests_page_newest_first_without_gaps_or_repeats() {
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    let (bob, bob_id) = env.user("bob@example.com").await;
    // 25 digests of ada's, one a day, written out of order; 3 of bob's in between.
    env.sql(&format!(
        "INSERT INTO digests (user_id, period_start, period_end, update_frequency,
             summary_length, status, item_count, sent_at)
           SELECT {ada_id}, '2026-01-01T07:00:00Z'::timestamptz + (n - 1) * interval '1 day',
                  '2026-01-01T07:00:00Z'::timestamptz + n * interval '1 day', 'daily',
                  'concise', CASE WHEN n % 2 = 0 THEN 'sent' ELSE 'failed' END, n % 7,
                  CASE WHEN n % 2 = 0 THEN '2026-01-01T07:00:00Z'::timestamptz
                       + n * interval '1 day' + interval '1 minute' END
           FROM (SELECT n FROM generate_series(1, 25) n ORDER BY (n * 7919) % 25) s;
         INSERT INTO digests (user_id, period_start, period_end, update_frequency,
             summary_length, status, item_count)
           SELECT {bob_id}, '2026-01-01T07:00:00Z'::timestamptz + (n - 1) * interval '1 week',
                  '2026-01-01T07:00:00Z'::timestamptz + n * interval '1 week', 'weekly',
                  'detailed', 'skipped', 0
           FROM generate_series(1, 3) n;"
    ))
    .await;
    let expected = expected_order(&env, ada_id).await;
    assert_eq!(expected.len(), 25);

    let mut seen = Vec::new();
    let mut path = "/api/v1/me/digests?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let reply = env.get(&ada, &path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.json());
        assert_eq!(reply.statements, 1, "{path}");
        let page = reply.json();
        pages += 1;
        seen.extend(ids(&page));
        // Newest first within the page too.
        let ends: Vec<&str> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| d["period_end"].as_str().expect("period_end"))
            .collect();
        assert!(ends.windows(2).all(|w| w[0] > w[1]), "{ends:?}");
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/me/digests?limit=10&before={cursor}"),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "every digest once, in order");
    // Exactly a page's worth: the last page says so only by an empty next one.
    let first = env.get(&ada, "/api/v1/me/digests?limit=25").await.json();
    assert_eq!(ids(&first), expected);
    assert_eq!(first["next_cursor"], Value::Null);
    let short = env.get(&ada, "/api/v1/me/digests?limit=24").await.json();
    let cursor = short["next_cursor"].as_str().expect("a next page");
    let last = env
        .get(&ada, &format!("/api/v1/me/digests?before={cursor}"))
        .await
        .json();
    assert_eq!(ids(&last), [expected[24]]);
    assert_eq!(last["next_cursor"], Value::Null);
    // The default page is 20.
    let default = env.get(&ada, "/api/v1/me/digests").await.json();
    assert_eq!(ids(&default), expected[..20]);

    // Bob sees only his own.
    let his = env.get(&bob, "/api/v1/me/digests").await.json();
    assert_eq!(ids(&his), expected_order(&env, bob_id).await);
    assert_eq!(his["items"][0]["update_frequency"], "weekly");
    assert_eq!(his["items"][0]["summary_length"], "detailed");
}

#[tokio::test]
async fn another_users_digest_is_not_found_like_one_that_does_not_exist() {
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    let (bob, _) = env.user("bob@example.com").await;
    env.sql(&format!(
        "INSERT INTO digests (user_id, period_start, period_end, update_frequency,
             summary_length, status, item_count)
           VALUES ({ada_id}, '2026-03-01T07:00:00Z', '2026-03-02T07:00:00Z', 'daily',
                   'concise', 'skipped', 0)"
    ))
    .await;
    let id = env.one("SELECT id::text FROM digests").await;
    assert_eq!(
        env.get(&ada, &format!("/api/v1/me/digests/{id}"))
            .await
            .status,
        200
    );
    let theirs = env.get(&bob, &format!("/api/v1/me/digests/{id}")).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.statements, 1);
    let missing = env.get(&bob, "/api/v1/me/digests/999999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(theirs.json(), missing.json(), "nothing tells them apart");
    // Not an id: 404 without a statement.
    for bad in [
        "0",
        "-1",
        "01",
        "+1",
        "abc",
        "1.5",
        "9223372036854775808",
        "99999999999999999999",
    ] {
        let reply = env.get(&ada, &format!("/api/v1/me/digests/{bad}")).await;
        assert_eq!(reply.status, 404, "{bad}");
        assert_eq!(reply.statements, 0, "{bad}");
    }
    // Bob's list does not show it.
    assert_eq!(
        env.get(&bob, "/api/v1/me/digests").await.json()["items"],
        json!([])
    );
}

#[tokio::test]
async fn bad_queries_are_422_on_the_field_and_send_nothing() {
    let env = Env::new().await;
    let (ada, _) = env.user("ada@example.com").await;
    for (query, field) in [
        ("before=x", "before"),
        ("before=", "before"),
        ("before=MTIz", "before"),
        ("before=!!", "before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("after=1", "after"),
    ] {
        let reply = env.get(&ada, &format!("/api/v1/me/digests?{query}")).await;
        assert_eq!(reply.status, 422, "{query}");
        assert_eq!(reply.statements, 0, "{query}");
        assert_eq!(reply.json()["errors"][0]["field"], field, "{query}");
    }
    // Other methods: 405 with Allow.
    for method in ["POST", "PATCH", "DELETE"] {
        for path in ["/api/v1/me/digests", "/api/v1/me/digests/1"] {
            let reply = env.send(&ada, method, path).await;
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow").as_deref(), Some("GET, HEAD"));
        }
    }
}

#[tokio::test]
async fn a_deactivated_account_gets_401_in_the_same_statement() {
    let env = Env::new().await;
    let (ada, ada_id) = env.user("ada@example.com").await;
    env.sql(&format!(
        "INSERT INTO digests (user_id, period_start, period_end, update_frequency,
             summary_length, status, item_count)
           VALUES ({ada_id}, '2026-03-01T07:00:00Z', '2026-03-02T07:00:00Z', 'daily',
                   'concise', 'skipped', 0)"
    ))
    .await;
    let id = env.one("SELECT id::text FROM digests").await;
    env.sql("UPDATE users SET is_active = false").await;
    for path in [
        "/api/v1/me/digests".to_owned(),
        format!("/api/v1/me/digests/{id}"),
        "/api/v1/me/digests/999999".to_owned(),
    ] {
        let reply = env.get(&ada, &path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.statements, 1, "{path}");
    }
    // Without a token, or with the operator's: 401 before any statement.
    let request = http::Request::builder()
        .uri("/api/v1/me/digests")
        .body(bytes::Bytes::new())
        .expect("request");
    assert_eq!(send_on(&env.api.instance, request).await.status, 401);
    let operator = env
        .api
        .call("GET", &format!("/api/v1/me/digests/{id}"), None)
        .await;
    assert_eq!(operator.status, 401);
}
