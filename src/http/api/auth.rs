//! `/api/v1/auth/...`: register, login, refresh, logout and Google sign-in. Public routes.
//!
//! Token responses use OAuth 2.0's names (RFC 6749 §5.1): `access_token`, `token_type`
//! (`Bearer`), `expires_in` (seconds), `refresh_token`; register adds `user`. Errors stay
//! `application/problem+json`. Every answer is `Cache-Control: no-store`.
//!
//! - login: the same 401, after the same work (an Argon2id verification, of a dummy hash
//!   when there is no such account), for an unknown email, a wrong password, an account
//!   without a password and a deactivated one. 5 failures for one email within 15 minutes
//!   lock it (429 with `Retry-After`) until the window ends; a success clears the count.
//! - refresh: the presented token is spent and a new pair issued; presenting a spent one
//!   revokes its whole family (someone replayed it) and is 401.
//! - logout: revokes the family of the presented refresh token; 204 whether or not it was
//!   live (nothing to tell an attacker).

use chrono::{DateTime, Duration, Utc};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

use super::config::{ApiConfig, REFRESH_TOKEN_DAYS};
use super::{input, users};
use crate::auth::token::{AccessToken, AccessTokens, RefreshToken, sha256_hex};
use crate::auth::{self, Password};
use crate::db::{Db, Timestamp};
use crate::domain::{Email, UserId};
use crate::http::{ApiError, Request, Response, empty_response, json, serialized_response};
use crate::models::account::{self, Rotation, TokenHash, store};
use crate::models::user::UserWithPreferences;
use crate::observability::log;

const LOGIN_FAILED: ApiError = ApiError::AuthFailed("the email or password is wrong");
const REFRESH_REFUSED: ApiError =
    ApiError::AuthFailed("the refresh token is not valid; sign in again");

/// The longest refresh token looked up (ours are 43 characters).
const MAX_REFRESH_TOKEN_CHARS: usize = 256;

/// RFC 6749 §5.1 token response.
#[derive(Serialize)]
struct Tokens<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: &'a str,
}

#[derive(Serialize)]
struct Registered<'a> {
    user: &'a UserWithPreferences,
    #[serde(flatten)]
    tokens: Tokens<'a>,
}

/// A freshly issued pair.
struct Pair {
    access: AccessToken,
    refresh: RefreshToken,
    now: DateTime<Utc>,
}

impl Pair {
    fn body(&self) -> Tokens<'_> {
        Tokens {
            access_token: self.access.as_str(),
            token_type: "Bearer",
            // `exp` - `iat`, both whole seconds (`iat` is `now` truncated).
            expires_in: self.access.expires_at().timestamp() - self.now.timestamp(),
            refresh_token: self.refresh.as_str(),
        }
    }
}

fn tokens(config: &ApiConfig) -> Result<&AccessTokens, ApiError> {
    config.tokens.as_ref().map_err(|reason| {
        log::error("api_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })
}

fn new_refresh(now: DateTime<Utc>) -> Result<(RefreshToken, TokenHash, Timestamp), ApiError> {
    let refresh = RefreshToken::generate().map_err(|_| ApiError::Internal)?;
    let hash = TokenHash::parse(&refresh.storage_hash()).map_err(|_| ApiError::Internal)?;
    let expires_at = Timestamp::new(now + Duration::days(REFRESH_TOKEN_DAYS));
    Ok((refresh, hash, expires_at))
}

fn issue(
    tokens: &AccessTokens,
    user: UserId,
    refresh: RefreshToken,
    now: DateTime<Utc>,
) -> Result<Pair, ApiError> {
    let access = tokens.issue(user, now).map_err(|_| ApiError::Internal)?;
    Ok(Pair {
        access,
        refresh,
        now,
    })
}

fn token_response<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, ApiError> {
    let mut response = serialized_response(status, body)?;
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Starts a session for `user` (a new family) and issues its first pair.
async fn start_session<D: Db>(
    db: &D,
    tokens: &AccessTokens,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Pair, ApiError> {
    let (refresh, hash, expires_at) = new_refresh(now)?;
    store::create_session(db, user, &hash, expires_at).await?;
    issue(tokens, user, refresh, now)
}

/// `POST /auth/register` {email, name, password, timezone?}: 201 with the user and tokens.
pub async fn register<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = tokens(config)?;
    let body = json::object(request)?;
    let (new_user, password) = input::registration(&body)?;
    let hash = auth::hash::hash(&password).map_err(|_| ApiError::Internal)?;
    let hash = account::PasswordHash::parse(hash.as_str()).map_err(|_| ApiError::Internal)?;
    let user = store::register(db, &new_user, &hash).await?;
    let pair = start_session(db, tokens, user.user.id, now).await?;
    let body = Registered {
        user: &user,
        tokens: pair.body(),
    };
    let mut response = token_response(StatusCode::CREATED, &body)?;
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_static("/api/v1/me"),
    );
    Ok(users::with_etag(
        response,
        super::etag::user_etag(user.version()),
    ))
}

/// `POST /auth/login` {email, password}: 200 tokens, or the one 401, or 429 while locked.
pub async fn login<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = tokens(config)?;
    let body = json::object(request)?;
    let [email, password] = input::credentials(&body, ["email", "password"])?;
    let password = Password::parse_for_login(&password).ok();
    let Ok(email) = Email::parse(&email) else {
        // No account can have this email, and no throttle row can name it.
        if let Some(password) = &password {
            auth::hash::dummy_verify(password);
        }
        return Err(LOGIN_FAILED);
    };
    let check = store::login_check(db, &email, config.throttle).await?;
    if let Some(locked_for) = check.locked_for {
        log::warn("login_locked", json!({}));
        return Err(ApiError::TooManyRequests {
            retry_after: locked_for.as_secs().max(1),
        });
    }
    let stored = check.candidate.as_ref().and_then(|c| {
        c.password_hash
            .as_ref()
            .and_then(|h| auth::PasswordHash::from_stored(h.as_str()).ok())
    });
    let verified = match (&password, &stored) {
        (Some(password), Some(stored)) => auth::hash::verify(password, stored),
        (Some(password), None) => {
            auth::hash::dummy_verify(password);
            false
        }
        (None, _) => false,
    };
    let active = check.candidate.as_ref().filter(|c| c.is_active);
    match active {
        Some(candidate) if verified => {
            let (refresh, hash, expires_at) = new_refresh(now)?;
            store::login_session(db, candidate.user_id, &hash, expires_at)
                .await?
                .ok_or(LOGIN_FAILED)?;
            let pair = issue(tokens, candidate.user_id, refresh, now)?;
            token_response(StatusCode::OK, &pair.body())
        }
        _ => {
            let recorded = store::record_login_failure(db, &email, config.throttle).await?;
            log::info(
                "login_failed",
                json!({ "failures": recorded.failures, "locked": recorded.locked_for.is_some() }),
            );
            Err(LOGIN_FAILED)
        }
    }
}

/// The refresh token of a `{refresh_token}` body, as the hash it is stored under; `None`
/// for a value that cannot be one of ours.
fn presented_refresh(request: &Request) -> Result<Option<TokenHash>, ApiError> {
    let body = json::object(request)?;
    let [token] = input::credentials(&body, ["refresh_token"])?;
    if token.is_empty() || token.chars().count() > MAX_REFRESH_TOKEN_CHARS {
        return Ok(None);
    }
    Ok(TokenHash::parse(&sha256_hex(&token)).ok())
}

/// `POST /auth/refresh` {refresh_token}: 200 a new pair; the presented token is spent.
pub async fn refresh<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = tokens(config)?;
    let presented = presented_refresh(request)?.ok_or(REFRESH_REFUSED)?;
    let (refresh, hash, expires_at) = new_refresh(now)?;
    match store::rotate_session(db, &presented, &hash, expires_at).await? {
        Rotation::Rotated(session) => {
            let pair = issue(tokens, session.user_id, refresh, now)?;
            token_response(StatusCode::OK, &pair.body())
        }
        Rotation::Reused { family_id, .. } => {
            log::warn("refresh_token_reused", json!({ "family_id": family_id }));
            Err(REFRESH_REFUSED)
        }
        Rotation::Revoked { .. }
        | Rotation::Expired { .. }
        | Rotation::Inactive { .. }
        | Rotation::Unknown => Err(REFRESH_REFUSED),
    }
}

/// `POST /auth/logout` {refresh_token}: 204; the token's family is revoked.
pub async fn logout<D: Db>(request: &Request, db: &D) -> Result<Response, ApiError> {
    if let Some(presented) = presented_refresh(request)? {
        store::revoke_family(db, &presented).await?;
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `POST /auth/google` {id_token}.
pub async fn google<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let _ = (request, db, now, tokens(config)?);
    if config.google.is_none() {
        log::error(
            "api_not_configured",
            json!({ "reason": "google_client_id is not set" }),
        );
    }
    Err(ApiError::NotConfigured)
}
