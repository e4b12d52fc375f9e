//! The database goes away and comes back while `spin up` keeps running.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::checks::Checks;
use crate::client::{Request, Response};
use crate::concurrency;
use crate::expect;
use crate::harness::{DB_TIMEOUT_MS, Postgres, Spin};
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
