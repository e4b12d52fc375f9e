//! Users and their digest preferences.
//!
//! - this module: the model types ([`User`], [`Preferences`], [`UserWithPreferences`]) and
//!   what a write may change ([`NewUser`], [`UserChanges`], [`PreferenceChanges`]);
//! - [`sql`]: the statements, one per operation;
//! - [`store`]: the operations, each one round trip over any [`crate::db::Db`].

pub mod sql;
pub mod store;

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use crate::db::{DbError, Model, Record, Row, Timestamp};
use crate::domain::{
    DateOfBirth, Email, Profession, ProfilePicture, SummaryLength, Timezone, UpdateFrequency,
    UserId, UserName,
};

/// A user account. Personal data: `Debug` shows no field.
#[derive(Clone, PartialEq, Serialize)]
pub struct User {
    pub email: Email,
    pub name: UserName,
    pub profile_picture: Option<ProfilePicture>,
    pub profession: Option<Profession>,
    pub date_of_birth: Option<DateOfBirth>,
    pub timezone: Timezone,
    pub is_active: bool,
    pub last_login: Option<Timestamp>,
}

impl User {
    /// Age in full years on `today`, if the date of birth is known.
    pub fn age(&self, today: NaiveDate) -> Option<u32> {
        self.date_of_birth.as_ref().map(|dob| dob.age_on(today))
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("User { .. }")
    }
}

impl Model for User {
    const NAME: &'static str = "User";
    type Id = UserId;

    fn from_row(row: &Row, prefix: &str) -> Result<User, DbError> {
        let row = row.prefixed(prefix);
        Ok(User {
            email: row.get("email")?,
            name: row.get("name")?,
            profile_picture: row.get_opt("profile_picture")?,
            profession: row.get_opt("profession")?,
            date_of_birth: row.get_opt("date_of_birth")?,
            timezone: row.get("timezone")?,
            is_active: row.get("is_active")?,
            last_login: row.get_opt("last_login")?,
        })
    }
}

/// How often and how long a user's digests are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preferences {
    pub user_id: UserId,
    pub update_frequency: UpdateFrequency,
    pub summary_length: SummaryLength,
    pub email_notifications_enabled: bool,
}

impl Model for Preferences {
    const NAME: &'static str = "UserPreferences";
    type Id = i64;

    fn from_row(row: &Row, prefix: &str) -> Result<Preferences, DbError> {
        let row = row.prefixed(prefix);
        Ok(Preferences {
            user_id: row.get("user_id")?,
            update_frequency: row.get("update_frequency")?,
            summary_length: row.get("summary_length")?,
            email_notifications_enabled: row.get("email_notifications_enabled")?,
        })
    }
}

/// A user with its preferences embedded (`"preferences": {...}`), as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserWithPreferences {
    #[serde(flatten)]
    pub user: Record<User>,
    pub preferences: Record<Preferences>,
}

impl UserWithPreferences {
    /// Reads a row with the user's columns unprefixed and the preferences' prefixed `p_`.
    pub fn from_row(row: &Row) -> Result<UserWithPreferences, DbError> {
        Ok(UserWithPreferences {
            user: Record::from_row(row, "")?,
            preferences: Record::from_row(row, "p_")?,
        })
    }

    /// The version of this representation, for `ETag`/`If-Match`.
    pub fn version(&self) -> UserVersion {
        UserVersion {
            user_micros: self.user.updated_at.micros(),
            preferences_micros: self.preferences.updated_at.micros(),
        }
    }
}

/// Which version of a user (and its preferences) a client has seen: both `updated_at`
/// values, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserVersion {
    pub user_micros: i64,
    pub preferences_micros: i64,
}

/// Which version of a user's preferences a client has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferencesVersion {
    pub micros: i64,
}

impl PreferencesVersion {
    pub fn of(preferences: &Record<Preferences>) -> PreferencesVersion {
        PreferencesVersion {
            micros: preferences.updated_at.micros(),
        }
    }
}

/// Which users a statement addressing one user by id may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every user (the operator API).
    Any,
    /// Active users only (a user's own routes): a deactivated account is not found.
    ActiveOnly,
}

impl From<Scope> for spin_sdk::pg::ParameterValue {
    fn from(scope: Scope) -> Self {
        spin_sdk::pg::ParameterValue::Boolean(scope == Scope::ActiveOnly)
    }
}

/// A user to create (its preferences start with the defaults).
#[derive(Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
    pub profile_picture: Option<ProfilePicture>,
    pub profession: Option<Profession>,
    pub date_of_birth: Option<DateOfBirth>,
    pub timezone: Timezone,
    pub is_active: bool,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewUser { .. }")
    }
}

/// One field of a merge patch: left as is, cleared (`null`), or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }

    /// The new value, if the change sets one.
    pub fn into_set(self) -> Option<T> {
        match self {
            Change::Set(v) => Some(v),
            Change::Keep | Change::Clear => None,
        }
    }

    /// The same change with the new value mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Change<U> {
        match self {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(v) => Change::Set(f(v)),
        }
    }
}

/// What a `PATCH /users/{id}` changes. Required fields cannot be cleared.
#[derive(Default, Clone)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub name: Option<UserName>,
    pub profile_picture: Change<ProfilePicture>,
    pub profession: Change<Profession>,
    pub date_of_birth: Change<DateOfBirth>,
    pub timezone: Option<Timezone>,
    pub is_active: Option<bool>,
}

impl UserChanges {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.name.is_none()
            && self.profile_picture.is_keep()
            && self.profession.is_keep()
            && self.date_of_birth.is_keep()
            && self.timezone.is_none()
            && self.is_active.is_none()
    }
}

impl fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserChanges { .. }")
    }
}

/// What a `PATCH /users/{id}/preferences` changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PreferenceChanges {
    pub update_frequency: Option<UpdateFrequency>,
    pub summary_length: Option<SummaryLength>,
    pub email_notifications_enabled: Option<bool>,
}

impl PreferenceChanges {
    pub fn is_empty(&self) -> bool {
        self.update_frequency.is_none()
            && self.summary_length.is_none()
            && self.email_notifications_enabled.is_none()
    }
}
