//! The host's PostgreSQL interface, reproduced natively.
//!
//! Like Spin 4's outbound PostgreSQL host: one deadpool-postgres pool per address, at most
//! 64 connections, `RecyclingMethod::Clean` on reuse (which does not roll back an open
//! transaction), statements run with tokio-postgres `query`/`execute` (prepared, so each
//! parameter must suit the type the server infers), parameters and results converted as the
//! host converts them. Errors are reported in the host's shape (`spin_sdk::pg::PgError`).
//!
//! Results follow what Spin 4.0.2 was measured to decode (`../shared/spin-facts.md`): a
//! `timestamptz` column fails the whole statement (select `(col AT TIME ZONE 'UTC')`);
//! json, timetz, inet, name, citext and enum values arrive as `Unsupported`.
//!
//! Not reproduced: NUMERIC, range and interval values (no statement of ours uses them); they
//! are refused as `ValueConversionFailed` / returned as `Unsupported`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use keemu::db::record::datetime_parts;
use keemu::db::{Connection, Connector, Row};
use spin_sdk::pg::{DbError as HostDbError, DbValue, ParameterValue, PgError, QueryError};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row as PgRow};

/// The host's maximum connections per (component, address) pool.
pub const POOL_SIZE: usize = 64;

/// Statements sent through a connector (and the connections it opened), in order.
#[derive(Clone, Default)]
pub struct StatementLog(Rc<RefCell<Vec<String>>>);

impl StatementLog {
    /// Every statement recorded so far.
    pub fn statements(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// How many statements were recorded.
    pub fn count(&self) -> usize {
        self.0.borrow().len()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }

    fn record(&self, sql: &str) {
        self.0.borrow_mut().push(sql.to_owned());
    }
}

/// Opens connections from a host-like pool.
#[derive(Clone)]
pub struct NativeConnector {
    pool: Pool,
    log: StatementLog,
}

impl NativeConnector {
    /// A pool for `address` with the host's settings (64 connections, Clean recycling).
    pub fn new(address: &str) -> Result<NativeConnector, PgError> {
        Self::with_pool_size(address, POOL_SIZE)
    }

    /// A pool with another size (a size of 1 makes every `open` reuse the same backend).
    pub fn with_pool_size(address: &str, size: usize) -> Result<NativeConnector, PgError> {
        let config = address
            .parse::<tokio_postgres::Config>()
            .map_err(|e| PgError::ConnectionFailed(format!("{e:?}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Clean,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            .build()
            .map_err(|e| PgError::ConnectionFailed(format!("{e:?}")))?;
        Ok(NativeConnector {
            pool,
            log: StatementLog::default(),
        })
    }

    /// The same pool with a fresh statement log (one per simulated request).
    pub fn with_fresh_log(&self) -> NativeConnector {
        NativeConnector {
            pool: self.pool.clone(),
            log: StatementLog::default(),
        }
    }

    /// The statements sent through this connector.
    pub fn log(&self) -> &StatementLog {
        &self.log
    }

    /// The underlying pool (for tests that inspect it).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Connector for NativeConnector {
    type Conn = NativeConnection;

    async fn open(&self) -> Result<NativeConnection, PgError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| PgError::ConnectionFailed(format!("{e}")))?;
        Ok(NativeConnection {
            client,
            log: self.log.clone(),
        })
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A pooled connection; dropping it returns it to the pool, as on the host.
pub struct NativeConnection {
    client: deadpool_postgres::Object,
    log: StatementLog,
}

impl NativeConnection {
    /// The backend process id of this connection (for tests that break it).
    pub async fn backend_pid(&self) -> Result<i32, PgError> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(query_failed)?;
        row.try_get(0).map_err(query_failed)
    }
}

impl Connection for NativeConnection {
    async fn query(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, PgError> {
        self.log.record(sql);
        let params = to_sql_parameters(params).map_err(PgError::BadParameter)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client
            .query(sql, refs.as_slice())
            .await
            .map_err(query_failed)?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Rc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        rows.iter()
            .map(|row| {
                convert_row(row)
                    .map(|values| Row::new(Rc::clone(&columns), values))
                    .map_err(|e| PgError::QueryFailed(QueryError::Text(e)))
            })
            .collect()
    }

    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, PgError> {
        self.log.record(sql);
        // The host reports a parameter it cannot convert as ValueConversionFailed here, and as
        // BadParameter from `query`.
        let params = to_sql_parameters(params).map_err(PgError::ValueConversionFailed)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client
            .execute(sql, refs.as_slice())
            .await
            .map_err(query_failed)
    }

    fn abandon(self) {
        // Taking the client out of the pool closes it when dropped: the server then rolls
        // back whatever was open, and no later request can get it.
        drop(deadpool_postgres::Object::take(self.client));
    }
}

/// The host's error shape for a failed statement: structured for server errors, text for
/// everything that failed on the client side (closed connection, I/O, protocol).
fn query_failed(error: tokio_postgres::Error) -> PgError {
    let as_text = format!("{error:?}");
    match error.as_db_error() {
        None => PgError::QueryFailed(QueryError::Text(as_text)),
        Some(db) => {
            let mut extras = Vec::new();
            if let Some(c) = db.constraint() {
                extras.push(("constraint".to_owned(), c.to_owned()));
            }
            if let Some(t) = db.table() {
                extras.push(("table".to_owned(), t.to_owned()));
            }
            if let Some(c) = db.column() {
                extras.push(("column".to_owned(), c.to_owned()));
            }
            PgError::QueryFailed(QueryError::DbError(HostDbError {
                as_text,
                severity: db.severity().to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                extras,
            }))
        }
    }
}

type SqlParam = Box<dyn ToSql + Send + Sync>;

/// Parameters as the host binds them: each WIT variant becomes one Rust type, so the
/// server-inferred type of the placeholder must accept it (Int64 only binds to bigint, Str
/// not to an enum type, Datetime only to timestamp without time zone, ...).
fn to_sql_parameters(params: &[ParameterValue]) -> Result<Vec<SqlParam>, String> {
    params.iter().map(to_sql_parameter).collect()
}

fn to_sql_parameter(value: &ParameterValue) -> Result<SqlParam, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((y, m, d)) => Box::new(
            NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
                .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))?,
        ),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(
            NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns)
                .ok_or_else(|| "invalid time".to_owned())?,
        ),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date = NaiveDate::from_ymd_opt(*y, (*mo).into(), (*d).into())
                .ok_or_else(|| "invalid date".to_owned())?;
            let time = NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns)
                .ok_or_else(|| "invalid time".to_owned())?;
            Box::new(NaiveDateTime::new(date, time))
        }
        ParameterValue::Timestamp(v) => Box::new(
            DateTime::<Utc>::from_timestamp(*v, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).map_err(|_| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|_| "invalid JSON".to_owned())?,
        ),
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::Decimal(_)
        | ParameterValue::RangeInt32(_)
        | ParameterValue::RangeInt64(_)
        | ParameterValue::RangeDecimal(_)
        | ParameterValue::ArrayDecimal(_)
        | ParameterValue::Interval(_) => {
            return Err("not supported by the native adapter".to_owned());
        }
    })
}

/// `DbNull`: binds to a placeholder of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value of a type the host does not convert: returned as raw bytes (`Unsupported`).
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn convert_row(row: &PgRow) -> Result<Vec<DbValue>, String> {
    (0..row.len()).map(|i| convert_entry(row, i)).collect()
}

fn get<'a, T: FromSql<'a>>(
    row: &'a PgRow,
    i: usize,
    wrap: impl Fn(T) -> DbValue,
) -> Result<DbValue, String> {
    // `error deserializing column N: cannot convert between ...`, as the host reports it.
    let value: Option<T> = row.try_get(i).map_err(|e| e.to_string())?;
    Ok(value.map_or(DbValue::DbNull, wrap))
}

/// Results as the host returns them, by the column's PostgreSQL type.
fn convert_entry(row: &PgRow, i: usize) -> Result<DbValue, String> {
    use chrono::{Datelike, Timelike};
    let datetime = |v: NaiveDateTime| DbValue::Datetime(datetime_parts(v));
    match *row.columns()[i].type_() {
        Type::BOOL => get(row, i, DbValue::Boolean),
        Type::BYTEA => get(row, i, DbValue::Binary),
        Type::FLOAT4 => get(row, i, DbValue::Floating32),
        Type::FLOAT8 => get(row, i, DbValue::Floating64),
        Type::INT2 => get(row, i, DbValue::Int16),
        Type::INT4 => get(row, i, DbValue::Int32),
        Type::INT8 => get(row, i, DbValue::Int64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, i, DbValue::Str),
        // The host reads timestamptz as a NaiveDateTime too, which tokio-postgres refuses:
        // the whole statement fails (after it ran), NULL included. Measured under Spin 4.0.2.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, i, datetime),
        Type::DATE => get(row, i, |v: NaiveDate| {
            DbValue::Date((v.year(), v.month() as u8, v.day() as u8))
        }),
        Type::TIME => get(row, i, |v: NaiveTime| {
            DbValue::Time((
                v.hour() as u8,
                v.minute() as u8,
                v.second() as u8,
                v.nanosecond(),
            ))
        }),
        Type::UUID => get(row, i, |v: uuid::Uuid| DbValue::Uuid(v.to_string())),
        Type::JSONB => get(row, i, |v: serde_json::Value| {
            DbValue::Jsonb(serde_json::to_vec(&v).unwrap_or_default())
        }),
        Type::INT4_ARRAY => get(row, i, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, i, DbValue::ArrayInt64),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, i, DbValue::ArrayStr)
        }
        _ => get(row, i, |v: Raw| DbValue::Unsupported(v.0)),
    }
}
