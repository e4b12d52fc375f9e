//! The server-side bound: a connection opened through the adapter with the address the
//! components use carries `statement_timeout` and `lock_timeout`, so a statement the
//! component stopped waiting for does not go on running (and committing) on the server.

mod common;

use std::time::Duration;

use common::TestDatabase;
use keemu::db::address::{server_timeout_ms, with_connect_timeout, with_server_timeouts};
use keemu::db::{Database, Db, DbError, SharedConnection};
use keemu::http::ApiError;
use keemu_pg_native::NativeConnector;

/// The component bound for these tests; the server one is 90 % of it.
const DB_TIMEOUT_MS: u64 = 1000;

/// The test database's address as a URL (the server address is key=value or URL).
fn as_url(address: &str) -> String {
    if address.starts_with("postgres") {
        return address.to_owned();
    }
    let config: tokio_postgres::Config = address.parse().expect("address");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let dbname = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{user}@{host}:{port}/{dbname}?sslmode=disable")
}

/// The database a component request sees, over the address the components build.
fn component_db(address: &str) -> Database<NativeConnector> {
    let address =
        with_server_timeouts(&with_connect_timeout(address, DB_TIMEOUT_MS), DB_TIMEOUT_MS);
    let connector = NativeConnector::new(&address).expect("connector");
    // A component bound well above the server's, so the server's is the one that fires.
    Database::new(connector, SharedConnection::new(), Duration::from_secs(10))
}

async fn show(db: &impl Db, setting: &str) -> String {
    let rows = db
        .read(&format!("SELECT current_setting('{setting}') AS v"), &[])
        .await
        .expect("current_setting");
    rows[0].get::<String>("v").expect("text")
}

async fn backend_pid(db: &impl Db) -> i32 {
    let rows = db
        .read("SELECT pg_backend_pid() AS pid", &[])
        .await
        .expect("pid");
    rows[0].get::<i32>("pid").expect("pid")
}

#[tokio::test(flavor = "current_thread")]
async fn both_address_forms_set_the_timeouts_and_a_long_statement_fails_with_57014() {
    let test_db = TestDatabase::create().await;
    let expected = format!("{}ms", server_timeout_ms(DB_TIMEOUT_MS));
    assert_eq!(expected, "900ms");
    let kv = test_db.address.clone();
    assert!(
        !kv.starts_with("postgres"),
        "the test server address is key=value"
    );
    for address in [kv.clone(), as_url(&kv)] {
        let db = component_db(&address);
        assert_eq!(show(&db, "statement_timeout").await, expected, "{address}");
        assert_eq!(show(&db, "lock_timeout").await, expected, "{address}");

        let pid = backend_pid(&db).await;
        let error = db
            .read("SELECT pg_sleep(3)", &[])
            .await
            .expect_err("pg_sleep(3) outlives statement_timeout");
        assert_eq!(
            error,
            DbError::ServerTimeout { sqlstate: "57014" },
            "{address}"
        );
        assert!(!error.is_connection_error());
        assert_eq!(ApiError::from(error), ApiError::Unavailable);
        // The kept connection was not discarded and still works.
        assert_eq!(backend_pid(&db).await, pid, "{address}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_that_times_out_on_the_server_does_not_commit() {
    let test_db = TestDatabase::create().await;
    let db = component_db(&test_db.address);
    let result = db
        .write(
            "INSERT INTO users (email, name) SELECT 'late@example.com', 'Late' \
             FROM pg_sleep(3) RETURNING id",
            &[],
        )
        .await;
    assert_eq!(
        result.err(),
        Some(DbError::ServerTimeout { sqlstate: "57014" })
    );
    let count: i64 = test_db
        .client()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_statement_waiting_for_a_lock_gives_up_on_the_server() {
    let test_db = TestDatabase::create().await;
    let holder = test_db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("hold the lock");
    let db = component_db(&test_db.address);
    let error = db
        .read("SELECT count(*) AS n FROM users", &[])
        .await
        .expect_err("the lock is held longer than lock_timeout");
    // lock_timeout equals statement_timeout, and the statement's timer starts first, so
    // PostgreSQL reports 57014; 55P03 (lock_not_available) is classified the same way.
    assert!(matches!(error, DbError::ServerTimeout { .. }), "{error:?}");
    assert!(!error.is_connection_error());
    holder.batch_execute("ROLLBACK").await.expect("release");
    let rows = db
        .read("SELECT count(*)::int AS n FROM users", &[])
        .await
        .expect("the connection still works");
    assert_eq!(rows[0].get::<i32>("n").ok(), Some(0));
}

/// An address that sets its own `options` keeps them: the server-side bound is then the
/// operator's choice.
#[tokio::test(flavor = "current_thread")]
async fn an_address_with_its_own_options_is_left_alone() {
    let test_db = TestDatabase::create().await;
    let address = format!("{} options='-c statement_timeout=1234'", test_db.address);
    let db = component_db(&address);
    assert_eq!(show(&db, "statement_timeout").await, "1234ms");
    assert_eq!(show(&db, "lock_timeout").await, "0");
}
