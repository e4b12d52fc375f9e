//! `keemu-migrate`: applies `migrations/` to the database named by `DATABASE_URL`
//! (or `KEEMU_DATABASE_URL`). Used by `make db-migrate` and `make up`.
//! Prints JSON lines; never prints the connection string.

use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let address = std::env::var("DATABASE_URL")
        .or_else(|_| std::env::var("KEEMU_DATABASE_URL"))
        .unwrap_or_default();
    if address.trim().is_empty() {
        keemu::observability::log::error(
            "migration_failed",
            json!({ "reason": "set DATABASE_URL (or KEEMU_DATABASE_URL) to the database to migrate" }),
        );
        return std::process::ExitCode::FAILURE;
    }
    match keemu_pg_native::migrate::run(&address).await {
        Ok(report) => {
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
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            let detail = keemu::db::address::redact(&error.to_string());
            keemu::observability::log::error("migration_failed", json!({ "reason": detail }));
            std::process::ExitCode::FAILURE
        }
    }
}
