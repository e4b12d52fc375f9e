//! End-to-end tests under a real `spin up` (Spin 4) and PostgreSQL, over loopback HTTP.
//!
//! They need the `spin` CLI and the built components, so they are `#[ignore]`d for plain
//! `cargo test`; `make e2e` (and `make test`, where spin is found) builds the wasm and runs
//! them with `--ignored`. Spin is looked up as `$KEEMU_SPIN`, then `spin` on PATH, then
//! `../shared/spin/spin` beside the repository.
//!
//! To keep process starts few, five PostgreSQL servers are started in all:
//! - [`every_route_on_one_server`]: one PostgreSQL and one `spin up` for every route and
//!   method of both components, 50 concurrent creates, accounts and sign-in ([`auth`]:
//!   register, login, refresh, logout, /me, forged tokens, the throttle), and at the end a look at
//!   `pg_stat_activity` for sessions left inside a transaction;
//! - [`attacks_on_accounts`]: issue 22's attacks on accounts ([`attacks`]), its own pair and
//!   a second `spin up` with a small hash budget;
//! - [`database_outage_and_recovery`]: its own pair, for stopping, freezing and restarting
//!   the database under a running `spin up`;
//! - [`sources_and_feed`]: its own PostgreSQL, a fixture HTTP server on loopback (pages and
//!   feeds) and three `spin up`s: one that may fetch from it (subscribing by every URL form,
//!   the feed), and two with the repository's runtime config, which blocks private networks
//!   (the URL check refuses first, or the host does: the fixture server is never requested);
//! - [`ingestion`]: its own PostgreSQL, a feed server on 127.0.0.1 and five `spin up`s: one
//!   that may fetch from it (every kind of feed, concurrency, 304s, back-off, throughput),
//!   two with the repository's runtime config, which blocks private networks, and two with
//!   round budgets: the feeds built to wedge a round, and sources a round defers (issue 22);
//! - [`subscribe_ingest_and_read_the_feed`]: issue 9's "Done when" as one flow ([`flow`]):
//!   its own PostgreSQL, the feed server standing in for YouTube, Reddit and the blogs, and
//!   one `spin up` whose api and ingest components both fetch from it; then digests and their
//!   signed links ([`links`]: the page in a real headless Chromium, unsubscribe, the feed).
//! - [`digest_overviews_from_a_model`]: issue 19's overviews ([`overview`]): its own
//!   PostgreSQL, a model service on 127.0.0.1 speaking Spin's `remote_http` protocol, and two
//!   `spin up`s whose runtime config names it in `[llm_compute]`: one with the service up
//!   (answering, slow, broken), one with it down (a closed port).
//! - [`digests_over_four_weeks`]: issue 19's "Done when" ([`digest_weeks`]): three readers,
//!   four weeks of rounds through two daylight-saving changes, and a fixture mail API.
//!
//! Each runs a list of named checks ([`checks::Checks`]), reports every failure, and fails
//! at the end with all of them and the tail of the components' logs.

mod attacks;
mod auth;
mod checks;
mod client;
mod concurrency;
mod digest_weeks;
mod digests;
mod expect;
mod feed_server;
#[path = "../common/feeds.rs"]
mod feeds;
mod flow;
mod google;
mod harness;
mod health;
mod ingest;
mod links;
mod mail_server;
mod model_server;
#[allow(dead_code)]
#[path = "../common/openapi.rs"]
mod openapi;
mod outage;
mod overview;
mod sources;
mod users;

/// The component logs carry no secret and no personal data: not the token, not the database
/// address, not an email address or a name the checks submitted.
fn logs_are_clean(spin: &Spin, checks: &mut checks::Checks) {
    checks.run("logs: no token, database address or personal data", || {
        let logs = spin.all_component_logs();
        assert!(
            logs.contains("request_completed"),
            "the components logged requests"
        );
        let auth_keys = harness::auth_keys();
        for secret in [
            harness::TOKEN,
            "postgres://",
            "@example.com",
            "Ada Lovelace",
            "Racer ",
            // Passwords, the signing key, and access tokens (a JWT header starts `eyJ`).
            auth::PASSWORD,
            &auth_keys,
            "eyJ",
            "argon2",
        ] {
            let line = logs.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{secret:?} in a log line: {line:?}");
        }
    });
}

use harness::{Postgres, Spin};

fn wasm_built() {
    for name in ["keemu_health", "keemu_api", "keemu_ingest", "keemu_mail"] {
        let path = harness::repo().join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing: build the components first (`make e2e` does)",
            path.display()
        );
    }
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn every_route_on_one_server() {
    wasm_built();
    let pg = Postgres::start();
    let spin = Spin::start(&pg);
    let mut checks = checks::Checks::new();
    health::checks(&spin, &mut checks);
    users::checks(&spin, &pg, &mut checks);
    google::checks(&spin, &mut checks);
    concurrency::checks(&spin, &pg, &mut checks);
    auth::checks(&spin, &pg, &mut checks);
    checks.run("after everything: no session idle in transaction", || {
        assert_eq!(pg.idle_in_transaction(), "0");
    });
    logs_are_clean(&spin, &mut checks);
    checks.finish("every_route_on_one_server", || spin.component_logs(30));
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn attacks_on_accounts() {
    wasm_built();
    let pg = Postgres::start();
    let mut checks = checks::Checks::new();
    let logs = {
        let spin = Spin::start(&pg);
        attacks::checks(&spin, &pg, &mut checks);
        logs_are_clean(&spin, &mut checks);
        spin.component_logs(30)
    };
    attacks::budget_checks(&pg, &mut checks);
    attacks::cpu_burst_checks(&pg, &mut checks);
    checks.finish("attacks_on_accounts", || logs);
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn database_outage_and_recovery() {
    wasm_built();
    let pg = Postgres::start();
    let mut spin = Spin::start(&pg);
    let mut checks = checks::Checks::new();
    outage::checks(&mut spin, &pg, &mut checks);
    logs_are_clean(&spin, &mut checks);
    outage::restart_under_load(&pg, &mut checks);
    checks.finish("database_outage_and_recovery", || spin.component_logs(30));
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn sources_and_feed() {
    wasm_built();
    let server = sources::fixtures();
    let pg = Postgres::start();
    let mut checks = checks::Checks::new();
    {
        let spin = Spin::start_with(&pg, &sources::options(&server, true, false));
        sources::checks(&spin, &pg, &server, &mut checks);
        checks.run(
            "after the sources checks: no session idle in transaction",
            || {
                assert_eq!(pg.idle_in_transaction(), "0");
            },
        );
        logs_are_clean(&spin, &mut checks);
        checks.run(
            "sources: logs carry no access token or fixture page",
            || {
                let logs = spin.all_component_logs();
                for secret in ["Bearer", "eyJ", "Fixture"] {
                    let line = logs.lines().find(|l| l.contains(secret));
                    assert!(line.is_none(), "{secret:?} in a log line: {line:?}");
                }
            },
        );
    }
    let logs = {
        let spin = Spin::start_with(&pg, &sources::options(&server, false, true));
        sources::blocked_checks(&spin, &server, "check", &mut checks);
        spin.component_logs(30)
    };
    let spin = Spin::start_with(&pg, &sources::options(&server, true, true));
    sources::blocked_checks(&spin, &server, "host", &mut checks);
    checks.finish("sources_and_feed", || logs + &spin.component_logs(30));
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn ingestion() {
    wasm_built();
    let pg = Postgres::start();
    let feeds = feed_server::FeedServer::start();
    let mut checks = checks::Checks::new();
    let logs = {
        let spin = Spin::start_with(&pg, &ingest::options(&feeds, true, None));
        ingest::checks(&spin, &pg, &feeds, &mut checks);
        checks.run(
            "ingest: throughput, 50 sources x 50 items in one round",
            || ingest::throughput(&spin, &pg, &feeds, 50, 1),
        );
        checks.run(
            "ingest: throughput, 200 sources x 50 items in 4 concurrent rounds",
            || ingest::throughput(&spin, &pg, &feeds, 200, 4),
        );
        checks.run("after ingestion: no session idle in transaction", || {
            assert_eq!(pg.idle_in_transaction(), "0");
        });
        logs_are_clean(&spin, &mut checks);
        spin.component_logs(30)
    };
    ingest::blocked(&pg, &feeds, &mut checks);
    ingest::hostile(&pg, &feeds, &mut checks);
    ingest::deferred(&pg, &feeds, &mut checks);
    checks.finish("ingestion", || logs);
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn subscribe_ingest_and_read_the_feed() {
    wasm_built();
    let pg = Postgres::start();
    let feeds = feed_server::FeedServer::start();
    let spin = Spin::start_with(&pg, &flow::options(&feeds));
    let mut checks = checks::Checks::new();
    flow::checks(&spin, &pg, &feeds, &mut checks);
    digests::checks(&spin, &pg, &mut checks);
    links::checks(&spin, &pg, &feeds, &mut checks);
    checks.run("after the flow: no session idle in transaction", || {
        assert_eq!(pg.idle_in_transaction(), "0");
    });
    logs_are_clean(&spin, &mut checks);
    checks.finish("subscribe_ingest_and_read_the_feed", || {
        spin.component_logs(30)
    });
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn digests_over_four_weeks() {
    wasm_built();
    let pg = Postgres::start();
    let feeds = feed_server::FeedServer::start();
    let mail = mail_server::MailServer::start();
    let spin = Spin::start_with(&pg, &digest_weeks::options(&feeds, &mail));
    let mut checks = checks::Checks::new();
    digest_weeks::checks(&spin, &pg, &feeds, &mail, &mut checks);
    checks.run("after the weeks: no session idle in transaction", || {
        assert_eq!(pg.idle_in_transaction(), "0");
    });
    logs_are_clean(&spin, &mut checks);
    checks.finish("digests_over_four_weeks", || spin.component_logs(30));
}

#[test]
#[ignore = "needs the spin CLI (Spin 4) and the built components: run `make e2e`"]
fn digest_overviews_from_a_model() {
    wasm_built();
    let model = model_server::ModelServer::start();
    let pg = Postgres::start();
    overview::seed(&pg);
    let mut checks = checks::Checks::new();
    let logs = {
        let spin = Spin::start_with(&pg, &overview::options(model.url()));
        overview::checks(&spin, &pg, &model, &mut checks);
        spin.component_logs(30)
    };
    let spin = Spin::start_with(&pg, &overview::options(overview::closed_port_url()));
    overview::down_checks(&spin, &pg, &mut checks);
    checks.finish("digest_overviews_from_a_model", || {
        format!("{logs}{}", spin.component_logs(30))
    });
}
