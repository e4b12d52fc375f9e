//! The columns every table has, given to every model once.
//!
//! Each table has `id bigint generated always as identity`, `created_at` and `updated_at`
//! (`timestamptz not null default now()`, `updated_at` kept by a trigger). [`Record<M>`] holds
//! those three plus the model's own fields, the way a BaseModel mixin does in an ORM.
//! Its `Debug` and `Display` show the model's name and id only, never its fields.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use chrono::{Datelike, Timelike};
use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, ParameterValue};

use super::error::DbError;
use super::row::Row;

/// A point in time in UTC, serialised as RFC 3339 with a `Z` offset and microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a UTC date-time.
    pub fn new(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at)
    }

    /// The instant.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Microseconds since the Unix epoch (PostgreSQL's resolution).
    pub fn micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// RFC 3339, UTC, microseconds: `2026-11-27T05:00:00.123456Z`.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// Binds as a UTC `timestamp` (`Datetime`): Spin 4.0.2 binds `Datetime` only to
/// `timestamp`, so a statement writes a `timestamptz` column with
/// `($1::timestamp AT TIME ZONE 'UTC')`.
impl From<Timestamp> for ParameterValue {
    fn from(at: Timestamp) -> ParameterValue {
        ParameterValue::Datetime(datetime_parts(at.0.naive_utc()))
    }
}

/// A date-time as the host's `Datetime` tuple: year, month, day, hour, minute, second,
/// nanosecond.
pub fn datetime_parts(at: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    (
        at.year(),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
        at.nanosecond(),
    )
}

/// The host returns a `timestamp` as a date-time tuple; every statement selects a
/// `timestamptz` column as `(col AT TIME ZONE 'UTC')`, so the tuple is in UTC. (The host
/// cannot return a `timestamptz` itself: the whole statement fails.)
impl Decode for Timestamp {
    fn decode(value: &DbValue) -> Result<Self, spin_sdk::pg::Error> {
        NaiveDateTime::decode(value).map(|naive| Timestamp(naive.and_utc()))
    }
}

/// A model stored in a table with the common columns.
pub trait Model: Sized {
    /// The name shown by `Debug`/`Display` (`User`).
    const NAME: &'static str;
    /// The identifier type (`UserId`).
    type Id: Copy + fmt::Display + Serialize + Decode;

    /// Reads the model's own fields from a row; `prefix` is prepended to each column name
    /// (statements that join two tables alias one side's columns, e.g. `p_`).
    fn from_row(row: &Row, prefix: &str) -> Result<Self, DbError>;
}

/// A stored model: the common columns and the model's own fields.
#[derive(Clone, PartialEq, Serialize)]
pub struct Record<M: Model> {
    pub id: M::Id,
    #[serde(flatten)]
    pub fields: M,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<M: Model> Record<M> {
    /// Reads the common columns (`{prefix}id`, `{prefix}created_at`, `{prefix}updated_at`)
    /// and the model's fields from a row.
    pub fn from_row(row: &Row, prefix: &str) -> Result<Record<M>, DbError> {
        let columns = row.prefixed(prefix);
        Ok(Record {
            id: columns.get("id")?,
            fields: M::from_row(row, prefix)?,
            created_at: columns.get("created_at")?,
            updated_at: columns.get("updated_at")?,
        })
    }
}

impl<M: Model> std::ops::Deref for Record<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.fields
    }
}

impl<M: Model> fmt::Debug for Record<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(id={})", M::NAME, self.id)
    }
}

impl<M: Model> fmt::Display for Record<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", M::NAME, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[derive(Clone, PartialEq, Serialize)]
    struct Secret {
        email: String,
    }

    impl Model for Secret {
        const NAME: &'static str = "Secret";
        type Id = i64;
        fn from_row(row: &Row, prefix: &str) -> Result<Self, DbError> {
            Ok(Secret {
                email: row.get(&format!("{prefix}email"))?,
            })
        }
    }

    fn row() -> Row {
        let at = DbValue::Datetime((2026, 11, 27, 5, 1, 2, 123_456_000));
        Row::new(
            Rc::from(vec![
                "id".to_owned(),
                "email".to_owned(),
                "created_at".to_owned(),
                "updated_at".to_owned(),
            ]),
            vec![
                DbValue::Int64(42),
                DbValue::Str("a@b.c".into()),
                at.clone(),
                at,
            ],
        )
    }

    #[test]
    fn common_columns_are_read_and_serialised_in_utc() {
        let record = Record::<Secret>::from_row(&row(), "").unwrap();
        assert_eq!(record.id, 42);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["created_at"], "2026-11-27T05:01:02.123456Z");
        assert_eq!(json["email"], "a@b.c");
        assert_eq!(json["id"], 42);
    }

    #[test]
    fn debug_and_display_show_type_and_id_only() {
        let record = Record::<Secret>::from_row(&row(), "").unwrap();
        assert_eq!(format!("{record:?}"), "Secret(id=42)");
        assert_eq!(record.to_string(), "Secret 42");
    }
}
