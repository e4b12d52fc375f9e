//! Rows decoded by column name, with errors that say which column and what went wrong.

use std::cell::Cell;
use std::rc::Rc;

use spin_sdk::pg::{DbValue, Decode};

use super::error::DbError;

/// One result row: the column names of its statement and its values, in order.
#[derive(Clone)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<DbValue>,
    /// Where the next lookup starts: just after the column found last. Models read their
    /// columns in the statement's order, so a lookup usually matches at its first try.
    /// (The statements name every result column once: with two columns of one name, which
    /// one a lookup finds would depend on the lookups before it.)
    next: Cell<usize>,
}

impl Row {
    /// Builds a row; `values` is in the order of `columns`.
    pub fn new(columns: Rc<[String]>, values: Vec<DbValue>) -> Row {
        Row {
            columns,
            values,
            next: Cell::new(0),
        }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The raw value of a column.
    pub fn value(&self, column: &str) -> Result<&DbValue, DbError> {
        self.prefixed_value("", column)
    }

    /// The columns named `{prefix}{name}`, read without building the names (a list decodes
    /// every column of every row).
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> Prefixed<'a> {
        Prefixed { row: self, prefix }
    }

    fn prefixed_value(&self, prefix: &str, name: &str) -> Result<&DbValue, DbError> {
        let named = |c: &String| {
            c.len() == prefix.len() + name.len() && c.starts_with(prefix) && c.ends_with(name)
        };
        let start = self.next.get().min(self.columns.len());
        let (before, after) = self.columns.split_at(start);
        after
            .iter()
            .position(named)
            .map(|i| start + i)
            .or_else(|| before.iter().position(named))
            .and_then(|i| {
                self.next.set(i + 1);
                self.values.get(i)
            })
            .ok_or_else(|| DbError::Decode {
                column: format!("{prefix}{name}"),
                problem: "no such column in the result".to_owned(),
            })
    }

    /// A non-null column: a missing column, a NULL or a value of another type is an error.
    pub fn get<T: Decode>(&self, column: &str) -> Result<T, DbError> {
        let value = self.value(column)?;
        if matches!(value, DbValue::DbNull) {
            return Err(DbError::Decode {
                column: column.to_owned(),
                problem: "unexpected NULL".to_owned(),
            });
        }
        decode("", column, value)
    }

    /// A nullable column: NULL becomes `None`.
    pub fn get_opt<T: Decode>(&self, column: &str) -> Result<Option<T>, DbError> {
        match self.value(column)? {
            DbValue::DbNull => Ok(None),
            value => decode("", column, value).map(Some),
        }
    }
}

/// A row's columns with a name prefix (see [`Row::prefixed`]).
#[derive(Clone, Copy)]
pub struct Prefixed<'a> {
    row: &'a Row,
    prefix: &'a str,
}

impl Prefixed<'_> {
    /// [`Row::get`] of `{prefix}{name}`.
    pub fn get<T: Decode>(&self, name: &str) -> Result<T, DbError> {
        let value = self.row.prefixed_value(self.prefix, name)?;
        if matches!(value, DbValue::DbNull) {
            return Err(DbError::Decode {
                column: format!("{}{name}", self.prefix),
                problem: "unexpected NULL".to_owned(),
            });
        }
        decode(self.prefix, name, value)
    }

    /// [`Row::get_opt`] of `{prefix}{name}`.
    pub fn get_opt<T: Decode>(&self, name: &str) -> Result<Option<T>, DbError> {
        match self.row.prefixed_value(self.prefix, name)? {
            DbValue::DbNull => Ok(None),
            value => decode(self.prefix, name, value).map(Some),
        }
    }
}

/// Shows column names and value kinds, never values (they may be personal data).
impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.columns.iter().zip(self.values.iter().map(value_kind)))
            .finish()
    }
}

/// Decodes the value of column `{prefix}{name}` (the name is built only for an error).
fn decode<T: Decode>(prefix: &str, name: &str, value: &DbValue) -> Result<T, DbError> {
    T::decode(value).map_err(|_| DbError::Decode {
        column: format!("{prefix}{name}"),
        problem: format!(
            "type mismatch: cannot read a {} value as {}",
            value_kind(value),
            std::any::type_name::<T>()
        ),
    })
}

/// The name of a value's variant, never its content (values may be personal data).
pub fn value_kind(value: &DbValue) -> &'static str {
    match value {
        DbValue::Boolean(_) => "boolean",
        DbValue::Int8(_) => "int8",
        DbValue::Int16(_) => "int16",
        DbValue::Int32(_) => "int32",
        DbValue::Int64(_) => "int64",
        DbValue::Floating32(_) => "floating32",
        DbValue::Floating64(_) => "floating64",
        DbValue::Str(_) => "str",
        DbValue::Binary(_) => "binary",
        DbValue::Date(_) => "date",
        DbValue::Time(_) => "time",
        DbValue::Datetime(_) => "datetime",
        DbValue::Timestamp(_) => "timestamp",
        DbValue::Uuid(_) => "uuid",
        DbValue::Jsonb(_) => "jsonb",
        DbValue::Decimal(_) => "decimal",
        DbValue::RangeInt32(_) => "range-int32",
        DbValue::RangeInt64(_) => "range-int64",
        DbValue::RangeDecimal(_) => "range-decimal",
        DbValue::ArrayInt32(_) => "array-int32",
        DbValue::ArrayInt64(_) => "array-int64",
        DbValue::ArrayDecimal(_) => "array-decimal",
        DbValue::ArrayStr(_) => "array-str",
        DbValue::Interval(_) => "interval",
        DbValue::DbNull => "null",
        DbValue::Unsupported(_) => "unsupported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row::new(
            Rc::from(vec!["id".to_owned(), "name".to_owned(), "note".to_owned()]),
            vec![
                DbValue::Int64(7),
                DbValue::Str("Ada".into()),
                DbValue::DbNull,
            ],
        )
    }

    #[test]
    fn decodes_by_name() {
        let row = row();
        assert_eq!(row.get::<i64>("id").ok(), Some(7));
        assert_eq!(row.get::<String>("name").ok().as_deref(), Some("Ada"));
        assert_eq!(row.get_opt::<String>("note").ok(), Some(None));
    }

    #[test]
    fn finds_columns_in_any_order_and_by_prefix() {
        let row = Row::new(
            Rc::from(vec![
                "id".to_owned(),
                "name".to_owned(),
                "p_id".to_owned(),
                "p_name".to_owned(),
            ]),
            vec![
                DbValue::Int64(1),
                DbValue::Str("user".into()),
                DbValue::Int64(2),
                DbValue::Str("prefs".into()),
            ],
        );
        let p = row.prefixed("p_");
        // Backwards, repeated, and across the prefix, the lookup that starts after the
        // last match wraps around.
        assert_eq!(p.get::<String>("name").ok().as_deref(), Some("prefs"));
        assert_eq!(row.get::<String>("name").ok().as_deref(), Some("user"));
        assert_eq!(row.get::<String>("name").ok().as_deref(), Some("user"));
        assert_eq!(p.get::<i64>("id").ok(), Some(2));
        assert_eq!(row.get::<i64>("id").ok(), Some(1));
        assert_eq!(p.get::<String>("name").ok().as_deref(), Some("prefs"));
        assert!(p.get::<i64>("nope").is_err());
        assert_eq!(row.get::<i64>("id").ok(), Some(1));
    }

    #[test]
    fn says_what_went_wrong() {
        let row = row();
        let missing = row.get::<i64>("nope").unwrap_err().to_string();
        assert!(
            missing.contains("`nope`") && missing.contains("no such column"),
            "{missing}"
        );
        let null = row.get::<String>("note").unwrap_err().to_string();
        assert!(null.contains("unexpected NULL"), "{null}");
        let mismatch = row.get::<i64>("name").unwrap_err().to_string();
        assert!(mismatch.contains("type mismatch"), "{mismatch}");
        assert!(
            !mismatch.contains("Ada"),
            "values never appear in errors: {mismatch}"
        );
        let int32 = row.get::<i32>("id").unwrap_err().to_string();
        assert!(int32.contains("int64"), "{int32}");
    }
}
