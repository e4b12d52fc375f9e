//! `/api/v1/users` and below.
//!
//! | route                         | methods             |
//! |-------------------------------|---------------------|
//! | `/api/v1/users`               | GET, POST           |
//! | `/api/v1/users/{id}`          | GET, PATCH, DELETE  |
//! | `/api/v1/users/{id}/preferences` | GET, PATCH       |
//!
//! Each request sends one SQL statement at most.

use chrono::NaiveDate;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;

use super::etag;
use super::input;
use crate::db::{Db, Record};
use crate::domain::UserId;
use crate::http::{ApiError, Request, Response, empty_response, json, json_response};
use crate::models::user::store::{self, Outcome};
use crate::models::user::{Preferences, PreferencesVersion, UserVersion, UserWithPreferences};

const NO_SUCH_USER: &str = "no user with this id";

/// Routes `/users` + `tail`.
pub async fn route<D: Db>(
    request: &Request,
    tail: &[&str],
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let method = request.method();
    match tail {
        [] => match *method {
            Method::GET => list(request, db).await,
            Method::POST => create(request, db, today).await,
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        },
        [id] => {
            let allow = "GET, PATCH, DELETE";
            if !matches!(*method, Method::GET | Method::PATCH | Method::DELETE) {
                return Err(ApiError::MethodNotAllowed { allow });
            }
            let id = user_id(id)?;
            match *method {
                Method::GET => get(id, db).await,
                Method::PATCH => update(request, id, db, today).await,
                _ => delete(request, id, db).await,
            }
        }
        [id, "preferences"] => {
            if !matches!(*method, Method::GET | Method::PATCH) {
                return Err(ApiError::MethodNotAllowed {
                    allow: "GET, PATCH",
                });
            }
            let id = user_id(id)?;
            match *method {
                Method::GET => get_preferences(id, db).await,
                _ => update_preferences(request, id, db).await,
            }
        }
        _ => Err(ApiError::NotFound("no such route")),
    }
}

/// An id that is not a positive 64-bit integer names no user: 404.
fn user_id(segment: &str) -> Result<UserId, ApiError> {
    UserId::parse_path_segment(segment).ok_or(ApiError::NotFound(NO_SUCH_USER))
}

fn with_etag(mut response: Response, etag: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn user_response(status: StatusCode, user: &UserWithPreferences) -> Result<Response, ApiError> {
    let body = serde_json::to_value(user).map_err(|_| ApiError::Internal)?;
    Ok(with_etag(
        json_response(status, &body),
        etag::user_etag(user.version()),
    ))
}

fn preferences_response(preferences: &Record<Preferences>) -> Result<Response, ApiError> {
    let body = serde_json::to_value(preferences).map_err(|_| ApiError::Internal)?;
    Ok(with_etag(
        json_response(StatusCode::OK, &body),
        etag::preferences_etag(PreferencesVersion::of(preferences)),
    ))
}

/// A user version no row has (for tags that can never match).
const NO_USER_VERSION: UserVersion = UserVersion {
    user_micros: i64::MIN,
    preferences_micros: i64::MIN,
};

/// A preferences version no row has.
const NO_PREFERENCES_VERSION: PreferencesVersion = PreferencesVersion { micros: i64::MIN };

fn outcome<T>(outcome: Outcome<T>) -> Result<T, ApiError> {
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::NotFound => Err(ApiError::NotFound(NO_SUCH_USER)),
        Outcome::Stale => Err(ApiError::PreconditionFailed),
    }
}

async fn list<D: Db>(request: &Request, db: &D) -> Result<Response, ApiError> {
    let query = input::list_query(request.uri().query())?;
    let page = store::list(db, query.after, query.email.as_ref(), query.limit).await?;
    let body = json!({
        "items": page.items,
        "next_cursor": page.next_cursor,
    });
    Ok(json_response(StatusCode::OK, &body))
}

async fn create<D: Db>(request: &Request, db: &D, today: NaiveDate) -> Result<Response, ApiError> {
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

async fn get<D: Db>(id: UserId, db: &D) -> Result<Response, ApiError> {
    let user = store::get(db, id)
        .await?
        .ok_or(ApiError::NotFound(NO_SUCH_USER))?;
    user_response(StatusCode::OK, &user)
}

async fn update<D: Db>(
    request: &Request,
    id: UserId,
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let changes = input::user_changes(&body, today)?;
    let expected = etag::user_precondition(request.headers()).expected(NO_USER_VERSION);
    let user = outcome(store::update(db, id, changes, expected).await?)?;
    user_response(StatusCode::OK, &user)
}

async fn delete<D: Db>(request: &Request, id: UserId, db: &D) -> Result<Response, ApiError> {
    let expected = etag::user_precondition(request.headers()).expected(NO_USER_VERSION);
    outcome(store::delete(db, id, expected).await?)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

async fn get_preferences<D: Db>(id: UserId, db: &D) -> Result<Response, ApiError> {
    let preferences = store::get_preferences(db, id)
        .await?
        .ok_or(ApiError::NotFound(NO_SUCH_USER))?;
    preferences_response(&preferences)
}

async fn update_preferences<D: Db>(
    request: &Request,
    id: UserId,
    db: &D,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let changes = input::preference_changes(&body)?;
    let expected =
        etag::preferences_precondition(request.headers()).expected(NO_PREFERENCES_VERSION);
    let preferences = outcome(store::update_preferences(db, id, changes, expected).await?)?;
    preferences_response(&preferences)
}
