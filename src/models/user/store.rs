//! The users operations: each sends exactly one statement (see [`super::sql`]).

use spin_sdk::pg::ParameterValue;

use super::sql;
use super::{
    Change, NewUser, PreferenceChanges, Preferences, PreferencesVersion, Scope, UserChanges,
    UserVersion, UserWithPreferences,
};
use crate::db::{Db, DbError, Record, Row, nullable};
use crate::domain::{Email, UserId};
use crate::models::Page;

/// The result of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Written.
    Done(T),
    /// No such user.
    NotFound,
    /// The user exists but its version is not the expected one (412).
    Stale,
}

/// One page of users, by id ascending; serialised as the list route's body.
pub type UserPage = Page<UserWithPreferences, UserId>;

fn string(value: impl AsRef<str>) -> ParameterValue {
    ParameterValue::Str(value.as_ref().to_owned())
}

fn flag(set: bool) -> ParameterValue {
    ParameterValue::Boolean(set)
}

/// `(flag, value)` for an optional required field: set it, or keep it.
fn required<T>(value: Option<T>) -> [ParameterValue; 2]
where
    T: Into<ParameterValue>,
{
    match value {
        Some(v) => [flag(true), v.into()],
        None => [flag(false), ParameterValue::DbNull],
    }
}

/// `(flag, value)` for a nullable field: set it, clear it, or keep it.
fn nullable_change<T>(change: Change<T>) -> [ParameterValue; 2]
where
    T: Into<ParameterValue>,
{
    match change {
        Change::Keep => [flag(false), ParameterValue::DbNull],
        Change::Clear => [flag(true), ParameterValue::DbNull],
        Change::Set(v) => [flag(true), v.into()],
    }
}

/// The versions `If-Match` allows as a `bigint[]` parameter (NULL: unconditional).
fn versions<V>(expected: Option<&[V]>, micros: impl Fn(&V) -> i64) -> ParameterValue {
    match expected {
        None => ParameterValue::DbNull,
        Some(versions) => {
            ParameterValue::ArrayInt64(versions.iter().map(|v| Some(micros(v))).collect())
        }
    }
}

fn first(rows: Vec<Row>) -> Result<Row, DbError> {
    rows.into_iter().next().ok_or(DbError::Decode {
        column: "*".into(),
        problem: "the statement returned no row".into(),
    })
}

/// Whether a conditional write's row says "updated" (its `p_id` is not NULL).
fn written(row: &Row) -> Result<bool, DbError> {
    Ok(row.get_opt::<i64>("p_id")?.is_some())
}

/// Creates a user with its default preferences (one statement, both rows or neither).
/// An email already taken, in any case, is `DbError::UniqueViolation` on `uq_users_email`.
pub async fn create(db: &impl Db, new: &NewUser) -> Result<UserWithPreferences, DbError> {
    insert(db, new, None).await
}

/// [`create`], with a password hash (PHC string) for accounts that sign in with one.
pub(crate) async fn insert(
    db: &impl Db,
    new: &NewUser,
    password_hash: Option<&str>,
) -> Result<UserWithPreferences, DbError> {
    let params = [
        string(new.email.as_str()),
        string(new.name.as_str()),
        nullable(new.profile_picture.as_ref().map(|v| v.as_str().to_owned())),
        nullable(new.profession.as_ref().map(|v| v.as_str().to_owned())),
        nullable(new.date_of_birth.as_ref().map(|v| v.date())),
        string(new.timezone.as_str()),
        ParameterValue::Boolean(new.is_active),
        nullable(password_hash.map(str::to_owned)),
    ];
    let row = first(db.write(sql::CREATE, &params).await?)?;
    UserWithPreferences::from_row(&row)
}

/// A user with its preferences.
pub async fn get(
    db: &impl Db,
    id: UserId,
    scope: Scope,
) -> Result<Option<UserWithPreferences>, DbError> {
    let rows = db.read(sql::GET, &[id.into(), scope.into()]).await?;
    rows.first().map(UserWithPreferences::from_row).transpose()
}

/// Users by id ascending, after `after`, optionally only the one with `email`.
pub async fn list(
    db: &impl Db,
    after: Option<UserId>,
    email: Option<&Email>,
    limit: u32,
) -> Result<UserPage, DbError> {
    let params = [
        nullable(after),
        nullable(email.map(|e| e.as_str().to_owned())),
        ParameterValue::Int64(i64::from(limit) + 1),
    ];
    let rows = db.read(sql::LIST, &params).await?;
    let items = rows
        .iter()
        .map(UserWithPreferences::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_items(items, limit, |u| u.user.id))
}

/// Applies a merge patch to a user, if its version is one of `expected` (when given).
/// An empty patch writes nothing: it reads the user and checks the version.
pub async fn update(
    db: &impl Db,
    id: UserId,
    changes: UserChanges,
    expected: Option<&[UserVersion]>,
    scope: Scope,
    keep_session: Option<i64>,
) -> Result<Outcome<UserWithPreferences>, DbError> {
    if changes.is_empty() {
        return Ok(match get(db, id, scope).await? {
            None => Outcome::NotFound,
            Some(user) if expected.is_some_and(|v| !v.contains(&user.version())) => Outcome::Stale,
            Some(user) => Outcome::Done(user),
        });
    }
    let UserChanges {
        email,
        name,
        profile_picture,
        profession,
        date_of_birth,
        timezone,
        is_active,
    } = changes;
    let mut params = vec![id.into()];
    params.extend(required(email.map(|v| v.as_str().to_owned())));
    params.extend(required(name.map(|v| v.as_str().to_owned())));
    params.extend(nullable_change(
        profile_picture.map(|v| v.as_str().to_owned()),
    ));
    params.extend(nullable_change(profession.map(|v| v.as_str().to_owned())));
    params.extend(nullable_change(date_of_birth.map(|v| v.date())));
    params.extend(required(timezone.map(|v| v.as_str().to_owned())));
    params.extend(required(is_active));
    params.push(versions(expected, |v| v.user_micros));
    params.push(versions(expected, |v| v.preferences_micros));
    params.push(scope.into());
    params.push(nullable(keep_session));
    let row = first(db.write(sql::UPDATE, &params).await?)?;
    if written(&row)? {
        return UserWithPreferences::from_row(&row).map(Outcome::Done);
    }
    Ok(if row.get::<bool>("found")? {
        Outcome::Stale
    } else {
        Outcome::NotFound
    })
}

/// Deletes a user (and, by cascade, its preferences), if its version is one of `expected`.
pub async fn delete(
    db: &impl Db,
    id: UserId,
    expected: Option<&[UserVersion]>,
    scope: Scope,
) -> Result<Outcome<()>, DbError> {
    let params = [
        id.into(),
        versions(expected, |v| v.user_micros),
        versions(expected, |v| v.preferences_micros),
        scope.into(),
    ];
    let row = first(db.write(sql::DELETE, &params).await?)?;
    Ok(if row.get::<bool>("deleted")? {
        Outcome::Done(())
    } else if row.get::<bool>("found")? {
        Outcome::Stale
    } else {
        Outcome::NotFound
    })
}

/// A user's preferences.
pub async fn get_preferences(
    db: &impl Db,
    id: UserId,
    scope: Scope,
) -> Result<Option<Record<Preferences>>, DbError> {
    let rows = db
        .read(sql::GET_PREFERENCES, &[id.into(), scope.into()])
        .await?;
    rows.first()
        .map(|row| Record::from_row(row, "p_"))
        .transpose()
}

/// Applies a merge patch to a user's preferences, if their version is one of `expected`.
pub async fn update_preferences(
    db: &impl Db,
    id: UserId,
    changes: PreferenceChanges,
    expected: Option<&[PreferencesVersion]>,
    scope: Scope,
) -> Result<Outcome<Record<Preferences>>, DbError> {
    if changes.is_empty() {
        return Ok(match get_preferences(db, id, scope).await? {
            None => Outcome::NotFound,
            Some(p) if expected.is_some_and(|v| !v.contains(&PreferencesVersion::of(&p))) => {
                Outcome::Stale
            }
            Some(p) => Outcome::Done(p),
        });
    }
    let mut params = vec![id.into()];
    params.extend(required(
        changes.update_frequency.map(|v| v.as_str().to_owned()),
    ));
    params.extend(required(
        changes.summary_length.map(|v| v.as_str().to_owned()),
    ));
    params.extend(required(changes.email_notifications_enabled));
    params.push(versions(expected, |v| v.micros));
    params.push(scope.into());
    let row = first(db.write(sql::UPDATE_PREFERENCES, &params).await?)?;
    if written(&row)? {
        return Record::from_row(&row, "p_").map(Outcome::Done);
    }
    Ok(if row.get::<bool>("found")? {
        Outcome::Stale
    } else {
        Outcome::NotFound
    })
}
