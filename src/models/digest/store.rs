//! The digest operations: each sends exactly one statement (see [`super::sql`]).

use serde_json::json;
use spin_sdk::pg::ParameterValue;

use super::{
    Candidate, Claimed, ClaimedDelivery, Delivery, DigestCursor, DigestItemView, DigestPage,
    DigestSummary, DigestView, sql,
};
use crate::db::{Db, DbError, Row, Timestamp};
use crate::domain::UserId;
use crate::models::Page;
pub use crate::models::source::store::Mine;

/// Claims up to `limit` users whose digest is due at `as_of`, leased for `lease_seconds`.
pub async fn claim(
    db: &impl Db,
    as_of: Timestamp,
    limit: u32,
    lease_seconds: u32,
) -> Result<Vec<Claimed>, DbError> {
    let params = [
        as_of.into(),
        ParameterValue::Int64(i64::from(limit)),
        ParameterValue::Int64(i64::from(lease_seconds)),
    ];
    let rows = db.write(sql::CLAIM, &params).await?;
    rows.iter()
        .map(|row| {
            Ok(Claimed {
                user_id: row.get("user_id")?,
                timezone: row.get("timezone")?,
                update_frequency: row.get("update_frequency")?,
                summary_length: row.get("summary_length")?,
                email_notifications_enabled: row.get("email_notifications_enabled")?,
                previous_end: row.get_opt("previous_end")?,
                first_followed: row.get_opt("first_followed")?,
            })
        })
        .collect()
}

/// The candidates of `user`'s digest for the period after `start` up to `end`, at most
/// `limit`, in the order the digest shows them.
pub async fn candidates(
    db: &impl Db,
    user: UserId,
    start: Timestamp,
    end: Timestamp,
    limit: u32,
) -> Result<Vec<Candidate>, DbError> {
    let params = [
        user.into(),
        start.into(),
        end.into(),
        ParameterValue::Int64(i64::from(limit)),
    ];
    let rows = db.read(sql::CANDIDATES, &params).await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                id: row.get("id")?,
                title: row.get("title")?,
                url: row.get_opt("url")?,
                summary: row.get_opt("summary")?,
                source_id: row.get("source_id")?,
                published_at: row.get("published_at")?,
            })
        })
        .collect()
}

/// What [`build`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDigest<'a> {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub update_frequency: &'a str,
    pub summary_length: &'a str,
    /// Item ids and their excerpts, in order.
    pub items: Vec<(i64, Option<String>)>,
    /// When the user's next digest is due.
    pub next_due: Timestamp,
}

/// Writes a digest with its items and moves the user's schedule, in one statement. The
/// digest's id, `None` when that user's digest for that period end existed already.
pub async fn build(db: &impl Db, digest: &NewDigest<'_>) -> Result<Option<i64>, DbError> {
    let items: Vec<_> = digest
        .items
        .iter()
        .map(|(id, excerpt)| json!({ "item_id": id, "excerpt": excerpt }))
        .collect();
    let items = serde_json::to_vec(&items).map_err(|e| DbError::Decode {
        column: "items".into(),
        problem: e.to_string(),
    })?;
    let params = [
        digest.user.into(),
        digest.start.into(),
        digest.end.into(),
        ParameterValue::Str(digest.update_frequency.to_owned()),
        ParameterValue::Str(digest.summary_length.to_owned()),
        ParameterValue::Jsonb(items),
        digest.next_due.into(),
    ];
    let rows = db.write(sql::BUILD, &params).await?;
    match rows.first() {
        Some(row) => row.get_opt("id"),
        None => Ok(None),
    }
}

/// Gives digest `id` its `overview`, if it has none and no delivery was attempted yet;
/// whether it did.
pub async fn set_overview(db: &impl Db, id: i64, overview: &str) -> Result<bool, DbError> {
    let params = [
        ParameterValue::Int64(id),
        ParameterValue::Str(overview.to_owned()),
    ];
    db.execute(sql::SET_OVERVIEW, &params)
        .await
        .map(|rows| rows == 1)
}

/// Moves `user`'s schedule to `next_due` with nothing built.
pub async fn reschedule(db: &impl Db, user: UserId, next_due: Timestamp) -> Result<(), DbError> {
    db.execute(sql::RESCHEDULE, &[user.into(), next_due.into()])
        .await
        .map(|_| ())
}

/// Digest `id` of `user` with its items, `None` when no digest of that user has that id.
pub async fn digest(db: &impl Db, user: UserId, id: i64) -> Result<Option<DigestView>, DbError> {
    read(db, user, id).await.map(|(_, digest)| digest)
}

/// Digest `id` of `user` as the user's own API reads it: [`Mine::UserGone`] when the user is
/// deleted or deactivated, [`Mine::NotFound`] when no digest of theirs has that id (another
/// user's digest included). One statement, [`sql::DIGEST`].
pub async fn mine(db: &impl Db, user: UserId, id: i64) -> Result<Mine<DigestView>, DbError> {
    Ok(match read(db, user, id).await? {
        (Some(true), Some(digest)) => Mine::Found(digest),
        (Some(true), None) => Mine::NotFound,
        (Some(false) | None, _) => Mine::UserGone,
    })
}

/// [`sql::DIGEST`]: whether the user is active (`None`: no such user) and their digest `id`.
async fn read(
    db: &impl Db,
    user: UserId,
    id: i64,
) -> Result<(Option<bool>, Option<DigestView>), DbError> {
    let rows = db
        .read(sql::DIGEST, &[ParameterValue::Int64(id), user.into()])
        .await?;
    let Some(first) = rows.first() else {
        return Ok((None, None));
    };
    let active = first.get::<bool>("user_active")?;
    Ok((Some(active), view(&rows)?))
}

/// The digest in `rows` (one row per item in order, the digest's columns repeated, or one
/// row with NULL item columns; [`sql::DIGEST`]'s columns), `None` when there is no row or
/// its digest columns are NULL.
pub(super) fn view(rows: &[Row]) -> Result<Option<DigestView>, DbError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let Some(digest_id) = first.get_opt::<i64>("id")? else {
        return Ok(None);
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(position) = row.get_opt::<i64>("item_position")? else {
            continue;
        };
        items.push(DigestItemView {
            position,
            item_id: row.get("item_id")?,
            title: row.get("item_title")?,
            url: row.get_opt("item_url")?,
            excerpt: row.get_opt("item_excerpt")?,
            published_at: row.get("item_published_at")?,
            source_id: row.get("item_source_id")?,
            source_kind: row.get("item_source_kind")?,
            source_name: row.get("item_source_name")?,
        });
    }
    let view = DigestView {
        id: digest_id,
        user_id: first.get("user_id")?,
        period_start: first.get("period_start")?,
        period_end: first.get("period_end")?,
        update_frequency: first.get("update_frequency")?,
        summary_length: first.get("summary_length")?,
        status: first.get("status")?,
        overview: first.get_opt("overview")?,
        sent_at: first.get_opt("sent_at")?,
        created_at: first.get("created_at")?,
        items,
    };
    Ok(Some(view))
}

/// `user`'s digests newest first (`period_end`, then `id`, descending), strictly older than
/// `before`, at most `limit`. `None` when the user is deleted or deactivated.
pub async fn list(
    db: &impl Db,
    user: UserId,
    before: Option<DigestCursor>,
    limit: u32,
) -> Result<Option<DigestPage>, DbError> {
    let [at, digest] = match before {
        None => [ParameterValue::DbNull, ParameterValue::DbNull],
        Some(cursor) => {
            let at = cursor.period_end().ok_or(DbError::Decode {
                column: "before".into(),
                problem: "cursor time out of range".into(),
            })?;
            [at.into(), ParameterValue::Int64(cursor.id)]
        }
    };
    // One more than the page, to know whether there is a next one.
    let params = [
        user.into(),
        at,
        digest,
        ParameterValue::Int64(i64::from(limit) + 1),
    ];
    let rows = db.read(sql::LIST, &params).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut digests = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.get_opt::<i64>("id")?.is_some() {
            digests.push(DigestSummary::from_row(row)?);
        }
    }
    Ok(Some(Page::from_items(
        digests,
        limit,
        DigestSummary::cursor,
    )))
}

/// Claims up to `limit` built digests due for delivery, leased for `lease_seconds`; those
/// built more than `max_age_seconds` ago, or whose user has e-mail off, come back unwanted
/// and are out of the queue (see [`sql::CLAIM_DELIVERIES`]).
pub async fn claim_deliveries(
    db: &impl Db,
    limit: u32,
    lease_seconds: u32,
    max_age_seconds: u32,
) -> Result<Vec<ClaimedDelivery>, DbError> {
    let params = [
        ParameterValue::Int64(i64::from(limit)),
        ParameterValue::Int64(i64::from(lease_seconds)),
        ParameterValue::Int64(i64::from(max_age_seconds)),
    ];
    let rows = db.write(sql::CLAIM_DELIVERIES, &params).await?;
    rows.iter()
        .map(|row| {
            Ok(ClaimedDelivery {
                id: row.get("id")?,
                user_id: row.get("user_id")?,
                attempts: row.get("delivery_attempts")?,
                wanted: row.get("wanted")?,
                email: row.get("email")?,
                timezone: row.get("timezone")?,
            })
        })
        .collect()
}

/// Records what became of digest `id`'s delivery attempt (`error`: its class, when not
/// sent).
pub async fn record_delivery(
    db: &impl Db,
    id: i64,
    delivery: Delivery,
    error: Option<&str>,
) -> Result<(), DbError> {
    let (status, retry_in) = match delivery {
        Delivery::Sent => ("sent", 0),
        Delivery::RetryIn(seconds) => ("built", seconds),
        Delivery::Failed => ("failed", 0),
    };
    let params = [
        ParameterValue::Int64(id),
        ParameterValue::Str(status.to_owned()),
        ParameterValue::Int64(i64::from(retry_in)),
        crate::db::nullable(error.map(str::to_owned)),
    ];
    db.execute(sql::RECORD_DELIVERY, &params).await.map(|_| ())
}
