//! Many clients at once.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::checks::Checks;
use crate::client::{Request, Response};
use crate::expect;
use crate::harness::{Postgres, Spin};
use crate::users;

const CLIENTS: usize = 50;

/// Sends all `requests` at once (one thread each, released together); answers in order.
pub fn all_at_once(port: u16, requests: Vec<Request>) -> Vec<Response> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let threads: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                request.send(port)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| {
            t.join()
                .expect("client thread")
                .unwrap_or_else(|e| panic!("no answer: {e}"))
        })
        .collect()
}

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run(
        "api: 50 concurrent creates of one email: one 201, 49 409, one row",
        || {
            let requests = (0..CLIENTS)
                .map(|n| {
                    Request::json(
                        "POST",
                        "/api/v1/users",
                        &json!({"email": "Race@Example.com", "name": format!("Racer {n}")}),
                    )
                })
                .collect();
            let mut statuses = Vec::new();
            for response in all_at_once(spin.port, requests) {
                if response.status == 409 {
                    expect::problem(&response, 409);
                }
                statuses.push(response.status);
            }
            statuses.sort_unstable();
            let created = statuses.iter().filter(|s| **s == 201).count();
            let conflicts = statuses.iter().filter(|s| **s == 409).count();
            assert_eq!(
                (created, conflicts),
                (1, CLIENTS - 1),
                "statuses: {statuses:?}"
            );
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email = 'race@example.com'"),
                "1"
            );
            assert_eq!(
                pg.psql(
                    "SELECT count(*) FROM user_preferences p JOIN users u ON u.id = p.user_id \
                 WHERE u.email = 'race@example.com'"
                ),
                "1"
            );
        },
    );

    checks.run("api: 50 concurrent GETs of different users each get their own user", || {
        let ids: Vec<i64> = (0..10)
            .map(|n| {
                users::create(
                    spin,
                    json!({"email": format!("reader{n}@example.com"), "name": format!("Reader {n}")}),
                )
                .0
            })
            .collect();
        let requests = (0..CLIENTS)
            .map(|n| Request::get(&format!("/api/v1/users/{}", ids[n % ids.len()])))
            .collect();
        for (n, response) in all_at_once(spin.port, requests).into_iter().enumerate() {
            let user = expect::json(&response, 200);
            let id = ids[n % ids.len()];
            assert_eq!(user["id"], id, "request {n}: {user}");
            assert_eq!(user["email"], format!("reader{}@example.com", n % ids.len()));
        }
    });

    checks.run(
        "logs: 50 concurrent requests, each one request_completed line, whole and in the log once they are answered",
        || {
            // Lines of requests that end while others run wait in the instance's batch; the
            // last request in flight writes them before it answers.
            let path = |n: usize| format!("/api/v1/users/{}", 9_000_000_000_i64 + n as i64);
            let requests = (0..CLIENTS).map(|n| Request::get(&path(n))).collect();
            for response in all_at_once(spin.port, requests) {
                expect::problem(&response, 404);
            }
            let logs = spin.all_component_logs();
            for n in 0..CLIENTS {
                let lines: Vec<serde_json::Value> = logs
                    .lines()
                    .filter(|line| line.contains(&format!("\"{}\"", path(n))))
                    .map(|line| {
                        serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("not one JSON line ({e}): {line:?}"))
                    })
                    .collect();
                assert_eq!(lines.len(), 1, "request {n}: {lines:?}");
                assert_eq!(lines[0]["event"], "request_completed");
                assert_eq!(lines[0]["status"], 404);
            }
        },
    );

    checks.run(
        "api: 20 concurrent PATCHes with one If-Match: one 200, 19 412",
        || {
            let (id, _, etag) = users::create(
                spin,
                json!({"email": "ifmatch-race@example.com", "name": "Race Start"}),
            );
            let requests = (0..20)
                .map(|n| {
                    Request::json(
                        "PATCH",
                        &format!("/api/v1/users/{id}"),
                        &json!({"name": format!("Winner {n}")}),
                    )
                    .header("If-Match", &etag)
                })
                .collect();
            let responses = all_at_once(spin.port, requests);
            let mut statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
            statuses.sort_unstable();
            let winners: Vec<String> = responses
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.json()["name"].as_str().unwrap_or("").to_owned())
                .collect();
            assert_eq!(winners.len(), 1, "statuses: {statuses:?}");
            assert_eq!(
                statuses.iter().filter(|s| **s == 412).count(),
                19,
                "statuses: {statuses:?}"
            );
            assert_eq!(
                pg.psql(&format!("SELECT name FROM users WHERE id = {id}")),
                winners[0],
                "the stored name is the winner's"
            );
        },
    );
}
