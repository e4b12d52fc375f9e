//! The subscription and feed operations: each sends exactly one statement (see [`super::sql`]).

use spin_sdk::pg::ParameterValue;

use super::sql;
use super::{
    FeedItem, FeedPage, Item, ItemCursor, ItemPage, MAX_SUBSCRIPTIONS, Page, Subscription,
    SubscriptionChanges, SubscriptionId, SubscriptionPage,
};
use crate::db::{Db, DbError, Record, Row, nullable};
use crate::domain::UserId;
use crate::models::user::Change;
use crate::sources::Source;

/// What a statement addressing one subscription found.
#[derive(Debug, Clone, PartialEq)]
pub enum Mine<T> {
    Found(T),
    /// The user has no subscription with this id (it may be another user's).
    NotFound,
    /// The user is deleted or deactivated.
    UserGone,
}

/// Reads the one-subscription rows (see [`super::sql`]): none means the user is gone, a
/// NULL `column` means no such subscription.
fn mine<T>(
    rows: &[Row],
    column: &str,
    read: impl FnOnce(&[Row]) -> Result<T, DbError>,
) -> Result<Mine<T>, DbError> {
    match rows.first() {
        None => Ok(Mine::UserGone),
        Some(row) if row.get_opt::<i64>(column)?.is_none() => Ok(Mine::NotFound),
        Some(_) => read(rows).map(Mine::Found),
    }
}

/// A subscription as `subscribe` left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    pub subscription: Record<Subscription>,
    /// Whether this call created it (else it existed, and is now active).
    pub created: bool,
}

fn string(value: &str) -> ParameterValue {
    ParameterValue::Str(value.to_owned())
}

fn limit_param(limit: u32) -> ParameterValue {
    // One more than the page, to know whether there is a next one.
    ParameterValue::Int64(i64::from(limit) + 1)
}

fn cursor_params(before: Option<ItemCursor>) -> Result<[ParameterValue; 2], DbError> {
    Ok(match before {
        None => [ParameterValue::DbNull, ParameterValue::DbNull],
        Some(cursor) => {
            let at = cursor.published_at().ok_or(DbError::Decode {
                column: "before".into(),
                problem: "cursor time out of range".into(),
            })?;
            [at.into(), ParameterValue::Int64(cursor.id)]
        }
    })
}

/// What `subscribe` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Subscribe {
    Done(Subscribed),
    /// The user already has [`MAX_SUBSCRIPTIONS`] subscriptions (nothing written).
    LimitReached,
    /// The user is deleted or deactivated (nothing written).
    UserGone,
}

/// Follows `source` for `user`: the source and the subscription in one statement, unless
/// the user already has [`MAX_SUBSCRIPTIONS`] subscriptions to other sources.
pub async fn subscribe(db: &impl Db, user: UserId, source: &Source) -> Result<Subscribe, DbError> {
    let params = [
        user.into(),
        source.kind.into(),
        string(&source.identifier),
        nullable(source.title.clone()),
        nullable(source.site_url.clone()),
        string(&source.feed_url),
        ParameterValue::Int64(MAX_SUBSCRIPTIONS),
    ];
    let rows = db.write(sql::SUBSCRIBE, &params).await?;
    Ok(match rows.first() {
        None => Subscribe::UserGone,
        Some(row) if row.get_opt::<i64>("id")?.is_none() => Subscribe::LimitReached,
        Some(row) => Subscribe::Done(Subscribed {
            subscription: Record::from_row(row, "")?,
            created: row.get("created")?,
        }),
    })
}

/// Rows of a list whose first column is NULL-able (an empty page is one NULL row), split
/// into a page of at most `limit` items. `None` when there is no row at all.
fn page<T, C>(
    rows: &[Row],
    limit: u32,
    item: impl Fn(&Row) -> Result<T, DbError>,
    cursor: impl Fn(&T) -> C,
) -> Result<Option<Page<T, C>>, DbError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if row.get_opt::<i64>("id")?.is_some() {
            items.push(item(row)?);
        }
    }
    Ok(Some(Page::from_items(items, limit, cursor)))
}

/// The user's subscriptions by id ascending, after `after`. `None` if the user is not active.
pub async fn list(
    db: &impl Db,
    user: UserId,
    after: Option<SubscriptionId>,
    limit: u32,
) -> Result<Option<SubscriptionPage>, DbError> {
    let params = [user.into(), nullable(after), limit_param(limit)];
    let rows = db.read(sql::LIST, &params).await?;
    page(
        &rows,
        limit,
        |row| Record::<Subscription>::from_row(row, ""),
        |s| s.id,
    )
}

/// One of the user's subscriptions.
pub async fn get(
    db: &impl Db,
    user: UserId,
    id: SubscriptionId,
) -> Result<Mine<Record<Subscription>>, DbError> {
    let rows = db.read(sql::GET, &[user.into(), id.into()]).await?;
    mine(&rows, "id", |rows| Record::from_row(&rows[0], ""))
}

/// Applies a merge patch to one of the user's subscriptions. An empty patch writes nothing.
pub async fn update(
    db: &impl Db,
    user: UserId,
    id: SubscriptionId,
    changes: SubscriptionChanges,
) -> Result<Mine<Record<Subscription>>, DbError> {
    if changes.is_empty() {
        return get(db, user, id).await;
    }
    let flag = ParameterValue::Boolean;
    let (name_flag, name) = match changes.display_name {
        Change::Keep => (false, ParameterValue::DbNull),
        Change::Clear => (true, ParameterValue::DbNull),
        Change::Set(name) => (true, name.into()),
    };
    let params = [
        user.into(),
        id.into(),
        flag(name_flag),
        name,
        flag(changes.notifications_enabled.is_some()),
        nullable(changes.notifications_enabled),
        flag(changes.is_active.is_some()),
        nullable(changes.is_active),
    ];
    let rows = db.write(sql::UPDATE, &params).await?;
    mine(&rows, "id", |rows| Record::from_row(&rows[0], ""))
}

/// Deletes one of the user's subscriptions.
pub async fn delete(db: &impl Db, user: UserId, id: SubscriptionId) -> Result<Mine<()>, DbError> {
    let rows = db.write(sql::DELETE, &[user.into(), id.into()]).await?;
    mine(&rows, "id", |_| Ok(()))
}

/// The items of one subscription's source, newest first, older than `before`.
pub async fn items(
    db: &impl Db,
    user: UserId,
    id: SubscriptionId,
    before: Option<ItemCursor>,
    limit: u32,
) -> Result<Mine<ItemPage>, DbError> {
    let [at, item] = cursor_params(before)?;
    let params = [user.into(), id.into(), at, item, limit_param(limit)];
    let rows = db.read(sql::ITEMS, &params).await?;
    mine(&rows, "subscription_id", |rows| {
        page(rows, limit, Item::from_row, Item::cursor).map(|p| p.unwrap_or_else(Page::empty))
    })
}

/// The items of the user's active subscriptions, newest first, older than `before`. `None`
/// if the user is not active.
pub async fn feed(
    db: &impl Db,
    user: UserId,
    before: Option<ItemCursor>,
    limit: u32,
) -> Result<Option<FeedPage>, DbError> {
    let [at, item] = cursor_params(before)?;
    let params = [user.into(), at, item, limit_param(limit)];
    let rows = db.read(sql::FEED, &params).await?;
    page(&rows, limit, FeedItem::from_row, |i| i.item.cursor())
}
