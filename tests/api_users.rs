//! The users API end to end through the handler, against a real PostgreSQL via the
//! host-like adapter: statuses, bodies, headers, rows in the database and statements sent.

mod common;

use std::time::Duration;

use chrono::{Days, NaiveDate};
use common::api::{Api, TOKEN, builder, today};
use common::{Instance, TestDatabase, refused_address};
use futures_util::future::join_all;
use keemu::http::MAX_BODY_BYTES;
use keemu::http::api;
use keemu_pg_native::NativeConnector;
use serde_json::{Value, json};

fn field_names(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("errors list")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

#[tokio::test]
async fn create_returns_the_user_with_default_preferences_in_one_statement() {
    let api = Api::new().await;
    let reply = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({
                "email": "  Ada.Lovelace@Example.COM ",
                "name": "  Ada Lovelace ",
                "profile_picture": "https://example.com/ada.png",
                "profession": "Mathematician",
                "date_of_birth": "1990-12-10",
                "timezone": "Europe/London"
            })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json());
    assert_eq!(reply.statements, 1, "user and preferences in one statement");
    let body = reply.json();
    let id = body["id"].as_i64().expect("numeric id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/users/{id}"))
    );
    assert!(reply.header("etag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(body["email"], "ada.lovelace@example.com");
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["profile_picture"], "https://example.com/ada.png");
    assert_eq!(body["profession"], "Mathematician");
    assert_eq!(body["date_of_birth"], "1990-12-10");
    assert_eq!(body["timezone"], "Europe/London");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["last_login"], Value::Null);
    assert!(
        body["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        body["updated_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let prefs = &body["preferences"];
    assert_eq!(prefs["user_id"], id);
    assert_eq!(prefs["update_frequency"], "weekly");
    assert_eq!(prefs["summary_length"], "standard");
    assert_eq!(prefs["email_notifications_enabled"], true);
    assert!(prefs["id"].is_i64() && prefs["created_at"].is_string());

    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        api.count("SELECT count(*) FROM user_preferences").await,
        1,
        "created together with its preferences"
    );
}

#[tokio::test]
async fn create_applies_defaults() {
    let api = Api::new().await;
    let body = api.create_json("min@example.com", "Min").await;
    assert_eq!(body["timezone"], "UTC");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["profile_picture"], Value::Null);
    assert_eq!(body["profession"], Value::Null);
    assert_eq!(body["date_of_birth"], Value::Null);
}

#[tokio::test]
async fn the_same_email_in_any_case_is_a_conflict() {
    let api = Api::new().await;
    api.create_json("dup@example.com", "First").await;
    let reply = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "DUP@Example.com", "name": "Second"})),
        )
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let text = reply.json().to_string();
    assert!(
        !text.contains("dup@example.com") && !text.contains("uq_users"),
        "{text}"
    );
    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(api.count("SELECT count(*) FROM user_preferences").await, 1);

    // Also when an existing email is patched onto another user.
    let other = api.create_json("other@example.com", "Other").await;
    let reply = api
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", other["id"]),
            Some(json!({"email": "Dup@EXAMPLE.com"})),
        )
        .await;
    assert_eq!(reply.status, 409);
}

#[tokio::test]
async fn fifty_concurrent_creates_with_one_email_give_exactly_one_201() {
    let db = TestDatabase::create().await;
    // Ten component instances, five concurrent requests each (pipelined on each
    // instance's shared connection).
    let instances: Vec<Instance> = (0..10).map(|_| Instance::new(db.connector())).collect();
    let config = common::api::config();
    let requests = (0..50).map(|i| {
        let instance = &instances[i % instances.len()];
        let config = &config;
        async move {
            let request = builder("POST", "/api/v1/users")
                .header("content-type", "application/json")
                .body(bytes::Bytes::from(
                    json!({"email": format!("Race@Example.com"), "name": format!("Racer {i}")})
                        .to_string(),
                ))
                .expect("request");
            let db = instance.request_db();
            api::handle(
                &request,
                config,
                &db,
                &common::api::NoOutbound,
                chrono::Utc::now(),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = join_all(requests).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    let client = db.client().await;
    let users: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .expect("count")
        .get(0);
    let prefs: i64 = client
        .query_one("SELECT count(*) FROM user_preferences", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!((users, prefs), (1, 1));
}

#[tokio::test]
async fn get_returns_the_created_body_and_404s() {
    let api = Api::new().await;
    let created = api.create_json("get@example.com", "Getter").await;
    let reply = api
        .call("GET", &format!("/api/v1/users/{}", created["id"]), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.statements, 1);
    assert_eq!(reply.json(), created);
    assert!(reply.header("etag").is_some());

    let missing = api.call("GET", "/api/v1/users/999999", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    for bad in ["0", "-1", "abc", "1.5", "01", "99999999999999999999", "%20"] {
        let reply = api.call("GET", &format!("/api/v1/users/{bad}"), None).await;
        assert_eq!(reply.status, 404, "id {bad}");
        assert_eq!(reply.statements, 0, "no statement for an impossible id");
    }
}

#[tokio::test]
async fn list_pages_by_id_without_repeats_or_gaps() {
    let api = Api::new().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            api.create_json(&format!("user{i}@example.com"), &format!("User {i}"))
                .await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let reply = api.call("GET", &path, None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.statements, 1);
        let body = reply.json();
        let items = body["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        assert!(items.iter().all(|u| u["preferences"].is_object()));
        seen.extend(items.iter().map(|u| u["id"].as_i64().expect("id")));
        pages += 1;
        match &body["next_cursor"] {
            Value::Null => break,
            cursor => path = format!("/api/v1/users?limit=3&after={cursor}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every user once, in id order");

    let default = api.call("GET", "/api/v1/users", None).await.json();
    assert_eq!(default["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(default["next_cursor"], Value::Null);

    let exact = api.call("GET", "/api/v1/users?limit=7", None).await.json();
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "no next page when exactly full"
    );

    let filtered = api
        .call("GET", "/api/v1/users?email=USER3%40Example.com", None)
        .await
        .json();
    let items = filtered["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "user3@example.com");
}

#[tokio::test]
async fn list_rejects_bad_parameters() {
    let api = Api::new().await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "after=0",
        "after=x",
        "email=not-an-email",
        "sort=name",
        "limit=5&limit=6",
    ] {
        let reply = api
            .call("GET", &format!("/api/v1/users?{query}"), None)
            .await;
        assert_eq!(reply.status, 422, "{query}");
        assert_eq!(reply.statements, 0, "{query}");
        assert!(!field_names(&reply.json()).is_empty());
    }
    let ok = api.call("GET", "/api/v1/users?limit=100", None).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn patch_is_a_merge_patch() {
    let api = Api::new().await;
    let reply = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({
                "email": "patch@example.com",
                "name": "Patch",
                "profession": "Engineer",
                "profile_picture": "http://example.com/p.jpg",
                "date_of_birth": "2000-01-01"
            })),
        )
        .await;
    let created = reply.json();
    let path = format!("/api/v1/users/{}", created["id"]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reply = api
        .call(
            "PATCH",
            &path,
            Some(json!({"name": "Patched", "profession": null, "timezone": "Asia/Tokyo", "is_active": false})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(reply.statements, 1);
    let body = reply.json();
    assert_eq!(body["name"], "Patched");
    assert_eq!(body["profession"], Value::Null, "null clears");
    assert_eq!(body["timezone"], "Asia/Tokyo");
    assert_eq!(body["is_active"], false);
    assert_eq!(body["email"], "patch@example.com", "absent is unchanged");
    assert_eq!(body["profile_picture"], "http://example.com/p.jpg");
    assert_eq!(body["date_of_birth"], "2000-01-01");
    assert_eq!(
        body["created_at"], created["created_at"],
        "created_at stays"
    );
    assert!(
        body["updated_at"].as_str() > created["updated_at"].as_str(),
        "updated_at moves"
    );
    assert_ne!(reply.header("etag"), None);
    let stored = api
        .db
        .client()
        .await
        .query_one("SELECT name, profession FROM users", &[])
        .await
        .expect("row");
    assert_eq!(stored.get::<_, String>(0), "Patched");
    assert_eq!(stored.get::<_, Option<String>>(1), None);

    // An empty patch changes nothing and still answers with the user.
    let empty = api.call("PATCH", &path, Some(json!({}))).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.statements, 1);
    assert_eq!(empty.json()["updated_at"], body["updated_at"]);
}

#[tokio::test]
async fn patch_refuses_null_for_required_fields_and_reports_every_invalid_field() {
    let api = Api::new().await;
    let created = api.create_json("strict@example.com", "Strict").await;
    let path = format!("/api/v1/users/{}", created["id"]);
    let reply = api
        .call(
            "PATCH",
            &path,
            Some(json!({"name": null, "email": null, "timezone": null})),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.statements, 0);
    let mut fields = field_names(&reply.json());
    fields.sort();
    assert_eq!(fields, ["email", "name", "timezone"]);

    let tomorrow = today().checked_add_days(Days::new(1)).expect("date");
    let reply = api
        .call(
            "PATCH",
            &path,
            Some(json!({
                "email": "nope",
                "name": "x".repeat(101),
                "profile_picture": "ftp://example.com/a.png",
                "profession": 42,
                "date_of_birth": tomorrow.to_string(),
                "timezone": "Mars/Olympus",
                "is_active": "yes",
                "last_login": "2026-01-01T00:00:00Z",
                "nickname": "x",
                "preferences": {}
            })),
        )
        .await;
    assert_eq!(reply.status, 422);
    let body = reply.json();
    assert_eq!(body["status"], 422);
    assert_eq!(body["title"], "Unprocessable Entity");
    let mut fields = field_names(&body);
    fields.sort();
    assert_eq!(
        fields,
        [
            "date_of_birth",
            "email",
            "is_active",
            "last_login",
            "name",
            "nickname",
            "preferences",
            "profession",
            "profile_picture",
            "timezone"
        ]
    );
    let text = body.to_string();
    assert!(
        !text.contains("Mars/Olympus") && !text.contains("ftp://"),
        "no values echoed: {text}"
    );
    let unchanged = api.call("GET", &path, None).await.json();
    assert_eq!(unchanged, created, "nothing half-written");
}

#[tokio::test]
async fn create_validates_every_field() {
    let api = Api::new().await;
    let reply = api.call("POST", "/api/v1/users", Some(json!({}))).await;
    assert_eq!(reply.status, 422);
    let mut fields = field_names(&reply.json());
    fields.sort();
    assert_eq!(fields, ["email", "name"]);

    let cases = [
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "name": "A"}),
            "email",
        ),
        (json!({"email": "a@example.com", "name": "   "}), "name"),
        (
            json!({"email": "a@example.com", "name": "A", "date_of_birth": "1899-12-31"}),
            "date_of_birth",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "date_of_birth": "31/12/1990"}),
            "date_of_birth",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "profile_picture": "javascript:alert(1)"}),
            "profile_picture",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "profile_picture": format!("https://e.com/{}", "x".repeat(250))}),
            "profile_picture",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "profession": "p".repeat(101)}),
            "profession",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "timezone": "utc/nowhere"}),
            "timezone",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "id": 5}),
            "id",
        ),
        (json!({"email": "a@example.com", "name": ["A"]}), "name"),
    ];
    for (body, field) in cases {
        let reply = api.call("POST", "/api/v1/users", Some(body.clone())).await;
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(field_names(&reply.json()), [field], "{body}");
    }
    assert_eq!(api.count("SELECT count(*) FROM users").await, 0);

    let edge = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({
                "email": "edge@example.com",
                "name": "n".repeat(100),
                "date_of_birth": "1900-01-01",
                "profession": "p".repeat(100)
            })),
        )
        .await;
    assert_eq!(edge.status, 201, "{}", edge.json());
    let today_born = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "baby@example.com", "name": "Baby", "date_of_birth": today().to_string()})),
        )
        .await;
    assert_eq!(today_born.status, 201);
}

#[tokio::test]
async fn hostile_text_is_stored_as_text() {
    let api = Api::new().await;
    let name = "Robert'); DROP TABLE users;--";
    let created = api.create_json("bobby@example.com", name).await;
    assert_eq!(created["name"], name);
    let fetched = api
        .call("GET", &format!("/api/v1/users/{}", created["id"]), None)
        .await
        .json();
    assert_eq!(fetched["name"], name);
    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn delete_cascades_to_preferences_and_then_404s() {
    let api = Api::new().await;
    let keep = api.create_json("keep@example.com", "Keep").await;
    let gone = api.create_json("gone@example.com", "Gone").await;
    let path = format!("/api/v1/users/{}", gone["id"]);
    let reply = api.call("DELETE", &path, None).await;
    assert_eq!(reply.status, 204);
    assert!(reply.response.body().is_empty());
    assert_eq!(reply.statements, 1);
    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(api.count("SELECT count(*) FROM user_preferences").await, 1);
    let again = api.call("DELETE", &path, None).await;
    assert_eq!(again.status, 404);
    assert_eq!(api.call("GET", &path, None).await.status, 404);
    assert_eq!(
        api.call("GET", &format!("{path}/preferences"), None)
            .await
            .status,
        404
    );
    let kept = api
        .call("GET", &format!("/api/v1/users/{}", keep["id"]), None)
        .await;
    assert_eq!(kept.status, 200);
}

#[tokio::test]
async fn preferences_can_be_read_and_patched() {
    let api = Api::new().await;
    let created = api.create_json("prefs@example.com", "Prefs").await;
    let path = format!("/api/v1/users/{}/preferences", created["id"]);
    let reply = api.call("GET", &path, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.statements, 1);
    assert_eq!(reply.json(), created["preferences"]);
    assert!(reply.header("etag").is_some());

    let reply = api
        .call(
            "PATCH",
            &path,
            Some(json!({"update_frequency": "every_3_days", "summary_length": "detailed"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(reply.statements, 1);
    let body = reply.json();
    assert_eq!(body["update_frequency"], "every_3_days");
    assert_eq!(body["summary_length"], "detailed");
    assert_eq!(body["email_notifications_enabled"], true);

    let reply = api
        .call(
            "PATCH",
            &path,
            Some(json!({"update_frequency": "hourly", "summary_length": null, "email_notifications_enabled": "no", "colour": 1})),
        )
        .await;
    assert_eq!(reply.status, 422);
    let mut fields = field_names(&reply.json());
    fields.sort();
    assert_eq!(
        fields,
        [
            "colour",
            "email_notifications_enabled",
            "summary_length",
            "update_frequency"
        ]
    );

    for frequency in [
        "daily",
        "every_3_days",
        "weekly",
        "every_2_weeks",
        "monthly",
    ] {
        let reply = api
            .call("PATCH", &path, Some(json!({"update_frequency": frequency})))
            .await;
        assert_eq!(reply.status, 200, "{frequency}");
    }
    let user = api
        .call("GET", &format!("/api/v1/users/{}", created["id"]), None)
        .await
        .json();
    assert_eq!(user["preferences"]["update_frequency"], "monthly");
    assert_ne!(
        user["preferences"]["updated_at"],
        created["preferences"]["updated_at"]
    );

    let missing = api
        .call(
            "PATCH",
            "/api/v1/users/424242/preferences",
            Some(json!({"summary_length": "concise"})),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn the_database_refuses_values_outside_the_rules_too() {
    let api = Api::new().await;
    let created = api.create_json("check@example.com", "Check").await;
    let client = api.db.client().await;
    let bad_frequency = client
        .execute(
            "UPDATE user_preferences SET update_frequency = 'hourly' WHERE user_id = $1",
            &[&created["id"].as_i64().expect("id")],
        )
        .await;
    assert!(bad_frequency.is_err());
    let bad_length = client
        .execute("UPDATE user_preferences SET summary_length = 'epic'", &[])
        .await;
    assert!(bad_length.is_err());
    let bad_dob = client
        .execute("UPDATE users SET date_of_birth = '1800-01-01'", &[])
        .await;
    assert!(bad_dob.is_err());
    let duplicate = client
        .execute(
            "INSERT INTO users (email, name) VALUES ('CHECK@example.com', 'Dup')",
            &[],
        )
        .await;
    assert!(
        duplicate.is_err(),
        "unique without regard to case in the database"
    );
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_keeps_the_other_writers_values() {
    let api = Api::new().await;
    let created = api.create_json("race@example.com", "Original").await;
    let path = format!("/api/v1/users/{}", created["id"]);
    let first = api.call("GET", &path, None).await;
    let etag = first.header("etag").expect("etag");

    // Another client writes first, with the same ETag.
    let winner = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({"name": "Winner"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(winner.status, 200);
    let new_etag = winner.header("etag").expect("etag");
    assert_ne!(new_etag, etag);

    // The slower client's write is refused, in one statement.
    let loser = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({"name": "Loser"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(loser.status, 412);
    assert_eq!(loser.statements, 1);
    assert_eq!(
        loser.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let stored = api.call("GET", &path, None).await.json();
    assert_eq!(stored["name"], "Winner");

    // The same for DELETE, and for a preferences change (which also changes the user's ETag).
    let stale_delete = api
        .call_with("DELETE", &path, None, &[("if-match", &etag)])
        .await;
    assert_eq!(stale_delete.status, 412);
    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
    for weak in [format!("W/{new_etag}"), "\"nonsense\"".to_owned()] {
        let reply = api
            .call_with(
                "PATCH",
                &path,
                Some(json!({"name": "Weak"})),
                &[("if-match", &weak)],
            )
            .await;
        assert_eq!(reply.status, 412, "{weak}");
    }

    let prefs_path = format!("{path}/preferences");
    let prefs_etag = api
        .call("GET", &prefs_path, None)
        .await
        .header("etag")
        .expect("etag");
    let changed = api
        .call_with(
            "PATCH",
            &prefs_path,
            Some(json!({"summary_length": "concise"})),
            &[("if-match", &prefs_etag)],
        )
        .await;
    assert_eq!(changed.status, 200);
    let stale = api
        .call_with(
            "PATCH",
            &prefs_path,
            Some(json!({"summary_length": "detailed"})),
            &[("if-match", &prefs_etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    let prefs = api.call("GET", &prefs_path, None).await.json();
    assert_eq!(prefs["summary_length"], "concise");
    let user_after_prefs = api
        .call_with("DELETE", &path, None, &[("if-match", &new_etag)])
        .await;
    assert_eq!(
        user_after_prefs.status, 412,
        "the preferences change moved the user's ETag"
    );

    // With the current ETag the delete goes through; `*` only needs the user to exist.
    let current = api
        .call("GET", &path, None)
        .await
        .header("etag")
        .expect("etag");
    let deleted = api
        .call_with("DELETE", &path, None, &[("if-match", &current)])
        .await;
    assert_eq!(deleted.status, 204);
    let star = api
        .call_with(
            "PATCH",
            &path,
            Some(json!({"name": "X"})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(star.status, 404);
}

#[tokio::test]
async fn every_route_requires_the_bearer_token() {
    let api = Api::new().await;
    for (method, path) in [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/1"),
        ("DELETE", "/api/v1/users/1"),
        ("GET", "/api/v1/users/1/preferences"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Basic dGVzdA=="),
            Some(TOKEN),
        ] {
            let mut builder = http::Request::builder().method(method).uri(path);
            if let Some(auth) = auth {
                builder = builder.header("authorization", auth);
            }
            let reply = api
                .send(builder.body(bytes::Bytes::new()).expect("request"))
                .await;
            assert_eq!(reply.status, 401, "{method} {path} {auth:?}");
            assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));
            assert_eq!(reply.statements, 0);
        }
    }
    // The route table is read before any token: an unknown route is 404 for everyone.
    for auth in [None, Some("Bearer wrong-token"), Some(TOKEN)] {
        let mut builder = http::Request::builder()
            .method("GET")
            .uri("/api/v1/nothing-here");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        let reply = api
            .send(builder.body(bytes::Bytes::new()).expect("request"))
            .await;
        assert_eq!(reply.status, 404, "{auth:?}");
        assert_eq!(reply.statements, 0);
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_refused() {
    let api = Api::new().await;
    let send = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut builder = builder("POST", "/api/v1/users");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(bytes::Bytes::from(body)).expect("request")
    };
    let valid = json!({"email": "a@example.com", "name": "A"})
        .to_string()
        .into_bytes();
    let cases: Vec<(Option<&'static str>, Vec<u8>, u16)> = vec![
        (Some("text/plain"), valid.clone(), 415),
        (None, valid.clone(), 415),
        (
            Some("application/x-www-form-urlencoded"),
            b"email=a".to_vec(),
            415,
        ),
        (Some("application/json"), b"{\"email\": ".to_vec(), 400),
        (
            Some("application/json"),
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            400,
        ),
        (Some("application/json"), b"[1, 2]".to_vec(), 400),
        (Some("application/json"), b"\"text\"".to_vec(), 400),
        (Some("application/json"), b"".to_vec(), 400),
        (
            Some("application/json"),
            vec![b' '; MAX_BODY_BYTES + 1],
            413,
        ),
    ];
    for (content_type, body, status) in cases {
        let reply = api.send(send(content_type, body)).await;
        assert_eq!(reply.status, status, "{content_type:?}");
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(reply.json()["status"], status);
        assert_eq!(reply.statements, 0);
    }
    let ok = api
        .send(send(Some("application/json; charset=utf-8"), valid))
        .await;
    assert_eq!(ok.status, 201);
    assert_eq!(api.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let api = Api::new().await;
    for path in [
        "/api/v1",
        "/api/v1/",
        "/api/v1/accounts",
        "/api/v1/users/1/friends",
        "/api/v1/users/1/preferences/x",
    ] {
        let reply = api.call("GET", path, None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
    for (method, path, allow) in [
        ("PUT", "/api/v1/users", "GET, HEAD, POST"),
        ("DELETE", "/api/v1/users", "GET, HEAD, POST"),
        ("POST", "/api/v1/users/1", "GET, HEAD, PATCH, DELETE"),
        ("PUT", "/api/v1/users/1", "GET, HEAD, PATCH, DELETE"),
        ("DELETE", "/api/v1/users/1/preferences", "GET, HEAD, PATCH"),
    ] {
        let reply = api.call(method, path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow").as_deref(), Some(allow));
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
}

#[tokio::test]
async fn a_database_that_is_down_gives_503_with_retry_after() {
    let instance = Instance::new(NativeConnector::new(&refused_address()).expect("connector"));
    let config = common::api::config();
    for (method, path, body) in [
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/users/1", None),
        (
            "POST",
            "/api/v1/users",
            Some(json!({"email": "a@example.com", "name": "A"})),
        ),
    ] {
        let mut builder = builder(method, path);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(bytes::Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .expect("request");
        let db = instance.request_db();
        let response = api::handle(
            &request,
            &config,
            &db,
            &common::api::NoOutbound,
            chrono::Utc::now(),
        )
        .await;
        assert_eq!(response.status(), 503, "{method} {path}");
        assert!(response.headers().contains_key("retry-after"));
        let text = String::from_utf8(response.body().clone()).expect("utf-8");
        assert!(
            !text.contains("127.0.0.1") && !text.to_lowercase().contains("refused"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn models_show_type_and_id_only() {
    let api = Api::new().await;
    let created = api
        .create_json("private@example.com", "Private Person")
        .await;
    let db = api.instance.request_db();
    let id = keemu::domain::UserId::new(created["id"].as_i64().expect("id")).expect("id");
    let user = keemu::models::user::store::get(&db, id, keemu::models::user::Scope::Any)
        .await
        .expect("get")
        .expect("found");
    let shown = format!("{:?} {} {:?}", user.user, user.user, user);
    assert!(shown.contains(&format!("User(id={id})")), "{shown}");
    assert!(
        !shown.contains("private@example.com") && !shown.contains("Private Person"),
        "{shown}"
    );
}

#[test]
fn age_is_computed_from_the_date_of_birth() {
    let dob = keemu::domain::DateOfBirth::parse(
        "2000-02-29",
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("d"),
    )
    .expect("dob");
    let user = keemu::models::user::User {
        email: keemu::domain::Email::parse("a@example.com").expect("email"),
        name: keemu::domain::UserName::parse("A").expect("name"),
        profile_picture: None,
        profession: None,
        date_of_birth: Some(dob),
        timezone: keemu::domain::Timezone::utc(),
        is_active: true,
        last_login: None,
    };
    let on = |y, m, d| user.age(NaiveDate::from_ymd_opt(y, m, d).expect("date"));
    assert_eq!(on(2026, 2, 28), Some(25));
    assert_eq!(on(2026, 3, 1), Some(26));
    assert_eq!(on(2028, 2, 29), Some(28));
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_through() {
    let api = Api::new().await;
    let created = api.create_json("cas@example.com", "Start").await;
    let path = format!("/api/v1/users/{}", created["id"]);
    let etag = api
        .call("GET", &path, None)
        .await
        .header("etag")
        .expect("etag");
    // Ten instances, each on its own connection: the writes really race on the server.
    let instances: Vec<Instance> = (0..10).map(|_| Instance::new(api.db.connector())).collect();
    let config = common::api::config();
    let patches = instances.iter().enumerate().map(|(i, instance)| {
        let (path, etag, config) = (&path, &etag, &config);
        async move {
            let request = builder("PATCH", path)
                .header("content-type", "application/merge-patch+json")
                .header("if-match", etag.as_str())
                .body(bytes::Bytes::from(
                    json!({"name": format!("Writer {i}")}).to_string(),
                ))
                .expect("request");
            let db = instance.request_db();
            let response = api::handle(
                &request,
                config,
                &db,
                &common::api::NoOutbound,
                chrono::Utc::now(),
            )
            .await;
            (response.status().as_u16(), format!("Writer {i}"))
        }
    });
    let results = join_all(patches).await;
    let winners: Vec<&String> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, name)| name)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 412).count(),
        9,
        "{results:?}"
    );
    let stored = api.call("GET", &path, None).await.json();
    assert_eq!(
        &stored["name"],
        winners[0].as_str(),
        "the winner's write is the one kept"
    );
}

/// Issue 22 item 9: an e-mail or a name holding an invisible or direction-changing
/// character (Unicode category Cf) looks identical to another; the operator API refuses
/// them with 422 naming the field, on create and on patch, and writes nothing.
#[tokio::test]
async fn invisible_and_direction_changing_characters_are_refused() {
    let api = Api::new().await;
    let fields = |reply: &common::api::Reply| -> Vec<(String, String)> {
        reply.json()["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap_or("").to_owned(),
                    e["message"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    for (body, field) in [
        (
            json!({"email": "con\u{200b}foo@example.com", "name": "Con"}),
            "email",
        ),
        (
            json!({"email": "confoo@example.com\u{202e}", "name": "Con"}),
            "email",
        ),
        (
            json!({"email": "con\u{ad}foo@example.com", "name": "Con"}),
            "email",
        ),
        (
            json!({"email": "confoo@example.com", "name": "Mallory\u{202e}gnp.exe"}),
            "name",
        ),
        (
            json!({"email": "confoo@example.com", "name": "Ad\u{200d}a"}),
            "name",
        ),
    ] {
        let reply = api.call("POST", "/api/v1/users", Some(body.clone())).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json());
        let errors = fields(&reply);
        assert!(
            errors
                .iter()
                .any(|(f, m)| f == field && m.contains("invisible")),
            "{body}: {errors:?}"
        );
    }
    assert_eq!(api.count("SELECT count(*) FROM users").await, 0);

    let user = api.create_json("confoo@example.com", "Con").await;
    let path = format!("/api/v1/users/{}", user["id"]);
    for (body, field) in [
        (json!({"email": "con\u{200b}foo@example.com"}), "email"),
        (json!({"name": "Con\u{2066}"}), "name"),
    ] {
        let reply = api.call("PATCH", &path, Some(body.clone())).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json());
        assert!(fields(&reply).iter().any(|(f, _)| f == field), "{body}");
    }
    // Canonically equivalent spellings are one address: `é` precomposed or decomposed.
    api.create_json("\u{e9}lodie@example.fr", "Élodie").await;
    let reply = api
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "E\u{301}lodie@example.fr", "name": "Other"})),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.json());
}
