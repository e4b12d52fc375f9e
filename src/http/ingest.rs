//! `POST /internal/ingest`: one ingestion round, and `POST /internal/maintenance`: one
//! maintenance round ([`MAINTENANCE_PATH`]), for the operator (`api_token`, read by
//! [`super::config`] and compared in constant time by [`super::bearer`], like the operator
//! API). The ingestion itself is [`crate::ingest`]. A scheduler calls it (`make ingest`, a
//! Kubernetes CronJob, a cron job; docs/operations.md, "Scheduling ingestion").
//!
//! - `?limit=N` (1 to 500): sources claimed by this round (default 50).
//! - 200 `{"claimed", "fetched", "not_modified", "failed", "deferred", "items_added",
//!   "duration_ms"}`; `claimed == 0` means nothing was due; `deferred` sources were claimed
//!   but left for the next round (the round's budget, `ingest_round_budget_ms`, was spent).
//! - 401 without the token, 503 when `api_token` is unusable or the database is down,
//!   404 elsewhere, 405 for another method.
//!
//! `POST /internal/digests?limit=&as_of=` ([`DIGESTS_PATH`]): one digest round
//! ([`crate::digests::round`]) at `as_of` (RFC 3339; default now: tests and backfills name
//! the instant), for at most `limit` users (1 to 500, default 100). 200 `{"claimed",
//! "built", "skipped", "not_due", "existed", "failed", "overviews", "overview_failed",
//! "overview_skipped", "duration_ms"}`. With `digest_overview = "llm"` the model writes each
//! built digest's overview after the digests are written, within
//! `digest_overview_timeout_ms` per call ([`crate::digests::overview`]); a `digest_overview`
//! that is neither `none` nor `llm` makes this route answer 503.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::bearer::require_bearer;
use super::config::{allow_loopback, millis, operator_token, origin};
use super::{ApiError, Request, Response, serialized_response};
use crate::db::Db;
use crate::digests::overview::{OverviewMode, OverviewSettings, Overviewer};
use crate::digests::round::{self as digest_round, RoundSettings};
use crate::ingest::{IngestSettings, MAX_BATCH, RoundReport, run_round};
use crate::models::account::{self, ThrottlePolicy};
use crate::observability::log;
use crate::outbound::Outbound;

/// The route.
pub const PATH: &str = "/internal/ingest";

/// The digest round's route (operator token).
pub const DIGESTS_PATH: &str = "/internal/digests";

/// Users one digest round claims by default (at most [`MAX_BATCH`], as for ingestion).
pub const DEFAULT_DIGEST_BATCH: u32 = 100;

/// How long a digest round's claim holds: far longer than a round can last (its users'
/// statements, each bounded by `db_timeout_ms`).
pub const DIGEST_LEASE_SECONDS: u32 = 15 * 60;

/// The maintenance round's route (operator token): one bounded round deleting what has
/// expired in the account tables (see [`maintenance`]).
pub const MAINTENANCE_PATH: &str = "/internal/maintenance";

/// How long revoked or expired session families are kept before the maintenance round
/// deletes them (a replayed token of a family still known is told apart in the logs).
pub const SESSION_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// Rows of each kind one maintenance round deletes at most.
pub const MAINTENANCE_LIMIT: u32 = 1000;

/// The Spin variables the component reads (`None`: unset or blank).
#[derive(Default, Clone)]
pub struct IngestVariables {
    pub api_token: Option<String>,
    /// `true` lets fetches reach loopback addresses (tests' fixture server only); the same
    /// variable as the api component's.
    pub outbound_allow_loopback: Option<String>,
    /// Where YouTube's feeds are fetched from (default `https://www.youtube.com`).
    pub youtube_origin: Option<String>,
    /// Where Reddit's feeds are fetched from (default `https://www.reddit.com`).
    pub reddit_origin: Option<String>,
    /// Bound on each feed request, in milliseconds (1 to 60000; default 10000).
    pub ingest_fetch_timeout_ms: Option<String>,
    /// Bound on one round, in milliseconds (1 to 600000; default 60000; never less than
    /// `IngestSettings::min_round_budget`, so a round always starts its first source).
    pub ingest_round_budget_ms: Option<String>,
    /// The component's database timeout, in milliseconds (1 to 60000; default 2000), the
    /// same variable the database calls are bounded by: reserved in the round's budget for
    /// each statement.
    pub db_timeout_ms: Option<String>,
    /// The local time digests close at, `HH:MM` (default `07:00`).
    pub digest_local_time: Option<String>,
    /// The weekday of weekly and two-weekly digests, in English (default `monday`).
    pub digest_weekday: Option<String>,
    /// `none` (default) or `llm`: whether the model writes digests' overviews.
    pub digest_overview: Option<String>,
    /// Bound on one overview call, in milliseconds (1 to 60000; default 10000).
    pub digest_overview_timeout_ms: Option<String>,
}

/// The component's settings, read once per instance.
pub struct IngestConfig {
    token: Result<String, &'static str>,
    pub settings: IngestSettings,
    pub digests: RoundSettings,
    /// `digest_overview`, or why it is unusable (the digest round answers 503).
    pub overview: Result<OverviewMode, &'static str>,
    pub overview_bounds: OverviewSettings,
}

impl fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("settings", &self.settings)
            .field("digests", &self.digests)
            .field("overview", &self.overview)
            .field("overview_bounds", &self.overview_bounds)
            .finish()
    }
}

impl IngestConfig {
    pub fn from_variables(vars: &IngestVariables) -> IngestConfig {
        let token = operator_token(vars.api_token.as_deref().unwrap_or("")).map(str::to_owned);
        let mut settings = IngestSettings::default();
        settings.fetch.net.allow_loopback = allow_loopback(vars.outbound_allow_loopback.as_deref());
        settings.origins.youtube = origin(vars.youtube_origin.as_deref());
        settings.origins.reddit = origin(vars.reddit_origin.as_deref());
        if let Some(ms) = millis(vars.ingest_fetch_timeout_ms.as_deref(), 60_000) {
            settings.fetch.timeout = ms;
        }
        if let Some(ms) = millis(vars.db_timeout_ms.as_deref(), 60_000) {
            settings.db_timeout = ms;
        }
        if let Some(ms) = millis(vars.ingest_round_budget_ms.as_deref(), 600_000) {
            settings.round_budget = ms;
        }
        settings.round_budget = settings.round_budget.max(settings.min_round_budget());
        let digests = RoundSettings {
            local_time: local_time(vars.digest_local_time.as_deref()),
            weekday: weekday(vars.digest_weekday.as_deref()),
            limit: DEFAULT_DIGEST_BATCH,
            lease_seconds: DIGEST_LEASE_SECONDS,
        };
        let mut overview_bounds = OverviewSettings::default();
        if let Some(ms) = millis(vars.digest_overview_timeout_ms.as_deref(), 60_000) {
            overview_bounds.call_bound = ms;
        }
        IngestConfig {
            token,
            settings,
            digests,
            overview: OverviewMode::parse(vars.digest_overview.as_deref()),
            overview_bounds,
        }
    }
}

/// The response body.
#[derive(Debug, Serialize)]
struct RoundBody {
    #[serde(flatten)]
    report: RoundReport,
    duration_ms: u64,
}

/// Serves a request to the ingest component. `model` writes digests' overviews when
/// `digest_overview` is `llm`.
pub async fn handle(
    request: &Request,
    config: &IngestConfig,
    db: &impl Db,
    outbound: &impl Outbound,
    model: &impl Overviewer,
) -> Response {
    match route(request, config, db, outbound, model).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(
    request: &Request,
    config: &IngestConfig,
    db: &impl Db,
    outbound: &impl Outbound,
    model: &impl Overviewer,
) -> Result<Response, ApiError> {
    let path = request.uri().path();
    if path != PATH && path != MAINTENANCE_PATH && path != DIGESTS_PATH {
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
    if path == MAINTENANCE_PATH {
        return maintenance(db).await;
    }
    if path == DIGESTS_PATH {
        return digests(request, config, db, model).await;
    }
    let mut settings = config.settings.clone();
    settings.batch = limit(request.uri().query())?.unwrap_or(settings.batch);
    let started = Instant::now();
    let report = run_round(db, outbound, &settings).await?;
    let duration_ms = started.elapsed().as_millis() as u64;
    log::info(
        "ingest_round_completed",
        json!({
            "claimed": report.claimed,
            "fetched": report.fetched,
            "not_modified": report.not_modified,
            "failed": report.failed,
            "deferred": report.deferred,
            "items_added": report.items_added,
            "duration_ms": duration_ms,
        }),
    );
    serialized_response(
        StatusCode::OK,
        &RoundBody {
            report,
            duration_ms,
        },
    )
}

/// `POST /internal/maintenance`: deletes, at most [`MAINTENANCE_LIMIT`] rows of each kind,
/// sign-in throttle rows whose window has ended, hash budget rows older than a minute, and
/// session families revoked or expired more than [`SESSION_GRACE`] ago (one statement,
/// `SKIP LOCKED`: rounds running at once share the work). 200 with the counts; a scheduler
/// runs it beside ingestion until it deletes nothing.
async fn maintenance(db: &impl Db) -> Result<Response, ApiError> {
    let done = account::store::maintain(
        db,
        ThrottlePolicy::DEFAULT,
        SESSION_GRACE,
        MAINTENANCE_LIMIT,
    )
    .await?;
    log::info("maintenance_round_completed", json!(done));
    serialized_response(StatusCode::OK, &done)
}

/// The response body of a digest round.
#[derive(Debug, Serialize)]
struct DigestRoundBody {
    #[serde(flatten)]
    report: digest_round::RoundReport,
    duration_ms: u64,
}

/// `POST /internal/digests?limit=&as_of=`: one digest round.
async fn digests(
    request: &Request,
    config: &IngestConfig,
    db: &impl Db,
    model: &impl Overviewer,
) -> Result<Response, ApiError> {
    let mode = config.overview.map_err(|reason| {
        log::error("api_not_configured", json!({ "reason": reason }));
        ApiError::NotConfigured
    })?;
    let (limit, as_of) = digest_query(request.uri().query())?;
    let mut settings = config.digests;
    settings.limit = limit.unwrap_or(settings.limit);
    let as_of = as_of.unwrap_or_else(Utc::now);
    let started = Instant::now();
    let report = match mode {
        OverviewMode::None => digest_round::run(db, as_of, &settings).await?,
        OverviewMode::Llm => {
            digest_round::run_with(db, as_of, &settings, &config.overview_bounds, model).await?
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    log::info(
        "digest_round_completed",
        json!({ "report": report, "duration_ms": duration_ms }),
    );
    serialized_response(
        StatusCode::OK,
        &DigestRoundBody {
            report,
            duration_ms,
        },
    )
}

/// `limit` (1 to [`MAX_BATCH`]) and `as_of` (RFC 3339) of a digest round; anything
/// else is 400.
fn digest_query(query: Option<&str>) -> Result<(Option<u32>, Option<DateTime<Utc>>), ApiError> {
    let (mut limit, mut as_of) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "limit" => limit = Some(limit_value(&value)?),
            "as_of" => {
                as_of = Some(
                    DateTime::parse_from_rfc3339(&value)
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(|_| ApiError::BadRequest("as_of must be an RFC 3339 date-time"))?,
                );
            }
            _ => return Err(ApiError::BadRequest("unknown query parameter")),
        }
    }
    Ok((limit, as_of))
}

/// `digest_local_time` (`HH:MM`); 07:00 when unset or not a time.
fn local_time(value: Option<&str>) -> NaiveTime {
    value
        .and_then(|v| NaiveTime::parse_from_str(v.trim(), "%H:%M").ok())
        .unwrap_or(NaiveTime::MIN + chrono::Duration::hours(7))
}

/// `digest_weekday` (`monday`, `Mon`, ...); Monday when unset or not a weekday.
fn weekday(value: Option<&str>) -> Weekday {
    value
        .and_then(|v| v.trim().parse::<Weekday>().ok())
        .unwrap_or(Weekday::Mon)
}

/// `limit` from the query string: 1 to [`MAX_BATCH`].
fn limit(query: Option<&str>) -> Result<Option<u32>, ApiError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "limit" {
            found = Some(limit_value(&value)?);
        }
    }
    Ok(found)
}

/// A round's `limit` value: 1 to [`MAX_BATCH`] (sources of an ingestion round, users of a
/// digest round).
fn limit_value(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_BATCH).contains(n))
        .ok_or(ApiError::BadRequest(
            "limit must be an integer from 1 to 500",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_query_reads_limit_and_as_of_and_refuses_the_rest() {
        assert_eq!(digest_query(None), Ok((None, None)));
        let (limit, as_of) = digest_query(Some("limit=3&as_of=2026-03-29T01%3A30%3A00%2B01%3A00"))
            .expect("valid query");
        assert_eq!(limit, Some(3));
        assert_eq!(
            as_of.map(|t| t.to_rfc3339()),
            Some("2026-03-29T00:30:00+00:00".to_owned())
        );
        for bad in [
            "limit=0",
            "limit=501",
            "as_of=yesterday",
            "as_of=2026-03-29",
            "x=1",
        ] {
            assert!(digest_query(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_time_and_weekday_have_defaults() {
        assert_eq!(
            local_time(None),
            NaiveTime::from_hms_opt(7, 0, 0).expect("07:00")
        );
        assert_eq!(
            local_time(Some(" 18:30 ")),
            NaiveTime::from_hms_opt(18, 30, 0).expect("18:30")
        );
        assert_eq!(
            local_time(Some("25:00")),
            NaiveTime::from_hms_opt(7, 0, 0).expect("07:00")
        );
        assert_eq!(weekday(None), Weekday::Mon);
        assert_eq!(weekday(Some("friday")), Weekday::Fri);
        assert_eq!(weekday(Some("Sun")), Weekday::Sun);
        assert_eq!(weekday(Some("someday")), Weekday::Mon);
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(limit(None), Ok(None));
        assert_eq!(limit(Some("limit=7")), Ok(Some(7)));
        assert!(limit(Some("limit=0")).is_err());
        assert!(limit(Some("limit=501")).is_err());
        assert!(limit(Some("limit=x")).is_err());
    }

    #[test]
    fn config_reads_token_and_flags_without_showing_the_token() {
        let config = IngestConfig::from_variables(&IngestVariables {
            api_token: Some(" secret-token-0123456789 \n".into()),
            outbound_allow_loopback: Some("TRUE".into()),
            ingest_fetch_timeout_ms: Some("1500".into()),
            youtube_origin: Some(" http://127.0.0.1:8081 ".into()),
            reddit_origin: Some("ftp://x".into()),
            ingest_round_budget_ms: Some("30000".into()),
            db_timeout_ms: Some("500".into()),
            digest_local_time: Some("06:15".into()),
            digest_weekday: Some("saturday".into()),
            digest_overview: Some(" LLM".into()),
            digest_overview_timeout_ms: Some("2500".into()),
        });
        assert_eq!(config.token.as_deref(), Ok("secret-token-0123456789"));
        assert_eq!(
            (config.digests.local_time, config.digests.weekday),
            (
                NaiveTime::from_hms_opt(6, 15, 0).expect("06:15"),
                Weekday::Sat
            )
        );
        assert!(config.settings.fetch.net.allow_loopback);
        assert_eq!(
            config
                .settings
                .origins
                .youtube
                .as_ref()
                .map(url::Url::as_str),
            Some("http://127.0.0.1:8081/")
        );
        assert_eq!(config.settings.origins.reddit, None);
        assert_eq!(config.settings.fetch.timeout, Duration::from_millis(1500));
        assert_eq!(config.settings.round_budget, Duration::from_secs(30));
        assert_eq!(config.settings.db_timeout, Duration::from_millis(500));
        assert_eq!(config.overview, Ok(OverviewMode::Llm));
        assert_eq!(
            config.overview_bounds.call_bound,
            Duration::from_millis(2500)
        );
        // 1.5 s fetch + 2 s parse + 3 * 0.5 s statements.
        assert_eq!(config.settings.source_budget(), Duration::from_secs(5));
        // A budget too small for one source would defer every source of every round.
        let tiny = IngestConfig::from_variables(&IngestVariables {
            ingest_round_budget_ms: Some("1".into()),
            ..IngestVariables::default()
        });
        assert_eq!(
            tiny.settings.round_budget,
            tiny.settings.source_budget() + tiny.settings.db_timeout,
            "{tiny:?}"
        );
        assert!(!format!("{config:?}").contains("secret"));
        let short = IngestConfig::from_variables(&IngestVariables {
            api_token: Some("short".into()),
            ..IngestVariables::default()
        });
        assert!(short.token.is_err());
        assert!(!short.settings.fetch.net.allow_loopback);
        assert_eq!(short.overview, Ok(OverviewMode::None));
        assert_eq!(short.overview_bounds, OverviewSettings::default());
        let bad = IngestConfig::from_variables(&IngestVariables {
            digest_overview: Some("gpt-4".into()),
            ..IngestVariables::default()
        });
        assert!(bad.overview.is_err());
    }
}
