//! The health component: `GET|HEAD /health` (with the database check) and
//! `GET|HEAD /health/live` (without).

use std::time::Instant;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{ApiError, Request, Response, json_response};
use crate::db::{Connector, Database, Db, DbError, Row, Unavailable};
use crate::observability::log;

/// Settings shown by `/health` (never a secret).
#[derive(Debug, Clone)]
pub struct HealthInfo {
    pub app_name: String,
    pub environment: String,
}

/// What the database check found.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseStatus {
    pub latency_ms: f64,
    /// The latest applied migration, `None` before the first one.
    pub schema_version: Option<i32>,
    /// `installed`, `available` or `unavailable`.
    pub vector_extension: String,
}

const CHECK_SQL: &str = "\
SELECT
    (SELECT max(version) FROM refinery_schema_history) AS schema_version,
    CASE
        WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN 'installed'
        WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN 'available'
        ELSE 'unavailable'
    END AS vector_extension";

/// Used only when no migration has run yet (no history table).
const CHECK_UNMIGRATED_SQL: &str = "\
SELECT
    NULL::integer AS schema_version,
    CASE
        WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN 'installed'
        WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN 'available'
        ELSE 'unavailable'
    END AS vector_extension";

/// Checks the database: one statement (two before the first migration), the whole check
/// bounded by the database timeout.
pub async fn check_database<K: Connector>(db: &Database<K>) -> Result<DatabaseStatus, DbError> {
    let started = Instant::now();
    let rows = db
        .within_timeout(async {
            match db.read(CHECK_SQL, &[]).await {
                Err(DbError::Server { sqlstate }) if sqlstate == "42P01" => {
                    db.read(CHECK_UNMIGRATED_SQL, &[]).await
                }
                other => other,
            }
        })
        .await
        .inspect_err(|error| {
            if *error == DbError::Unavailable(Unavailable::Timeout) {
                // The whole check timed out: its connection may be stuck.
                db.discard_shared();
            }
        })?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let row: &Row = rows.first().ok_or(DbError::Decode {
        column: "schema_version".into(),
        problem: "the check returned no row".into(),
    })?;
    Ok(DatabaseStatus {
        latency_ms: (latency_ms * 100.0).round() / 100.0,
        schema_version: row.get_opt("schema_version")?,
        vector_extension: row.get("vector_extension")?,
    })
}

/// Routes a request of the health component.
pub async fn handle<K: Connector>(
    request: &Request,
    info: &HealthInfo,
    db: &Database<K>,
) -> Response {
    let path = request.uri().path();
    let response = match path {
        "/health" | "/health/live" => {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                ApiError::MethodNotAllowed {
                    allow: "GET, HEAD".into(),
                }
                .into_response()
            } else if path == "/health" {
                health(info, db).await
            } else {
                live(info)
            }
        }
        _ => ApiError::NotFound("no such route").into_response(),
    };
    finish(request, response)
}

fn live(info: &HealthInfo) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "status": "alive",
            "app_name": info.app_name,
            "environment": info.environment,
            "version": crate::VERSION,
        }),
    )
}

async fn health<K: Connector>(info: &HealthInfo, db: &Database<K>) -> Response {
    let mut body = json!({
        "app_name": info.app_name,
        "environment": info.environment,
        "version": crate::VERSION,
    });
    let status = match check_database(db).await {
        Ok(found) => {
            body["status"] = "healthy".into();
            body["database"] = "connected".into();
            body["database_latency_ms"] = json!(found.latency_ms);
            body["schema_version"] = json!(found.schema_version);
            body["vector_extension"] = Value::String(found.vector_extension);
            StatusCode::OK
        }
        Err(error) => {
            log::warn(
                "database_health_check_failed",
                json!({ "error_kind": error.kind(), "sqlstate": error.sqlstate() }),
            );
            body["status"] = "unhealthy".into();
            body["database"] = "disconnected".into();
            body["database_latency_ms"] = Value::Null;
            body["schema_version"] = Value::Null;
            body["vector_extension"] = Value::Null;
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut response = json_response(status, &body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(super::error::RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// Health answers are never cached; HEAD gets the headers without the body.
fn finish(request: &Request, mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if request.method() == Method::HEAD {
        response.body_mut().clear();
    }
    response
}
