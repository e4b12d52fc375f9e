//! `/api/v1/me` and below: the signed-in user's own account, by the `sub` of a verified
//! access token ([`super::bearer`]).
//!
//! | route                   | methods                  |
//! |-------------------------|--------------------------|
//! | `/api/v1/me`            | GET, HEAD, PATCH, DELETE |
//! | `/api/v1/me/preferences`| GET, HEAD, PATCH         |
//! | `/api/v1/me/password`   | POST                     |
//!
//! `/me` and `/me/preferences` are served by the [`super::users`] handlers with
//! [`crate::models::user::Scope::ActiveOnly`] (see the dispatch in [`super`]): the same
//! statements, ETags and rules; a token whose user was deleted or deactivated finds nothing,
//! in the same statement as the work, and gets [`ACCOUNT_GONE`] (401). A user can never name
//! another user's id here. This module holds what is the user's own: the password change.

use http::StatusCode;
use serde_json::json;

use super::input;
use crate::auth::{self, Password};
use crate::db::Db;
use crate::domain::UserId;
use crate::http::{ApiError, Request, Response, empty_response, json};
use crate::models::account::{self, store};
use crate::observability::log;

/// 401 for a token whose account is gone or deactivated.
pub const ACCOUNT_GONE: ApiError =
    ApiError::AuthFailed("the account of this access token is deleted or deactivated");

/// `POST /me/password` {current_password, new_password}: checks the current password,
/// stores the new one's hash and revokes every session of the user (one statement). 204.
/// A wrong current password is 403; an account without a password (Google only) has no
/// current password to give, and gets 403 too.
pub async fn change_password<D: Db>(
    request: &Request,
    me: UserId,
    db: &D,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let [current, new] = input::credentials(&body, ["current_password", "new_password"])?;
    let new = Password::parse(&new).map_err(|e| {
        ApiError::Validation(vec![crate::http::FieldError::new(
            "new_password",
            e.to_string(),
        )])
    })?;
    let candidate = store::password_of(db, me).await?.ok_or(ACCOUNT_GONE)?;
    let current = Password::parse_for_login(&current).ok();
    let stored = candidate
        .password_hash
        .as_ref()
        .and_then(|h| auth::PasswordHash::from_stored(h.as_str()).ok());
    let matches = match (&current, &stored) {
        (Some(current), Some(stored)) => auth::hash::verify(current, stored),
        (Some(current), None) => {
            auth::hash::dummy_verify(current);
            false
        }
        _ => false,
    };
    if !matches {
        return Err(ApiError::Forbidden("the current password is wrong"));
    }
    let hash = auth::hash::hash(&new).map_err(|_| ApiError::Internal)?;
    let hash = account::PasswordHash::parse(hash.as_str()).map_err(|_| ApiError::Internal)?;
    let revoked = store::change_password(db, me, &hash)
        .await?
        .ok_or(ACCOUNT_GONE)?;
    log::info(
        "password_changed",
        json!({ "user_id": me.to_string(), "sessions_revoked": revoked }),
    );
    Ok(empty_response(StatusCode::NO_CONTENT))
}
