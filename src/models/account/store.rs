//! The accounts operations: each sends exactly one statement (see [`super::sql`]).

use std::time::Duration;

use spin_sdk::pg::ParameterValue;

use super::sql;
use super::{
    ClientKey, GoogleOutcome, GoogleSignIn, HashBudget, LinkOutcome, LoginCandidate, Maintained,
    PasswordHash, Refusal, Rotation, Session, ThrottlePolicy, TokenHash, Verification, Verifier,
};
use crate::db::{Db, DbError, Row, Timestamp, nullable};
use crate::domain::{Email, UserId, UserName};
use crate::models::user::{NewUser, UserWithPreferences};

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

fn secs(duration: Duration) -> ParameterValue {
    ParameterValue::Int64(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}

fn count(value: u32) -> ParameterValue {
    ParameterValue::Int64(i64::from(value))
}

fn unsigned(row: &Row, column: &str) -> Result<u64, DbError> {
    Ok(u64::try_from(row.get::<i64>(column)?).unwrap_or(0))
}

fn password_hash(row: &Row) -> Result<Option<PasswordHash>, DbError> {
    row.get_opt::<String>("password_hash")?
        .map(|phc| {
            PasswordHash::parse(&phc)
                .map_err(|_| unexpected("password_hash", "not an argon2id PHC string"))
        })
        .transpose()
}

/// Registration: a user with a password, default preferences and a first session, in one
/// statement (all or nothing). An email already taken, in any case, is
/// `DbError::UniqueViolation` on `uq_users_email`.
pub async fn register(
    db: &impl Db,
    new: &NewUser,
    password: &PasswordHash,
    token: &TokenHash,
    expires_at: Timestamp,
) -> Result<(UserWithPreferences, Session), DbError> {
    let params = [
        string(new.email.as_str()),
        string(new.name.as_str()),
        string(new.timezone.as_str()),
        string(password.as_str()),
        string(token.as_str()),
        expires_at.into(),
    ];
    let row = first(db.write(sql::REGISTER, &params).await?)?;
    let user = UserWithPreferences::from_row(&row)?;
    let session = session_from(&row, "s_id", "s_expires_at")?;
    Ok((user, session))
}

fn refusal(row: &Row) -> Result<Option<Refusal>, DbError> {
    let Some(refused) = row.get_opt::<String>("refused")? else {
        return Ok(None);
    };
    Ok(Some(match refused.as_str() {
        "client" => Refusal::ClientBudget,
        "global" => Refusal::GlobalBudget,
        "locked" => {
            let wait = row.get_opt::<i64>("retry_after_seconds")?.unwrap_or(1);
            Refusal::Locked(Duration::from_secs(u64::try_from(wait).unwrap_or(1).max(1)))
        }
        _ => return Err(unexpected("refused", "unknown refusal")),
    }))
}

/// Reserves one password verification for `who`, before any hash is computed: within the
/// email's throttle, the client's and the service's hash budgets, all checked and counted
/// in one statement ([`sql::RESERVE_VERIFICATION`]). The verification may run only when
/// `refused` is `None`.
pub async fn reserve_verification(
    db: &impl Db,
    who: Verifier<'_>,
    client: &ClientKey,
    policy: ThrottlePolicy,
    budget: HashBudget,
) -> Result<Verification, DbError> {
    let (email, user) = match who {
        Verifier::Email(email) => (Some(email.as_str().to_owned()), None),
        Verifier::User(id) => (None, Some(id)),
    };
    let params = [
        nullable(email),
        nullable(user),
        count(policy.max_attempts),
        secs(policy.window),
        string(client.as_str()),
        count(budget.per_client),
        count(budget.global),
    ];
    let row = first(db.write(sql::RESERVE_VERIFICATION, &params).await?)?;
    let candidate = match row.get_opt::<UserId>("id")? {
        None => None,
        Some(user_id) => Some(LoginCandidate {
            user_id,
            password_hash: password_hash(&row)?,
            is_active: row.get("is_active")?,
        }),
    };
    Ok(Verification {
        candidate,
        refused: refusal(&row)?,
    })
}

/// Reserves one password hash (a new password) within the client's and the service's
/// budgets. `Some` refusal when over either.
pub async fn reserve_hash(
    db: &impl Db,
    client: &ClientKey,
    budget: HashBudget,
) -> Result<Option<Refusal>, DbError> {
    let params = [
        string(client.as_str()),
        count(budget.per_client),
        count(budget.global),
    ];
    let row = first(db.write(sql::RESERVE_HASH, &params).await?)?;
    refusal(&row)
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

/// Finds the user of a Google identity, else links it to the account with the same email
/// (taking that account over, without its unproved password, sessions and identities, when
/// its address was never proved: [`sql::GOOGLE_SIGN_IN`]), else creates an account (no
/// password, default preferences, address proved) with it. `email` must be one Google has
/// verified: linking trusts it.
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
        "claimed" => GoogleOutcome::Claimed,
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

/// Links a Google identity (`subject`, with the `email` Google verified for it) to the
/// signed-in user; `None` if the user does not exist or is deactivated.
pub async fn link_google(
    db: &impl Db,
    user_id: UserId,
    subject: &str,
    email: &Email,
) -> Result<Option<LinkOutcome>, DbError> {
    let params = [user_id.into(), string(subject), string(email.as_str())];
    let rows = db.write(sql::LINK_GOOGLE, &params).await?;
    rows.first()
        .map(|row| {
            Ok(match row.get::<String>("outcome")?.as_str() {
                "linked" => LinkOutcome::Linked,
                "already" => LinkOutcome::Already,
                "taken" => LinkOutcome::Taken,
                _ => return Err(unexpected("outcome", "unknown link outcome")),
            })
        })
        .transpose()
}

/// Whether the Google identity `subject` is linked to the user.
pub async fn has_google_identity(
    db: &impl Db,
    user_id: UserId,
    subject: &str,
) -> Result<bool, DbError> {
    let rows = db
        .read(sql::HAS_GOOGLE_IDENTITY, &[user_id.into(), string(subject)])
        .await?;
    first(rows)?.get("linked")
}

/// One bounded maintenance round over the account tables ([`sql::MAINTENANCE`]): throttle
/// windows ended `policy.window` ago, old hash budget rows, and session families revoked or
/// expired more than `grace` ago; at most `limit` rows of each kind.
pub async fn maintain(
    db: &impl Db,
    policy: ThrottlePolicy,
    grace: Duration,
    limit: u32,
) -> Result<Maintained, DbError> {
    let params = [secs(policy.window), secs(grace), count(limit)];
    let row = first(db.write(sql::MAINTENANCE, &params).await?)?;
    Ok(Maintained {
        throttles: unsigned(&row, "throttles")?,
        budgets: unsigned(&row, "budgets")?,
        session_families: unsigned(&row, "session_families")?,
    })
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
