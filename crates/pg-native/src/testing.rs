//! A fresh, migrated database for each test.
//!
//! The server comes from `KEEMU_TEST_DATABASE_URL` (set by `make test`, which starts a
//! throwaway PostgreSQL). The migrations are applied once into a template database named
//! after their checksums; each test then gets `CREATE DATABASE ... TEMPLATE` of it, so tests
//! neither share rows nor depend on order. A test's database is dropped when it ends.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::Client;

use crate::adapter::NativeConnector;
use crate::migrate;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The server tests run against.
pub fn server_address() -> String {
    match std::env::var("KEEMU_TEST_DATABASE_URL") {
        Ok(address) if !address.trim().is_empty() => address,
        _ => panic!(
            "KEEMU_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts \
             a throwaway PostgreSQL, or point it at a server where databases may be created"
        ),
    }
}

/// `address` with its database name replaced by `dbname` (key=value or URL form).
pub fn with_dbname(address: &str, dbname: &str) -> String {
    let address = address.trim();
    if let Some(rest) = address
        .strip_prefix("postgres://")
        .or_else(|| address.strip_prefix("postgresql://"))
    {
        let (authority_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority_path.split('/').next().unwrap_or(authority_path);
        let mut out = format!("postgres://{authority}/{dbname}");
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        out
    } else {
        format!("{address} dbname={dbname}")
    }
}

/// A database of its own for one test, migrated.
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    /// Its address, in the server address's form.
    pub address: String,
}

impl TestDatabase {
    /// Creates a new database from the migrated template.
    pub async fn create() -> TestDatabase {
        Self::create_from(true).await
    }

    /// Creates a new, empty database (no migrations applied).
    pub async fn create_empty() -> TestDatabase {
        Self::create_from(false).await
    }

    async fn create_from(migrated: bool) -> TestDatabase {
        let server = server_address();
        let admin = connect_admin().await.expect("connect to the test server");
        let name = format!(
            "keemu_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        let template = if migrated {
            ensure_template(&admin, &server).await
        } else {
            "template0".to_owned()
        };
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .await
            .expect("create the test database");
        TestDatabase {
            address: with_dbname(&server, &name),
            name,
        }
    }

    /// A host-like connector (64-connection pool) to this database.
    pub fn connector(&self) -> NativeConnector {
        NativeConnector::new(&self.address).expect("connector")
    }

    /// A plain tokio-postgres client, for assertions on rows and the catalog.
    pub async fn client(&self) -> Client {
        migrate::connect(&self.address)
            .await
            .expect("connect to the test database")
    }
}

/// A client of the test server's maintenance database (`postgres`), where test databases
/// are created and dropped.
pub async fn connect_admin() -> Result<Client, tokio_postgres::Error> {
    migrate::connect(&with_dbname(&server_address(), "postgres")).await
}

/// Whether the server has a database of this name.
pub async fn database_exists(admin: &Client, name: &str) -> Result<bool, tokio_postgres::Error> {
    let found = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    Ok(found.is_some())
}

/// Drops the database when the test ends (passed or panicked): about 8 MB each, and a
/// `make test` creates some four hundred. Its connections are ended with it (`FORCE`); a
/// failure only leaves the database behind for the throwaway server to take with it.
impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = connect_admin().await.map_err(|e| e.to_string())?;
                admin.batch_execute(&drop).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("test database {} left behind: {error}", self.name);
        }
    }
}

/// Creates the migrated template once per server and migration set; returns its name.
async fn ensure_template(admin: &Client, server: &str) -> String {
    let fingerprint = migrate::embedded()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |acc, (v, _, sum)| {
            (acc ^ (*v as u64) ^ sum).wrapping_mul(0x100_0000_01b3)
        });
    let template = format!("keemu_tpl_{fingerprint:016x}");
    // One test process at a time builds it; the others wait, then find it.
    admin
        .execute("SELECT pg_advisory_lock(7304)", &[])
        .await
        .expect("lock");
    let exists = database_exists(admin, &template)
        .await
        .expect("look up template");
    if !exists {
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{building}\""))
            .await
            .expect("drop a half-built template");
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{building}\" TEMPLATE template0"
            ))
            .await
            .expect("create template");
        migrate::run(&with_dbname(server, &building))
            .await
            .expect("migrate the template");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
            ))
            .await
            .expect("rename template");
    }
    admin
        .execute("SELECT pg_advisory_unlock(7304)", &[])
        .await
        .expect("unlock");
    template
}
