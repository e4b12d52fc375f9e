//! Conditional writes racing other transactions, with the interleaving forced: a second
//! session (plain tokio-postgres) takes a row lock in an open transaction, the API request
//! starts and blocks on that lock (seen in `pg_stat_activity`), then the session commits and
//! the request finishes against what was committed.

mod common;

use std::time::{Duration, Instant};

use common::api::{Api, Reply, send_on};
use serde_json::{Value, json};
use tokio_postgres::Client;

/// Waits until a backend of this database other than the observer's is waiting for a lock
/// (the API's statement blocked behind the session's row lock). Polls; fails after 10 s.
async fn until_blocked_on_a_lock(observer: &Client) {
    let started = Instant::now();
    loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the API statement never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `held` in an open transaction of a second session, then the API request; commits
/// the session once the request waits for its lock (or, if the request does not wait, once
/// it has finished); returns the request's reply.
async fn race(
    api: &Api,
    held: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let reply = race_request(api, held, common::api::request(method, path, body, headers)).await;
    assert_eq!(reply.statements, 1, "{method} {path}: one statement");
    reply
}

/// [`race`] for a request built by the caller.
async fn race_request(api: &Api, held: &str, request: http::Request<bytes::Bytes>) -> Reply {
    let session = api.db.client().await;
    let observer = api.db.client().await;
    session.batch_execute("BEGIN").await.expect("begin");
    session.batch_execute(held).await.expect("held statement");
    let call = send_on(&api.instance, request);
    tokio::pin!(call);
    let reply = tokio::select! {
        reply = &mut call => reply,
        () = until_blocked_on_a_lock(&observer) => {
            session.batch_execute("COMMIT").await.expect("commit");
            call.await
        }
    };
    // A request that did not wait has ignored the session's uncommitted change: commit
    // anyway (a no-op if committed above), so the assertions see the session's write.
    session.batch_execute("COMMIT").await.expect("commit");
    reply
}

async fn setup(email: &str) -> (Api, String, i64, String) {
    let api = Api::new().await;
    let (path, id) = api.create(email, "Racer").await;
    let etag = api.call("GET", &path, None).await.etag();
    (api, path, id, etag)
}

#[tokio::test]
async fn a_write_racing_a_delete_is_404_not_412() {
    let cases: [(&str, &str, Option<Value>, bool); 6] = [
        ("PATCH", "", Some(json!({"name": "Late"})), true),
        ("PATCH", "", Some(json!({"name": "Late"})), false),
        ("DELETE", "", None, true),
        ("DELETE", "", None, false),
        (
            "PATCH",
            "/preferences",
            Some(json!({"summary_length": "detailed"})),
            true,
        ),
        (
            "PATCH",
            "/preferences",
            Some(json!({"summary_length": "detailed"})),
            false,
        ),
    ];
    for (i, (method, suffix, body, conditional)) in cases.into_iter().enumerate() {
        let (api, path, id, _) = setup(&format!("deleted{i}@example.com")).await;
        let target = format!("{path}{suffix}");
        let etag = api.call("GET", &target, None).await.etag();
        let headers: &[(&str, &str)] = if conditional {
            &[("if-match", &etag)]
        } else {
            &[]
        };
        let reply = race(
            &api,
            &format!("DELETE FROM users WHERE id = {id}"),
            method,
            &target,
            body,
            headers,
        )
        .await;
        assert_eq!(
            reply.status, 404,
            "{method} {target} (If-Match: {conditional}) after a concurrent delete"
        );
    }
}

#[tokio::test]
async fn a_conditional_delete_does_not_cascade_over_a_concurrent_preferences_change() {
    let (api, path, id, etag) = setup("cascade@example.com").await;
    let reply = race(
        &api,
        &format!("UPDATE user_preferences SET summary_length = 'detailed' WHERE user_id = {id}"),
        "DELETE",
        &path,
        None,
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(reply.status, 412, "the preferences changed meanwhile");
    let user = api.call("GET", &path, None).await;
    assert_eq!(user.status, 200, "the user is still there");
    assert_eq!(user.json()["preferences"]["summary_length"], "detailed");
    assert_ne!(user.etag(), etag);
}

#[tokio::test]
async fn a_conditional_patch_fails_after_a_concurrent_preferences_change() {
    let (api, path, id, etag) = setup("stale-prefs@example.com").await;
    let reply = race(
        &api,
        &format!("UPDATE user_preferences SET summary_length = 'detailed' WHERE user_id = {id}"),
        "PATCH",
        &path,
        Some(json!({"name": "Late"})),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(reply.status, 412);
    let user = api.call("GET", &path, None).await.json();
    assert_eq!(user["name"], "Racer");
    assert_eq!(user["preferences"]["summary_length"], "detailed");
}

#[tokio::test]
async fn a_conditional_write_fails_after_a_concurrent_user_change() {
    for method in ["PATCH", "DELETE"] {
        let (api, path, id, etag) = setup(&format!("stale-{method}@example.com")).await;
        let body = (method == "PATCH").then(|| json!({"profession": "Late"}));
        let reply = race(
            &api,
            &format!("UPDATE users SET name = 'Session' WHERE id = {id}"),
            method,
            &path,
            body,
            &[("if-match", &etag)],
        )
        .await;
        assert_eq!(reply.status, 412, "{method}");
        let user = api.call("GET", &path, None).await.json();
        assert_eq!(user["name"], "Session");
        assert_eq!(user["profession"], Value::Null);
    }
}

#[tokio::test]
async fn an_unconditional_write_applies_on_top_of_a_concurrent_change() {
    let (api, path, id, _) = setup("on-top@example.com").await;
    let reply = race(
        &api,
        &format!("UPDATE users SET name = 'Session' WHERE id = {id}"),
        "PATCH",
        &path,
        Some(json!({"profession": "Later"})),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["name"], "Session", "the committed change is kept");
    assert_eq!(body["profession"], "Later");
    assert_eq!(reply.etag(), api.call("GET", &path, None).await.etag());

    // The preferences' ETag in the answer is the committed one too.
    let reply = race(
        &api,
        &format!("UPDATE user_preferences SET summary_length = 'concise' WHERE user_id = {id}"),
        "PATCH",
        &path,
        Some(json!({"profession": "Latest"})),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["preferences"]["summary_length"], "concise");
    assert_eq!(reply.etag(), api.call("GET", &path, None).await.etag());

    let reply = race(
        &api,
        &format!("UPDATE user_preferences SET summary_length = 'detailed' WHERE user_id = {id}"),
        "DELETE",
        &path,
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(api.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(api.count("SELECT count(*) FROM user_preferences").await, 0);
}

/// Issue 22 item 8, the interleaving that defeats a count written in the statement itself:
/// a concurrent subscribe of the same user holds the user's row lock and has just added the
/// user's last allowed subscription; this subscribe waits for that lock, and once the other
/// commits it must see that subscription and refuse (422), not count with the snapshot it
/// took before waiting (which would let the user pass the limit).
#[tokio::test]
async fn a_subscribe_waiting_behind_another_counts_what_it_committed() {
    let limit = keemu::models::source::MAX_SUBSCRIPTIONS;
    let api = Api::new().await;
    let (_, id) = api.create("limit@example.com", "Limit").await;
    let seed = api.db.client().await;
    seed.batch_execute(&format!(
        "INSERT INTO content_sources (kind, identifier, feed_url)
             SELECT 'subreddit', 'filler' || g, 'https://www.reddit.com/r/filler' || g || '/.rss'
             FROM generate_series(1, {limit}) AS g;
         INSERT INTO user_subscriptions (user_id, source_id)
             SELECT {id}, id FROM content_sources WHERE identifier <> 'filler{limit}';"
    ))
    .await
    .expect("seed");
    let token = common::api::config()
        .tokens
        .as_ref()
        .expect("tokens")
        .issue(
            keemu::domain::UserId::new(id).expect("id"),
            chrono::Utc::now(),
        )
        .expect("token");

    // The other subscribe, as SUBSCRIBE does it: the user's row lock, then its insert.
    let held = format!(
        "SELECT id FROM users WHERE id = {id} FOR NO KEY UPDATE;
         INSERT INTO user_subscriptions (user_id, source_id)
             SELECT {id}, id FROM content_sources WHERE identifier = 'filler{limit}';"
    );
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1/me/subscriptions")
        .header("authorization", format!("Bearer {}", token.as_str()))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({"url": "r/onemore"}).to_string()))
        .expect("request");
    let reply = race_request(&api, &held, request).await;
    assert_eq!(reply.status, 422, "{}", reply.json());
    assert_eq!(reply.json()["errors"][0]["field"], "url");
    assert_eq!(
        api.count(&format!(
            "SELECT count(*) FROM user_subscriptions WHERE user_id = {id}"
        ))
        .await,
        limit
    );
}
