//! The api component: `/api/v1/...`, behind a bearer token.
//!
//! - [`auth`]: the bearer token check.
//! - [`users`]: `/api/v1/users` and below.
//! - [`input`]: bodies and query strings parsed into model inputs.
//! - [`etag`]: `ETag`, `If-Match`, `If-None-Match`.
//!
//! HEAD is answered wherever GET is, with GET's status and headers and no body.

pub mod auth;
pub mod etag;
pub mod input;
pub mod users;

use chrono::NaiveDate;
use http::{HeaderValue, Method, header};
use serde_json::json;

use super::{ApiError, Request, Response, head_response};
use crate::db::Db;
use crate::observability::log;

/// The path prefix of every route of this component.
pub const PREFIX: &str = "/api/v1";

/// The shortest `api_token` the component serves with (after trimming), in characters.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Settings of the api component.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token clients must present (`api_token`). Surrounding whitespace is ignored
    /// (a secret file usually ends in a newline). Missing, or shorter than
    /// [`MIN_TOKEN_CHARS`] after trimming: every request gets 503 (not configured), never a
    /// 401 that some token could pass.
    pub api_token: String,
}

impl ApiConfig {
    /// The settings from the raw value of the `api_token` variable (trimmed).
    pub fn new(api_token: &str) -> ApiConfig {
        ApiConfig {
            api_token: api_token.trim().to_owned(),
        }
    }

    /// The token requests must present, or why the API cannot be served (a constant that
    /// never contains the token).
    pub fn token(&self) -> Result<&str, &'static str> {
        let token = self.api_token.trim();
        if token.is_empty() {
            Err("api_token is not set")
        } else if token.chars().nth(MIN_TOKEN_CHARS - 1).is_none() {
            Err("api_token is shorter than 16 characters")
        } else {
            Ok(token)
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiConfig { api_token: <redacted> }")
    }
}

/// Handles one request of the api component. `today` (UTC) bounds dates of birth.
pub async fn handle<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    today: NaiveDate,
) -> Response {
    let mut response = match route(request, config, db, today).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if request.method() == Method::HEAD {
        return head_response(response);
    }
    response
}

async fn route<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let token = config.token().map_err(|reason| {
        log::error("api_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })?;
    auth::require_bearer(request.headers(), token)?;
    let path = request.uri().path();
    let rest = path
        .strip_prefix(PREFIX)
        .ok_or(ApiError::NotFound("no such route"))?;
    let segments: Vec<&str> = rest
        .strip_prefix('/')
        .unwrap_or("\u{0}")
        .split('/')
        .collect();
    match segments.as_slice() {
        ["users", tail @ ..] => users::route(request, tail, db, today).await,
        _ => Err(ApiError::NotFound("no such route")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_trimmed_and_at_least_16_characters() {
        let config = ApiConfig::new("  0123456789abcdef\n");
        assert_eq!(config.token(), Ok("0123456789abcdef"));
        let config = ApiConfig {
            api_token: "0123456789abcdef\r\n".into(),
        };
        assert_eq!(config.token(), Ok("0123456789abcdef"));
        assert_eq!(
            ApiConfig::new("0123456789abcde\n").token(),
            Err("api_token is shorter than 16 characters")
        );
        assert_eq!(
            ApiConfig::new("ééééééééééééééé").token(),
            Err("api_token is shorter than 16 characters")
        );
        assert_eq!(
            ApiConfig::new("éééééééééééééééé").token(),
            Ok("éééééééééééééééé")
        );
        assert_eq!(ApiConfig::new("").token(), Err("api_token is not set"));
        assert_eq!(ApiConfig::new(" \n\t").token(), Err("api_token is not set"));
        let debug = format!("{:?}", ApiConfig::new("0123456789abcdef"));
        assert!(!debug.contains("0123"), "{debug}");
    }
}
