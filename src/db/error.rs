//! Typed database errors.
//!
//! Host errors are classified once, here. Nothing in a [`DbError`] carries SQL text, a
//! connection string, a value from a row or the server's message: only SQLSTATE codes,
//! constraint and column names, so a `DbError` is safe to log.

use std::fmt;

use spin_sdk::pg::{PgError, QueryError};

/// Why the database could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Opening a connection failed (refused, unreachable, authentication, pool).
    ConnectionFailed,
    /// A connection broke while in use (closed, I/O error, server shutting down).
    ConnectionLost,
    /// The call did not finish within the configured timeout.
    Timeout,
}

impl Unavailable {
    /// A stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::ConnectionFailed => "connection_failed",
            Unavailable::ConnectionLost => "connection_lost",
            Unavailable::Timeout => "timeout",
        }
    }
}

/// A database error, classified.
///
/// Shown as `database error: <kind> (SQLSTATE <code>) on `<constraint>`` (the last two
/// where known), except for the first two and the last variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or did not answer in time (HTTP 503).
    #[error("database unavailable: {}", .0.as_str())]
    Unavailable(Unavailable),
    /// A write (or a COMMIT) was sent and its connection failed before the answer came (lost,
    /// or no answer in time): it may or may not have been applied, and nobody can tell
    /// (HTTP 503 saying so). Never sent again.
    #[error(
        "database unavailable after the write was sent ({}): its outcome is unknown",
        .0.as_str()
    )]
    OutcomeUnknown(Unavailable),
    /// SQLSTATE 23505: a unique constraint or index rejected the write (HTTP 409).
    #[error("database error: unique_violation (SQLSTATE 23505){}", OnConstraint(.constraint))]
    UniqueViolation { constraint: Option<String> },
    /// SQLSTATE 23503: a foreign key rejected the write.
    #[error(
        "database error: foreign_key_violation (SQLSTATE 23503){}",
        OnConstraint(.constraint)
    )]
    ForeignKeyViolation { constraint: Option<String> },
    /// SQLSTATE 23514: a CHECK constraint rejected the write.
    #[error("database error: check_violation (SQLSTATE 23514){}", OnConstraint(.constraint))]
    CheckViolation { constraint: Option<String> },
    /// SQLSTATE 40001 / 40P01: the transaction lost a race and may be retried.
    #[error("database error: serialization_failure (SQLSTATE 40001)")]
    SerializationFailure,
    /// SQLSTATE 57014 (query_canceled, e.g. `statement_timeout`) or 55P03
    /// (lock_not_available, e.g. `lock_timeout`): the server gave up on the statement (HTTP
    /// 503). The connection stays usable, so this is not a connection error.
    #[error("database error: server_timeout (SQLSTATE {sqlstate})")]
    ServerTimeout { sqlstate: &'static str },
    /// Any other error reported by the server, by SQLSTATE.
    #[error("database error: server_error (SQLSTATE {sqlstate})")]
    Server { sqlstate: String },
    /// The host refused a parameter ([`BIND`]) or could not decode a result column
    /// ([`DECODE`]): a bug in a statement; the connection is still good.
    #[error("database error: {kind}")]
    Client { kind: &'static str },
    /// A row could not be decoded into the expected Rust type.
    #[error("cannot decode column `{column}`: {problem}")]
    Decode { column: String, problem: String },
}

/// `` on `<constraint>` `` where the constraint is known, else nothing.
struct OnConstraint<'a>(&'a Option<String>);

impl fmt::Display for OnConstraint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(constraint) => write!(f, " on `{constraint}`"),
            None => Ok(()),
        }
    }
}

impl DbError {
    /// Classifies an error reported by the host.
    pub fn from_host(error: &PgError) -> DbError {
        match error {
            PgError::ConnectionFailed(_) => DbError::Unavailable(Unavailable::ConnectionFailed),
            PgError::QueryFailed(QueryError::Text(text)) => match statement_fault(text) {
                Some(kind) => DbError::Client { kind },
                None => DbError::Unavailable(Unavailable::ConnectionLost),
            },
            PgError::QueryFailed(QueryError::DbError(db)) => {
                let constraint = db
                    .extras
                    .iter()
                    .find(|(key, _)| key == "constraint")
                    .map(|(_, value)| value.clone());
                match db.code.as_str() {
                    "23505" => DbError::UniqueViolation { constraint },
                    "23503" => DbError::ForeignKeyViolation { constraint },
                    "23514" => DbError::CheckViolation { constraint },
                    "40001" | "40P01" => DbError::SerializationFailure,
                    "57014" => DbError::ServerTimeout { sqlstate: "57014" },
                    "55P03" => DbError::ServerTimeout { sqlstate: "55P03" },
                    code if is_connection_sqlstate(code) => {
                        DbError::Unavailable(Unavailable::ConnectionLost)
                    }
                    code => DbError::Server {
                        sqlstate: code.to_owned(),
                    },
                }
            }
            // The host could not convert a parameter before sending it (`query` reports
            // BadParameter, `execute` ValueConversionFailed).
            PgError::BadParameter(_) | PgError::ValueConversionFailed(_) => {
                DbError::Client { kind: BIND }
            }
            PgError::Other(_) => DbError::Client { kind: "other" },
        }
    }

    /// Whether this error means the connection it happened on must not be used again.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::OutcomeUnknown(_))
    }

    /// The SQLSTATE, where the server reported one that is kept.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::UniqueViolation { .. } => Some("23505"),
            DbError::ForeignKeyViolation { .. } => Some("23503"),
            DbError::CheckViolation { .. } => Some("23514"),
            DbError::SerializationFailure => Some("40001"),
            DbError::ServerTimeout { sqlstate } => Some(sqlstate),
            DbError::Server { sqlstate } => Some(sqlstate),
            _ => None,
        }
    }

    /// The constraint that rejected a write, if any.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::UniqueViolation { constraint }
            | DbError::ForeignKeyViolation { constraint }
            | DbError::CheckViolation { constraint } => constraint.as_deref(),
            _ => None,
        }
    }

    /// A stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DbError::Unavailable(reason) => reason.as_str(),
            DbError::OutcomeUnknown(_) => "outcome_unknown",
            DbError::UniqueViolation { .. } => "unique_violation",
            DbError::ForeignKeyViolation { .. } => "foreign_key_violation",
            DbError::CheckViolation { .. } => "check_violation",
            DbError::SerializationFailure => "serialization_failure",
            DbError::ServerTimeout { .. } => "server_timeout",
            DbError::Server { .. } => "server_error",
            DbError::Client { kind } => kind,
            DbError::Decode { .. } => "decode_error",
        }
    }
}

/// [`DbError::Client`] kind: a result column the host cannot decode (e.g. a `timestamptz`).
pub const DECODE: &str = "decode";
/// [`DbError::Client`] kind: a parameter the host cannot bind to its placeholder's type.
pub const BIND: &str = "bind";

/// `QueryError::Text` is the host's `{:?}` of a tokio-postgres error. Most kinds mean the
/// connection failed (Closed, Io, ...), but a column the host cannot decode, or a parameter
/// whose Rust type does not suit the PostgreSQL type, is reported the same way; that is a
/// bug in a statement, not a reason to discard the connection. Spin 4.0.2 reports a
/// `timestamptz` result as `error deserializing column N: cannot convert between the Rust
/// type ...NaiveDateTime and the Postgres type timestamptz` (measured), after the statement
/// ran on the server.
fn statement_fault(text: &str) -> Option<&'static str> {
    const DECODE_MARKS: [&str; 3] = [
        "error deserializing column",
        "kind: FromSql",
        "kind: Column",
    ];
    const BIND_MARKS: [&str; 4] = [
        "error serializing parameter",
        "kind: ToSql",
        "kind: Parameters",
        "WrongType",
    ];
    if DECODE_MARKS.iter().any(|mark| text.contains(mark)) {
        Some(DECODE)
    } else if BIND_MARKS.iter().any(|mark| text.contains(mark)) {
        Some(BIND)
    } else if text.contains("kind: RowCount") {
        Some("row_count")
    } else {
        None
    }
}

/// SQLSTATEs that mean the session is gone: class 08 (connection exception) and the
/// operator-intervention codes for shutdown (57P01, 57P02, 57P03).
fn is_connection_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::pg::DbError as HostDbError;

    fn server(code: &str, constraint: Option<&str>) -> PgError {
        PgError::QueryFailed(QueryError::DbError(HostDbError {
            as_text: "db error: secret value 'x@y.z'".into(),
            severity: "ERROR".into(),
            code: code.into(),
            message: "duplicate key value violates unique constraint".into(),
            detail: Some("Key (email)=(x@y.z) already exists.".into()),
            extras: constraint
                .map(|c| vec![("constraint".to_owned(), c.to_owned())])
                .unwrap_or_default(),
        }))
    }

    #[test]
    fn classifies_host_errors() {
        assert_eq!(
            DbError::from_host(&server("23505", Some("uq_users_email"))),
            DbError::UniqueViolation {
                constraint: Some("uq_users_email".into())
            }
        );
        assert_eq!(
            DbError::from_host(&PgError::ConnectionFailed("refused".into())),
            DbError::Unavailable(Unavailable::ConnectionFailed)
        );
        assert_eq!(
            DbError::from_host(&PgError::QueryFailed(QueryError::Text(
                "Error { kind: Closed, cause: None }".into()
            ))),
            DbError::Unavailable(Unavailable::ConnectionLost)
        );
        assert_eq!(
            DbError::from_host(&server("57P01", None)),
            DbError::Unavailable(Unavailable::ConnectionLost)
        );
        assert_eq!(
            DbError::from_host(&server("22012", None)),
            DbError::Server {
                sqlstate: "22012".into()
            }
        );
        assert_eq!(
            DbError::from_host(&PgError::QueryFailed(QueryError::Text(
                "Error { kind: ToSql(0), cause: Some(WrongType { postgres: Int4, rust: \"i64\" }) }".into()
            ))),
            DbError::Client { kind: BIND }
        );
        // Measured under Spin 4.0.2: a timestamptz result column.
        assert_eq!(
            DbError::from_host(&PgError::QueryFailed(QueryError::Text(
                "error deserializing column 8: cannot convert between the Rust type \
                 `chrono::naive::datetime::NaiveDateTime` and the Postgres type `timestamptz`"
                    .into()
            ))),
            DbError::Client { kind: DECODE }
        );
        assert!(!DbError::Client { kind: DECODE }.is_connection_error());
        assert_eq!(DbError::Client { kind: DECODE }.kind(), "decode");
        assert!(matches!(
            DbError::from_host(&PgError::BadParameter("x".into())),
            DbError::Client { .. }
        ));
    }

    #[test]
    fn server_side_timeouts_are_not_connection_errors() {
        for code in ["57014", "55P03"] {
            let error = DbError::from_host(&server(code, None));
            assert!(matches!(error, DbError::ServerTimeout { .. }), "{code}");
            assert!(!error.is_connection_error(), "{code}");
            assert_eq!(error.sqlstate(), Some(code));
            assert_eq!(error.kind(), "server_timeout");
        }
    }

    #[test]
    fn display_never_carries_server_text() {
        let shown = DbError::from_host(&server("23505", Some("uq_users_email"))).to_string();
        assert!(!shown.contains("x@y.z"), "{shown}");
        assert!(shown.contains("23505") && shown.contains("uq_users_email"));
    }

    /// The text of every variant, as logs and tests read it.
    #[test]
    fn display_texts() {
        let c = || Some("uq_users_email".to_owned());
        let cases = [
            (
                DbError::Unavailable(Unavailable::Timeout),
                "database unavailable: timeout",
            ),
            (
                DbError::OutcomeUnknown(Unavailable::ConnectionLost),
                "database unavailable after the write was sent (connection_lost): its outcome is unknown",
            ),
            (
                DbError::UniqueViolation { constraint: c() },
                "database error: unique_violation (SQLSTATE 23505) on `uq_users_email`",
            ),
            (
                DbError::UniqueViolation { constraint: None },
                "database error: unique_violation (SQLSTATE 23505)",
            ),
            (
                DbError::ForeignKeyViolation { constraint: c() },
                "database error: foreign_key_violation (SQLSTATE 23503) on `uq_users_email`",
            ),
            (
                DbError::CheckViolation { constraint: None },
                "database error: check_violation (SQLSTATE 23514)",
            ),
            (
                DbError::SerializationFailure,
                "database error: serialization_failure (SQLSTATE 40001)",
            ),
            (
                DbError::ServerTimeout { sqlstate: "57014" },
                "database error: server_timeout (SQLSTATE 57014)",
            ),
            (
                DbError::Server {
                    sqlstate: "42P01".to_owned(),
                },
                "database error: server_error (SQLSTATE 42P01)",
            ),
            (DbError::Client { kind: DECODE }, "database error: decode"),
            (
                DbError::Decode {
                    column: "email".to_owned(),
                    problem: "not an e-mail".to_owned(),
                },
                "cannot decode column `email`: not an e-mail",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
