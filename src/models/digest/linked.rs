//! What the signed links read and write (`/links/...`, [`crate::digests::links`]): a digest
//! by its id alone with its reader's time zone, a user's newest digests for their Atom feed,
//! and one-click unsubscribe. The link's signature stands for the user, so these statements
//! take the id the token names; each sends exactly one statement. The digest columns are
//! those of [`super::sql::DIGEST`], decoded by the same [`super::store::view`].

use spin_sdk::pg::ParameterValue;

use super::DigestView;
use super::sql::digest_view_columns;
use super::store::view;
use crate::db::{Db, DbError};
use crate::domain::{Timezone, UserId};

/// Digest `$1` with its items in order (as [`super::sql::DIGEST`]) and its reader's time zone,
/// if its reader's account is active.
pub const DIGEST_BY_ID: &str = concat!(
    "SELECT u.timezone, ",
    digest_view_columns!(),
    "
    FROM digests d
    JOIN users u ON u.id = d.user_id AND u.is_active
    LEFT JOIN digest_items di ON di.digest_id = d.id
    LEFT JOIN content_items ci ON ci.id = di.content_item_id
    LEFT JOIN content_sources cs ON cs.id = ci.source_id
    LEFT JOIN user_subscriptions us ON us.user_id = d.user_id AND us.source_id = cs.id
    WHERE d.id = $1::bigint
    ORDER BY di.position"
);

/// The name of active user `$1` and their newest `$2` digests that were not skipped (newest
/// period first), with their items in order: one row per item (as
/// [`super::sql::DIGEST`]), one row with NULL item columns for a digest without any, and
/// one row with NULL digest columns when the user has no digest. No row: no such active user.
pub const FEED: &str = concat!(
    "WITH u AS (
        SELECT id, name FROM users WHERE id = $1::bigint AND is_active
    ), d AS (
        SELECT d.* FROM digests d JOIN u ON u.id = d.user_id
        WHERE d.status <> 'skipped'
        ORDER BY d.period_end DESC, d.id DESC
        LIMIT $2::bigint
    )
    SELECT u.name AS user_name, ",
    digest_view_columns!(),
    "
    FROM u
    LEFT JOIN d ON true
    LEFT JOIN digest_items di ON di.digest_id = d.id
    LEFT JOIN content_items ci ON ci.id = di.content_item_id
    LEFT JOIN content_sources cs ON cs.id = ci.source_id
    LEFT JOIN user_subscriptions us ON us.user_id = d.user_id AND us.source_id = cs.id
    ORDER BY d.period_end DESC, d.id DESC, di.position"
);

/// Turns e-mail off for user `$1`: `email_notifications_enabled = false` in their
/// preferences, a row with the other columns' defaults if they had none. A user already
/// unsubscribed is left untouched (no new `updated_at`). One row (the user's id) if the user
/// exists, none otherwise.
pub const UNSUBSCRIBE: &str = "WITH u AS (
        SELECT id FROM users WHERE id = $1::bigint
    ), off AS (
        INSERT INTO user_preferences (user_id, email_notifications_enabled)
        SELECT id, false FROM u
        ON CONFLICT (user_id) DO UPDATE SET email_notifications_enabled = false
        WHERE user_preferences.email_notifications_enabled
        RETURNING user_id
    )
    SELECT id FROM u";

/// User `$1`, if it exists: one row (its id), else none.
pub const USER: &str = "SELECT id FROM users WHERE id = $1::bigint";

/// Digest `id` with its reader's time zone, `None` when there is no such digest (or its
/// reader's account is inactive).
pub async fn digest(db: &impl Db, id: i64) -> Result<Option<(DigestView, Timezone)>, DbError> {
    let rows = db.read(DIGEST_BY_ID, &[ParameterValue::Int64(id)]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let zone: Timezone = first.get("timezone")?;
    Ok(view(&rows)?.map(|digest| (digest, zone)))
}

/// The name of `user` and their newest `limit` digests that were not skipped, newest first;
/// `None` when there is no such active user.
pub async fn feed(
    db: &impl Db,
    user: UserId,
    limit: u32,
) -> Result<Option<(String, Vec<DigestView>)>, DbError> {
    let rows = db
        .read(
            FEED,
            &[user.into(), ParameterValue::Int64(i64::from(limit))],
        )
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let name: String = first.get("user_name")?;
    let mut digests = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let Some(id) = rows[start].get_opt::<i64>("id")? else {
            break;
        };
        let mut end = start + 1;
        while end < rows.len() && rows[end].get_opt::<i64>("id")? == Some(id) {
            end += 1;
        }
        if let Some(digest) = view(&rows[start..end])? {
            digests.push(digest);
        }
        start = end;
    }
    Ok(Some((name, digests)))
}

/// Turns e-mail off for `user` (one statement); `false` when there is no such user.
pub async fn unsubscribe(db: &impl Db, user: UserId) -> Result<bool, DbError> {
    let rows = db.write(UNSUBSCRIBE, &[user.into()]).await?;
    Ok(!rows.is_empty())
}

/// Whether `user` exists (one statement).
pub async fn user_exists(db: &impl Db, user: UserId) -> Result<bool, DbError> {
    Ok(!db.read(USER, &[user.into()]).await?.is_empty())
}
