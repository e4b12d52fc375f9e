//! Applies the SQL files in `migrations/` with refinery.
//!
//! refinery records each applied migration (version, name, checksum) in
//! `refinery_schema_history`; a second run applies nothing, and a migration whose file
//! changed after it was applied is refused (`abort_divergent`). The files are embedded at
//! compile time, so the binary applies exactly what the tests applied.

use std::path::Path;

use refinery::{Report, Runner};
use tokio_postgres::{Client, NoTls};

use crate::address::{Address, AddressError};
use crate::tls::{TlsError, TlsPolicy};

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

/// Connects with tokio-postgres without TLS (test servers) and drives the connection on the current runtime.
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

/// Connects as `address` asks: its `sslmode` (libpq's five modes) and `sslrootcert`, or
/// else `ca_file`, as an extra trusted CA (see [`crate::tls`]). Returns the client and the
/// task driving the connection.
pub async fn connect_tls(
    address: &str,
    ca_file: Option<&Path>,
) -> Result<(Client, tokio::task::JoinHandle<()>), MigrateError> {
    let Address {
        config,
        ssl_mode,
        root_cert,
    } = Address::parse(address).map_err(MigrateError::Address)?;
    let policy = TlsPolicy {
        mode: ssl_mode,
        ca_file: root_cert.or_else(|| ca_file.map(Path::to_owned)),
    };
    let connector = policy.connector().map_err(MigrateError::Tls)?;
    let (client, connection) =
        config
            .connect(connector)
            .await
            .map_err(|source| MigrateError::Connect {
                policy: policy.clone(),
                source,
            })?;
    let handle = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, handle))
}

/// Errors of a migration run. None of them shows the address.
#[derive(Debug)]
pub enum MigrateError {
    /// The address cannot be parsed.
    Address(AddressError),
    /// The TLS settings cannot be used (e.g. an unreadable CA file).
    Tls(TlsError),
    /// The server could not be reached, refused the session, or its certificate was rejected.
    Connect {
        policy: TlsPolicy,
        source: tokio_postgres::Error,
    },
    Lock(tokio_postgres::Error),
    Migrate(refinery::Error),
}

impl MigrateError {
    /// The reason rustls rejected the server's certificate, if that is why connecting failed.
    pub fn rejected_certificate(&self) -> Option<&rustls::CertificateError> {
        match self {
            MigrateError::Connect { source, .. } => crate::tls::rejected_certificate(source),
            _ => None,
        }
    }
}

/// Says what failed; the cause is [`std::error::Error::source`] (print the chain, e.g. with
/// anyhow's `{:#}`, for the server's or rustls' reason).
impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Address(_) => f.write_str("invalid database address"),
            MigrateError::Tls(_) => f.write_str("cannot set up TLS"),
            MigrateError::Connect { policy, .. } => write!(f, "cannot connect ({policy})"),
            MigrateError::Lock(_) => f.write_str("cannot take the migration lock"),
            MigrateError::Migrate(_) => f.write_str("migration failed"),
        }
    }
}

impl std::error::Error for MigrateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MigrateError::Address(e) => Some(e),
            MigrateError::Tls(e) => Some(e),
            MigrateError::Connect { source, .. } | MigrateError::Lock(source) => Some(source),
            MigrateError::Migrate(e) => Some(e),
        }
    }
}

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

/// Applies the embedded migrations to the database at `address`, with TLS as its `sslmode`
/// asks; returns once the session has closed.
pub async fn run(address: &str) -> Result<Report, MigrateError> {
    run_tls(address, None).await
}

/// [`run`], trusting `ca_file` too unless the address names its own `sslrootcert`.
pub async fn run_tls(address: &str, ca_file: Option<&Path>) -> Result<Report, MigrateError> {
    let (mut client, session) = connect_tls(address, ca_file).await?;
    let report = run_with(&runner(), &mut client).await;
    drop(client);
    let _ = session.await;
    report
}
