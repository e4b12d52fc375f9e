//! The floor for `make bench`: the least a Spin component can do to serve the api
//! component's `GET /api/v1/users/{id}` and `GET /api/v1/users?limit=&after=` contract.
//!
//! Same as the api component: the statements (this file includes `src/models/user/sql.rs`
//! itself), the JSON bodies byte for byte (keys sorted, as `serde_json::Value` writes them),
//! `ETag`, `Content-Type: application/json`, `Cache-Control: no-store`, and the bearer check
//! in constant time. One connection per instance, kept in a `thread_local` and shared by the
//! instance's requests (dropped after a client-side failure).
//!
//! Left out, on purpose: logging, problem+json error bodies, the email filter, and reading
//! Spin variables on every request (read once per instance). Only for measuring; errors
//! answer with a bare status.
//!
//! Two floors in one component, chosen by the Spin variable `db_timeout_ms`:
//! - unset: the statement is awaited with no bound (a hung database hangs the request);
//! - set (e.g. 2000, the project's default): every statement is raced against that
//!   deadline as the project's are, with the project's own deadline watcher
//!   (`src/db/deadlines.rs`, included here: one host timer per request, in the request's
//!   task), and a statement the deadline beats answers 503. This is the floor that gives the
//!   project's guarantee (an answer within `db_timeout_ms` when the database hangs), so the
//!   project's ratio against it compares equal guarantees (bench/README.md).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use std::pin::pin;

use chrono::{NaiveDate, NaiveDateTime, SecondsFormat};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::pg::{self, DbValue, Decode, ParameterValue, PgError, QueryError};

#[allow(dead_code, unused_imports)]
#[path = "../../../src/models/user/sql.rs"]
mod sql;

#[path = "../../../src/db/deadlines.rs"]
mod deadlines;

use deadlines::Deadlines;

/// The api component's default and largest page sizes.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

struct Config {
    token: String,
    address: String,
    /// `db_timeout_ms`: the bound on each statement, if any.
    timeout: Option<Duration>,
}

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
    static CONNECTION: RefCell<Option<Rc<pg::Connection>>> = const { RefCell::new(None) };
}

type Response = http::Response<String>;

#[spin_sdk::http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let config = config().await;
    if !authorized(request.headers(), &config.token) {
        return bare(StatusCode::UNAUTHORIZED);
    }
    if request.method() != http::Method::GET {
        return bare(StatusCode::METHOD_NOT_ALLOWED);
    }
    let uri = request.uri();
    let result = match uri.path().strip_prefix("/api/v1/users") {
        Some("") => list(&config, uri.query()).await,
        Some(rest) => match rest.strip_prefix('/').and_then(positive) {
            Some(id) => get(&config, id).await,
            None => Err(StatusCode::NOT_FOUND),
        },
        None => Err(StatusCode::NOT_FOUND),
    };
    result.unwrap_or_else(bare)
}

async fn config() -> Rc<Config> {
    if let Some(config) = CONFIG.with(|c| c.borrow().clone()) {
        return config;
    }
    let var = async |name: &str| spin_sdk::variables::get(name).await.unwrap_or_default();
    let config = Rc::new(Config {
        token: var("api_token").await,
        address: var("database_url").await,
        timeout: var("db_timeout_ms")
            .await
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis),
    });
    CONFIG.with(|c| *c.borrow_mut() = Some(Rc::clone(&config)));
    config
}

/// `Bearer <token>`, compared in constant time; an empty token refuses everything.
fn authorized(headers: &http::HeaderMap, expected: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if !expected.is_empty() && token.len() == expected.len() => {
            let diff = token
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            std::hint::black_box(diff) == 0
        }
        _ => false,
    }
}

fn positive(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|id| *id > 0)
}

fn bare(status: StatusCode) -> Response {
    let mut response = Response::new(String::new());
    *response.status_mut() = status;
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_response(body: &Value) -> Response {
    let mut response = Response::new(body.to_string());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(response)
}

/// The instance's connection, opened on first use.
async fn connection(address: &str) -> Result<Rc<pg::Connection>, StatusCode> {
    if let Some(connection) = CONNECTION.with(|c| c.borrow().clone()) {
        return Ok(connection);
    }
    let connection = Rc::new(
        pg::Connection::open(address)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?,
    );
    CONNECTION.with(|c| *c.borrow_mut() = Some(Rc::clone(&connection)));
    Ok(connection)
}

/// Runs the request's deadline watcher in the request's task, as the project does
/// (`components/spin-glue`).
fn start_watcher(deadlines: Rc<Deadlines>) {
    spin_sdk::wasip3::spawn(deadlines.watch(spin_sdk::time::sleep));
}

/// Runs a statement on the instance's connection (bounded by `db_timeout_ms` when set); drops the connection when the failure
/// was on the client side (closed, I/O), not a server error.
async fn rows(
    config: &Config,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<Vec<Vec<DbValue>>, StatusCode> {
    let call = async {
        let connection = connection(&config.address).await?;
        let outcome = async {
            let mut result = connection.query(statement, params).await?;
            let mut rows = Vec::new();
            while let Some(values) = result.rows().next().await {
                rows.push(values);
            }
            result.result().await?;
            Ok::<_, pg::Error>(rows)
        }
        .await;
        Ok::<_, StatusCode>(outcome)
    };
    let outcome = match config.timeout {
        None => call.await?,
        Some(timeout) => {
            // One watcher per request, as in the project (a fresh `Deadlines` here).
            let deadline = Deadlines::new(start_watcher).after(timeout);
            match select(pin!(call), pin!(deadline)).await {
                Either::Left((outcome, _)) => outcome?,
                Either::Right(((), _)) => return Err(StatusCode::SERVICE_UNAVAILABLE),
            }
        }
    };
    outcome.map_err(|error| {
        if !matches!(
            error,
            pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(_)))
        ) {
            CONNECTION.with(|c| c.borrow_mut().take());
        }
        StatusCode::SERVICE_UNAVAILABLE
    })
}

async fn get(config: &Config, id: i64) -> Result<Response, StatusCode> {
    // `$2` "active only": false, as the operator route passes it.
    let rows = rows(
        config,
        sql::GET,
        vec![ParameterValue::Int64(id), ParameterValue::Boolean(false)],
    )
    .await?;
    let row = rows.first().ok_or(StatusCode::NOT_FOUND)?;
    let (body, etag) = user(row).ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    let mut response = json_response(&body);
    let etag = HeaderValue::from_str(&etag).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

async fn list(config: &Config, query: Option<&str>) -> Result<Response, StatusCode> {
    let mut limit = DEFAULT_LIMIT;
    let mut after = ParameterValue::DbNull;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("limit", v) => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(StatusCode::UNPROCESSABLE_ENTITY)?
            }
            ("after", v) => {
                after = ParameterValue::Int64(positive(v).ok_or(StatusCode::UNPROCESSABLE_ENTITY)?)
            }
            _ => return Err(StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
    let params = vec![
        after,
        ParameterValue::DbNull,
        ParameterValue::Int64(limit + 1),
    ];
    let rows = rows(config, sql::LIST, params).await?;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let items = page
        .iter()
        .map(|row| user(row).map(|(body, _)| body))
        .collect::<Option<Vec<_>>>()
        .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    let next_cursor = match (more, page.last()) {
        (true, Some(last)) => json!(i64::decode(&last[0]).ok()),
        _ => Value::Null,
    };
    Ok(json_response(
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}

/// A row of the 18 user and preferences columns (in `user_columns!` order) as the api's
/// JSON body, and its `ETag`.
fn user(r: &[DbValue]) -> Option<(Value, String)> {
    if r.len() < 18 {
        return None;
    }
    let updated = stamp(&r[10])?;
    let p_updated = stamp(&r[17])?;
    let etag = format!(
        "\"u{}.{}\"",
        updated.and_utc().timestamp_micros(),
        p_updated.and_utc().timestamp_micros()
    );
    let body = json!({
        "id": i64::decode(&r[0]).ok()?,
        "email": text(&r[1])?,
        "name": text(&r[2])?,
        "profile_picture": optional(&r[3], text)?,
        "profession": optional(&r[4], text)?,
        "date_of_birth": optional(&r[5], date)?,
        "timezone": text(&r[6])?,
        "is_active": bool::decode(&r[7]).ok()?,
        "last_login": optional(&r[8], time)?,
        "created_at": time(&r[9])?,
        "updated_at": rfc3339(updated),
        "preferences": {
            "id": i64::decode(&r[11]).ok()?,
            "user_id": i64::decode(&r[12]).ok()?,
            "update_frequency": text(&r[13])?,
            "summary_length": text(&r[14])?,
            "email_notifications_enabled": bool::decode(&r[15]).ok()?,
            "created_at": time(&r[16])?,
            "updated_at": rfc3339(p_updated),
        },
    });
    Some((body, etag))
}

fn optional(value: &DbValue, read: fn(&DbValue) -> Option<Value>) -> Option<Value> {
    match value {
        DbValue::DbNull => Some(Value::Null),
        value => read(value),
    }
}

fn text(value: &DbValue) -> Option<Value> {
    String::decode(value).ok().map(Value::String)
}

fn date(value: &DbValue) -> Option<Value> {
    let date = NaiveDate::decode(value).ok()?;
    Some(Value::String(date.format("%Y-%m-%d").to_string()))
}

fn stamp(value: &DbValue) -> Option<NaiveDateTime> {
    NaiveDateTime::decode(value).ok()
}

fn rfc3339(at: NaiveDateTime) -> Value {
    Value::String(at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn time(value: &DbValue) -> Option<Value> {
    stamp(value).map(rfc3339)
}
