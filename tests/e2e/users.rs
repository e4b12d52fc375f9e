//! The api component: `/api/v1/users`, `/api/v1/users/{id}`, `/api/v1/users/{id}/preferences`.

use serde_json::{Value, json};

use crate::checks::Checks;
use crate::client::{Request, Response};
use crate::expect;
use crate::harness::{Postgres, Spin};

const USERS: &str = "/api/v1/users";
const HTTP_SEMANTICS: Option<&str> = Some("http-semantics");

/// Creates a user; returns its id, body and ETag.
pub fn create(spin: &Spin, body: Value) -> (i64, Value, String) {
    let r = spin.send(&Request::json("POST", USERS, &body));
    let created = expect::json(&r, 201);
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no numeric id: {created}"));
    (id, created, expect::strong_etag(&r))
}

fn user_path(id: i64) -> String {
    format!("{USERS}/{id}")
}

fn preferences_path(id: i64) -> String {
    format!("{USERS}/{id}/preferences")
}

/// The fields of a user body, in the shape the API documents.
fn user_shape(user: &Value) {
    let keys: Vec<&str> = user
        .as_object()
        .unwrap_or_else(|| panic!("user is not an object: {user}"))
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "date_of_birth",
            "email",
            "id",
            "is_active",
            "last_login",
            "name",
            "preferences",
            "profession",
            "profile_picture",
            "timezone",
            "updated_at",
        ],
        "{user}"
    );
    expect::timestamp(&user["created_at"]);
    expect::timestamp(&user["updated_at"]);
    preferences_shape(&user["preferences"]);
    assert_eq!(user["preferences"]["user_id"], user["id"], "{user}");
}

fn preferences_shape(preferences: &Value) {
    let mut keys: Vec<&str> = preferences
        .as_object()
        .unwrap_or_else(|| panic!("preferences are not an object: {preferences}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "email_notifications_enabled",
            "id",
            "summary_length",
            "update_frequency",
            "updated_at",
            "user_id",
        ],
        "{preferences}"
    );
    assert!(preferences["id"].is_i64(), "{preferences}");
    expect::timestamp(&preferences["created_at"]);
    expect::timestamp(&preferences["updated_at"]);
}

/// `created_at`/`updated_at` of a user as the database holds them, in the API's format.
fn stored_times(pg: &Postgres, table: &str, column: &str, id: i64) -> (String, String) {
    let fmt = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
    let out = pg.psql(&format!(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', {fmt}) || ' ' || \
                to_char(updated_at AT TIME ZONE 'UTC', {fmt}) \
         FROM {table} WHERE {column} = {id}"
    ));
    let (created, updated) = out
        .split_once(' ')
        .unwrap_or_else(|| panic!("no {table} row for {id}: {out:?}"));
    (created.to_owned(), updated.to_owned())
}

fn patch(path: &str, body: Value) -> Request {
    Request::json("PATCH", path, &body)
}

fn get(spin: &Spin, path: &str) -> Response {
    spin.send(&Request::get(path))
}

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run(
        "api: 401 with WWW-Authenticate without the right bearer token",
        || {
            let tries: [(&str, &str, Option<&str>); 7] = [
                ("GET", USERS, None),
                ("GET", USERS, Some("Bearer wrong-token")),
                ("GET", USERS, Some("Bearer")),
                ("POST", USERS, Some("Basic ZTJlOnRva2Vu")),
                ("GET", "/api/v1/users/1", Some("Bearer e2e-token-012345678")),
                ("DELETE", "/api/v1/users/1", None),
                // The operator's token is not a user's access token.
                ("GET", "/api/v1/me", Some("Bearer e2e-token-0123456789")),
            ];
            for (method, path, authorization) in tries {
                let r = spin.send(
                    &Request::new(method, path)
                        .authorization(authorization)
                        .body(Some("application/json"), "{}"),
                );
                expect::problem(&r, 401);
                assert_eq!(
                    r.header("www-authenticate"),
                    Some("Bearer"),
                    "{}",
                    r.describe()
                );
            }
            // The route table is read before any token: an unknown route is 404 for everyone.
            let r = spin.send(&Request::get("/api/v1/nothing-here").authorization(None));
            expect::problem(&r, 404);
        },
    );

    checks.run(
        "api: POST /users creates: 201, Location, ETag, full body",
        || {
            let (id, user, etag) = create(
                spin,
                json!({
                    "email": "  Ada.Lovelace@Example.COM ",
                    "name": "Ada Lovelace",
                    "profile_picture": "https://example.com/ada.png",
                    "profession": "Mathematician",
                    "date_of_birth": "1990-12-10",
                    "timezone": "Europe/London",
                    "is_active": false
                }),
            );
            user_shape(&user);
            assert!(id > 0);
            assert_eq!(user["email"], "ada.lovelace@example.com", "{user}");
            assert_eq!(user["name"], "Ada Lovelace");
            assert_eq!(user["profile_picture"], "https://example.com/ada.png");
            assert_eq!(user["profession"], "Mathematician");
            assert_eq!(user["date_of_birth"], "1990-12-10");
            assert_eq!(user["timezone"], "Europe/London");
            assert_eq!(user["is_active"], false);
            assert_eq!(user["last_login"], Value::Null);
            assert_eq!(user["preferences"]["update_frequency"], "weekly");
            assert_eq!(user["preferences"]["summary_length"], "standard");
            assert_eq!(user["preferences"]["email_notifications_enabled"], true);

            let r = spin.send(&Request::json(
                "POST",
                USERS,
                &json!({"email": "ada2@example.com", "name": "A"}),
            ));
            expect::status(&r, 201);
            let location = r
                .header("location")
                .unwrap_or_else(|| panic!("no Location: {}", r.describe()));
            let created = r.json();
            assert_eq!(location, format!("{USERS}/{}", created["id"]));

            let r = get(spin, &user_path(id));
            let fetched = expect::json(&r, 200);
            assert_eq!(fetched, user, "GET shows what POST returned");
            assert_eq!(
                expect::strong_etag(&r),
                etag,
                "same representation, same ETag"
            );
            assert_eq!(
                r.header("cache-control"),
                Some("no-store"),
                "{}",
                r.describe()
            );
        },
    );

    checks.run("api: POST /users fills the defaults", || {
        let (_, user, _) = create(
            spin,
            json!({"email": "defaults@example.com", "name": "Def Ault"}),
        );
        user_shape(&user);
        assert_eq!(user["timezone"], "UTC");
        assert_eq!(user["is_active"], true);
        for field in [
            "profile_picture",
            "profession",
            "date_of_birth",
            "last_login",
        ] {
            assert_eq!(user[field], Value::Null, "{field}: {user}");
        }
    });

    checks.run(
        "api: timestamps round trip; PATCH moves updated_at only",
        || {
            let (id, created, etag) = create(
                spin,
                json!({"email": "times@example.com", "name": "Tim Es"}),
            );
            let created_at = expect::timestamp(&created["created_at"]);
            let updated_at = expect::timestamp(&created["updated_at"]);
            let stored = stored_times(pg, "users", "id", id);
            assert_eq!(
                (
                    created["created_at"].as_str().unwrap_or(""),
                    created["updated_at"].as_str().unwrap_or("")
                ),
                (stored.0.as_str(), stored.1.as_str()),
                "POST shows the stored timestamps"
            );
            let fetched = expect::json(&get(spin, &user_path(id)), 200);
            assert_eq!(fetched["created_at"], created["created_at"]);
            assert_eq!(fetched["updated_at"], created["updated_at"]);
            assert_eq!(
                fetched["preferences"]["updated_at"],
                created["preferences"]["updated_at"]
            );

            std::thread::sleep(std::time::Duration::from_millis(5));
            let r = spin.send(&patch(&user_path(id), json!({"profession": "Timekeeper"})));
            let patched = expect::json(&r, 200);
            user_shape(&patched);
            assert_eq!(patched["profession"], "Timekeeper");
            assert_eq!(
                patched["created_at"], created["created_at"],
                "created_at never moves"
            );
            assert!(
                expect::timestamp(&patched["updated_at"]) > updated_at,
                "updated_at moved: {patched}"
            );
            assert_eq!(expect::timestamp(&patched["created_at"]), created_at);
            let new_etag = expect::strong_etag(&r);
            assert_ne!(new_etag, etag, "a changed user has a new ETag");
            let stored = stored_times(pg, "users", "id", id);
            assert_eq!(
                patched["updated_at"].as_str(),
                Some(stored.1.as_str()),
                "PATCH shows the stored updated_at"
            );
            let fetched = expect::json(&get(spin, &user_path(id)), 200);
            assert_eq!(fetched["updated_at"], patched["updated_at"]);

            // Preferences: their own updated_at moves, and the user's ETag covers them.
            std::thread::sleep(std::time::Duration::from_millis(5));
            let r = spin.send(&patch(
                &preferences_path(id),
                json!({"summary_length": "detailed"}),
            ));
            let preferences = expect::json(&r, 200);
            assert!(
                expect::timestamp(&preferences["updated_at"])
                    > expect::timestamp(&created["preferences"]["updated_at"]),
                "{preferences}"
            );
            assert_eq!(
                preferences["created_at"],
                created["preferences"]["created_at"]
            );
            let stored = stored_times(pg, "user_preferences", "user_id", id);
            assert_eq!(preferences["updated_at"].as_str(), Some(stored.1.as_str()));
            let r = get(spin, &user_path(id));
            let fetched = expect::json(&r, 200);
            assert_eq!(
                fetched["preferences"], preferences,
                "the user embeds the new preferences"
            );
            assert_eq!(
                fetched["updated_at"], patched["updated_at"],
                "the user row did not change"
            );
            assert_ne!(
                expect::strong_etag(&r),
                new_etag,
                "the user's ETag covers its preferences"
            );
        },
    );

    checks.run(
        "api: invisible or direction-changing characters in email or name are 422 (issue 22)",
        || {
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
                    json!({"email": "confoo@example.com", "name": "Con\u{202e}gnp.exe"}),
                    "name",
                ),
            ] {
                let r = spin.send(&Request::json("POST", USERS, &body));
                let problem = expect::problem(&r, 422);
                assert_eq!(problem["errors"][0]["field"], field, "{problem}");
            }
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email LIKE 'con%foo@example.com%'"),
                "0"
            );
            // `é` precomposed or decomposed is one address.
            create(
                spin,
                json!({"email": "\u{e9}lodie@example.com", "name": "Elodie"}),
            );
            let r = spin.send(&Request::json(
                "POST",
                USERS,
                &json!({"email": "E\u{301}lodie@example.com", "name": "Other"}),
            ));
            expect::problem(&r, 409);
        },
    );

    checks.run("api: same email in any case is 409", || {
        create(spin, json!({"email": "dup@example.com", "name": "First"}));
        let r = spin.send(&Request::json(
            "POST",
            USERS,
            &json!({"email": "DUP@Example.com", "name": "Second"}),
        ));
        let body = expect::problem(&r, 409);
        assert!(
            !body["detail"].as_str().unwrap_or("").contains("dup@"),
            "no submitted value in the body: {body}"
        );
        assert_eq!(
            pg.psql("SELECT count(*) FROM users WHERE email = 'dup@example.com'"),
            "1"
        );
        // Changing another user's email to a taken one is a conflict too.
        let (other, _, _) = create(
            spin,
            json!({"email": "dup-other@example.com", "name": "Other"}),
        );
        let r = spin.send(&patch(
            &user_path(other),
            json!({"email": "Dup@example.com"}),
        ));
        expect::problem(&r, 409);
    });

    checks.run("api: GET /users lists, pages and filters by email", || {
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(
                create(
                    spin,
                    json!({"email": format!("page{n}@example.com"), "name": format!("Page {n}")}),
                )
                .0,
            );
        }
        // Walk every page of 2 and find the three users in id order.
        let mut seen = Vec::new();
        let mut path = format!("{USERS}?limit=2");
        for _ in 0..100 {
            let page = expect::json(&get(spin, &path), 200);
            let items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("no items: {page}"));
            assert!(items.len() <= 2, "{page}");
            for item in items {
                user_shape(item);
                seen.push(item["id"].as_i64().unwrap_or(0));
            }
            match &page["next_cursor"] {
                Value::Null => break,
                cursor => {
                    assert_eq!(items.len(), 2, "a full page before a cursor: {page}");
                    path = format!(
                        "{USERS}?limit=2&after={}",
                        cursor.as_i64().unwrap_or_else(|| cursor
                            .as_str()
                            .unwrap_or("")
                            .parse()
                            .unwrap_or(0))
                    );
                }
            }
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(seen, sorted, "ordered by id");
        for id in &ids {
            assert!(seen.contains(id), "user {id} listed: {seen:?}");
        }
        let page = expect::json(
            &get(spin, &format!("{USERS}?email=PAGE1%40example.com")),
            200,
        );
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "{page}");
        assert_eq!(items[0]["id"], ids[1]);
        assert_eq!(page["next_cursor"], Value::Null);
        let page = expect::json(
            &get(spin, &format!("{USERS}?email=nobody%40example.com")),
            200,
        );
        assert_eq!(page, json!({"items": [], "next_cursor": null}));
    });

    checks.run("api: bad list queries are 422 naming the parameter", || {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("after=0", "after"),
            ("after=-3", "after"),
            ("email=not-an-email", "email"),
            ("colour=blue", "colour"),
            ("limit=1&limit=2", "limit"),
        ] {
            let r = get(spin, &format!("{USERS}?{query}"));
            expect::invalid_fields(&r, &[field]);
        }
    });

    checks.run(
        "api: unknown users, malformed ids and unknown routes are 404",
        || {
            for path in [
                "/api/v1/users/999999999".to_owned(),
                "/api/v1/users/abc".to_owned(),
                "/api/v1/users/0".to_owned(),
                "/api/v1/users/-1".to_owned(),
                "/api/v1/users/007".to_owned(),
                "/api/v1/users/99999999999999999999".to_owned(),
                "/api/v1/users/999999999/preferences".to_owned(),
                "/api/v1/users/1/settings".to_owned(),
                "/api/v1/users/1/preferences/x".to_owned(),
                "/api/v1/nothing".to_owned(),
                "/api/v1".to_owned(),
                "/api/v1/".to_owned(),
            ] {
                expect::problem(&get(spin, &path), 404);
            }
            for request in [
                Request::json("PATCH", "/api/v1/users/999999999", &json!({"name": "X"})),
                Request::new("DELETE", "/api/v1/users/999999999"),
                Request::json(
                    "PATCH",
                    "/api/v1/users/999999999/preferences",
                    &json!({"summary_length": "concise"}),
                ),
                Request::json("PATCH", "/api/v1/users/abc", &json!({"name": "X"})),
            ] {
                let r = spin.send(&request);
                expect::problem(&r, 404);
            }
        },
    );

    checks.run("api: wrong methods are 405 with Allow", || {
        let (id, _, _) = create(
            spin,
            json!({"email": "methods@example.com", "name": "Meth Ods"}),
        );
        for (method, path, allow) in [
            ("PUT", USERS.to_owned(), &["GET", "POST"][..]),
            ("DELETE", USERS.to_owned(), &["GET", "POST"][..]),
            ("PATCH", USERS.to_owned(), &["GET", "POST"][..]),
            ("POST", user_path(id), &["GET", "PATCH", "DELETE"][..]),
            ("PUT", user_path(id), &["GET", "PATCH", "DELETE"][..]),
            ("POST", preferences_path(id), &["GET", "PATCH"][..]),
            ("DELETE", preferences_path(id), &["GET", "PATCH"][..]),
            ("PUT", preferences_path(id), &["GET", "PATCH"][..]),
        ] {
            let r = spin.send(&Request::new(method, &path).body(Some("application/json"), "{}"));
            expect::method_not_allowed(&r, allow);
        }
    });

    checks.run("api: PATCH /users/{id} is a merge patch", || {
        let (id, _, _) = create(
            spin,
            json!({"email": "merge@example.com", "name": "Mer Ge", "profession": "Baker", "timezone": "Asia/Tokyo"}),
        );
        let r = spin.send(&patch(&user_path(id), json!({"name": "Merged", "profession": null})));
        let user = expect::json(&r, 200);
        expect::strong_etag(&r);
        assert_eq!(user["name"], "Merged");
        assert_eq!(user["profession"], Value::Null, "null clears an optional field");
        assert_eq!(user["timezone"], "Asia/Tokyo", "absent keeps");
        assert_eq!(user["email"], "merge@example.com");
        let r = spin.send(&patch(&user_path(id), json!({})));
        let same = expect::json(&r, 200);
        assert_eq!(same["name"], "Merged", "an empty patch changes nothing");
        assert_eq!(
            pg.psql(&format!("SELECT name || '|' || coalesce(profession, '<null>') FROM users WHERE id = {id}")),
            "Merged|<null>"
        );
    });

    checks.run("api: 422 lists every invalid field", || {
        let r = spin.send(&Request::json("POST", USERS, &json!({})));
        expect::invalid_fields(&r, &["email", "name"]);
        let r = spin.send(&Request::json(
            "POST",
            USERS,
            &json!({
                "email": "not an email",
                "name": "   ",
                "timezone": "Mars/Olympus_Mons",
                "is_active": "yes",
                "date_of_birth": "2999-01-01",
                "profile_picture": "",
                "id": 5,
                "created_at": "2020-01-01T00:00:00Z",
                "favourite_colour": "blue",
                "preferences": {"summary_length": "concise"}
            }),
        ));
        expect::invalid_fields(
            &r,
            &[
                "email",
                "name",
                "timezone",
                "is_active",
                "date_of_birth",
                "profile_picture",
                "id",
                "created_at",
                "favourite_colour",
                "preferences",
            ],
        );
        assert_eq!(pg.psql("SELECT count(*) FROM users WHERE name = '   '"), "0");
        let (id, _, _) = create(spin, json!({"email": "invalid@example.com", "name": "In Valid"}));
        let r = spin.send(&patch(&user_path(id), json!({"name": null, "email": null, "is_active": null, "updated_at": "x"})));
        expect::invalid_fields(&r, &["name", "email", "is_active", "updated_at"]);
        let r = spin.send(&patch(
            &preferences_path(id),
            json!({"update_frequency": "hourly", "summary_length": 3, "email_notifications_enabled": "no", "user_id": 1}),
        ));
        expect::invalid_fields(
            &r,
            &["update_frequency", "summary_length", "email_notifications_enabled", "user_id"],
        );
        let r = spin.send(&patch(&preferences_path(id), json!({"summary_length": null})));
        expect::invalid_fields(&r, &["summary_length"]);
    });

    checks.run("api: 400 for bodies that are not a JSON object", || {
        let (id, _, _) = create(
            spin,
            json!({"email": "badbody@example.com", "name": "Bad Body"}),
        );
        for path in [USERS.to_owned(), user_path(id), preferences_path(id)] {
            let method = if path == USERS { "POST" } else { "PATCH" };
            for body in [
                &b"{\"name\": "[..],
                b"\xff\xfe{}",
                b"[1,2]",
                b"\"text\"",
                b"",
                b"null",
            ] {
                let r = spin.send(
                    &Request::new(method, &path).body(Some("application/json"), body.to_vec()),
                );
                expect::problem(&r, 400);
            }
        }
    });

    checks.run("api: 415 for bodies that are not JSON", || {
        let (id, _, _) = create(
            spin,
            json!({"email": "media@example.com", "name": "Me Dia"}),
        );
        let body = br#"{"email":"media2@example.com","name":"X"}"#.to_vec();
        for (method, path) in [
            ("POST", USERS.to_owned()),
            ("PATCH", user_path(id)),
            ("PATCH", preferences_path(id)),
        ] {
            for content_type in [
                None,
                Some("text/plain"),
                Some("application/x-www-form-urlencoded"),
                Some("application/json; charset=latin1"),
            ] {
                let r = spin.send(&Request::new(method, &path).body(content_type, body.clone()));
                expect::problem(&r, 415);
            }
        }
        let r = spin.send(&Request::new("PATCH", &user_path(id)).body(
            Some("application/merge-patch+json"),
            br#"{"name":"Merge Patch"}"#.to_vec(),
        ));
        assert_eq!(expect::json(&r, 200)["name"], "Merge Patch");
    });

    checks.run("api: 413 for bodies over 64 KiB", || {
        let (id, _, _) = create(
            spin,
            json!({"email": "large@example.com", "name": "Lar Ge"}),
        );
        let big = format!("{{\"name\":\"{}\"}}", "x".repeat(70 * 1024));
        for (method, path) in [
            ("POST", USERS.to_owned()),
            ("PATCH", user_path(id)),
            ("PATCH", preferences_path(id)),
        ] {
            let r =
                spin.send(&Request::new(method, &path).body(Some("application/json"), big.clone()));
            expect::problem(&r, 413);
        }
        // Exactly 64 KiB is accepted (and then judged on its content).
        let name_len = 64 * 1024 - r#"{"name":""}"#.len();
        let exact = format!("{{\"name\":\"{}\"}}", "y".repeat(name_len));
        assert_eq!(exact.len(), 64 * 1024);
        let r =
            spin.send(&Request::new("PATCH", &user_path(id)).body(Some("application/json"), exact));
        expect::invalid_fields(&r, &["name"]);
    });

    checks.run("api: If-Match on PATCH and DELETE (412 when stale)", || {
        let (id, _, etag) = create(
            spin,
            json!({"email": "ifmatch@example.com", "name": "If Match"}),
        );
        let r =
            spin.send(&patch(&user_path(id), json!({"name": "Matched"})).header("If-Match", &etag));
        expect::json(&r, 200);
        let current = expect::strong_etag(&r);
        let r =
            spin.send(&patch(&user_path(id), json!({"name": "Stale"})).header("If-Match", &etag));
        expect::problem(&r, 412);
        for tag in [
            format!("W/{current}"),
            "\"garbage\"".to_owned(),
            "u1.2".to_owned(),
        ] {
            let r =
                spin.send(&patch(&user_path(id), json!({"name": "Weak"})).header("If-Match", &tag));
            expect::problem(&r, 412);
        }
        assert_eq!(
            pg.psql(&format!("SELECT name FROM users WHERE id = {id}")),
            "Matched"
        );
        let r =
            spin.send(&patch(&user_path(id), json!({"profession": "Any"})).header("If-Match", "*"));
        let current = expect::strong_etag(&r);
        expect::status(&r, 200);
        let r = spin.send(
            &patch("/api/v1/users/999999999", json!({"name": "X"})).header("If-Match", &current),
        );
        expect::problem(&r, 404);

        // Preferences have their own tag; the user's tag does not fit them.
        let r = get(spin, &preferences_path(id));
        let preferences = expect::json(&r, 200);
        preferences_shape(&preferences);
        let ptag = expect::strong_etag(&r);
        assert_ne!(ptag, current);
        let r = spin.send(
            &patch(&preferences_path(id), json!({"update_frequency": "daily"}))
                .header("If-Match", &current),
        );
        expect::problem(&r, 412);
        let r = spin.send(
            &patch(&preferences_path(id), json!({"update_frequency": "daily"}))
                .header("If-Match", &ptag),
        );
        let updated = expect::json(&r, 200);
        assert_eq!(updated["update_frequency"], "daily");
        let r2 = spin.send(
            &patch(
                &preferences_path(id),
                json!({"update_frequency": "monthly"}),
            )
            .header("If-Match", &ptag),
        );
        expect::problem(&r2, 412);
        assert_eq!(
            pg.psql(&format!(
                "SELECT update_frequency FROM user_preferences WHERE user_id = {id}"
            )),
            "daily"
        );

        // The preferences change moved the user's tag: DELETE with the old one is stale.
        let r = spin.send(&Request::new("DELETE", &user_path(id)).header("If-Match", &current));
        expect::problem(&r, 412);
        assert_eq!(
            pg.psql(&format!("SELECT count(*) FROM users WHERE id = {id}")),
            "1"
        );
        let fresh = expect::strong_etag(&get(spin, &user_path(id)));
        let r = spin.send(&Request::new("DELETE", &user_path(id)).header("If-Match", &fresh));
        expect::status(&r, 204);
    });

    checks.run("api: preferences GET and PATCH", || {
        let (id, user, _) = create(spin, json!({"email": "prefs@example.com", "name": "Pre Fs"}));
        let r = get(spin, &preferences_path(id));
        let preferences = expect::json(&r, 200);
        preferences_shape(&preferences);
        assert_eq!(preferences, user["preferences"], "the same preferences as embedded");
        assert_eq!(preferences["user_id"], id);
        let etag = expect::strong_etag(&r);
        for frequency in ["daily", "every_3_days", "weekly", "every_2_weeks", "monthly"] {
            let r = spin.send(&patch(&preferences_path(id), json!({"update_frequency": frequency})));
            assert_eq!(expect::json(&r, 200)["update_frequency"], frequency);
        }
        let r = spin.send(&patch(
            &preferences_path(id),
            json!({"summary_length": "concise", "email_notifications_enabled": false}),
        ));
        let updated = expect::json(&r, 200);
        assert_eq!(updated["summary_length"], "concise");
        assert_eq!(updated["email_notifications_enabled"], false);
        assert_eq!(updated["update_frequency"], "monthly", "absent keeps");
        assert_ne!(expect::strong_etag(&r), etag);
        assert_eq!(
            pg.psql(&format!(
                "SELECT update_frequency || ',' || summary_length || ',' || email_notifications_enabled \
                 FROM user_preferences WHERE user_id = {id}"
            )),
            "monthly,concise,false"
        );
    });

    checks.run(
        "api: DELETE /users/{id} is 204 and takes the preferences along",
        || {
            let (id, _, _) = create(
                spin,
                json!({"email": "delete@example.com", "name": "De Lete"}),
            );
            let r = spin.send(&Request::new("DELETE", &user_path(id)));
            expect::status(&r, 204);
            expect::empty_body(&r);
            expect::problem(&get(spin, &user_path(id)), 404);
            expect::problem(&get(spin, &preferences_path(id)), 404);
            expect::problem(&spin.send(&Request::new("DELETE", &user_path(id))), 404);
            assert_eq!(
                pg.psql(&format!(
                    "SELECT (SELECT count(*) FROM users WHERE id = {id}) + \
                        (SELECT count(*) FROM user_preferences WHERE user_id = {id})"
                )),
                "0"
            );
            // The email is free again.
            create(
                spin,
                json!({"email": "delete@example.com", "name": "De Lete Again"}),
            );
        },
    );

    // --- needs the http-semantics branch -------------------------------------------------

    checks.run_needing(
        "api: If-None-Match on GET gives 304",
        HTTP_SEMANTICS,
        || {
            let (id, _, etag) = create(
                spin,
                json!({"email": "conditional@example.com", "name": "Cond Itional"}),
            );
            for path in [user_path(id), preferences_path(id)] {
                let r = get(spin, &path);
                let tag = expect::strong_etag(&r);
                let r = spin.send(&Request::get(&path).header("If-None-Match", &tag));
                expect::status(&r, 304);
                expect::empty_body(&r);
                assert_eq!(r.header("etag"), Some(tag.as_str()), "{}", r.describe());
                let weak = format!("W/{tag}");
                let r = spin.send(&Request::get(&path).header("If-None-Match", &weak));
                expect::status(&r, 304);
                let r = spin.send(&Request::get(&path).header("If-None-Match", "*"));
                expect::status(&r, 304);
                let r = spin.send(&Request::get(&path).header("If-None-Match", "\"other\""));
                expect::json(&r, 200);
                let r = spin.send(
                    &Request::get(&path).header("If-None-Match", &format!("\"other\", {tag}")),
                );
                expect::status(&r, 304);
            }
            let r = spin.send(&patch(&user_path(id), json!({"name": "Changed"})));
            expect::json(&r, 200);
            let r = spin.send(&Request::get(&user_path(id)).header("If-None-Match", &etag));
            assert_eq!(
                expect::json(&r, 200)["name"],
                "Changed",
                "a stale tag gets the new body"
            );
        },
    );

    checks.run_needing("api: HEAD on every GET route", HTTP_SEMANTICS, || {
        let (id, _, _) = create(spin, json!({"email": "head@example.com", "name": "He Ad"}));
        for path in [
            USERS.to_owned(),
            format!("{USERS}?limit=1"),
            user_path(id),
            preferences_path(id),
        ] {
            let g = get(spin, &path);
            expect::status(&g, 200);
            let h = spin.send(&Request::head(&path));
            expect::status(&h, 200);
            expect::empty_body(&h);
            assert_eq!(
                h.header("content-type"),
                g.header("content-type"),
                "{}",
                h.describe()
            );
            assert_eq!(h.header("etag"), g.header("etag"), "{}", h.describe());
        }
        let r = spin.send(&Request::head("/api/v1/users/999999999"));
        expect::status(&r, 404);
        expect::empty_body(&r);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{}",
            r.describe()
        );
        let r = spin.send(&Request::head(USERS).authorization(None));
        expect::status(&r, 401);
        expect::empty_body(&r);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer"),
            "{}",
            r.describe()
        );
        for (method, path) in [
            ("PUT", USERS.to_owned()),
            ("POST", user_path(id)),
            ("POST", preferences_path(id)),
        ] {
            let r = spin.send(&Request::new(method, &path).body(Some("application/json"), "{}"));
            expect::allow_includes_head(&r);
        }
    });

    checks.run_needing("api: If-Match with a list of tags", HTTP_SEMANTICS, || {
        let (id, _, etag) = create(
            spin,
            json!({"email": "iflist@example.com", "name": "If List"}),
        );
        let list = format!("\"u1.1\", {etag}");
        let r =
            spin.send(&patch(&user_path(id), json!({"name": "Listed"})).header("If-Match", &list));
        expect::json(&r, 200);
        let r = spin.send(
            &patch(&user_path(id), json!({"name": "Listed again"})).header("If-Match", &list),
        );
        expect::problem(&r, 412);
        let ptag = expect::strong_etag(&get(spin, &preferences_path(id)));
        let r = spin.send(
            &patch(&preferences_path(id), json!({"summary_length": "concise"}))
                .header("If-Match", "\"p1\"")
                .header("If-Match", &ptag),
        );
        expect::json(&r, 200);
    });
}
