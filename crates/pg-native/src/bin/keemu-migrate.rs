//! `keemu-migrate`: applies `migrations/` to the database named by `DATABASE_URL`
//! (or `KEEMU_DATABASE_URL`). Used by `make db-migrate` and `make up`.
//!
//! TLS follows the address's `sslmode` (`disable`, `prefer` (the default), `require`,
//! `verify-ca`, `verify-full`) with the system's CAs, plus the PEM file named by
//! `sslrootcert=` in the address or else by `KEEMU_DB_CA_FILE`.
//!
//! Prints JSON lines on stderr; never prints the connection string or its password.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

/// Environment variable naming an extra CA file (PEM) to trust.
const CA_FILE_VAR: &str = "KEEMU_DB_CA_FILE";

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match migrate().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the whole chain of causes on one line; redacted in case a cause quotes
            // the address.
            let reason = keemu::db::address::redact(&format!("{error:#}"));
            keemu::observability::log::error("migration_failed", json!({ "reason": reason }));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate() -> anyhow::Result<()> {
    let address = std::env::var("DATABASE_URL")
        .or_else(|_| std::env::var("KEEMU_DATABASE_URL"))
        .ok()
        .filter(|address| !address.trim().is_empty())
        .context("set DATABASE_URL (or KEEMU_DATABASE_URL) to the database to migrate")?;
    let ca_file = std::env::var_os(CA_FILE_VAR)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);

    let report = keemu_pg_native::migrate::run_tls(&address, ca_file.as_deref())
        .await
        .map_err(|error| {
            let hint = error.rejected_certificate().map(hint);
            let error = anyhow::Error::new(error);
            match hint {
                Some(hint) => error.context(hint),
                None => error,
            }
        })?;

    let applied: Vec<_> = report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect();
    let latest = keemu_pg_native::migrate::embedded()
        .last()
        .map(|(version, _, _)| *version);
    keemu::observability::log::info(
        "migrations_applied",
        json!({ "applied": applied, "schema_version": latest }),
    );
    Ok(())
}

/// What to do about a rejected server certificate.
fn hint(reason: &rustls::CertificateError) -> String {
    use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
    match reason {
        NotValidForName | NotValidForNameContext { .. } => "the server's TLS certificate does \
            not name the host in the address: connect by a name the certificate holds (or use \
            sslmode=verify-ca, which skips the name check)"
            .to_owned(),
        _ => format!(
            "the server's TLS certificate was rejected; if it is signed by a private CA, give \
             that CA's PEM file with sslrootcert= in the address or {CA_FILE_VAR}"
        ),
    }
}
