//! `/api/v1/me` and below: the signed-in user's own account, by the `sub` of a verified
//! access token ([`super::bearer`]).
//!
//! | route                          | methods                  |
//! |--------------------------------|--------------------------|
//! | `/api/v1/me`                   | GET, HEAD, PATCH, DELETE |
//! | `/api/v1/me/preferences`       | GET, HEAD, PATCH         |
//! | `/api/v1/me/password`          | POST                     |
//! | `/api/v1/me/identities/google` | POST                     |
//! | `/api/v1/me/email/verification` | POST                    |
//!
//! `/me` and `/me/preferences` are served by the [`super::users`] handlers with
//! [`crate::models::user::Scope::ActiveOnly`] (see the dispatch in [`super`]): the same
//! statements, ETags and rules; a token whose user was deleted or deactivated finds nothing,
//! in the same statement as the work, and gets [`ACCOUNT_GONE`] (401). A user can never name
//! another user's id here. This module holds what is the user's own and needs the user to
//! prove again who they are (a stolen 15-minute access token is not enough):
//!
//! - a new password, and linking a Google account: the current password;
//! - a new e-mail address: the current password, or for an account without one a Google ID
//!   token of a Google account linked to it, issued within [`FRESH_GOOGLE_PROOF`]. The new
//!   address is unproved, and every other session of the user is revoked.
//!
//! `POST /me/email/verification` asks for a proof of the current address: a signed link
//! mailed by the delivery round ([`crate::digests::deliver`]) that sets it verified.
//! Digests are mailed only to verified addresses.
//!
//! Every password check is reserved first ([`super::auth::check_password`]): a wrong current
//! password counts toward the sign-in throttle of the account's e-mail.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::config::ApiConfig;
use super::{auth as auth_routes, input, users};
use crate::auth::{self, Password};
use crate::db::Db;
use crate::domain::UserId;
use crate::http::json_response;
use crate::http::{ApiError, FieldError, Request, Response, empty_response, json};
use crate::models::account::{self, LinkOutcome, Verifier, store};
use crate::models::proof::{self, Requested};
use crate::models::user::{self, Scope};
use crate::observability::log;
use crate::outbound::Outbound;

/// 401 for a token whose account is gone or deactivated.
pub const ACCOUNT_GONE: ApiError =
    ApiError::AuthFailed("the account of this access token is deleted or deactivated");

const WRONG_PASSWORD: ApiError = ApiError::Forbidden("the current password is wrong");

/// How recent a Google ID token must be to prove, again, who the user is.
pub const FRESH_GOOGLE_PROOF: Duration = Duration::minutes(10);

/// The signed-in user: who, and the session family of the access token (if it names one).
#[derive(Debug, Clone, Copy)]
pub struct Me {
    pub id: UserId,
    pub session: Option<i64>,
}

/// Checks the signed-in user's current password: 403 when wrong (counted by the throttle),
/// 401 when the account is gone, 429 when refused before any hash.
async fn check_current_password<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    me: UserId,
    current: &str,
) -> Result<(), ApiError> {
    // What cannot be a password is wrong without a hash, and counts nothing.
    let current = Password::parse_for_login(current).map_err(|_| WRONG_PASSWORD)?;
    let (candidate, verified) =
        auth_routes::check_password(request, config, db, Verifier::User(me), &current).await?;
    match candidate {
        Some(candidate) if candidate.is_active => {}
        _ => return Err(ACCOUNT_GONE),
    }
    if verified {
        Ok(())
    } else {
        Err(WRONG_PASSWORD)
    }
}

/// `POST /me/password` {current_password, new_password}: checks the current password,
/// stores the new one's hash and revokes every session of the user (one statement). 204.
/// A wrong current password is 403; an account without a password (Google only) has no
/// current password to give, and gets 403 too.
pub async fn change_password<D: Db>(
    request: &Request,
    me: UserId,
    config: &ApiConfig,
    db: &D,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let [current, new] = input::credentials(&body, ["current_password", "new_password"])?;
    let new = Password::parse(&new)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("new_password", e.to_string())]))?;
    check_current_password(request, config, db, me, &current).await?;
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

/// The proof fields a `PATCH /me` may carry beside the changes, taken out of the body.
struct Proof {
    current_password: Option<String>,
    id_token: Option<String>,
}

fn take_proof(body: &mut Map<String, Value>) -> Result<Proof, ApiError> {
    let mut errors = Vec::new();
    let mut take = |field: &str| match body.remove(field) {
        None => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    };
    let proof = Proof {
        current_password: take("current_password"),
        id_token: take("id_token"),
    };
    if errors.is_empty() {
        Ok(proof)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `PATCH /me`: the user's own fields ([`super::users::update`]'s rules). A new e-mail
/// address needs the current password (`current_password`), or for an account without one a
/// fresh Google ID token (`id_token`) of a Google account linked to it; the new address is
/// unproved and the user's other sessions are revoked, in the statement that changes it.
#[allow(clippy::too_many_arguments)]
pub async fn update<D: Db>(
    request: &Request,
    me: Me,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let mut body = json::object(request)?;
    let proof = take_proof(&mut body)?;
    let changes = users::own_changes(&body, today)?;
    if let Some(new_email) = &changes.email {
        let current = user::store::get(db, me.id, Scope::ActiveOnly)
            .await?
            .ok_or(ACCOUNT_GONE)?;
        if !current
            .user
            .email
            .as_str()
            .eq_ignore_ascii_case(new_email.as_str())
        {
            prove_again(request, me.id, config, db, outbound, now, &proof).await?;
        }
    }
    users::update_changes(request, me.id, changes, Scope::ActiveOnly, me.session, db).await
}

/// Who the user is, again, before their e-mail changes (see [`update`]).
async fn prove_again<D: Db>(
    request: &Request,
    me: UserId,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
    proof: &Proof,
) -> Result<(), ApiError> {
    if let Some(current) = &proof.current_password {
        return check_current_password(request, config, db, me, current).await;
    }
    let Some(id_token) = &proof.id_token else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "current_password",
            "is required to change the email (or id_token, a Google ID token, for an account without a password)",
        )]));
    };
    let (identity, _) = auth_routes::google_identity(id_token, config, outbound, now).await?;
    if identity.issued_at < now - FRESH_GOOGLE_PROOF {
        return Err(ApiError::Forbidden(
            "the Google ID token is too old to confirm a change; sign in with Google again",
        ));
    }
    if !store::has_google_identity(db, me, &identity.subject).await? {
        return Err(ApiError::Forbidden(
            "the Google ID token is not of a Google account linked to this account",
        ));
    }
    Ok(())
}

/// `POST /me/identities/google` {id_token, current_password}: links the Google account of a
/// verified ID token to the signed-in user, who proves who they are with their current
/// password. 204; 409 when that Google account is linked to another user. If Google's
/// verified address is the account's own, the address counts as proved.
pub async fn link_google<D: Db>(
    request: &Request,
    me: UserId,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let [id_token, current] = input::credentials(&body, ["id_token", "current_password"])?;
    check_current_password(request, config, db, me, &current).await?;
    let (identity, email) = auth_routes::google_identity(&id_token, config, outbound, now).await?;
    match store::link_google(db, me, &identity.subject, &email).await? {
        None => Err(ACCOUNT_GONE),
        Some(LinkOutcome::Taken) => Err(ApiError::Conflict(
            "this Google account is linked to another account",
        )),
        Some(outcome) => {
            log::info(
                "google_linked",
                json!({ "user_id": me.to_string(), "outcome": format!("{outcome:?}").to_lowercase() }),
            );
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
    }
}

/// `POST /me/email/verification` (no body): queues a proof of the signed-in user's current
/// address, mailed by the next delivery round (one statement, [`proof::request`]). 200
/// `{"verified": true}` when the address is verified already (nothing queued); else 202
/// `{"verified": false, "queued": true}`, or `"queued": false` when a proof is pending
/// already. At most [`proof::MAX_PER_DAY`] proofs a day: 429 with `Retry-After` beyond.
pub async fn request_email_proof<D: Db>(me: UserId, db: &D) -> Result<Response, ApiError> {
    match proof::request(db, me).await? {
        Requested::UserGone => Err(ACCOUNT_GONE),
        Requested::Verified => Ok(json_response(StatusCode::OK, &json!({ "verified": true }))),
        Requested::Queued(queued) => {
            if queued {
                log::info("email_proof_queued", json!({ "user_id": me.to_string() }));
            }
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({ "verified": false, "queued": queued }),
            ))
        }
        Requested::TooMany(retry_after) => Err(ApiError::TooManyRequests {
            retry_after,
            detail: "too many e-mail address proofs asked for today; retry after the time in Retry-After",
        }),
    }
}
