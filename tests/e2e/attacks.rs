//! Issue 22's attacks on accounts, as the attacker ran them, under the real host: each
//! check failed against the code before the fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::auth::{PASSWORD, anon, bearer, login, refresh, refused, register};
use crate::checks::Checks;
use crate::client::Request;
use crate::concurrency::all_at_once;
use crate::expect;
use crate::google::{claims, id_token};
use crate::harness::{Postgres, Spin, SpinOptions};

const ATTACKER_PASSWORD: &str = "the attacker's own passphrase";

pub fn checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run(
        "attack 1a: an account registered with the victim's address goes to the victim's Google sign-in; the attacker's password and session die",
        || {
            let attacker = crate::auth::register_response(
                spin,
                "prey@example.org",
                "Attacker",
                ATTACKER_PASSWORD,
            );
            let body = expect::json(&attacker, 201);
            let attacker_refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
            let r = spin.send(&Request::json(
                "POST",
                "/api/v1/auth/google",
                &json!({ "id_token": id_token(&claims("e2e-prey", "prey@example.org")) }),
            ));
            expect::json(&r, 200);
            refused(
                &login(spin, "prey@example.org", ATTACKER_PASSWORD),
                "the attacker's password",
            );
            refused(&refresh(spin, &attacker_refresh), "the attacker's session");
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email = 'prey@example.org' AND password_hash IS NULL AND email_verified_at IS NOT NULL"),
                "1"
            );
        },
    );
    checks.run(
        "attack 1c: a stolen access token cannot move the e-mail (422 without the password, 403 with a wrong one)",
        || {
            let owner = register(spin, "owner@example.org", "Owner");
            for (body, status) in [
                (json!({"email": "thief@example.org"}), 422),
                (
                    json!({"email": "thief@example.org", "current_password": "a guess"}),
                    403,
                ),
            ] {
                let r = spin.send(&bearer("PATCH", "/api/v1/me", &owner.access, Some(&body)));
                expect::problem(&r, status);
            }
            assert_eq!(
                pg.psql("SELECT count(*) FROM users WHERE email = 'owner@example.org'"),
                "1"
            );
            let r = spin.send(&bearer(
                "PATCH",
                "/api/v1/me",
                &owner.access,
                Some(&json!({"email": "owner.new@example.org", "current_password": PASSWORD})),
            ));
            assert_eq!(expect::json(&r, 200)["email"], "owner.new@example.org");
        },
    );
    checks.run(
        "attack 3: 49 concurrent wrong guesses get at most 5 verifications; the right password after them is 429",
        || {
            register(spin, "burst@example.org", "Burst");
            let guesses = (0..49)
                .map(|n| {
                    anon(
                        "POST",
                        "/api/v1/auth/login",
                        &json!({"email": "burst@example.org", "password": format!("wrong guess {n}")}),
                    )
                })
                .collect();
            let statuses: Vec<u16> = all_at_once(spin.port, guesses)
                .iter()
                .map(|r| r.status)
                .collect();
            let verified = statuses.iter().filter(|s| **s == 401).count();
            assert!(verified <= 5, "{verified} verified: {statuses:?}");
            assert!(
                statuses.iter().all(|s| *s == 401 || *s == 429),
                "only 401s and 429s (a 503 here is the busy instance faking an outage): {statuses:?}"
            );
            let right = login(spin, "burst@example.org", PASSWORD);
            expect::problem(&right, 429);
            assert_eq!(
                pg.psql("SELECT attempts FROM login_throttles WHERE email_key = 'burst@example.org'"),
                "5"
            );
        },
    );
    checks.run(
        "attack 5: passwords that cannot be one (129 characters) write no throttle row and lock nobody",
        || {
            register(spin, "lockme@example.org", "Lock Me");
            for _ in 0..10 {
                refused(
                    &login(spin, "lockme@example.org", &"x".repeat(129)),
                    "129 characters",
                );
            }
            assert_eq!(
                pg.psql("SELECT count(*) FROM login_throttles WHERE email_key = 'lockme@example.org'"),
                "0"
            );
            expect::json(&login(spin, "lockme@example.org", PASSWORD), 200);
        },
    );
}

/// The hash budgets under the host: a `spin up` of its own with `hash_budget=2/1000`.
pub fn budget_checks(pg: &Postgres, checks: &mut Checks) {
    let spin = Spin::start_with(
        pg,
        &SpinOptions {
            variables: vec![("hash_budget".into(), "2/1000".into())],
            ..SpinOptions::default()
        },
    );
    checks.run(
        "attack 4: a client gets 2 password checks a second, then 429 with Retry-After: 1 (its own spin-client-addr header changes nothing)",
        || {
            for _ in 0..5 {
                pg.psql("DELETE FROM hash_budgets");
                let statuses: Vec<(u16, Option<String>)> = (0..3)
                    .map(|n| {
                        let r = spin.send(
                            &anon(
                                "POST",
                                "/api/v1/auth/login",
                                &json!({"email": format!("nobody{n}@example.org"), "password": "wrong guess"}),
                            )
                            .header("spin-client-addr", &format!("198.51.100.{n}:1")),
                        );
                        (r.status, r.header("retry-after").map(str::to_owned))
                    })
                    .collect();
                if pg.psql("SELECT count(DISTINCT window_start) + count(*) FILTER (WHERE date_trunc('second', created_at) <> window_start) FROM hash_budgets") != "1" {
                    continue; // the three ran across two seconds of the database's clock
                }
                assert_eq!(
                    statuses,
                    [(401, None), (401, None), (429, Some("1".to_owned()))],
                );
                return;
            }
            panic!("never ran within one second");
        },
    );
}

/// Issue 22, attack 4: anonymous sign-ins (each an Argon2id hash) beside a signed-in user's
/// writes. Before the fix, 174 of 400 logins and 4 of 25 PATCHes of the other user answered
/// 503 with the database healthy, and 2 of those PATCHes were stored. Here without a hash
/// budget (the CPU as busy as an attacker can make it): 24 clients sign in without pause
/// while the user sends 25 PATCHes one after the other. No write is answered as failed and
/// stored (a 503 for a stored write must say the outcome is unknown); at most 1 % of the
/// logins and 1 of the PATCHes answer 503, every other login 401 and every other PATCH 200.
///
/// Why a margin at all: this check bounds the database at 250 ms on an instance that two
/// cores' worth of hashing keeps busy, so it is a check on time. The old code failed 43 % of
/// the logins. The fixed code, on a 2-core machine (two compilers running too, or not),
/// still answered 0 to 3 logins in about 600 with 503, each after 3 to 6 s: its timers woke
/// seconds late, and the time a busy instance got back was capped at 3 x 250 ms. With that
/// allowance at least 5 s (`MIN_BUSY_ALLOWANCE`, src/db/database.rs): 0 of 1,777 logins in
/// three runs.
pub fn cpu_burst_checks(pg: &Postgres, checks: &mut Checks) {
    const LOGIN_CLIENTS: usize = 24;
    // A short database bound, so that a statement stuck behind a few hashes on a busy
    // instance would pass it (with the 1 s default the old code failed only when the machine
    // was loaded as well).
    //
    // The database must stay healthy for the check to mean anything, and here it shares two
    // cores with 24 hashing requests: at the same priority its backends waited for a core
    // long enough that PostgreSQL's own `statement_timeout` (the same 250 ms) cancelled
    // statements (sqlstate 57014 in the log), and calls whose timers woke on time got no
    // answer (CI, 2026-12-07: 1 login in 559; 10 in 572 on a machine that was building
    // too). That is a slow database, which 503 is the right answer to. So the database gets
    // priority over everything else here, as on a server of its own, while the instance
    // stays as busy as the hashes make it. Without root, spin runs at nice 10 instead (on a
    // machine busy with other work too, that can starve spin itself).
    let prioritised = pg.prioritise();
    eprintln!("e2e: CPU burst: database backends at nice -10: {prioritised}");
    let spin = Spin::start_with(
        pg,
        &SpinOptions {
            variables: vec![("db_timeout_ms".into(), "250".into())],
            nice: (!prioritised).then_some(10),
            ..SpinOptions::default()
        },
    );
    checks.run(
        "attack 4: 24 clients' anonymous sign-ins beside 25 PATCHes of a signed-in user: no 503, no write answered as failed that was stored",
        || {
            let writer = register(&spin, "writer@example.org", "Writer");
            let port = spin.port;
            let done = Arc::new(AtomicBool::new(false));
            let burst: Vec<_> = (0..LOGIN_CLIENTS)
                .map(|client| {
                    let done = Arc::clone(&done);
                    std::thread::spawn(move || {
                        let mut statuses = Vec::new();
                        let mut n = 0;
                        while !done.load(Ordering::SeqCst) {
                            n += 1;
                            let status = anon(
                                "POST",
                                "/api/v1/auth/login",
                                &json!({"email": format!("burst{client}-{n}@example.org"), "password": "not a password of anyone"}),
                            )
                            .send(port)
                            .map(|r| r.status)
                            .unwrap_or(0);
                            statuses.push(status);
                        }
                        statuses
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut patches = Vec::new();
            for n in 0..25 {
                let name = format!("Writer {n}");
                let r = spin.send(&bearer(
                    "PATCH",
                    "/api/v1/me",
                    &writer.access,
                    Some(&json!({ "name": name })),
                ));
                let stored = pg.psql(&format!(
                    "SELECT name FROM users WHERE id = {}",
                    writer.id
                ));
                let outcome_unknown = r.status == 503
                    && String::from_utf8_lossy(&r.body).contains("may or may not have been applied");
                patches.push((r.status, stored == name, outcome_unknown));
            }
            done.store(true, Ordering::SeqCst);
            let logins: Vec<u16> = burst
                .into_iter()
                .flat_map(|t| t.join().expect("client thread"))
                .collect();
            let not_401 = logins.iter().filter(|s| **s != 401).count();
            eprintln!(
                "e2e: CPU burst: {} logins, {not_401} not 401; PATCHes {:?}",
                logins.len(),
                patches.iter().map(|(s, _, _)| *s).collect::<Vec<_>>()
            );
            if not_401 > 0 {
                eprintln!("e2e: CPU burst: what the components logged:\n{}", spin.failure_logs(40));
            }
            let why = || spin.failure_logs(40);
            assert!(logins.len() >= LOGIN_CLIENTS, "{} logins", logins.len());
            assert!(
                logins.iter().all(|s| *s == 401 || *s == 503),
                "every anonymous sign-in is 401 (or 503): {:?}\n{}",
                logins
                    .iter()
                    .filter(|s| **s != 401)
                    .collect::<Vec<_>>(),
                why()
            );
            assert!(
                not_401 * 100 <= logins.len(),
                "at most 1 % of the sign-ins answered 503: {not_401} of {}\nwhat the components logged about it:\n{}",
                logins.len(),
                why()
            );
            let answered_failed_but_stored: Vec<_> = patches
                .iter()
                .filter(|(status, stored, outcome_unknown)| {
                    *status != 200 && *stored && !outcome_unknown
                })
                .collect();
            assert!(
                answered_failed_but_stored.is_empty(),
                "a PATCH answered as failed was stored: {patches:?}\n{}",
                why()
            );
            let failed = patches.iter().filter(|(status, ..)| *status != 200).count();
            assert!(
                patches
                    .iter()
                    .all(|(status, stored, _)| (*status == 200 && *stored) || *status == 503)
                    && failed <= 1,
                "every PATCH 200 and stored, at most one 503: {patches:?}\n{}",
                why()
            );
        },
    );
}
