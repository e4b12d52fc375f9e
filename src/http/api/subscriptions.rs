//! `/api/v1/me/subscriptions` and below: the sources the signed-in user follows.
//!
//! | route                                   | methods                  |
//! |-----------------------------------------|--------------------------|
//! | `/api/v1/me/subscriptions`              | GET, HEAD, POST          |
//! | `/api/v1/me/subscriptions/{id}`         | GET, HEAD, PATCH, DELETE |
//! | `/api/v1/me/subscriptions/{id}/items`   | GET, HEAD                |
//!
//! `POST {"url": "..."}` takes what people paste ([`crate::sources::pasted`]), resolves it
//! to a canonical source ([`crate::sources::resolve`]: YouTube handles and blog pages are fetched,
//! never from a private network, see [`crate::outbound::policy`]) and writes the source and the
//! subscription in one statement: 201 with `Location` for a new subscription, 200 with the
//! existing one (reactivated if it was inactive) when the user already follows the source.
//!
//! A user has at most [`MAX_SUBSCRIPTIONS`] subscriptions: one more is 422 on `url` (checked
//! in the subscribing statement, under a lock on the user's row, so concurrent requests
//! cannot pass it); subscribing again to a source already followed is always allowed.
//!
//! Statuses: a URL we cannot turn into a feed (invalid, refused, unreachable, not found, no
//! feed, too large, too many redirects) is 422 with a message on the field `url`: the
//! problem is with the address the user gave, and retrying the same request will not help.
//! 503 is kept for our own outages (the database). Another user's subscription id is 404,
//! like an id that does not exist. A token whose account is gone or deactivated gets 401 on
//! every route, as on `/me` (the check is part of each route's one statement).
//!
//! Every request sends at most one SQL statement; subscribing sends it after the fetches.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::config::ApiConfig;
use super::input;
use super::me::ACCOUNT_GONE;
use crate::db::Db;
use crate::domain::UserId;
use crate::http::{
    ApiError, FieldError, Request, Response, empty_response, json, serialized_response,
};
use crate::models::source::store::{self, Mine, Subscribe};
use crate::models::source::{MAX_SUBSCRIPTIONS, SubscriptionChanges, SubscriptionId};
use crate::observability::log;
use crate::outbound::Outbound;
use crate::sources::resolve::{self, ResolveError};
use crate::sources::{DisplayName, SourceInput};

const NO_SUCH_SUBSCRIPTION: &str = "no subscription with this id";

/// An id that is not a positive 64-bit integer names no subscription: 404.
pub fn subscription_id(segment: &str) -> Result<SubscriptionId, ApiError> {
    SubscriptionId::parse_path_segment(segment).ok_or(ApiError::NotFound(NO_SUCH_SUBSCRIPTION))
}

fn found<T>(mine: Mine<T>) -> Result<T, ApiError> {
    match mine {
        Mine::Found(value) => Ok(value),
        Mine::NotFound => Err(ApiError::NotFound(NO_SUCH_SUBSCRIPTION)),
        Mine::UserGone => Err(ACCOUNT_GONE),
    }
}

fn url_error(error: ResolveError) -> ApiError {
    ApiError::Validation(vec![FieldError::new("url", error.message())])
}

/// `POST /me/subscriptions` {url}.
pub async fn subscribe<D: Db>(
    request: &Request,
    me: UserId,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let input = new_subscription(&body)?;
    let settings = &config.sources;
    let resolved = match resolve::precheck(&input, settings) {
        Ok(()) => resolve::resolve(&input, settings, outbound).await,
        Err(error) => Err(error),
    };
    let source = resolved.map_err(|error| {
        let status = match error {
            ResolveError::Status(status) => Some(status),
            _ => None,
        };
        log::info(
            "subscription_unresolved",
            json!({ "user_id": me.to_string(), "reason": error.kind(), "status": status }),
        );
        url_error(error)
    })?;
    let subscribed = match store::subscribe(db, me, &source).await? {
        Subscribe::Done(subscribed) => subscribed,
        Subscribe::UserGone => return Err(ACCOUNT_GONE),
        Subscribe::LimitReached => {
            log::info(
                "subscription_limit_reached",
                json!({ "user_id": me.to_string(), "limit": MAX_SUBSCRIPTIONS }),
            );
            return Err(ApiError::Validation(vec![FieldError::new(
                "url",
                format!(
                    "cannot be followed: an account may follow at most {MAX_SUBSCRIPTIONS} \
                     sources (paused subscriptions included); delete a subscription to \
                     follow another source"
                ),
            )]));
        }
    };
    let subscription = &subscribed.subscription;
    log::info(
        "subscribed",
        json!({
            "user_id": me.to_string(),
            "subscription_id": subscription.id.to_string(),
            "source_id": subscription.source.id,
            "kind": subscription.source.kind.as_str(),
            "created": subscribed.created,
        }),
    );
    let status = if subscribed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = serialized_response(status, subscription)?;
    let location = format!("{}/me/subscriptions/{}", super::PREFIX, subscription.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// `GET /me/subscriptions?limit=&after=`.
pub async fn list<D: Db>(request: &Request, me: UserId, db: &D) -> Result<Response, ApiError> {
    let query = subscription_list_query(request.uri().query())?;
    let page = store::list(db, me, query.cursor, query.limit)
        .await?
        .ok_or(ACCOUNT_GONE)?;
    serialized_response(StatusCode::OK, &page)
}

/// `GET /me/subscriptions/{id}`.
pub async fn get<D: Db>(
    _request: &Request,
    me: UserId,
    id: SubscriptionId,
    db: &D,
) -> Result<Response, ApiError> {
    let subscription = found(store::get(db, me, id).await?)?;
    serialized_response(StatusCode::OK, &subscription)
}

/// `PATCH /me/subscriptions/{id}` (JSON merge patch).
pub async fn update<D: Db>(
    request: &Request,
    me: UserId,
    id: SubscriptionId,
    db: &D,
) -> Result<Response, ApiError> {
    let body = json::object(request)?;
    let changes = subscription_changes(&body)?;
    let subscription = found(store::update(db, me, id, changes).await?)?;
    serialized_response(StatusCode::OK, &subscription)
}

/// `DELETE /me/subscriptions/{id}`: 204.
pub async fn delete<D: Db>(
    _request: &Request,
    me: UserId,
    id: SubscriptionId,
    db: &D,
) -> Result<Response, ApiError> {
    found(store::delete(db, me, id).await?)?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `GET /me/subscriptions/{id}/items?limit=&before=`: the source's items, newest first.
pub async fn items<D: Db>(
    request: &Request,
    me: UserId,
    id: SubscriptionId,
    db: &D,
) -> Result<Response, ApiError> {
    let query = super::feed::item_query(request.uri().query())?;
    let page = found(store::items(db, me, id, query.cursor, query.limit).await?)?;
    serialized_response(StatusCode::OK, &page)
}

// ------------------------------------------------------------------------------------------------
// Request bodies and queries of `/me/subscriptions`.

/// The body of `POST /me/subscriptions`: `{"url": "..."}`, what the user pasted.
pub fn new_subscription(body: &Map<String, Value>) -> Result<SourceInput, ApiError> {
    let mut errors = input::Errors::default();
    errors.unknown_fields(body, &["url"], &[]);
    if !body.contains_key("url") {
        errors.push("url", "is required");
    }
    let input = input::not_null_text(&mut errors, body, "url", SourceInput::parse);
    errors.finish(input.ok().flatten())
}

/// The body of `PATCH /me/subscriptions/{id}` (JSON merge patch): `display_name` (null
/// removes it), `notifications_enabled`, `is_active`.
pub fn subscription_changes(body: &Map<String, Value>) -> Result<SubscriptionChanges, ApiError> {
    let mut errors = input::Errors::default();
    errors.unknown_fields(
        body,
        &["display_name", "notifications_enabled", "is_active"],
        &[(
            "url",
            "cannot be changed: subscribe to the other source and delete this subscription",
        )],
    );
    let display_name = input::nullable_text(&mut errors, body, "display_name", DisplayName::parse);
    let notifications = input::not_null(&mut errors, body, "notifications_enabled", |e, v| {
        input::boolean(e, "notifications_enabled", v)
    });
    let is_active = input::not_null(&mut errors, body, "is_active", |e, v| {
        input::boolean(e, "is_active", v)
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

/// The query of `GET /me/subscriptions`: `limit`, `after` (a subscription id).
pub fn subscription_list_query(
    query: Option<&str>,
) -> Result<input::PageQuery<SubscriptionId>, ApiError> {
    input::page_query(
        query,
        "after",
        SubscriptionId::parse_path_segment,
        "must be a subscription id (a positive whole number)",
    )
}
