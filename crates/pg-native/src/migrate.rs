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
///
/// The text says what failed; the cause is [`std::error::Error::source`] (print the chain,
/// e.g. with anyhow's `{:#}`, for the server's or rustls' reason).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The address cannot be parsed.
    #[error("invalid database address")]
    Address(#[source] AddressError),
    /// The TLS settings cannot be used (e.g. an unreadable CA file).
    #[error("cannot set up TLS")]
    Tls(#[source] TlsError),
    /// The server could not be reached, refused the session, or its certificate was rejected.
    #[error("cannot connect ({policy})")]
    Connect {
        policy: TlsPolicy,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot take the migration lock")]
    Lock(#[source] tokio_postgres::Error),
    #[error("migration failed")]
    Migrate(#[source] refinery::Error),
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::address::SslMode;

    /// A tokio-postgres error, as a cause.
    fn pg_error() -> tokio_postgres::Error {
        "bogus=1"
            .parse::<tokio_postgres::Config>()
            .expect_err("unknown option")
    }

    /// What failed in the text, the cause as the source.
    #[test]
    fn error_texts_and_sources() {
        let policy = TlsPolicy {
            mode: SslMode::Require,
            ca_file: None,
        };
        let cases = [
            (
                MigrateError::Address(AddressError::Syntax),
                "invalid database address".to_owned(),
                AddressError::Syntax.to_string(),
            ),
            (
                MigrateError::Tls(TlsError::NoTrustedCas),
                "cannot set up TLS".to_owned(),
                TlsError::NoTrustedCas.to_string(),
            ),
            (
                MigrateError::Connect {
                    policy: policy.clone(),
                    source: pg_error(),
                },
                format!("cannot connect ({policy})"),
                pg_error().to_string(),
            ),
            (
                MigrateError::Lock(pg_error()),
                "cannot take the migration lock".to_owned(),
                pg_error().to_string(),
            ),
        ];
        for (error, text, source) in cases {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.source().map(ToString::to_string), Some(source));
        }
    }
}
