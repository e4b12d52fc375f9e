//! Errors of the HTTP API and their one mapping to responses.
//!
//! Every error answer is `application/problem+json` (RFC 9457) with `type`, `title`,
//! `status` and `detail`; 422 adds `errors: [{"field","message"}]`. Details are written
//! here or by the handlers from constants: no SQL, connection string, host error text or
//! submitted value ever reaches a body.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

use super::{Response, json_response};
use crate::db::{DbError, Unavailable};
use crate::models::account::Refusal;
use crate::observability::log;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the body is not valid UTF-8, not JSON, or not a JSON object.
    BadRequest(&'static str),
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 401: credentials (password, refresh token, ID token) refused; the detail says which
    /// kind, never why (no account, wrong password and locked-out look the same).
    AuthFailed(&'static str),
    /// 403: authenticated, but not allowed here (e.g. a user's token on the operator API).
    Forbidden(&'static str),
    /// 429: too many attempts, or too much work asked for; retry after this many seconds.
    TooManyRequests {
        retry_after: u64,
        detail: &'static str,
    },
    /// 404: no such route or resource.
    NotFound(&'static str),
    /// 405: the route exists, the method does not.
    MethodNotAllowed { allow: String },
    /// 409: the write conflicts with existing data.
    Conflict(&'static str),
    /// 412: `If-Match` does not match the current representation.
    PreconditionFailed,
    /// 413: the body is larger than allowed.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: one or more fields are invalid.
    Validation(Vec<FieldError>),
    /// 503: the database cannot be reached or did not answer in time.
    Unavailable,
    /// 503: a write was sent and the database stopped answering before confirming it: it
    /// may or may not have been applied.
    OutcomeUnknown,
    /// 503: a service this request needs (e.g. Google's keys) did not answer.
    UpstreamUnavailable(&'static str),
    /// 503: the component is not configured to serve (e.g. no usable `api_token`).
    NotConfigured,
    /// 500: anything else (logged, never described to the client).
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::AuthFailed(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable
            | ApiError::OutcomeUnknown
            | ApiError::NotConfigured
            | ApiError::UpstreamUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(detail)
            | ApiError::NotFound(detail)
            | ApiError::Conflict(detail)
            | ApiError::AuthFailed(detail)
            | ApiError::Forbidden(detail)
            | ApiError::UpstreamUnavailable(detail)
            | ApiError::TooManyRequests { detail, .. } => (*detail).to_owned(),
            ApiError::Unauthorized => "a valid bearer token is required".to_owned(),
            ApiError::MethodNotAllowed { allow } => {
                format!("this resource allows only: {allow}")
            }
            ApiError::PreconditionFailed => {
                "the resource has changed since it was read (If-Match does not match its ETag)"
                    .to_owned()
            }
            ApiError::PayloadTooLarge => format!(
                "the request body must not exceed {} bytes",
                super::MAX_BODY_BYTES
            ),
            ApiError::UnsupportedMediaType => {
                "the request body must be JSON (Content-Type: application/json)".to_owned()
            }
            ApiError::Validation(errors) => {
                format!("{} invalid field(s)", errors.len())
            }
            ApiError::Unavailable => "the database is unavailable; retry later".to_owned(),
            ApiError::OutcomeUnknown => OUTCOME_UNKNOWN.to_owned(),
            ApiError::NotConfigured => "the API is not configured".to_owned(),
            ApiError::Internal => "an internal error occurred".to_owned(),
        }
    }

    /// The `application/problem+json` response for this error.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
        });
        if let ApiError::Validation(errors) = &self {
            body["errors"] = json!(errors);
        }
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self {
            ApiError::Unauthorized | ApiError::AuthFailed(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            }
            ApiError::Unavailable | ApiError::OutcomeUnknown | ApiError::UpstreamUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        response
    }
}

/// The detail of [`ApiError::OutcomeUnknown`].
pub const OUTCOME_UNKNOWN: &str = "the database stopped answering after the change was sent: it may or \
     may not have been applied; read the resource before repeating the request";

/// What the client is told about a unique constraint, by constraint name.
fn conflict_detail(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("uq_users_email") => "a user with this email address already exists",
        Some("uq_user_identities_provider_subject") => {
            "this Google account is already linked; retry the sign-in"
        }
        _ => "the request conflicts with existing data",
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        ApiError::TooManyRequests {
            retry_after: refusal.retry_after_secs(),
            detail: match refusal {
                Refusal::Locked(_) => {
                    "too many sign-in attempts for this account; retry after the time in Retry-After"
                }
                Refusal::ClientBudget | Refusal::GlobalBudget => {
                    "too many password checks right now; retry after the time in Retry-After"
                }
            },
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> ApiError {
        match &error {
            DbError::Unavailable(reason) => {
                if *reason == Unavailable::Timeout {
                    log::warn("database_timeout", json!({}));
                }
                ApiError::Unavailable
            }
            DbError::OutcomeUnknown(reason) => {
                log::warn(
                    "database_write_outcome_unknown",
                    json!({ "error_kind": reason.as_str() }),
                );
                ApiError::OutcomeUnknown
            }
            DbError::ServerTimeout { sqlstate } => {
                log::warn(
                    "database_statement_timeout",
                    json!({ "sqlstate": sqlstate }),
                );
                ApiError::Unavailable
            }
            DbError::UniqueViolation { constraint } => {
                ApiError::Conflict(conflict_detail(constraint.as_deref()))
            }
            other => {
                log::error(
                    "database_error",
                    json!({
                        "error_kind": other.kind(),
                        "sqlstate": other.sqlstate(),
                        "constraint": other.constraint(),
                        "error": other.to_string(),
                    }),
                );
                ApiError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn problem_json_shape() {
        let response =
            ApiError::Validation(vec![FieldError::new("email", "invalid")]).into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = body(&response);
        assert_eq!(body["status"], 422);
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Unprocessable Entity");
        assert_eq!(body["errors"][0]["field"], "email");
    }

    #[test]
    fn headers_per_error() {
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = ApiError::MethodNotAllowed {
            allow: "GET, HEAD".into(),
        }
        .into_response();
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        let r = ApiError::Unavailable.into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn database_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(DbError::Unavailable(Unavailable::ConnectionFailed)),
            ApiError::Unavailable
        );
        assert_eq!(
            ApiError::from(DbError::UniqueViolation {
                constraint: Some("uq_users_email".into())
            })
            .status(),
            409
        );
        assert_eq!(
            ApiError::from(DbError::Server {
                sqlstate: "42601".into()
            }),
            ApiError::Internal
        );
        let unknown = ApiError::from(DbError::OutcomeUnknown(Unavailable::Timeout));
        assert_eq!(unknown, ApiError::OutcomeUnknown);
        let response = unknown.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(body(&response)["detail"], OUTCOME_UNKNOWN);
        assert!(OUTCOME_UNKNOWN.contains("may or may not have been applied"));
        let timeout = ApiError::from(DbError::ServerTimeout { sqlstate: "57014" });
        assert_eq!(timeout, ApiError::Unavailable);
        assert_eq!(timeout.into_response().headers()[header::RETRY_AFTER], "5");
        // A statement the host cannot decode or bind is a bug: 500, never 503.
        for kind in [crate::db::error::DECODE, crate::db::error::BIND] {
            let error = ApiError::from(DbError::Client { kind });
            assert_eq!(error, ApiError::Internal);
            assert_eq!(error.status(), 500);
        }
    }
}
