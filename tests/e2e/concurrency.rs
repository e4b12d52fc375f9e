//! Many clients at once.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::harness::{Postgres, Spin};

const CLIENTS: usize = 50;

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run("api: 50 concurrent creates of one email: one 201, 49 409, one row", || {
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let port = spin.port;
        let threads: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let request = Request::json(
                        "POST",
                        "/api/v1/users",
                        &json!({"email": format!("Race@Example.com"), "name": format!("Racer {n}")}),
                    );
                    barrier.wait();
                    request.send(port)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for thread in threads {
            let response = thread
                .join()
                .expect("client thread")
                .unwrap_or_else(|e| panic!("no answer: {e}"));
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
    });
}
