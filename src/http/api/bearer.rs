//! Who the caller is: `Authorization: Bearer <token>`, where the token is either the
//! operator's `api_token` (compared in constant time) or a user's access token (a JWT,
//! verified by [`crate::auth::token::AccessTokens`]). The header and the constant-time check
//! are [`crate::http::bearer`], shared with the ingest component.
//!
//! - an operator route with a valid user token: 403 (authenticated, not allowed);
//! - a user route with the operator token, or any token that does not verify: 401;
//! - a route whose kind of token is not configured: 503 (not configured), logged.

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::json;

use super::config::{ApiConfig, not_configured};
use super::routes::Access;
use crate::domain::UserId;
use crate::http::ApiError;
use crate::http::bearer::{presented, require_bearer};
use crate::observability::log;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A public route: nobody was asked for.
    Anonymous,
    /// The operator (`api_token`).
    Operator,
    /// A user, by a verified access token (issued in the session family `session`).
    User { id: UserId, session: Option<i64> },
}

impl Caller {
    /// The user, if a user called.
    pub fn user(self) -> Option<UserId> {
        match self {
            Caller::User { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The session family of a user's access token, if it names one.
    pub fn session(self) -> Option<i64> {
        match self {
            Caller::User { session, .. } => session,
            _ => None,
        }
    }
}

/// Authenticates the request for a route of kind `access`.
pub fn authorize(
    headers: &HeaderMap,
    access: Access,
    config: &ApiConfig,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    match access {
        Access::Public => Ok(Caller::Anonymous),
        Access::Operator => {
            let token = config.token().map_err(not_configured)?;
            if require_bearer(headers, token).is_ok() {
                return Ok(Caller::Operator);
            }
            let user_token = config
                .tokens
                .as_ref()
                .ok()
                .zip(presented(headers))
                .is_some_and(|(tokens, presented)| tokens.verify(presented, now).is_ok());
            if user_token {
                Err(ApiError::Forbidden(
                    "this route is the operator's; a user's access token cannot use it",
                ))
            } else {
                Err(ApiError::Unauthorized)
            }
        }
        Access::User => {
            let tokens = config
                .tokens
                .as_ref()
                .map_err(|reason| not_configured(reason))?;
            let token = presented(headers).ok_or(ApiError::Unauthorized)?;
            match tokens.verify(token, now) {
                Ok(verified) => Ok(Caller::User {
                    id: verified.user_id,
                    session: verified.session,
                }),
                Err(error) => {
                    log::info(
                        "access_token_refused",
                        json!({ "reason": error.to_string() }),
                    );
                    Err(ApiError::Unauthorized)
                }
            }
        }
    }
}
