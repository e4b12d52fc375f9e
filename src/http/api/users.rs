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
use serde_json::{Map, Value};

use super::etag::{self, ReadCondition};
use super::input;
use crate::db::{Db, Record};
use crate::domain::{
    DateOfBirth, Email, Profession, ProfilePicture, SummaryLength, Timezone, UpdateFrequency,
    UserId, UserName,
};
use crate::http::{ApiError, Request, Response, empty_response, json, serialized_response};
use crate::models::user::store::{self, Outcome};
use crate::models::user::{
    NewUser, PreferenceChanges, Preferences, PreferencesVersion, Scope, UserChanges,
    UserWithPreferences,
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
    let query = list_query(request.uri().query())?;
    let page = store::list(db, query.after, query.email.as_ref(), query.limit).await?;
    serialized_response(StatusCode::OK, &page)
}

pub async fn create<D: Db>(
    request: &Request,
    db: &D,
    today: NaiveDate,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let new_user = new_user(&body, today)?;
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
        Scope::Any => user_changes(&body, today)?,
        Scope::ActiveOnly => own_changes(&body, today)?,
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
    let changes = preference_changes(&body)?;
    let expected = etag::preferences_precondition(request.headers()).versions();
    let preferences = outcome(
        store::update_preferences(db, id, changes, expected.as_deref(), scope).await?,
        scope,
    )?;
    preferences_response(&preferences)
}

// ------------------------------------------------------------------------------------------------
// Request bodies and queries of `/users` (and the user fields of `/me`).

const USER_FIELDS: &[&str] = &[
    "email",
    "name",
    "profile_picture",
    "profession",
    "date_of_birth",
    "timezone",
    "is_active",
];

const PREFERENCES_HINT: (&str, &str) = (
    "preferences",
    "is changed with PATCH /api/v1/users/{id}/preferences",
);

/// The same hint for `PATCH /me`: a user's own preferences route, not the operator's.
const OWN_PREFERENCES_HINT: (&str, &str) = (
    "preferences",
    "is changed with PATCH /api/v1/me/preferences",
);

/// The user fields of a body, each absent (`None`/`Keep`), cleared or set; `None` if any
/// field is invalid (the errors say which).
pub(super) fn user_fields(
    errors: &mut input::Errors,
    body: &Map<String, Value>,
    today: NaiveDate,
    preferences_hint: (&str, &str),
) -> Option<UserChanges> {
    errors.unknown_fields(body, USER_FIELDS, &[preferences_hint]);
    let email = input::not_null_text(errors, body, "email", Email::parse);
    let name = input::not_null_text(errors, body, "name", UserName::parse);
    let profile_picture =
        input::nullable_text(errors, body, "profile_picture", ProfilePicture::parse);
    let profession = input::nullable_text(errors, body, "profession", Profession::parse);
    let date_of_birth = input::nullable_text(errors, body, "date_of_birth", |t| {
        DateOfBirth::parse(t, today)
    });
    let timezone = input::not_null_text(errors, body, "timezone", Timezone::parse);
    let is_active = input::not_null(errors, body, "is_active", |e, v| {
        input::boolean(e, "is_active", v)
    });
    Some(UserChanges {
        email: email.ok()?,
        name: name.ok()?,
        profile_picture: profile_picture.ok()?,
        profession: profession.ok()?,
        date_of_birth: date_of_birth.ok()?,
        timezone: timezone.ok()?,
        is_active: is_active.ok()?,
    })
}

/// The body of `POST /users`: `email` and `name` required, the rest optional with defaults.
pub fn new_user(body: &Map<String, Value>, today: NaiveDate) -> Result<NewUser, ApiError> {
    let mut errors = input::Errors::default();
    let fields = user_fields(&mut errors, body, today, PREFERENCES_HINT);
    for field in ["email", "name"] {
        if !body.contains_key(field) {
            errors.push(field, "is required");
        }
    }
    let user = fields.and_then(|f| {
        Some(NewUser {
            email: f.email?,
            name: f.name?,
            profile_picture: f.profile_picture.into_set(),
            profession: f.profession.into_set(),
            date_of_birth: f.date_of_birth.into_set(),
            timezone: f.timezone.unwrap_or_default(),
            is_active: f.is_active.unwrap_or(true),
        })
    });
    errors.finish(user)
}

/// The body of `PATCH /users/{id}` (JSON merge patch).
pub fn user_changes(body: &Map<String, Value>, today: NaiveDate) -> Result<UserChanges, ApiError> {
    let mut errors = input::Errors::default();
    let changes = user_fields(&mut errors, body, today, PREFERENCES_HINT);
    errors.finish(changes)
}

/// The body of `PATCH /me` (JSON merge patch): the user fields, except `is_active`, which
/// only the operator changes.
pub fn own_changes(body: &Map<String, Value>, today: NaiveDate) -> Result<UserChanges, ApiError> {
    let mut errors = input::Errors::default();
    if body.contains_key("is_active") {
        errors.push("is_active", "is changed by the operator only");
    }
    let mut rest = body.clone();
    rest.remove("is_active");
    let changes = user_fields(&mut errors, &rest, today, OWN_PREFERENCES_HINT);
    errors.finish(changes)
}

/// The body of `PATCH /users/{id}/preferences` (JSON merge patch).
pub fn preference_changes(body: &Map<String, Value>) -> Result<PreferenceChanges, ApiError> {
    let mut errors = input::Errors::default();
    errors.unknown_fields(
        body,
        &[
            "update_frequency",
            "summary_length",
            "email_notifications_enabled",
        ],
        &[],
    );
    let update_frequency = input::not_null_text(
        &mut errors,
        body,
        "update_frequency",
        UpdateFrequency::parse,
    );
    let summary_length =
        input::not_null_text(&mut errors, body, "summary_length", SummaryLength::parse);
    let notifications =
        input::not_null(&mut errors, body, "email_notifications_enabled", |e, v| {
            input::boolean(e, "email_notifications_enabled", v)
        });
    let changes = (|| {
        Some(PreferenceChanges {
            update_frequency: update_frequency.ok()?,
            summary_length: summary_length.ok()?,
            email_notifications_enabled: notifications.ok()?,
        })
    })();
    errors.finish(changes)
}

/// The query of `GET /users`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub after: Option<UserId>,
    pub email: Option<Email>,
}

/// Parses `limit`, `after` and `email`; anything else, or a parameter given twice, is 422.
pub fn list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut errors = input::Errors::default();
    let (mut after, mut email) = (None, None);
    let limit = input::query_limit(query, &mut errors, |errors, key, value| {
        match key {
            "after" => match UserId::parse_path_segment(value) {
                Some(id) => after = Some(id),
                None => errors.push("after", "must be a user id (a positive whole number)"),
            },
            "email" => email = errors.domain("email", Email::parse(value)),
            _ => return false,
        }
        true
    });
    errors.finish(Some(ListQuery {
        limit,
        after,
        email,
    }))
}
