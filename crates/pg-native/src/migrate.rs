//! Applies the SQL files in `migrations/` with refinery.
//!
//! refinery records each applied migration (version, name, checksum) in
//! `refinery_schema_history`; a second run applies nothing, and a migration whose file
//! changed after it was applied is refused (`abort_divergent`). The files are embedded at
//! compile time, so the binary applies exactly what the tests applied.

use refinery::{Report, Runner};
use tokio_postgres::{Client, NoTls};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// The table in which refinery records applied migrations.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// Advisory lock key held while migrating, so concurrent runs apply each migration once.
const LOCK_KEY: i64 = 0x6b65_656d_7500;

/// A runner over the embedded migrations, refusing edited or missing applied migrations.
pub fn runner() -> Runner {
    embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
}

/// The embedded migrations' `(version, name, checksum)`, in order.
pub fn embedded() -> Vec<(i32, String, u64)> {
    runner()
        .get_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_owned(), m.checksum()))
        .collect()
}

/// Connects with tokio-postgres (no TLS) and drives the connection on the current runtime.
pub async fn connect(address: &str) -> Result<Client, tokio_postgres::Error> {
    connect_with_handle(address).await.map(|(client, _)| client)
}

/// Like [`connect`], also returning the task that drives the connection: it ends once the
/// client is dropped and the session has closed.
pub async fn connect_with_handle(
    address: &str,
) -> Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(address, NoTls).await?;
    let handle = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, handle))
}

/// Errors of a migration run.
#[derive(Debug)]
pub enum MigrateError {
    Connect(tokio_postgres::Error),
    Lock(tokio_postgres::Error),
    Migrate(refinery::Error),
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Connect(e) => write!(f, "cannot connect: {e}"),
            MigrateError::Lock(e) => write!(f, "cannot take the migration lock: {e}"),
            MigrateError::Migrate(e) => write!(f, "migration failed: {e}"),
        }
    }
}

impl std::error::Error for MigrateError {}

/// Applies `runner`'s migrations on `client`, holding an advisory lock meanwhile.
pub async fn run_with(runner: &Runner, client: &mut Client) -> Result<Report, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(MigrateError::Lock)?;
    let result = runner
        .run_async(client)
        .await
        .map_err(MigrateError::Migrate);
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .map_err(MigrateError::Lock);
    let report = result?;
    unlocked?;
    Ok(report)
}

/// Applies the embedded migrations to the database at `address`; returns once the session
/// has closed.
pub async fn run(address: &str) -> Result<Report, MigrateError> {
    let (mut client, session) = connect_with_handle(address)
        .await
        .map_err(MigrateError::Connect)?;
    let report = run_with(&runner(), &mut client).await;
    drop(client);
    let _ = session.await;
    report
}
