//! Request bodies and query strings turned into model inputs, at the edge.
//!
//! Every invalid field is reported at once (422 with an `errors` list); unknown fields are
//! errors too. Messages come from the domain types and never repeat the submitted value.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::auth::Password;
use crate::domain::{
    DateOfBirth, DomainError, Email, Profession, ProfilePicture, SummaryLength, Timezone,
    UpdateFrequency, UserId, UserName,
};
use crate::http::{ApiError, FieldError};
use crate::models::source::{ItemCursor, SubscriptionChanges, SubscriptionId};
use crate::models::user::{Change, NewUser, PreferenceChanges, UserChanges};
use crate::sources::{DisplayName, SourceInput};

/// Fields a client may never write.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "last_login", "user_id"];

/// Collects field errors while fields are parsed.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    fn domain<T>(&mut self, field: &str, result: Result<T, DomainError>) -> Option<T> {
        result.map_err(|e| self.push(field, e.message())).ok()
    }

    /// Rejects fields outside `allowed` (read-only ones with their own message).
    fn unknown_fields(
        &mut self,
        body: &Map<String, Value>,
        allowed: &[&str],
        extra: &[(&str, &str)],
    ) {
        let mut keys: Vec<&String> = body.keys().collect();
        keys.sort();
        for key in keys {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            if let Some((_, message)) = extra.iter().find(|(k, _)| k == key) {
                self.push(key, message);
            } else if READ_ONLY.contains(&key.as_str()) {
                self.push(key, "is read-only");
            } else {
                self.push(key, "is not a known field");
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

/// A field as it appears in a JSON object.
enum Raw<'a> {
    Absent,
    Null,
    Value(&'a Value),
}

fn raw<'a>(body: &'a Map<String, Value>, field: &str) -> Raw<'a> {
    match body.get(field) {
        None => Raw::Absent,
        Some(Value::Null) => Raw::Null,
        Some(value) => Raw::Value(value),
    }
}

/// A string field: `Err` with the type error if present and not a string.
fn text<'a>(errors: &mut Errors, field: &str, value: &'a Value) -> Option<&'a str> {
    let text = value.as_str();
    if text.is_none() {
        errors.push(field, "must be a string");
    }
    text
}

fn boolean(errors: &mut Errors, field: &str, value: &Value) -> Option<bool> {
    let b = value.as_bool();
    if b.is_none() {
        errors.push(field, "must be true or false");
    }
    b
}

/// A field that may be absent (keep/default), but not null.
fn not_null<'a, T>(
    errors: &mut Errors,
    body: &'a Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&mut Errors, &'a Value) -> Option<T>,
) -> Result<Option<T>, ()> {
    match raw(body, field) {
        Raw::Absent => Ok(None),
        Raw::Null => {
            errors.push(field, "must not be null");
            Err(())
        }
        Raw::Value(value) => parse(errors, value).map(Some).ok_or(()),
    }
}

/// A nullable field: absent keeps it, null clears it.
fn nullable<'a, T>(
    errors: &mut Errors,
    body: &'a Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&mut Errors, &'a Value) -> Option<T>,
) -> Result<Change<T>, ()> {
    match raw(body, field) {
        Raw::Absent => Ok(Change::Keep),
        Raw::Null => Ok(Change::Clear),
        Raw::Value(value) => parse(errors, value).map(Change::Set).ok_or(()),
    }
}

/// A string field parsed by a domain type.
fn parsed<T>(
    errors: &mut Errors,
    field: &str,
    value: &Value,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Option<T> {
    let text = text(errors, field, value)?;
    errors.domain(field, parse(text))
}

/// A string field that may be absent but not null, parsed by a domain type.
fn not_null_text<T>(
    errors: &mut Errors,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, ()> {
    not_null(errors, body, field, |e, v| parsed(e, field, v, parse))
}

/// A nullable string field, parsed by a domain type.
fn nullable_text<T>(
    errors: &mut Errors,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Change<T>, ()> {
    nullable(errors, body, field, |e, v| parsed(e, field, v, parse))
}

const USER_FIELDS: &[&str] = &[
    "email",
    "name",
    "profile_picture",
    "profession",
    "date_of_birth",
    "timezone",
    "is_active",
];

const PREFERENCES_HINT: (&str, &str) = (
    "preferences",
    "is changed with PATCH /api/v1/users/{id}/preferences",
);

/// The same hint for `PATCH /me`: a user's own preferences route, not the operator's.
const OWN_PREFERENCES_HINT: (&str, &str) = (
    "preferences",
    "is changed with PATCH /api/v1/me/preferences",
);

/// The user fields of a body, each absent (`None`/`Keep`), cleared or set; `None` if any
/// field is invalid (the errors say which).
fn user_fields(
    errors: &mut Errors,
    body: &Map<String, Value>,
    today: NaiveDate,
    preferences_hint: (&str, &str),
) -> Option<UserChanges> {
    errors.unknown_fields(body, USER_FIELDS, &[preferences_hint]);
    let email = not_null_text(errors, body, "email", Email::parse);
    let name = not_null_text(errors, body, "name", UserName::parse);
    let profile_picture = nullable_text(errors, body, "profile_picture", ProfilePicture::parse);
    let profession = nullable_text(errors, body, "profession", Profession::parse);
    let date_of_birth = nullable_text(errors, body, "date_of_birth", |t| {
        DateOfBirth::parse(t, today)
    });
    let timezone = not_null_text(errors, body, "timezone", Timezone::parse);
    let is_active = not_null(errors, body, "is_active", |e, v| boolean(e, "is_active", v));
    Some(UserChanges {
        email: email.ok()?,
        name: name.ok()?,
        profile_picture: profile_picture.ok()?,
        profession: profession.ok()?,
        date_of_birth: date_of_birth.ok()?,
        timezone: timezone.ok()?,
        is_active: is_active.ok()?,
    })
}

/// The body of `POST /users`: `email` and `name` required, the rest optional with defaults.
pub fn new_user(body: &Map<String, Value>, today: NaiveDate) -> Result<NewUser, ApiError> {
    let mut errors = Errors::default();
    let fields = user_fields(&mut errors, body, today, PREFERENCES_HINT);
    for field in ["email", "name"] {
        if !body.contains_key(field) {
            errors.push(field, "is required");
        }
    }
    let user = fields.and_then(|f| {
        Some(NewUser {
            email: f.email?,
            name: f.name?,
            profile_picture: f.profile_picture.into_set(),
            profession: f.profession.into_set(),
            date_of_birth: f.date_of_birth.into_set(),
            timezone: f.timezone.unwrap_or_default(),
            is_active: f.is_active.unwrap_or(true),
        })
    });
    errors.finish(user)
}

/// The body of `PATCH /users/{id}` (JSON merge patch).
pub fn user_changes(body: &Map<String, Value>, today: NaiveDate) -> Result<UserChanges, ApiError> {
    let mut errors = Errors::default();
    let changes = user_fields(&mut errors, body, today, PREFERENCES_HINT);
    errors.finish(changes)
}

/// The body of `PATCH /me` (JSON merge patch): the user fields, except `is_active`, which
/// only the operator changes.
pub fn own_changes(body: &Map<String, Value>, today: NaiveDate) -> Result<UserChanges, ApiError> {
    let mut errors = Errors::default();
    if body.contains_key("is_active") {
        errors.push("is_active", "is changed by the operator only");
    }
    let mut rest = body.clone();
    rest.remove("is_active");
    let changes = user_fields(&mut errors, &rest, today, OWN_PREFERENCES_HINT);
    errors.finish(changes)
}

/// The body of `POST /auth/register`: `email`, `name`, `password` required, `timezone`
/// optional. The password is checked against the policy here (422 with its message).
pub fn registration(body: &Map<String, Value>) -> Result<(NewUser, Password), ApiError> {
    let mut errors = Errors::default();
    errors.unknown_fields(body, &["email", "name", "password", "timezone"], &[]);
    for field in ["email", "name", "password"] {
        if !body.contains_key(field) {
            errors.push(field, "is required");
        }
    }
    let email = not_null_text(&mut errors, body, "email", Email::parse);
    let name = not_null_text(&mut errors, body, "name", UserName::parse);
    let timezone = not_null_text(&mut errors, body, "timezone", Timezone::parse);
    let password = not_null(&mut errors, body, "password", |e, v| {
        let text = text(e, "password", v)?;
        Password::parse(text)
            .map_err(|error| e.push("password", &error.to_string()))
            .ok()
    });
    let parsed = (|| {
        let user = NewUser {
            email: email.ok()??,
            name: name.ok()??,
            profile_picture: None,
            profession: None,
            date_of_birth: None,
            timezone: timezone.ok()?.unwrap_or_default(),
            is_active: true,
        };
        Some((user, password.ok()??))
    })();
    errors.finish(parsed)
}

/// A required string field of a small credentials body (login, refresh, logout, Google,
/// password change): every listed field must be a string, no other field is accepted.
pub fn credentials<const N: usize>(
    body: &Map<String, Value>,
    fields: [&str; N],
) -> Result<[String; N], ApiError> {
    let mut errors = Errors::default();
    errors.unknown_fields(body, &fields, &[]);
    let values = fields.map(|field| match body.get(field) {
        None => {
            errors.push(field, "is required");
            String::new()
        }
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            errors.push(field, "must be a string");
            String::new()
        }
    });
    errors.finish(Some(values))
}

/// The body of `PATCH /users/{id}/preferences` (JSON merge patch).
pub fn preference_changes(body: &Map<String, Value>) -> Result<PreferenceChanges, ApiError> {
    let mut errors = Errors::default();
    errors.unknown_fields(
        body,
        &[
            "update_frequency",
            "summary_length",
            "email_notifications_enabled",
        ],
        &[],
    );
    let update_frequency = not_null_text(
        &mut errors,
        body,
        "update_frequency",
        UpdateFrequency::parse,
    );
    let summary_length = not_null_text(&mut errors, body, "summary_length", SummaryLength::parse);
    let notifications = not_null(&mut errors, body, "email_notifications_enabled", |e, v| {
        boolean(e, "email_notifications_enabled", v)
    });
    let changes = (|| {
        Some(PreferenceChanges {
            update_frequency: update_frequency.ok()?,
            summary_length: summary_length.ok()?,
            email_notifications_enabled: notifications.ok()?,
        })
    })();
    errors.finish(changes)
}

/// The query of `GET /users`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub after: Option<UserId>,
    pub email: Option<Email>,
}

/// Page size bounds of `GET /users`.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Parses `limit`, `after` and `email`; anything else, or a parameter given twice, is 422.
pub fn list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut errors = Errors::default();
    let mut seen: Vec<String> = Vec::new();
    let mut parsed = ListQuery {
        limit: DEFAULT_LIMIT,
        after: None,
        email: None,
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if seen.contains(&key.to_string()) {
            errors.push(&key, "must be given at most once");
            continue;
        }
        seen.push(key.to_string());
        match key.as_ref() {
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && !value.starts_with('+') => {
                    parsed.limit = n
                }
                _ => errors.push("limit", "must be a whole number from 1 to 100"),
            },
            "after" => match UserId::parse_path_segment(&value) {
                Some(id) => parsed.after = Some(id),
                None => errors.push("after", "must be a user id (a positive whole number)"),
            },
            "email" => {
                if let Some(email) = errors.domain("email", Email::parse(&value)) {
                    parsed.email = Some(email);
                }
            }
            other => errors.push(other, "is not a known query parameter"),
        }
    }
    errors.finish(Some(parsed))
}

// ------------------------------------------------------------------------------------------------
// Subscriptions and feeds.

/// The body of `POST /me/subscriptions`: `{"url": "..."}`, what the user pasted.
pub fn new_subscription(body: &Map<String, Value>) -> Result<SourceInput, ApiError> {
    let mut errors = Errors::default();
    errors.unknown_fields(body, &["url"], &[]);
    if !body.contains_key("url") {
        errors.push("url", "is required");
    }
    let input = not_null_text(&mut errors, body, "url", SourceInput::parse);
    errors.finish(input.ok().flatten())
}

/// The body of `PATCH /me/subscriptions/{id}` (JSON merge patch): `display_name` (null
/// removes it), `notifications_enabled`, `is_active`.
pub fn subscription_changes(body: &Map<String, Value>) -> Result<SubscriptionChanges, ApiError> {
    let mut errors = Errors::default();
    errors.unknown_fields(
        body,
        &["display_name", "notifications_enabled", "is_active"],
        &[(
            "url",
            "cannot be changed: subscribe to the other source and delete this subscription",
        )],
    );
    let display_name = nullable_text(&mut errors, body, "display_name", DisplayName::parse);
    let notifications = not_null(&mut errors, body, "notifications_enabled", |e, v| {
        boolean(e, "notifications_enabled", v)
    });
    let is_active = not_null(&mut errors, body, "is_active", |e, v| {
        boolean(e, "is_active", v)
    });
    let changes = (|| {
        Some(SubscriptionChanges {
            display_name: display_name.ok()?,
            notifications_enabled: notifications.ok()?,
            is_active: is_active.ok()?,
        })
    })();
    errors.finish(changes)
}

/// A page query: `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery<C> {
    pub limit: u32,
    pub cursor: Option<C>,
}

/// Parses `limit` and the cursor parameter `cursor_name` (read by `parse`, `message` when it
/// fails); anything else, or a parameter given twice, is 422.
fn page_query<C>(
    query: Option<&str>,
    cursor_name: &str,
    parse: impl Fn(&str) -> Option<C>,
    message: &str,
) -> Result<PageQuery<C>, ApiError> {
    let mut errors = Errors::default();
    let mut seen: Vec<String> = Vec::new();
    let mut parsed = PageQuery {
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if seen.contains(&key.to_string()) {
            errors.push(&key, "must be given at most once");
            continue;
        }
        seen.push(key.to_string());
        if key == "limit" {
            match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && !value.starts_with('+') => {
                    parsed.limit = n
                }
                _ => errors.push("limit", "must be a whole number from 1 to 100"),
            }
        } else if key == cursor_name {
            match parse(&value) {
                Some(cursor) => parsed.cursor = Some(cursor),
                None => errors.push(cursor_name, message),
            }
        } else {
            errors.push(&key, "is not a known query parameter");
        }
    }
    errors.finish(Some(parsed))
}

/// The query of `GET /me/subscriptions`: `limit`, `after` (a subscription id).
pub fn subscription_list_query(query: Option<&str>) -> Result<PageQuery<SubscriptionId>, ApiError> {
    page_query(
        query,
        "after",
        SubscriptionId::parse_path_segment,
        "must be a subscription id (a positive whole number)",
    )
}

/// The query of the item lists (`/me/feed`, `/me/subscriptions/{id}/items`): `limit`,
/// `before` (the `next_cursor` of the previous page).
pub fn item_query(query: Option<&str>) -> Result<PageQuery<ItemCursor>, ApiError> {
    page_query(
        query,
        "before",
        ItemCursor::decode,
        "must be the next_cursor of a previous page",
    )
}
