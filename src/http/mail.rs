//! The `mail` component's one route: `POST /internal/deliveries?limit=`, one delivery round
//! ([`crate::digests::deliver`]) for the operator (`api_token`, as for `/internal/ingest`).
//! It runs in a component of its own because it holds the mail API's token and may reach
//! only that API's origin (spin.toml), never the hosts feeds come from.
//!
//! - `?limit=N` (1 to [`MAX_LIMIT`]): digests claimed by this round (default
//!   [`DEFAULT_LIMIT`]).
//! - 200 `{"claimed", "sent", "retrying", "failed", "not_wanted", "proofs_claimed",
//!   "proofs_sent", "proofs_retrying", "proofs_failed", "proofs_unsent", "duration_ms"}`
//!   (digests, then the e-mail address proofs; `proofs_unsent`: due but not sent, without
//!   `link_key`); `claimed == 0` means nothing was due.
//! - 401 without the token; 503 when `api_token`, the mail variables (`mail_api_token`
//!   unset, for one: then nothing is sent and digests stay readable in the app) or the link
//!   variables (`link_key`, `public_base_url`) are unusable, or the database is down; 404
//!   elsewhere, 405 for another method.

use std::fmt;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::bearer::require_bearer;
use super::config::{links, millis, operator_token};
use super::{ApiError, Request, Response, serialized_response};
use crate::db::Db;
use crate::digests::deliver::{self, DeliveryReport, DeliverySettings};
use crate::digests::links::Links;
use crate::observability::log;
use crate::outbound::Outbound;
use crate::outbound::mail::MailApi;

/// The route.
pub const PATH: &str = "/internal/deliveries";
/// Digests one round claims by default.
pub const DEFAULT_LIMIT: u32 = 20;
/// Most digests one round may claim: with the mail timeout at its 30-second maximum, a
/// round of 25 ends within the lease.
pub const MAX_LIMIT: u32 = 25;
/// How long a claim holds: longer than [`MAX_LIMIT`] sends at the longest timeout.
pub const LEASE_SECONDS: u32 = 15 * 60;
/// Default bound on one send, in milliseconds (`mail_timeout_ms`, 1 to 30000).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Digests built longer ago than this are never sent (two days).
pub const MAX_AGE_SECONDS: u32 = 2 * 24 * 3600;

/// The Spin variables the component reads (`None`: unset or blank).
#[derive(Default, Clone)]
pub struct MailVariables {
    pub api_token: Option<String>,
    pub mail_api_url: Option<String>,
    pub mail_api_token: Option<String>,
    pub mail_from: Option<String>,
    pub mail_timeout_ms: Option<String>,
    pub link_key: Option<String>,
    pub public_base_url: Option<String>,
}

/// The component's settings, read once per instance.
pub struct MailConfig {
    token: Result<String, &'static str>,
    api: Result<MailApi, &'static str>,
    /// `Ok(None)` when `link_key` is unset: messages then carry no links (and no
    /// `List-Unsubscribe`). An unusable key or base URL stops the round (503) rather than
    /// send mail without a way to unsubscribe.
    links: Result<Option<Links>, &'static str>,
    settings: DeliverySettings,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("api", &self.api)
            .field("links", &self.links.as_ref().map(Option::is_some))
            .field("settings", &self.settings)
            .finish()
    }
}

impl MailConfig {
    pub fn from_variables(vars: &MailVariables) -> MailConfig {
        let token = operator_token(vars.api_token.as_deref().unwrap_or("")).map(str::to_owned);
        let timeout = millis(vars.mail_timeout_ms.as_deref(), 30_000).unwrap_or(DEFAULT_TIMEOUT);
        let api = MailApi::new(
            vars.mail_api_url.as_deref().unwrap_or(""),
            vars.mail_api_token.as_deref().unwrap_or(""),
            vars.mail_from.as_deref().unwrap_or(""),
            timeout,
        )
        .map_err(|e| match e {
            crate::outbound::mail::MailConfigError::NoToken => "mail_api_token is not set",
            crate::outbound::mail::MailConfigError::BadUrl => "mail_api_url is not an http(s) URL",
            crate::outbound::mail::MailConfigError::BadFrom => "mail_from is not an address",
        });
        let links = links(vars.link_key.as_deref(), vars.public_base_url.as_deref());
        MailConfig {
            token,
            api,
            links,
            settings: DeliverySettings {
                limit: DEFAULT_LIMIT,
                lease_seconds: LEASE_SECONDS,
                max_age_seconds: MAX_AGE_SECONDS,
            },
        }
    }
}

/// The response body.
#[derive(Debug, Serialize)]
struct RoundBody {
    #[serde(flatten)]
    report: DeliveryReport,
    duration_ms: u64,
}

/// Serves a request to the mail component.
pub async fn handle(
    request: &Request,
    config: &MailConfig,
    db: &impl Db,
    outbound: &impl Outbound,
) -> Response {
    match route(request, config, db, outbound).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(
    request: &Request,
    config: &MailConfig,
    db: &impl Db,
    outbound: &impl Outbound,
) -> Result<Response, ApiError> {
    if request.uri().path() != PATH {
        return Err(ApiError::NotFound("no such route"));
    }
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed {
            allow: "POST".to_owned(),
        });
    }
    let token = config.token.as_deref().map_err(|reason| {
        log::error("api_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })?;
    require_bearer(request.headers(), token)?;
    let api = config.api.as_ref().map_err(|reason| {
        log::error("mail_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })?;
    let links = config.links.as_ref().map_err(|reason| {
        log::error("mail_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })?;
    let mut settings = config.settings;
    settings.limit = limit(request.uri().query())?.unwrap_or(settings.limit);
    let started = Instant::now();
    let report = deliver::run(db, outbound, api, links.as_ref(), &settings).await?;
    let duration_ms = started.elapsed().as_millis() as u64;
    log::info(
        "delivery_round_completed",
        json!({ "report": report, "duration_ms": duration_ms }),
    );
    serialized_response(
        StatusCode::OK,
        &RoundBody {
            report,
            duration_ms,
        },
    )
}

/// `limit` from the query string: 1 to [`MAX_LIMIT`]; anything else is 400.
fn limit(query: Option<&str>) -> Result<Option<u32>, ApiError> {
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "limit" => {
                found = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or(ApiError::BadRequest(
                            "limit must be an integer from 1 to 25",
                        ))?,
                );
            }
            _ => return Err(ApiError::BadRequest("unknown query parameter")),
        }
    }
    Ok(found)
}
