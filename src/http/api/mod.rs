//! The api component: `/api/v1/...`.
//!
//! - [`routes`]: the one route table (paths, methods, who may call them, documentation).
//! - [`bearer`]: who the caller is (operator token, a user's access token, or nobody).
//! - [`config`]: settings from Spin variables (the shared ones: [`super::config`]).
//! - [`users`]: `/users...`, the operator's API.
//! - [`auth`]: `/auth/...`: register, login, refresh, logout, Google sign-in.
//! - [`me`]: `/me...`: the signed-in user's own account.
//! - [`subscriptions`]: `/me/subscriptions...`: the sources the signed-in user follows.
//! - [`feed`]: `/me/feed`: the items of those sources, newest first.
//! - [`digests`]: `/me/digests...`: the signed-in user's digests, newest first.
//! - [`links`]: `/links/...`: the signed links of digests (page, one-click unsubscribe, Atom
//!   feed), outside the prefix and the OpenAPI document.
//! - [`openapi`]: `/openapi.json`, the document built from the route table.
//! - [`input`]: bodies and query strings parsed into model inputs.
//! - [`etag`]: `ETag`, `If-Match`, `If-None-Match`.
//!
//! HEAD is answered wherever GET is, with GET's status and headers and no body.

pub mod auth;
pub mod bearer;
pub mod config;
pub mod digests;
pub mod etag;
pub mod feed;
pub mod input;
pub mod links;
pub mod me;
pub mod openapi;
pub mod routes;
pub mod subscriptions;
pub mod users;

use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, header};

pub use bearer::Caller;
pub use config::{ApiConfig, Variables};

use super::{ApiError, Request, Response, head_response};
use crate::db::Db;
use crate::models::user::Scope;
use crate::outbound::Outbound;
use routes::Op;

/// The path prefix of every route of this component.
pub const PREFIX: &str = "/api/v1";

/// Handles one request of the api component at `now` (UTC; dates of birth are bounded by
/// its date, tokens are issued and checked against it). `outbound` fetches Google's keys and
/// the pages a subscription's URL needs resolving.
pub async fn handle<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
) -> Response {
    let mut response = match route(request, config, db, outbound, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if request.method() == Method::HEAD {
        return head_response(response);
    }
    response
}

async fn route<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let path = request.uri().path();
    if path.starts_with(routes::LINKS_PREFIX) {
        let route = routes::find_link(path).ok_or(ApiError::NotFound("no such route"))?;
        return Ok(links::serve(request, route, config, db, now).await);
    }
    let rest = path
        .strip_prefix(PREFIX)
        .ok_or(ApiError::NotFound("no such route"))?;
    let (route, params) = routes::find(rest).ok_or(ApiError::NotFound("no such route"))?;
    let caller = bearer::authorize(request.headers(), route.access, config, now)?;
    let operation =
        route
            .operation(request.method())
            .ok_or_else(|| ApiError::MethodNotAllowed {
                allow: route.allow(),
            })?;
    let today = now.date_naive();
    let id = || users::user_id(params.first().copied().unwrap_or(""));
    let me = || caller.user().ok_or(ApiError::Unauthorized);
    let sub = || subscriptions::subscription_id(params.first().copied().unwrap_or(""));
    match operation.op {
        Op::OpenApi => openapi::serve(request),
        Op::ListUsers => users::list(request, db).await,
        Op::CreateUser => users::create(request, db, today).await,
        Op::GetUser => users::get(request, id()?, Scope::Any, db).await,
        Op::UpdateUser => users::update(request, id()?, Scope::Any, db, today).await,
        Op::DeleteUser => users::delete(request, id()?, Scope::Any, db).await,
        Op::GetUserPreferences => users::get_preferences(request, id()?, Scope::Any, db).await,
        Op::UpdateUserPreferences => {
            users::update_preferences(request, id()?, Scope::Any, db).await
        }
        Op::Register => auth::register(request, config, db, now).await,
        Op::Login => auth::login(request, config, db, now).await,
        Op::Refresh => auth::refresh(request, config, db, now).await,
        Op::Logout => auth::logout(request, db).await,
        Op::Google => auth::google(request, config, db, outbound, now).await,
        // A user's own account: the operator's handlers, for active users only.
        Op::GetMe => users::get(request, me()?, Scope::ActiveOnly, db).await,
        Op::UpdateMe => {
            let me = me::Me {
                id: me()?,
                session: caller.session(),
            };
            me::update(request, me, config, db, outbound, today, now).await
        }
        Op::DeleteMe => users::delete(request, me()?, Scope::ActiveOnly, db).await,
        Op::GetMyPreferences => users::get_preferences(request, me()?, Scope::ActiveOnly, db).await,
        Op::UpdateMyPreferences => {
            users::update_preferences(request, me()?, Scope::ActiveOnly, db).await
        }
        Op::ChangePassword => me::change_password(request, me()?, config, db).await,
        Op::LinkGoogle => me::link_google(request, me()?, config, db, outbound, now).await,
        Op::RequestEmailProof => me::request_email_proof(me()?, db).await,
        Op::ListSubscriptions => subscriptions::list(request, me()?, db).await,
        Op::Subscribe => subscriptions::subscribe(request, me()?, config, db, outbound).await,
        Op::GetSubscription => subscriptions::get(request, me()?, sub()?, db).await,
        Op::UpdateSubscription => subscriptions::update(request, me()?, sub()?, db).await,
        Op::DeleteSubscription => subscriptions::delete(request, me()?, sub()?, db).await,
        Op::ListSubscriptionItems => subscriptions::items(request, me()?, sub()?, db).await,
        Op::GetFeed => feed::get(request, me()?, db).await,
        Op::ListDigests => {
            let links = config.links.as_ref().ok().and_then(Option::as_ref);
            digests::list(request, me()?, links, db).await
        }
        Op::GetDigest => {
            let id = digests::digest_id(params.first().copied().unwrap_or(""));
            digests::get(me()?, id?, db).await
        }
    }
}
