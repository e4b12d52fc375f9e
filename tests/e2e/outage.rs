//! The database goes away and comes back while `spin up` keeps running.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::checks::Checks;
use crate::client::{Request, Response};
use crate::concurrency;
use crate::expect;
use crate::harness::{DB_TIMEOUT_MS, Postgres, Spin, SpinOptions};
use crate::users;

/// How long a 503 may take: the database timeout plus half a second.
const BOUND: Duration = Duration::from_millis(DB_TIMEOUT_MS + 500);

fn timed(spin: &Spin, request: &Request) -> (Response, Duration) {
    let started = Instant::now();
    let response = spin.send(request);
    (response, started.elapsed())
}

fn unavailable(response: &Response, took: Duration, what: &str) {
    assert!(took <= BOUND, "{what}: 503 within {BOUND:?}, took {took:?}");
    assert_eq!(
        response.header("retry-after"),
        Some("5"),
        "{what}: {}",
        response.describe()
    );
}

/// Every way of reaching the database answers 503 quickly.
fn all_unavailable(spin: &Spin, id: i64, how: &str) {
    let (r, took) = timed(spin, &Request::get("/health").authorization(None));
    expect::status(&r, 503);
    let body = r.json();
    assert_eq!(body["status"], "unhealthy", "{body}");
    assert_eq!(body["database"], "disconnected", "{body}");
    unavailable(&r, took, &format!("{how}: GET /health"));
    let (r, _) = timed(spin, &Request::head("/health").authorization(None));
    expect::status(&r, 503);
    expect::empty_body(&r);
    let (r, _) = timed(spin, &Request::get("/health/live").authorization(None));
    expect::status(&r, 200);
    for request in [
        Request::get("/api/v1/users"),
        Request::get(&format!("/api/v1/users/{id}")),
        Request::get(&format!("/api/v1/users/{id}/preferences")),
        Request::json(
            "POST",
            "/api/v1/users",
            &json!({"email": "during-outage@example.com", "name": "Out Age"}),
        ),
        Request::json(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            &json!({"name": "Out Age"}),
        ),
        Request::new("DELETE", &format!("/api/v1/users/{id}")),
    ] {
        let (r, took) = timed(spin, &request);
        expect::problem(&r, 503);
        unavailable(
            &r,
            took,
            &format!("{how}: {} {}", request.method, request.path),
        );
    }
    // Answers that need no database still come.
    expect::problem(&spin.send(&Request::get("/api/v1/users/abc")), 404);
    expect::problem(
        &spin.send(&Request::get("/api/v1/users").authorization(None)),
        401,
    );
}

/// Requests waiting together on a frozen database all end within the bound: they land on
/// one instance, and each request's deadline watcher must wake its own calls, in its own
/// task (keemu::db::deadlines; a wakeup across tasks would panic: 500).
fn concurrent_unavailable(spin: &Spin, id: i64) {
    const CLIENTS: usize = 8;
    let started = Instant::now();
    let requests = (0..CLIENTS)
        .map(|_| Request::get(&format!("/api/v1/users/{id}")))
        .collect();
    let answers = concurrency::all_at_once(spin.port, requests);
    let took = started.elapsed();
    for response in &answers {
        expect::problem(response, 503);
        unavailable(response, took, "frozen: 8 concurrent GET user");
    }
}

/// `/health` and the api answer 200 again, within a bound, without restarting spin.
fn recovered(spin: &Spin, id: i64, how: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut attempts = 0;
    let mut last = None;
    while Instant::now() < deadline {
        attempts += 1;
        let r = spin.send(&Request::get("/health").authorization(None));
        if r.status == 200 {
            last = None;
            break;
        }
        last = Some(r.describe());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(last.is_none(), "{how}: /health did not recover: {last:?}");
    eprintln!("e2e: {how}: /health answered 200 after {attempts} request(s)");
    let r = spin.send(&Request::get(&format!("/api/v1/users/{id}")));
    let user = expect::json(&r, 200);
    assert_eq!(user["id"], id, "{how}: {user}");
    let r = spin.send(&Request::json(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        &json!({"profession": format!("after {how}")}),
    ));
    expect::json(&r, 200);
    let r = spin.send(&Request::get("/api/v1/users?limit=1"));
    expect::json(&r, 200);
}

pub fn checks(spin: &mut Spin, pg: &Postgres, checks: &mut Checks) {
    let pid = spin.pid();
    // Warm both components so they hold database connections when it goes away.
    let (id, _, _) = users::create(
        spin,
        json!({"email": "outage@example.com", "name": "Out Age"}),
    );
    for _ in 0..3 {
        expect::status(&spin.send(&Request::get("/health")), 200);
        expect::status(
            &spin.send(&Request::get(&format!("/api/v1/users/{id}"))),
            200,
        );
    }

    pg.down();
    checks.run(
        "outage: database stopped: 503 with Retry-After within db_timeout_ms + 0.5 s",
        || {
            all_unavailable(spin, id, "stopped");
            // Still so on repeated requests (no stuck connection, no slower path).
            all_unavailable(spin, id, "stopped, again");
        },
    );
    assert_eq!(pg.psql_try("SELECT 1"), None, "the database is really down");
    pg.up();
    checks.run(
        "outage: database restarted: 200 again without restarting spin",
        || {
            recovered(spin, id, "restart");
        },
    );

    // A database that accepts connections but never answers: only the guest's timeout helps.
    checks.run(
        "outage: database frozen (SIGSTOP): 503 within db_timeout_ms + 0.5 s",
        || {
            let frozen = pg.freeze();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                all_unavailable(spin, id, "frozen");
                concurrent_unavailable(spin, id);
            }));
            pg.thaw(frozen);
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        },
    );
    checks.run(
        "outage: database thawed: 200 again without restarting spin",
        || {
            recovered(spin, id, "thaw");
        },
    );

    checks.run(
        "outage: spin up kept running; no session left idle in transaction",
        || {
            assert!(spin.still_running(), "spin up exited");
            assert_eq!(spin.pid(), pid);
            assert_eq!(pg.idle_in_transaction(), "0");
        },
    );
}

/// `db_timeout_ms` of the `spin up` that sees the database restart under load.
const RESTART_DB_TIMEOUT_MS: u64 = 5000;

/// Issue 22, item 10: PostgreSQL restarts (fast stop, start) while 8 clients read users as
/// fast as they can for about 3 s. The restart is far shorter than `db_timeout_ms`, so
/// every read waits for it and retries: not one answer other than 2xx (before: one retry
/// at once, then 503).
pub fn restart_under_load(pg: &Postgres, checks: &mut Checks) {
    const CLIENTS: usize = 8;
    const LOAD: Duration = Duration::from_secs(3);
    let options = SpinOptions {
        variables: vec![("db_timeout_ms".into(), RESTART_DB_TIMEOUT_MS.to_string())],
        ..SpinOptions::default()
    };
    let spin = Spin::start_with(pg, &options);
    let (id, _, _) = users::create(
        &spin,
        json!({"email": "restart@example.com", "name": "Re Start"}),
    );
    checks.run(
        "outage: PostgreSQL restarted under 8 clients' GETs: every answer 2xx",
        || {
            let port = spin.port;
            let started = Instant::now();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|n| {
                    std::thread::spawn(move || {
                        let mut answers = Vec::new();
                        while started.elapsed() < LOAD {
                            let request = if n % 2 == 0 {
                                Request::get(&format!("/api/v1/users/{id}"))
                            } else {
                                Request::get("/api/v1/users?limit=5")
                            };
                            let sent = Instant::now();
                            let answer = request.send(port).map(|r| (r.status, r.describe()));
                            answers.push((answer, sent.elapsed()));
                        }
                        answers
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(800));
            let restart = Instant::now();
            pg.down();
            pg.up();
            let restart = restart.elapsed();
            let answers: Vec<_> = clients
                .into_iter()
                .flat_map(|c| c.join().expect("client thread"))
                .collect();
            let slowest = answers
                .iter()
                .map(|(_, took)| *took)
                .max()
                .unwrap_or_default();
            let failed: Vec<_> = answers
                .iter()
                .filter(
                    |(answer, _)| !matches!(answer, Ok((status, _)) if (200..300).contains(status)),
                )
                .collect();
            eprintln!(
                "e2e: restart under load: PostgreSQL down and up in {restart:?}, {} requests, \
                 {} not 2xx, slowest {slowest:?}",
                answers.len(),
                failed.len()
            );
            assert!(
                restart < Duration::from_millis(RESTART_DB_TIMEOUT_MS / 2),
                "the restart took {restart:?}"
            );
            assert!(answers.len() > 100, "{} requests", answers.len());
            assert!(
                failed.is_empty(),
                "{} of {} not 2xx, e.g. {:?}",
                failed.len(),
                answers.len(),
                failed.iter().take(3).collect::<Vec<_>>()
            );
            assert!(
                slowest < Duration::from_millis(RESTART_DB_TIMEOUT_MS),
                "{slowest:?}"
            );
        },
    );
    checks.run(
        "outage: after the restart, no session idle in transaction",
        || {
            assert_eq!(pg.idle_in_transaction(), "0");
        },
    );
}
