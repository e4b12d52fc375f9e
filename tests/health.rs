//! The health component's handler against a real PostgreSQL (and against databases that
//! refuse or hang).

mod common;

use std::time::Duration;

use common::{Instance, TestDatabase, hanging_address, json, refused_address, request};
use keemu::http::health::{self, HealthInfo};
use keemu_pg_native::NativeConnector;

fn info() -> HealthInfo {
    HealthInfo {
        app_name: "KeeMU".into(),
        environment: "test".into(),
    }
}

fn latest_migration() -> i32 {
    keemu_pg_native::migrate::embedded()
        .last()
        .map(|(v, _, _)| *v)
        .expect("at least one migration")
}

#[tokio::test]
async fn healthy_with_a_migrated_database() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    let response = health::handle(&request("GET", "/health"), &info(), &db).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json(&response);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    assert_eq!(body["app_name"], "KeeMU");
    assert_eq!(body["environment"], "test");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["schema_version"], latest_migration());
    // pgvector is not packaged on these machines.
    assert_eq!(body["vector_extension"], "unavailable");
    assert!(
        body["database_latency_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0)
    );
    assert_eq!(db.statements_sent(), 1, "one statement per check");
    let text = String::from_utf8(response.body().clone()).expect("utf-8");
    assert!(!text.contains("postgres"), "no address in the body: {text}");
}

#[tokio::test]
async fn schema_version_is_null_before_the_first_migration() {
    let test_db = TestDatabase::create_empty().await;
    let instance = Instance::new(test_db.connector());
    let response =
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response)["schema_version"], serde_json::Value::Null);
}

#[tokio::test]
async fn head_has_the_status_and_no_body() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let response =
        health::handle(&request("HEAD", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn liveness_does_not_touch_the_database() {
    let instance = Instance::new(NativeConnector::new(&refused_address()).expect("connector"));
    let db = instance.request_db();
    let response = health::handle(&request("GET", "/health/live"), &info(), &db).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response)["status"], "alive");
    assert_eq!(db.statements_sent(), 0);
    assert_eq!(instance.connector.pool().status().size, 0);
}

#[tokio::test]
async fn unreachable_database_is_503_unhealthy() {
    let instance = Instance::new(NativeConnector::new(&refused_address()).expect("connector"));
    let response =
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(&response);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], "disconnected");
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("refused"),
        "{text}"
    );
}

#[tokio::test]
async fn a_hanging_database_is_503_within_the_bound() {
    let address = hanging_address().await;
    let instance = Instance::new(NativeConnector::new(&address).expect("connector"))
        .with_timeout(Duration::from_millis(300));
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()),
    )
    .await
    .expect("the check is bounded by db_timeout_ms, the request does not hang");
    assert_eq!(response.status(), 503);
    assert_eq!(json(&response)["status"], "unhealthy");
}

#[tokio::test]
async fn recovers_after_the_database_comes_back() {
    // A kept connection that broke (database restart) is replaced on the next check.
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector());
    let db = instance.request_db();
    assert_eq!(
        health::handle(&request("GET", "/health"), &info(), &db)
            .await
            .status(),
        200
    );
    let admin = test_db.client().await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminate");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response =
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let instance = Instance::new(NativeConnector::new(&refused_address()).expect("connector"));
    let response = health::handle(
        &request("GET", "/health/nope"),
        &info(),
        &instance.request_db(),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(json(&response)["status"], 404);
    for path in ["/health", "/health/live"] {
        let response =
            health::handle(&request("POST", path), &info(), &instance.request_db()).await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[tokio::test]
async fn a_check_that_times_out_discards_the_kept_connection() {
    let test_db = TestDatabase::create().await;
    let instance = Instance::new(test_db.connector()).with_timeout(Duration::from_millis(300));
    let ok = health::handle(&request("GET", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(ok.status(), 200);
    assert!(instance.shared.is_open());

    // Another session holds a lock the check needs: the kept connection blocks.
    let mut admin = test_db.client().await;
    let tx = admin.transaction().await.expect("begin");
    tx.batch_execute("LOCK TABLE pg_extension IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()),
    )
    .await
    .expect("bounded");
    assert_eq!(response.status(), 503);
    assert!(
        !instance.shared.is_open(),
        "the stuck connection is not reused"
    );
    tx.rollback().await.expect("release");

    let response =
        health::handle(&request("GET", "/health"), &info(), &instance.request_db()).await;
    assert_eq!(response.status(), 200);
}
