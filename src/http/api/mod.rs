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

use super::{ApiError, Request, Response, head_response};
use crate::db::Db;

/// The path prefix of every route of this component.
pub const PREFIX: &str = "/api/v1";

/// Settings of the api component.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token clients must present (`api_token`); empty refuses every request.
    pub api_token: String,
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
    auth::require_bearer(request.headers(), &config.api_token)?;
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
