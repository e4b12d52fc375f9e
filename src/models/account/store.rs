//! The accounts operations: each sends exactly one statement (see [`super::sql`]).

use std::time::Duration;

use spin_sdk::pg::ParameterValue;

use super::sql;
use super::{
    FailureRecorded, GoogleOutcome, GoogleSignIn, LoginCandidate, LoginCheck, PasswordHash,
    Rotation, Session, ThrottlePolicy, TokenHash,
};
use crate::db::{Db, DbError, Row, Timestamp};
use crate::domain::{Email, UserId, UserName};
use crate::models::user::{self, NewUser, UserWithPreferences};

fn string(value: impl AsRef<str>) -> ParameterValue {
    ParameterValue::Str(value.as_ref().to_owned())
}

fn first(rows: Vec<Row>) -> Result<Row, DbError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| no_row("the statement returned no row"))
}

fn no_row(problem: &str) -> DbError {
    DbError::Decode {
        column: "*".into(),
        problem: problem.into(),
    }
}

fn unexpected(column: &str, problem: &str) -> DbError {
    DbError::Decode {
        column: column.into(),
        problem: problem.into(),
    }
}

/// The policy as the statements' `$max failures, $window seconds` parameters.
fn policy_params(policy: ThrottlePolicy) -> [ParameterValue; 2] {
    let window = i64::try_from(policy.window.as_secs()).unwrap_or(i64::MAX);
    [
        ParameterValue::Int64(i64::from(policy.max_failures)),
        ParameterValue::Int64(window),
    ]
}

/// A `locked_for_seconds` column: NULL (not locked) or a positive number of seconds.
fn locked_for(row: &Row) -> Result<Option<Duration>, DbError> {
    Ok(row
        .get_opt::<i64>("locked_for_seconds")?
        .map(|secs| Duration::from_secs(u64::try_from(secs).unwrap_or(0).max(1))))
}

fn password_hash(row: &Row) -> Result<Option<PasswordHash>, DbError> {
    row.get_opt::<String>("password_hash")?
        .map(|phc| {
            PasswordHash::parse(&phc)
                .map_err(|_| unexpected("password_hash", "not an argon2id PHC string"))
        })
        .transpose()
}

/// Creates a user with a password and default preferences (one statement: all or nothing).
/// An email already taken, in any case, is `DbError::UniqueViolation` on `uq_users_email`.
pub async fn register(
    db: &impl Db,
    new: &NewUser,
    password: &PasswordHash,
) -> Result<UserWithPreferences, DbError> {
    user::store::insert(db, new, Some(password.as_str())).await
}

/// The account with `email` (any case) and whether the email is locked by the throttle.
/// The route checks `locked_for` before verifying a password.
pub async fn login_check(
    db: &impl Db,
    email: &Email,
    policy: ThrottlePolicy,
) -> Result<LoginCheck, DbError> {
    let [max, window] = policy_params(policy);
    let params = [string(email.as_str()), max, window];
    let row = first(db.read(sql::LOGIN_CANDIDATE, &params).await?)?;
    let candidate = match row.get_opt::<UserId>("id")? {
        None => None,
        Some(user_id) => Some(LoginCandidate {
            user_id,
            password_hash: password_hash(&row)?,
            is_active: row.get("is_active")?,
        }),
    };
    Ok(LoginCheck {
        candidate,
        locked_for: locked_for(&row)?,
    })
}

/// Counts a failed sign-in for `email` (whether or not an account has it) and says whether
/// the email is now locked.
pub async fn record_login_failure(
    db: &impl Db,
    email: &Email,
    policy: ThrottlePolicy,
) -> Result<FailureRecorded, DbError> {
    let [max, window] = policy_params(policy);
    let params = [string(email.as_str()), max, window];
    let row = first(db.write(sql::RECORD_FAILURE, &params).await?)?;
    let failures = row.get::<i64>("failures")?;
    Ok(FailureRecorded {
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        locked_for: locked_for(&row)?,
    })
}

/// A successful sign-in: sets `last_login` to now and clears the email's throttle.
/// Returns the new `last_login`, or `None` if the user does not exist.
pub async fn record_login_success(
    db: &impl Db,
    user_id: UserId,
) -> Result<Option<Timestamp>, DbError> {
    let rows = db.write(sql::RECORD_SUCCESS, &[user_id.into()]).await?;
    rows.first().map(|row| row.get("last_login")).transpose()
}

fn session_from(row: &Row, id: &str, expires_at: &str) -> Result<Session, DbError> {
    Ok(Session {
        id: row.get(id)?,
        family_id: row.get("family_id")?,
        user_id: row.get("user_id")?,
        expires_at: row.get(expires_at)?,
    })
}

/// Starts a session (a new family) with its first refresh token.
pub async fn create_session(
    db: &impl Db,
    user_id: UserId,
    token: &TokenHash,
    expires_at: Timestamp,
) -> Result<Session, DbError> {
    let params = [user_id.into(), string(token.as_str()), expires_at.into()];
    let row = first(db.write(sql::CREATE_SESSION, &params).await?)?;
    session_from(&row, "id", "expires_at")
}

/// Spends the presented refresh token: if live, replaces it by `next` (expiring at
/// `expires_at`); if already spent, revokes its whole family and reports the reuse.
pub async fn rotate_session(
    db: &impl Db,
    presented: &TokenHash,
    next: &TokenHash,
    expires_at: Timestamp,
) -> Result<Rotation, DbError> {
    let params = [
        string(presented.as_str()),
        string(next.as_str()),
        expires_at.into(),
    ];
    let rows = db.write(sql::ROTATE_SESSION, &params).await?;
    let Some(row) = rows.first() else {
        return Ok(Rotation::Unknown);
    };
    let user_id: UserId = row.get("user_id")?;
    let family_id: i64 = row.get("family_id")?;
    let outcome: String = row.get("outcome")?;
    Ok(match outcome.as_str() {
        "rotated" => Rotation::Rotated(session_from(row, "new_id", "new_expires_at")?),
        "reused" => Rotation::Reused { user_id, family_id },
        "revoked" => Rotation::Revoked { user_id, family_id },
        "expired" => Rotation::Expired { user_id, family_id },
        "inactive" => Rotation::Inactive { user_id, family_id },
        _ => return Err(unexpected("outcome", "unknown rotation outcome")),
    })
}

/// Logout: revokes the family of the presented refresh token. `true` if a live family was
/// revoked, `false` if the token is unknown or its family was already revoked.
pub async fn revoke_family(db: &impl Db, token: &TokenHash) -> Result<bool, DbError> {
    let affected = db
        .execute(sql::REVOKE_FAMILY, &[string(token.as_str())])
        .await?;
    Ok(affected > 0)
}

/// Revokes every live session family of a user; returns how many.
pub async fn revoke_all_sessions(db: &impl Db, user_id: UserId) -> Result<u64, DbError> {
    db.execute(sql::REVOKE_ALL, &[user_id.into()]).await
}

/// Finds the user of a Google identity, else links it to the account with the same email,
/// else creates an account (no password, default preferences) with it. `email` must be one
/// Google has verified: linking trusts it.
pub async fn google_sign_in(
    db: &impl Db,
    subject: &str,
    email: &Email,
    name: &UserName,
) -> Result<GoogleSignIn, DbError> {
    let params = [
        string(subject),
        string(email.as_str()),
        string(name.as_str()),
    ];
    let row = first(db.write(sql::GOOGLE_SIGN_IN, &params).await?)?;
    let outcome = match row.get::<String>("outcome")?.as_str() {
        "existing" => GoogleOutcome::Existing,
        "linked" => GoogleOutcome::Linked,
        "created" => GoogleOutcome::Created,
        _ => return Err(unexpected("outcome", "unknown Google sign-in outcome")),
    };
    Ok(GoogleSignIn {
        user_id: row.get("id")?,
        is_active: row.get("is_active")?,
        outcome,
    })
}

/// A successful password sign-in: `last_login`, the email's throttle cleared and a new
/// session, in one statement. `None` if the user no longer exists or is deactivated.
pub async fn login_session(
    db: &impl Db,
    user_id: UserId,
    token: &TokenHash,
    expires_at: Timestamp,
) -> Result<Option<Session>, DbError> {
    let params = [user_id.into(), string(token.as_str()), expires_at.into()];
    let rows = db.write(sql::LOGIN_SESSION, &params).await?;
    rows.first()
        .map(|row| session_from(row, "id", "expires_at"))
        .transpose()
}

/// The password hash of an active user (`None` inside for a Google-only account); `None`
/// if the user does not exist or is deactivated.
pub async fn password_of(db: &impl Db, user_id: UserId) -> Result<Option<LoginCandidate>, DbError> {
    let rows = db.read(sql::PASSWORD_OF, &[user_id.into()]).await?;
    rows.first()
        .map(|row| {
            Ok(LoginCandidate {
                user_id: row.get("id")?,
                password_hash: password_hash(row)?,
                is_active: row.get("is_active")?,
            })
        })
        .transpose()
}

/// Sets a new password hash and revokes every session of the user (one statement).
/// `Some(families revoked)`, or `None` if the user does not exist or is deactivated.
pub async fn change_password(
    db: &impl Db,
    user_id: UserId,
    password: &PasswordHash,
) -> Result<Option<u64>, DbError> {
    let params = [user_id.into(), string(password.as_str())];
    let rows = db.write(sql::CHANGE_PASSWORD, &params).await?;
    rows.first()
        .map(|row| Ok(u64::try_from(row.get::<i64>("revoked")?).unwrap_or(0)))
        .transpose()
}
