//! Migrations applied with refinery, as `make db-migrate` applies them.

mod common;

use common::TestDatabase;
use keemu_pg_native::migrate::{self, MigrateError};
use keemu_pg_native::refinery::{Migration, Runner};

#[tokio::test]
async fn applies_in_order_then_is_a_no_op() {
    let test_db = TestDatabase::create_empty().await;
    let report = migrate::run(&test_db.address).await.expect("first run");
    let embedded = migrate::embedded();
    assert_eq!(report.applied_migrations().len(), embedded.len());
    let versions: Vec<i32> = report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect();
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(versions, sorted, "applied in version order");

    let again = migrate::run(&test_db.address).await.expect("second run");
    assert!(
        again.applied_migrations().is_empty(),
        "a second run applies nothing"
    );

    let client = test_db.client().await;
    let rows = client
        .query(
            "SELECT version, name, checksum FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("history");
    assert_eq!(rows.len(), embedded.len());
    for (row, (version, name, checksum)) in rows.iter().zip(&embedded) {
        assert_eq!(row.get::<_, i32>("version"), *version);
        assert_eq!(&row.get::<_, String>("name"), name);
        assert_eq!(row.get::<_, String>("checksum"), checksum.to_string());
    }
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let test_db = TestDatabase::create().await;
    let (first_version, first_name, _) = migrate::embedded()[0].clone();
    let edited = Migration::unapplied(
        &format!("V{first_version}__{first_name}"),
        "SELECT 1; -- edited after it was applied",
    )
    .expect("migration");
    let runner = Runner::new(&[edited]).set_abort_divergent(true);
    let mut client = test_db.client().await;
    let result = migrate::run_with(&runner, &mut client).await;
    assert!(
        matches!(&result, Err(MigrateError::Migrate(e)) if e.to_string().contains("divergent") || format!("{e:?}").contains("Divergent")),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_foundation_keeps_updated_at_and_skips_a_missing_vector_extension() {
    let test_db = TestDatabase::create().await;
    let client = test_db.client().await;
    let vector: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await
        .expect("extensions")
        .get(0);
    let available: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'",
            &[],
        )
        .await
        .expect("available")
        .get(0);
    assert_eq!(
        vector, available,
        "installed exactly where the server offers it"
    );

    client
        .batch_execute(
            "CREATE TABLE things (
                 id bigint GENERATED ALWAYS AS IDENTITY,
                 label text NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now(),
                 updated_at timestamptz NOT NULL DEFAULT now(),
                 CONSTRAINT pk_things PRIMARY KEY (id));
             CREATE TRIGGER trg_things_updated_at BEFORE UPDATE ON things
                 FOR EACH ROW EXECUTE FUNCTION set_updated_at();
             INSERT INTO things (label) VALUES ('a');",
        )
        .await
        .expect("table");
    let before = client
        .query_one("SELECT created_at, updated_at FROM things", &[])
        .await
        .expect("row");
    client
        .execute("UPDATE things SET label = 'b'", &[])
        .await
        .expect("update");
    let after = client
        .query_one("SELECT created_at, updated_at FROM things", &[])
        .await
        .expect("row");
    type At = chrono::DateTime<chrono::Utc>;
    assert_eq!(
        before.get::<_, At>(0),
        after.get::<_, At>(0),
        "created_at stays"
    );
    assert!(
        after.get::<_, At>(1) > before.get::<_, At>(1),
        "updated_at moves"
    );
}
