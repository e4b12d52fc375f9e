//! `/api/v1/users` and below.
//!
//! | route                            | methods                  |
//! |----------------------------------|--------------------------|
//! | `/api/v1/users`                  | GET, HEAD, POST          |
//! | `/api/v1/users/{id}`             | GET, HEAD, PATCH, DELETE |
//! | `/api/v1/users/{id}/preferences` | GET, HEAD, PATCH         |
//!
//! The handlers take a [`Scope`]: the operator's routes reach every user, [`super::me`]
//! reuses them with [`Scope::ActiveOnly`] for the signed-in user.
//!
//! Each request sends one SQL statement at most. Reads of one resource honour `If-Match`
//! and `If-None-Match` (304); writes pass `If-Match` to their statement (see [`etag`]).

use chrono::NaiveDate;
use http::{HeaderValue, StatusCode, header};

use super::etag::{self, ReadCondition};
use super::input;
use crate::db::{Db, Record};
use crate::domain::UserId;
use crate::http::{ApiError, Request, Response, empty_response, json, serialized_response};
use crate::models::user::store::{self, Outcome};
use crate::models::user::{
    Preferences, PreferencesVersion, Scope, UserChanges, UserWithPreferences,
};

const NO_SUCH_USER: &str = "no user with this id";

/// An id that is not a positive 64-bit integer names no user: 404.
pub fn user_id(segment: &str) -> Result<UserId, ApiError> {
    UserId::parse_path_segment(segment).ok_or(ApiError::NotFound(NO_SUCH_USER))
}

pub fn with_etag(mut response: Response, etag: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub fn user_response(status: StatusCode, user: &UserWithPreferences) -> Result<Response, ApiError> {
    Ok(with_etag(
        serialized_response(status, user)?,
        etag::user_etag(user.version()),
    ))
}

fn preferences_response(preferences: &Record<Preferences>) -> Result<Response, ApiError> {
    Ok(with_etag(
        serialized_response(StatusCode::OK, preferences)?,
        etag::preferences_etag(PreferencesVersion::of(preferences)),
    ))
}

/// A read of an existing representation whose ETag is `etag`, under the request's
/// `If-Match` (412) and `If-None-Match` (304 with the ETag and no body).
fn conditional_read(
    request: &Request,
    etag: String,
    representation: impl FnOnce() -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    match etag::read_condition(request.headers(), &etag) {
        ReadCondition::Proceed => representation(),
        ReadCondition::NotModified => Ok(with_etag(empty_response(StatusCode::NOT_MODIFIED), etag)),
        ReadCondition::Failed => Err(ApiError::PreconditionFailed),
    }
}

/// What a missing user means: for the operator, no such user (404); on a user's own routes
/// (`/me`), the token's account is deleted or deactivated (401).
fn missing(scope: Scope) -> ApiError {
    match scope {
        Scope::Any => ApiError::NotFound(NO_SUCH_USER),
        Scope::ActiveOnly => super::me::ACCOUNT_GONE,
    }
}

fn outcome<T>(outcome: Outcome<T>, scope: Scope) -> Result<T, ApiError> {
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::NotFound => Err(missing(scope)),
        Outcome::Stale => Err(ApiError::PreconditionFailed),
    }
}

pub async fn list<D: Db>(request: &Request, db: &D) -> Result<Response, ApiError> {
    let query = input::list_query(request.uri().query())?;
    let page = store::list(db, query.after, query.email.as_ref(), query.limit).await?;
    serialized_response(StatusCode::OK, &page)
}

pub async fn create<D: Db>(
    request: &Request,
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let new_user = input::new_user(&body, today)?;
    let user = store::create(db, &new_user).await?;
    let mut response = user_response(StatusCode::CREATED, &user)?;
    let location = format!("{}/users/{}", super::PREFIX, user.user.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

pub async fn get<D: Db>(
    request: &Request,
    id: UserId,
    scope: Scope,
    db: &D,
) -> Result<Response, ApiError> {
    let user = store::get(db, id, scope)
        .await?
        .ok_or_else(|| missing(scope))?;
    conditional_read(request, etag::user_etag(user.version()), || {
        user_response(StatusCode::OK, &user)
    })
}

pub async fn update<D: Db>(
    request: &Request,
    id: UserId,
    scope: Scope,
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let changes = match scope {
        Scope::Any => input::user_changes(&body, today)?,
        Scope::ActiveOnly => input::own_changes(&body, today)?,
    };
    update_changes(request, id, changes, scope, None, db).await
}

/// Applies parsed `changes` under the request's `If-Match`. A new e-mail address revokes
/// the user's sessions but `keep_session` (the caller's own, for `PATCH /me`), and a
/// deactivation revokes them all, in the same statement.
pub async fn update_changes<D: Db>(
    request: &Request,
    id: UserId,
    changes: UserChanges,
    scope: Scope,
    keep_session: Option<i64>,
    db: &D,
) -> Result<Response, ApiError> {
    let expected = etag::user_precondition(request.headers()).versions();
    let user = outcome(
        store::update(db, id, changes, expected.as_deref(), scope, keep_session).await?,
        scope,
    )?;
    user_response(StatusCode::OK, &user)
}

pub async fn delete<D: Db>(
    request: &Request,
    id: UserId,
    scope: Scope,
    db: &D,
) -> Result<Response, ApiError> {
    let expected = etag::user_precondition(request.headers()).versions();
    outcome(
        store::delete(db, id, expected.as_deref(), scope).await?,
        scope,
    )?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn get_preferences<D: Db>(
    request: &Request,
    id: UserId,
    scope: Scope,
    db: &D,
) -> Result<Response, ApiError> {
    let preferences = store::get_preferences(db, id, scope)
        .await?
        .ok_or_else(|| missing(scope))?;
    let version = PreferencesVersion::of(&preferences);
    conditional_read(request, etag::preferences_etag(version), || {
        preferences_response(&preferences)
    })
}

pub async fn update_preferences<D: Db>(
    request: &Request,
    id: UserId,
    scope: Scope,
    db: &D,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let changes = input::preference_changes(&body)?;
    let expected = etag::preferences_precondition(request.headers()).versions();
    let preferences = outcome(
        store::update_preferences(db, id, changes, expected.as_deref(), scope).await?,
        scope,
    )?;
    preferences_response(&preferences)
}
