//! E-mail address proofs (`email_proofs`): a user asks for one (the API, [`request`]), the
//! delivery round mails it ([`claim`], [`record`]) with a signed link
//! ([`crate::auth::link::Purpose::VerifyEmail`], the proof's id), and following the link sets
//! `users.email_verified_at` ([`verify`]) if the address is still the user's. Digests are
//! mailed only to verified addresses. The statements are in [`sql`].

pub mod sql;

use spin_sdk::pg::ParameterValue;

use super::digest::Delivery;
use crate::db::{Db, DbError, Timestamp};
use crate::domain::UserId;

/// Proofs a user may ask for in 24 hours.
pub const MAX_PER_DAY: i64 = 5;

/// What a request for a proof came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// No such active user.
    UserGone,
    /// The address is verified already: nothing queued.
    Verified,
    /// A proof was queued (`true`), or one is pending already (`false`).
    Queued(bool),
    /// [`MAX_PER_DAY`] proofs in the last 24 hours: try again after this many seconds.
    TooMany(u64),
}

/// Asks for a proof of `user`'s current address (one statement, [`sql::REQUEST`]).
pub async fn request(db: &impl Db, user: UserId) -> Result<Requested, DbError> {
    let rows = db
        .write(
            sql::REQUEST,
            &[user.into(), ParameterValue::Int64(MAX_PER_DAY)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Requested::UserGone);
    };
    if row.get::<bool>("verified")? {
        return Ok(Requested::Verified);
    }
    if row.get::<i64>("queued")? > 0 {
        return Ok(Requested::Queued(true));
    }
    if row.get::<bool>("pending")? {
        return Ok(Requested::Queued(false));
    }
    let wait = row.get_opt::<i64>("retry_after")?.unwrap_or(1);
    Ok(Requested::TooMany(u64::try_from(wait.max(1)).unwrap_or(1)))
}

/// A pending proof claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedProof {
    pub id: i64,
    pub user_id: UserId,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// `false`: dropped (the address changed, is verified already, or the user is
    /// inactive), not to be sent.
    pub wanted: bool,
    /// The address being proved.
    pub email: String,
    pub created_at: Timestamp,
}

/// Claims up to `limit` pending proofs due for delivery, leased for `lease_seconds`.
pub async fn claim(
    db: &impl Db,
    limit: u32,
    lease_seconds: u32,
) -> Result<Vec<ClaimedProof>, DbError> {
    let params = [
        ParameterValue::Int64(i64::from(limit)),
        ParameterValue::Int64(i64::from(lease_seconds)),
    ];
    let rows = db.write(sql::CLAIM, &params).await?;
    rows.iter()
        .map(|row| {
            Ok(ClaimedProof {
                id: row.get("id")?,
                user_id: row.get("user_id")?,
                attempts: row.get("delivery_attempts")?,
                wanted: row.get("wanted")?,
                email: row.get("email")?,
                created_at: row.get("created_at")?,
            })
        })
        .collect()
}

/// How many pending proofs are due (one statement, reads only).
pub async fn due(db: &impl Db) -> Result<i64, DbError> {
    let rows = db.read(sql::DUE, &[]).await?;
    match rows.first() {
        Some(row) => row.get("due"),
        None => Ok(0),
    }
}

/// Records what became of proof `id`'s delivery attempt (`error`: its class, when not sent).
pub async fn record(
    db: &impl Db,
    id: i64,
    delivery: Delivery,
    error: Option<&str>,
) -> Result<(), DbError> {
    let (status, retry_in) = match delivery {
        Delivery::Sent => ("sent", 0),
        Delivery::RetryIn(seconds) => ("pending", seconds),
        Delivery::Failed => ("failed", 0),
    };
    let params = [
        ParameterValue::Int64(id),
        ParameterValue::Str(status.to_owned()),
        ParameterValue::Int64(i64::from(retry_in)),
        crate::db::nullable(error.map(str::to_owned)),
    ];
    db.execute(sql::RECORD, &params).await.map(|_| ())
}

/// Whether proof `id` still proves its user's address (the user active, the address
/// unchanged); reads only.
pub async fn valid(db: &impl Db, id: i64) -> Result<bool, DbError> {
    Ok(!db
        .read(sql::VALID, &[ParameterValue::Int64(id)])
        .await?
        .is_empty())
}

/// Sets the address of proof `id` verified if it is still its user's address (one
/// statement); `false` when the proof does not prove it (no such proof, the address
/// changed, the user inactive). A verified address stays as it was.
pub async fn verify(db: &impl Db, id: i64) -> Result<bool, DbError> {
    Ok(!db
        .write(sql::VERIFY, &[ParameterValue::Int64(id)])
        .await?
        .is_empty())
}
