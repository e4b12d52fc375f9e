//! How request bodies and query strings are read, at the edge: the field readers and the
//! query parser that each resource's own parsers (beside its handlers: `users.rs`,
//! `auth.rs`, `subscriptions.rs`, `feed.rs`) are written with.
//!
//! Every invalid field is reported at once (422 with an `errors` list); unknown fields are
//! errors too. Messages come from the domain types and never repeat the submitted value.

use serde_json::{Map, Value};

use crate::domain::DomainError;
use crate::http::{ApiError, FieldError};
use crate::models::user::Change;

/// Fields a client may never write.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "last_login", "user_id"];

/// Collects field errors while fields are parsed.
#[derive(Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    pub(super) fn domain<T>(&mut self, field: &str, result: Result<T, DomainError>) -> Option<T> {
        result.map_err(|e| self.push(field, e.message())).ok()
    }

    /// Rejects fields outside `allowed` (read-only ones with their own message).
    pub(super) fn unknown_fields(
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

    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

/// A field as it appears in a JSON object.
pub(super) enum Raw<'a> {
    Absent,
    Null,
    Value(&'a Value),
}

pub(super) fn raw<'a>(body: &'a Map<String, Value>, field: &str) -> Raw<'a> {
    match body.get(field) {
        None => Raw::Absent,
        Some(Value::Null) => Raw::Null,
        Some(value) => Raw::Value(value),
    }
}

/// A string field: `Err` with the type error if present and not a string.
pub(super) fn text<'a>(errors: &mut Errors, field: &str, value: &'a Value) -> Option<&'a str> {
    let text = value.as_str();
    if text.is_none() {
        errors.push(field, "must be a string");
    }
    text
}

pub(super) fn boolean(errors: &mut Errors, field: &str, value: &Value) -> Option<bool> {
    let b = value.as_bool();
    if b.is_none() {
        errors.push(field, "must be true or false");
    }
    b
}

/// A field that may be absent (keep/default), but not null.
pub(super) fn not_null<'a, T>(
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
pub(super) fn nullable<'a, T>(
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
pub(super) fn parsed<T>(
    errors: &mut Errors,
    field: &str,
    value: &Value,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Option<T> {
    let text = text(errors, field, value)?;
    errors.domain(field, parse(text))
}

/// A string field that may be absent but not null, parsed by a domain type.
pub(super) fn not_null_text<T>(
    errors: &mut Errors,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, ()> {
    not_null(errors, body, field, |e, v| parsed(e, field, v, parse))
}

/// A nullable string field, parsed by a domain type.
pub(super) fn nullable_text<T>(
    errors: &mut Errors,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Change<T>, ()> {
    nullable(errors, body, field, |e, v| parsed(e, field, v, parse))
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

/// Page size bounds of every list.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Reads a query string: `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) here,
/// every other parameter with `param`, which returns `false` for one it does not know. A
/// parameter given twice, or not known, is an error. Returns the limit.
pub(super) fn query_limit(
    query: Option<&str>,
    errors: &mut Errors,
    mut param: impl FnMut(&mut Errors, &str, &str) -> bool,
) -> u32 {
    let mut seen: Vec<String> = Vec::new();
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if seen.contains(&key.to_string()) {
            errors.push(&key, "must be given at most once");
            continue;
        }
        seen.push(key.to_string());
        if key == "limit" {
            match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && !value.starts_with('+') => limit = n,
                _ => errors.push("limit", "must be a whole number from 1 to 100"),
            }
        } else if !param(errors, &key, &value) {
            errors.push(&key, "is not a known query parameter");
        }
    }
    limit
}

/// A page query: `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery<C> {
    pub limit: u32,
    pub cursor: Option<C>,
}

/// Parses `limit` and the cursor parameter `cursor_name` (read by `parse`, `message` when it
/// fails); anything else, or a parameter given twice, is 422.
pub(super) fn page_query<C>(
    query: Option<&str>,
    cursor_name: &str,
    parse: impl Fn(&str) -> Option<C>,
    message: &str,
) -> Result<PageQuery<C>, ApiError> {
    let mut errors = Errors::default();
    let mut cursor = None;
    let limit = query_limit(query, &mut errors, |errors, key, value| {
        if key != cursor_name {
            return false;
        }
        match parse(value) {
            Some(parsed) => cursor = Some(parsed),
            None => errors.push(cursor_name, message),
        }
        true
    });
    errors.finish(Some(PageQuery { limit, cursor }))
}
