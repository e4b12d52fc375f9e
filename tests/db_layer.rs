//! The database layer against a real PostgreSQL, through the host-like native adapter:
//! shared connection reuse and replacement, transactions that always end, timeouts, error
//! classification and the host's parameter type rules.

mod common;

use std::time::Duration;

use common::{Instance, TestDatabase, hanging_address};
use keemu::db::{Connector, Database, Db, DbError, DbValue, ParameterValue, Unavailable};
use keemu_pg_native::NativeConnector;

async fn backend_pid(db: &impl Db) -> i32 {
    let rows = db
        .read("SELECT pg_backend_pid() AS pid", &[])
        .await
        .expect("pid");
    rows[0].get::<i32>("pid").expect("pid column")
}

#[tokio::test]
async fn requests_of_an_instance_share_one_connection() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let first = backend_pid(&instance.request_db()).await;
    let second = backend_pid(&instance.request_db()).await;
    assert_eq!(
        first, second,
        "the second request reused the kept connection"
    );
    assert_eq!(
        instance.connector.pool().status().size,
        1,
        "one connection opened"
    );
}

#[tokio::test]
async fn a_request_without_statements_opens_nothing() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    drop(db);
    assert!(!instance.shared.is_open());
    assert_eq!(instance.connector.pool().status().size, 0);
}

#[tokio::test]
async fn a_broken_shared_connection_is_replaced_and_the_read_retried() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let old_pid = backend_pid(&instance.request_db()).await;

    let admin = test_db.client().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&old_pid])
        .await
        .expect("terminate");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The read fails on the dead connection, the connection is discarded, and the read is
    // retried once on a fresh one: the request succeeds.
    let db = instance.request_db();
    let new_pid = backend_pid(&db).await;
    assert_ne!(old_pid, new_pid);
    assert_eq!(
        db_statements(&db),
        2,
        "the read was sent twice (once retried)"
    );
    assert_eq!(
        backend_pid(&instance.request_db()).await,
        new_pid,
        "the fresh one is kept"
    );
}

fn db_statements(db: &Database<NativeConnector>) -> u32 {
    db.statements_sent()
}

#[tokio::test]
async fn a_write_on_a_broken_connection_is_not_retried() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let pid = backend_pid(&instance.request_db()).await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("terminate");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let db = instance.request_db();
    let result = db
        .execute(
            "INSERT INTO notes (body) VALUES ($1)",
            &[ParameterValue::Str("x".into())],
        )
        .await;
    // Sent on a connection that turned out broken: whether it reached the server cannot be
    // told from the host's error (`Error { kind: Closed }` either way), so it is not sent
    // again and its outcome is unknown.
    assert_eq!(
        result,
        Err(DbError::OutcomeUnknown(Unavailable::ConnectionLost))
    );
    assert!(
        !instance.shared.is_open(),
        "the broken connection was discarded"
    );
    let count: i64 = admin
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0, "the write was not retried");
    // The next request opens a fresh connection and works.
    assert!(backend_pid(&instance.request_db()).await > 0);
}

#[tokio::test]
async fn a_failed_transaction_leaves_no_transaction_open() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
        .await
        .expect("table");
    // One connection in the pool: the next open gets the very connection the transaction used.
    let connector = NativeConnector::with_pool_size(&test_db.address, 1).expect("connector");
    let instance = Instance::new(connector);
    let db = instance.request_db();

    // The closure fails after a write: ROLLBACK.
    let result: Result<(), DbError> = db
        .transaction(async |tx| {
            tx.execute("INSERT INTO notes (body) VALUES ('a')", &[])
                .await?;
            Err(DbError::Client { kind: "test" })
        })
        .await;
    assert!(result.is_err());
    // A statement fails on the server inside the transaction: ROLLBACK.
    let result: Result<(), DbError> = db
        .transaction(async |tx| {
            tx.execute("INSERT INTO notes (body) VALUES ('b')", &[])
                .await?;
            tx.read("SELECT 1 / 0 AS boom", &[]).await?;
            Ok(())
        })
        .await;
    assert_eq!(
        result,
        Err(DbError::Server {
            sqlstate: "22012".into()
        })
    );
    let statements = db.connector().log().statements();
    assert_eq!(statements.iter().filter(|s| *s == "BEGIN").count(), 2);
    assert_eq!(statements.iter().filter(|s| *s == "ROLLBACK").count(), 2);

    // The pooled connection is back outside any transaction, and nothing was written.
    let conn = instance.connector.open().await.expect("open");
    let rows = keemu::db::Connection::query(
        &conn,
        "SELECT pg_current_xact_id_if_assigned()::text AS xact, \
                (SELECT count(*) FROM notes) AS notes",
        &[],
    )
    .await
    .expect("query");
    assert_eq!(rows[0].get_opt::<String>("xact").expect("xact"), None);
    assert_eq!(rows[0].get::<i64>("notes").expect("notes"), 0);
    let idle_in_tx: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .expect("activity")
        .get(0);
    assert_eq!(idle_in_tx, 0);
}

#[tokio::test]
async fn a_transaction_commits_on_its_own_connection() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    let shared_pid = backend_pid(&db).await;
    let tx_pid = db
        .transaction(async |tx| {
            tx.execute("INSERT INTO notes (body) VALUES ('kept')", &[])
                .await?;
            Ok::<_, DbError>(backend_pid(tx).await)
        })
        .await
        .expect("commit");
    assert_ne!(
        shared_pid, tx_pid,
        "a transaction takes a connection of its own"
    );
    let count: i64 = admin
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_transaction_dropped_midway_is_not_returned_to_the_pool_open() {
    let test_db = TestDatabase::create().await;
    let connector = NativeConnector::with_pool_size(&test_db.address, 1).expect("connector");
    let instance = Instance::new(connector);
    let db = instance.request_db();
    let tx_pid = std::cell::Cell::new(0);
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        db.transaction(async |tx| {
            tx.execute("CREATE TEMP TABLE t (x int)", &[]).await?;
            tx_pid.set(backend_pid(tx).await);
            tx.read("SELECT pg_sleep(30)", &[]).await?;
            Ok::<_, DbError>(())
        }),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the request's future was dropped mid-transaction"
    );
    assert_ne!(tx_pid.get(), 0);
    let conn = instance.connector.open().await.expect("open");
    let rows = keemu::db::Connection::query(
        &conn,
        "SELECT pg_current_xact_id_if_assigned()::text AS xact, pg_backend_pid() AS pid",
        &[],
    )
    .await
    .expect("query");
    assert_eq!(rows[0].get_opt::<String>("xact").expect("xact"), None);
    assert_ne!(
        rows[0].get::<i32>("pid").expect("pid"),
        tx_pid.get(),
        "the abandoned connection never went back to the pool"
    );
}

#[tokio::test]
async fn a_hung_statement_times_out_and_its_connection_is_discarded() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector()).with_timeout(Duration::from_millis(200));
    let db = instance.request_db();
    backend_pid(&db).await;
    let result = db.read("SELECT pg_sleep(30)", &[]).await;
    assert_eq!(
        result.unwrap_err(),
        DbError::Unavailable(Unavailable::Timeout)
    );
    assert!(!instance.shared.is_open());
}

#[tokio::test]
async fn a_database_that_never_answers_gives_unavailable_within_the_timeout() {
    let address = hanging_address().await;
    let connector = NativeConnector::new(&address).expect("connector");
    let instance = Instance::new(connector).with_timeout(Duration::from_millis(200));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        instance.request_db().read("SELECT 1", &[]),
    )
    .await
    .expect("bounded by the database timeout, not hung");
    assert_eq!(
        result.unwrap_err(),
        DbError::Unavailable(Unavailable::Timeout)
    );
}

#[tokio::test]
async fn unique_violations_name_their_constraint() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute(
            "CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY, name text, \
             CONSTRAINT uq_tags_name UNIQUE (name))",
        )
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    let insert = "INSERT INTO tags (name) VALUES ($1)";
    db.execute(insert, &[ParameterValue::Str("x".into())])
        .await
        .expect("first");
    let error = db
        .execute(insert, &[ParameterValue::Str("x".into())])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DbError::UniqueViolation {
            constraint: Some("uq_tags_name".into())
        }
    );
    assert!(
        instance.shared.is_open(),
        "a server error keeps the connection"
    );
}

#[tokio::test]
async fn parameters_bind_as_the_host_binds_them() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute(
            "CREATE TABLE t (small integer, big bigint, at timestamptz, day date, word text)",
        )
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    // An i64 does not bind to an integer column (the host refuses it too).
    let error = db
        .execute(
            "INSERT INTO t (small) VALUES ($1)",
            &[ParameterValue::Int64(1)],
        )
        .await
        .unwrap_err();
    assert_eq!(error, DbError::Client { kind: "bind" });
    assert!(
        instance.shared.is_open(),
        "a type error is not a connection error"
    );
    // Datetime binds to timestamp only: a timestamptz column needs the cast.
    let at = ParameterValue::Datetime((2026, 11, 27, 5, 0, 0, 0));
    let error = db
        .execute("INSERT INTO t (at) VALUES ($1)", std::slice::from_ref(&at))
        .await
        .unwrap_err();
    assert_eq!(error, DbError::Client { kind: "bind" });
    db.execute(
        "INSERT INTO t (small, big, at, day, word) \
         VALUES ($1, $2, ($3::timestamp AT TIME ZONE 'UTC'), $4, $5)",
        &[
            ParameterValue::Int32(1),
            ParameterValue::Int64(2),
            at,
            ParameterValue::Date((2000, 2, 29)),
            ParameterValue::Str("w".into()),
        ],
    )
    .await
    .expect("insert with the right types");
    let rows = db
        .read(
            "SELECT small, big, (at AT TIME ZONE 'UTC') AS at, day, word FROM t WHERE small IS NOT NULL",
            &[],
        )
        .await
        .expect("read");
    assert_eq!(rows[0].get::<i32>("small").ok(), Some(1));
    assert_eq!(rows[0].get::<i64>("big").ok(), Some(2));
    let at: keemu::db::Timestamp = rows[0].get("at").expect("timestamptz");
    assert_eq!(at.to_rfc3339(), "2026-11-27T05:00:00.000000Z");
    assert_eq!(
        rows[0].get::<chrono::NaiveDate>("day").ok(),
        chrono::NaiveDate::from_ymd_opt(2000, 2, 29)
    );
    // A citext/json/enum column arrives as Unsupported; the decode error names the column.
    let rows = db
        .read("SELECT '{}'::json AS doc", &[])
        .await
        .expect("read");
    let error = rows[0].get::<String>("doc").unwrap_err();
    assert!(error.to_string().contains("`doc`"), "{error}");
}

/// Spin 4.0.2 cannot decode a `timestamptz` result (measured): the statement runs, then the
/// whole result fails. The adapter must fail the same way, so SQL that works natively works
/// under Spin.
#[tokio::test]
async fn a_timestamptz_result_fails_as_on_the_host_and_keeps_the_connection() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute(
            "CREATE TABLE stamped (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let pid = backend_pid(&instance.request_db()).await;

    for sql in [
        "SELECT now() AS at",
        "SELECT NULL::timestamptz AS at",
        "SELECT 1::bigint AS id, now() AS at",
    ] {
        let db = instance.request_db();
        let error = db.read(sql, &[]).await.unwrap_err();
        assert_eq!(error, DbError::Client { kind: "decode" }, "{sql}");
        assert_eq!(error.kind(), "decode");
        assert_eq!(
            db_statements(&db),
            1,
            "a decode failure is not retried: {sql}"
        );
    }
    // The write ran on the server although its result could not be read (as on the host).
    let db = instance.request_db();
    let error = db
        .write(
            "INSERT INTO stamped (id) VALUES ($1) RETURNING id, at",
            &[ParameterValue::Int64(7)],
        )
        .await
        .unwrap_err();
    assert_eq!(error, DbError::Client { kind: "decode" });
    let count: i64 = admin
        .query_one("SELECT count(*) FROM stamped WHERE id = 7", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1, "the row was written before the result failed");

    assert!(
        instance.shared.is_open(),
        "a decode failure keeps the kept connection"
    );
    assert_eq!(
        backend_pid(&instance.request_db()).await,
        pid,
        "same backend"
    );

    // The form every statement uses instead: a UTC timestamp, decoded as Datetime.
    let rows = instance
        .request_db()
        .read(
            "SELECT (at AT TIME ZONE 'UTC') AS at FROM stamped WHERE id = $1",
            &[ParameterValue::Int64(7)],
        )
        .await
        .expect("UTC timestamp decodes");
    let at: keemu::db::Timestamp = rows[0].get("at").expect("timestamp");
    assert!(at.to_rfc3339().ends_with('Z'));
}

/// What the host returns as raw bytes (`Unsupported`) rather than a typed value.
#[tokio::test]
async fn types_the_host_does_not_convert_arrive_as_unsupported() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let rows = instance
        .request_db()
        .read(
            "SELECT '{\"a\":1}'::json AS doc, '12:00+02'::timetz AS tz, \
             '127.0.0.1'::inet AS addr, 'x'::name AS n, '{\"a\":1}'::jsonb AS docb",
            &[],
        )
        .await
        .expect("read");
    for column in ["doc", "tz", "addr", "n"] {
        assert!(
            matches!(rows[0].value(column), Ok(DbValue::Unsupported(_))),
            "{column}: {:?}",
            rows[0]
        );
    }
    assert!(matches!(rows[0].value("docb"), Ok(DbValue::Jsonb(_))));
    // Cast in SQL to read them.
    let rows = instance
        .request_db()
        .read(
            "SELECT '127.0.0.1'::inet::text AS addr, 'x'::name::text AS n",
            &[],
        )
        .await
        .expect("read");
    assert_eq!(
        rows[0].get::<String>("addr").ok().as_deref(),
        Some("127.0.0.1/32")
    );
    assert_eq!(rows[0].get::<String>("n").ok().as_deref(), Some("x"));
}

/// Parameters, as measured under the host: each variant binds to its own PostgreSQL type.
#[tokio::test]
async fn parameter_rules_match_the_host() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    let bind_fails = [
        (
            "SELECT $1::timestamptz AS v",
            ParameterValue::Datetime((2026, 1, 2, 3, 4, 5, 0)),
        ),
        ("SELECT $1::integer AS v", ParameterValue::Int64(1)),
        ("SELECT $1::bigint AS v", ParameterValue::Int32(1)),
        ("SELECT $1::smallint AS v", ParameterValue::Int32(1)),
    ];
    for (sql, param) in bind_fails {
        let error = db
            .read(sql, std::slice::from_ref(&param))
            .await
            .unwrap_err();
        assert_eq!(error, DbError::Client { kind: "bind" }, "{sql}");
    }
    assert!(
        instance.shared.is_open(),
        "a bind failure keeps the kept connection"
    );

    let rows = db
        .read(
            "SELECT ($1::timestamp AT TIME ZONE 'UTC') = timestamptz '2026-01-02 03:04:05Z' AS a, \
                    $2::timestamptz = timestamptz '2026-01-02 03:04:05Z' AS b, \
                    $3::uuid::text AS c, ($4::jsonb ->> 'k') AS d, $5::bigint AS e",
            &[
                ParameterValue::Datetime((2026, 1, 2, 3, 4, 5, 0)),
                ParameterValue::Timestamp(1_767_323_045),
                ParameterValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
                ParameterValue::Jsonb(br#"{"k":"v"}"#.to_vec()),
                ParameterValue::Int64(i64::MAX),
            ],
        )
        .await
        .expect("binds");
    assert_eq!(rows[0].get::<bool>("a").ok(), Some(true));
    assert_eq!(rows[0].get::<bool>("b").ok(), Some(true));
    assert_eq!(
        rows[0].get::<String>("c").ok().as_deref(),
        Some("67e55044-10b1-426f-9247-bb680e5fe0c8")
    );
    assert_eq!(rows[0].get::<String>("d").ok().as_deref(), Some("v"));
    assert_eq!(rows[0].get::<i64>("e").ok(), Some(i64::MAX));
}

/// A timestamp written the way every statement must write one under Spin: bound as a UTC
/// `timestamp` and converted in SQL; read back the same way, to the microsecond.
#[tokio::test]
async fn a_timestamp_round_trips_through_a_timestamptz_column() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE seen (id bigint PRIMARY KEY, at timestamptz)")
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    let at = keemu::db::Timestamp::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-28T23:59:58.123456+01:00")
            .expect("time")
            .to_utc(),
    );
    let rows = db
        .write(
            "INSERT INTO seen (id, at) VALUES ($1, ($2::timestamp AT TIME ZONE 'UTC')) \
             RETURNING (at AT TIME ZONE 'UTC') AS at",
            &[ParameterValue::Int64(1), at.into()],
        )
        .await
        .expect("insert");
    let back: keemu::db::Timestamp = rows[0].get("at").expect("at");
    assert_eq!(back, at);
    assert_eq!(back.to_rfc3339(), "2026-11-28T22:59:58.123456Z");
    let stored: String = admin
        .query_one(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM seen",
            &[],
        )
        .await
        .expect("stored")
        .get(0);
    assert_eq!(stored, "2026-11-28 22:59:58.123456");
}

/// Keeps the thread busy for `how_long`, as a request hashing a password keeps its
/// instance busy: nothing else of the instance (here: of the current-thread runtime) runs.
fn busy(how_long: Duration) {
    let started = std::time::Instant::now();
    let mut x = 0u64;
    while started.elapsed() < how_long {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
}

/// Issue 22, item 4: the statement is sent, the server answers within the timeout, but the
/// instance is busy (CPU work of another request) until after the deadline; when it is
/// free again, both the timer and the answer are there. The answer must win: the write
/// committed, and was answered as failed (a 503) before.
#[tokio::test]
async fn an_answer_that_arrived_while_the_instance_was_busy_is_not_a_timeout() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
        .await
        .expect("table");
    let instance = Instance::new(test_db.connector()).with_timeout(Duration::from_millis(200));
    backend_pid(&instance.request_db()).await;
    for (n, sql) in [
        "INSERT INTO notes (body) SELECT 'kept' FROM pg_sleep(0.05) RETURNING id",
        "SELECT count(*) AS n FROM notes, pg_sleep(0.05)",
    ]
    .into_iter()
    .enumerate()
    {
        let db = instance.request_db();
        let started = std::time::Instant::now();
        let call = db.write(sql, &[]);
        let mut call = std::pin::pin!(call);
        // Sent: the first poll hands it to the connection, which sends it while this task
        // sleeps (without blocking) long enough for the server to start on it.
        std::future::poll_fn(|cx| {
            assert!(call.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Busy past the deadline; the server answers meanwhile (after 50 ms).
        busy(Duration::from_millis(400));
        let result = call.await;
        let rows = result.unwrap_or_else(|e| panic!("statement {n}: {e:?} (a false timeout)"));
        assert_eq!(rows.len(), 1, "statement {n}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let count: i64 = admin
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1);
    assert!(instance.shared.is_open(), "the connection was kept");
}

/// Issue 22, item 10: PostgreSQL restarts (its port refuses connections for 600 ms, the
/// connections it had are cut). Reads wait and retry within `db_timeout_ms`: none fails.
#[tokio::test]
async fn reads_wait_through_a_database_restart() {
    let test_db = TestDatabase::create().await;
    let proxy = std::sync::Arc::new(common::Restartable::start(&test_db.address));
    let instance = Instance::new(NativeConnector::new(&proxy.address).expect("connector"))
        .with_timeout(Duration::from_secs(3));
    let before = backend_pid(&instance.request_db()).await;
    assert!(instance.shared.is_open());

    proxy.down();
    let restarted = {
        let proxy = std::sync::Arc::clone(&proxy);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            proxy.up();
        })
    };
    let started = std::time::Instant::now();
    let dbs: Vec<_> = (0..8).map(|_| instance.request_db()).collect();
    let reads = dbs
        .iter()
        .map(|db| db.read("SELECT pg_backend_pid() AS pid", &[]));
    let results = futures_util::future::join_all(reads).await;
    let took = started.elapsed();
    restarted.join().expect("restart");
    for result in &results {
        let rows = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{e:?} after {took:?}"));
        assert_ne!(rows[0].get::<i32>("pid").expect("pid"), before);
    }
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A read when the restart lasts longer than the timeout still fails, within it.
    proxy.down();
    let instance = instance.with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let result = instance.request_db().read("SELECT 1", &[]).await;
    assert!(matches!(result, Err(DbError::Unavailable(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 22, item 10: a write that never reached the server (no connection could be opened:
/// the database was restarting) is sent once it is back, within `db_timeout_ms`; exactly
/// one row. A write sent on a connection the restart cut is not sent again: its outcome
/// is unknown, and it says so.
#[tokio::test]
async fn a_write_that_never_reached_the_server_waits_through_a_restart() {
    let test_db = TestDatabase::create().await;
    let admin = test_db.client().await;
    admin
        .batch_execute("CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
        .await
        .expect("table");
    let proxy = std::sync::Arc::new(common::Restartable::start(&test_db.address));
    let instance = Instance::new(NativeConnector::new(&proxy.address).expect("connector"))
        .with_timeout(Duration::from_secs(3));
    backend_pid(&instance.request_db()).await;

    // The kept connection is cut under a write: not retried, outcome unknown.
    proxy.down();
    proxy.up();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let result = instance
        .request_db()
        .write("INSERT INTO notes (body) VALUES ('cut') RETURNING id", &[])
        .await;
    assert_eq!(
        result.map(|rows| rows.len()),
        Err(DbError::OutcomeUnknown(Unavailable::ConnectionLost))
    );
    assert!(!instance.shared.is_open());

    // No connection kept, the database restarting: the write waits for it.
    proxy.down();
    let restarted = {
        let proxy = std::sync::Arc::clone(&proxy);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            proxy.up();
        })
    };
    let started = std::time::Instant::now();
    let db = instance.request_db();
    let rows = db
        .write("INSERT INTO notes (body) VALUES ('kept') RETURNING id", &[])
        .await
        .expect("the write, once the database is back");
    restarted.join().expect("restart");
    assert_eq!(rows.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(db_statements(&db), 1, "sent once");
    // And a transaction's connection the same way.
    proxy.down();
    let restarted = {
        let proxy = std::sync::Arc::clone(&proxy);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            proxy.up();
        })
    };
    instance.request_db().discard_shared();
    instance
        .request_db()
        .transaction(async |tx| {
            tx.execute("INSERT INTO notes (body) VALUES ('in a transaction')", &[])
                .await
        })
        .await
        .expect("the transaction, once the database is back");
    restarted.join().expect("restart");
    let bodies: Vec<String> = admin
        .query("SELECT body FROM notes ORDER BY id", &[])
        .await
        .expect("rows")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(bodies, ["kept", "in a transaction"]);
}
