//! `TestDatabase`, each native test's own database: dropped when the test ends, so a
//! `make test` does not leave hundreds of databases on the throwaway server's disk.

use keemu_pg_native::testing::{TestDatabase, connect_admin, database_exists};

#[tokio::test]
async fn a_test_database_is_dropped_with_it_even_while_a_session_is_open() {
    let db = TestDatabase::create().await;
    let name = db.name.clone();
    let session = db.client().await;
    session
        .batch_execute("SELECT 1")
        .await
        .expect("the database answers while the test holds it");

    drop(db);

    let admin = connect_admin().await.expect("connect to the test server");
    let left = database_exists(&admin, &name)
        .await
        .expect("look the database up");
    assert!(!left, "database {name} is still on the server");
    assert!(
        session.batch_execute("SELECT 1").await.is_err(),
        "the session open on it was ended with it"
    );
}
