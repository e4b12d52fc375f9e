//! Ingestion: fetching the sources' feeds and storing their items (issue 9).
//!
//! One round ([`run_round`]):
//! 1. [`claim`]: one statement takes up to `batch` due sources (`FOR UPDATE SKIP LOCKED`)
//!    and leases them, so concurrent rounds never fetch the same source;
//! 2. each claimed source, at most `concurrency` at a time: [`fetch`] (conditional GET
//!    through [`crate::outbound::client`], bounded in time, size and redirects, every URL
//!    checked by [`crate::outbound::policy`], the rules subscribing uses), [`parse`] (RSS
//!    2.0 / Atom with `feed-rs`), then one statement that
//!    stores the items and the fetch state ([`sql::STORE_FEED`]); a `304` only updates the
//!    source; a failure backs the source off exponentially. Each source's errors are its
//!    own: one failing source never stops the others.
//! 3. the round's time is bounded ([`IngestSettings::round_budget`]): a source is started
//!    only while its whole budget still fits in what is left of the round's, and parsed only
//!    while its parse and store still fit; the others are *deferred* (their lease given back
//!    by [`sql::RELEASE`], due again at once, no failure counted). A parse that takes more
//!    than [`IngestSettings::parse_budget`] records its source as failed (`over_budget`).
//!
//! A parse cannot be interrupted: the Spin guest is single-threaded and parsing is CPU work,
//! so no timer runs while it does. What bounds it is that it is linear in its input (feed-rs
//! and quick-xml, then [`text`] on fields cut to [`text::MAX_INPUT_BYTES`]) and the input is
//! bounded ([`FetchPolicy::max_bytes`]); the budgets are checked between steps. See
//! [`IngestSettings::longest_round`] for the arithmetic of the lease.
//!
//! The Spin component `components/ingest` serves it as `POST /internal/ingest`
//! ([`crate::http::ingest`]).

pub mod fetch;
pub mod parse;
pub mod sql;
pub mod text;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use spin_sdk::pg::ParameterValue;
use url::Url;

use crate::db::{Db, DbError, nullable};
use crate::observability::log;
use crate::outbound::client::{FetchOutcome, Validators};
use crate::outbound::{Outbound, OutboundError};
use fetch::{FetchPolicy, fetch_feed};
use parse::{FeedItem, ParseError, ParsedFeed, parse_feed};

/// How a round runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Most sources claimed by one round.
    pub batch: u32,
    /// Most fetches in flight at once.
    pub concurrency: usize,
    /// The shortest lease a round takes; see [`IngestSettings::lease`].
    pub min_lease: Duration,
    /// Time one round may take, from its start (the claim included) to its answer; see
    /// [`IngestSettings::longest_round`]. The component never sets it below
    /// [`IngestSettings::min_round_budget`]; a smaller one here (tests) defers every source.
    pub round_budget: Duration,
    /// Time one source's parse may take; a parse that takes longer records its source as
    /// failed (`over_budget`), backed off like any failure.
    pub parse_budget: Duration,
    /// Bound on one database statement (the component's `db_timeout_ms`): what each
    /// statement is reserved in the round's budget.
    pub db_timeout: Duration,
    /// Time between two fetches of a healthy source.
    pub interval: Duration,
    /// Wait after a first failure; doubled for each further consecutive failure...
    pub backoff_base: Duration,
    /// ...up to this.
    pub backoff_cap: Duration,
    /// Bounds of each fetch.
    pub fetch: FetchPolicy,
    /// Where YouTube's and Reddit's feeds are fetched from (tests: a fixture server).
    pub origins: FeedOrigins,
}

/// Where the feeds of YouTube (`https://www.youtube.com`) and Reddit
/// (`https://www.reddit.com`) are fetched from. Sources keep their canonical feed URLs; a
/// feed URL on one of those origins is fetched from the configured one instead, same path
/// and query (the `youtube_origin` and `reddit_origin` variables, for the end-to-end tests'
/// fixture server). The URL fetched still passes the URL check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedOrigins {
    pub youtube: Option<Url>,
    pub reddit: Option<Url>,
}

/// YouTube's and Reddit's canonical origins, as source feed URLs spell them.
pub const YOUTUBE_ORIGIN: &str = "https://www.youtube.com";
pub const REDDIT_ORIGIN: &str = "https://www.reddit.com";

impl FeedOrigins {
    /// The URL to fetch for a source's `feed_url`.
    #[must_use]
    pub fn locate<'a>(&self, feed_url: &'a str) -> std::borrow::Cow<'a, str> {
        for (canonical, configured) in [
            (YOUTUBE_ORIGIN, &self.youtube),
            (REDDIT_ORIGIN, &self.reddit),
        ] {
            let (Some(configured), Some(rest)) = (configured, feed_url.strip_prefix(canonical))
            else {
                continue;
            };
            if rest.starts_with('/') {
                let origin = configured.origin().ascii_serialization();
                return std::borrow::Cow::Owned(format!("{origin}{rest}"));
            }
        }
        std::borrow::Cow::Borrowed(feed_url)
    }
}

impl IngestSettings {
    /// What a source still needs once its body is fetched: its parse, then at most three
    /// statements (the store; the failure record after a failed store; the round's final
    /// [`sql::RELEASE`]).
    #[must_use]
    pub fn after_fetch(&self) -> Duration {
        self.parse_budget + self.db_timeout * 3
    }

    /// What a source needs from its start: its fetch (all hops, [`FetchPolicy::timeout`],
    /// enforced by a timer in the outbound client) and [`IngestSettings::after_fetch`]. A
    /// source is started only while this fits in what is left of the round's budget.
    #[must_use]
    pub fn source_budget(&self) -> Duration {
        self.fetch.timeout + self.after_fetch()
    }

    /// The smallest useful round budget: the claim (one statement) and one source's budget,
    /// so a round always starts at least its first source (with less, every round would
    /// defer every source).
    #[must_use]
    pub fn min_round_budget(&self) -> Duration {
        self.db_timeout + self.source_budget()
    }

    /// The longest a round lasts: its budget, plus how far one parse started within it can
    /// run over its own budget. Every step but a parse is bounded by a timer (fetches by
    /// [`FetchPolicy::timeout`], statements by `db_timeout`), and a step is only started when
    /// what it and the steps after it may take fits in the time left, so only a parse (which
    /// no timer can interrupt) can pass the deadline; it is checked right before each parse,
    /// so at most one parse straddles it. A parse is linear in a body of at most
    /// [`FetchPolicy::max_bytes`] (measured under Spin 4.0.2: a round of the 5 MiB feed of
    /// `&`s alone, fetch and store included, 39 to 61 ms; `tests/e2e/ingest.rs` prints it),
    /// so it is taken to end within a second `parse_budget`.
    ///
    /// Without the round budget a round of `limit` sources could last `ceil(limit /
    /// concurrency) * (fetch timeout + concurrency * parse budget + 3 * db_timeout)` (the
    /// guest runs one parse at a time): for 500 sources with the defaults, 63 * (10 s + 16 s
    /// + 6 s), about 34 minutes, far beyond any lease. With it: 60 s + 2 s.
    #[must_use]
    pub fn longest_round(&self) -> Duration {
        self.round_budget + self.parse_budget
    }

    /// The lease a round takes on the sources it claims: [`IngestSettings::min_lease`], and
    /// never less than twice [`IngestSettings::longest_round`], so no source is claimed by a
    /// second round while the first may still be working on it. Defaults: max(5 min, 2 *
    /// 62 s) = 5 min.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.min_lease.max(self.longest_round() * 2)
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            batch: 50,
            concurrency: 8,
            min_lease: Duration::from_secs(5 * 60),
            round_budget: Duration::from_secs(60),
            parse_budget: Duration::from_secs(2),
            db_timeout: Duration::from_secs(2),
            interval: Duration::from_secs(30 * 60),
            backoff_base: Duration::from_secs(10 * 60),
            backoff_cap: Duration::from_secs(24 * 60 * 60),
            fetch: FetchPolicy::default(),
            origins: FeedOrigins::default(),
        }
    }
}

/// The longest round budget taken into account.
pub const MAX_ROUND_BUDGET: Duration = Duration::from_secs(60 * 60);

/// The most sources one round may claim.
pub const MAX_BATCH: u32 = 500;

/// A source claimed for fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSource {
    pub id: i64,
    pub feed_url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub consecutive_failures: i32,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoundReport {
    /// Sources claimed.
    pub claimed: u32,
    /// Sources fetched with a new body, parsed and stored.
    pub fetched: u32,
    /// Sources that answered 304 Not Modified.
    pub not_modified: u32,
    /// Sources whose fetch, parse or store failed, or whose parse took more than its budget
    /// (backed off).
    pub failed: u32,
    /// Sources claimed but not started, or not parsed, because the round's budget was spent:
    /// their lease given back, due again at once.
    pub deferred: u32,
    /// Items inserted (new to their source).
    pub items_added: u64,
}

/// What happened to one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOutcome {
    Fetched {
        items_added: u64,
    },
    NotModified,
    Failed,
    /// Not fetched, or not parsed: the round's budget would not have covered it.
    Deferred,
}

/// Why one source's ingestion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    Fetch(OutboundError),
    Parse(ParseError),
    /// The parse took more than [`IngestSettings::parse_budget`].
    OverBudget,
    Store(DbError),
}

impl SourceError {
    /// A stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fetch(error) => error.kind(),
            Self::Parse(_) => "not_a_feed",
            Self::OverBudget => "over_budget",
            Self::Store(_) => "store_failed",
        }
    }

    /// The status recorded on the source: the HTTP status if a response ended it, the 2xx
    /// of a body that did not parse, else 0 (no response).
    fn status(&self, body_status: Option<u16>) -> i32 {
        match self {
            Self::Fetch(error) => error.status().map_or(0, i32::from),
            Self::Parse(_) | Self::OverBudget | Self::Store(_) => body_status.map_or(0, i32::from),
        }
    }
}

/// Claims up to `batch` due sources (one statement) and leases them for `lease`.
pub async fn claim(
    db: &impl Db,
    batch: u32,
    lease: Duration,
) -> Result<Vec<ClaimedSource>, DbError> {
    let params = [
        ParameterValue::Int64(i64::from(batch.min(MAX_BATCH))),
        ParameterValue::Int64(seconds(lease)),
    ];
    let rows = db.write(sql::CLAIM, &params).await?;
    let mut sources = rows
        .iter()
        .map(|row| {
            Ok(ClaimedSource {
                id: row.get("id")?,
                feed_url: row.get("feed_url")?,
                etag: row.get_opt("etag")?,
                last_modified: row.get_opt("last_modified")?,
                consecutive_failures: row.get("consecutive_failures")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    sources.sort_by_key(|s| s.id);
    Ok(sources)
}

/// One round: claim, then fetch, parse and store each claimed source, at most
/// `settings.concurrency` at once, within `settings.round_budget` (the sources it cannot
/// cover are deferred: their lease given back in one statement at the end). Only the
/// claim's failure fails the round; each source's failure is recorded on it and counted.
pub async fn run_round(
    db: &impl Db,
    outbound: &impl Outbound,
    settings: &IngestSettings,
) -> Result<RoundReport, DbError> {
    let started = Instant::now();
    let deadline = started
        .checked_add(settings.round_budget.min(MAX_ROUND_BUDGET))
        .unwrap_or(started);
    let sources = claim(db, settings.batch, settings.lease()).await?;
    let mut report = RoundReport {
        claimed: sources.len() as u32,
        ..RoundReport::default()
    };
    let outcomes: Vec<(i64, SourceOutcome)> = futures_util::stream::iter(sources.iter())
        .map(|source| async move {
            let outcome = ingest_source(db, outbound, settings, source, deadline).await;
            (source.id, outcome)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut deferred = Vec::new();
    for (id, outcome) in outcomes {
        match outcome {
            SourceOutcome::Fetched { items_added } => {
                report.fetched += 1;
                report.items_added += items_added;
            }
            SourceOutcome::NotModified => report.not_modified += 1,
            SourceOutcome::Failed => report.failed += 1,
            SourceOutcome::Deferred => deferred.push(id),
        }
    }
    report.deferred = deferred.len() as u32;
    if !deferred.is_empty() {
        deferred.sort_unstable();
        let released = release(db, &deferred).await;
        log::info(
            "ingest_sources_deferred",
            json!({
                "deferred": deferred.len(),
                "released": released.is_ok(),
                "round_budget_ms": settings.round_budget.as_millis() as u64,
            }),
        );
    }
    Ok(report)
}

/// Fetches, parses and stores one claimed source, if the round's `deadline` leaves it the
/// time it may need ([`IngestSettings::source_budget`]; else [`SourceOutcome::Deferred`],
/// nothing recorded here). A failure is recorded on the source (and logged with the
/// source's id, never its URL).
pub async fn ingest_source(
    db: &impl Db,
    outbound: &impl Outbound,
    settings: &IngestSettings,
    source: &ClaimedSource,
    deadline: Instant,
) -> SourceOutcome {
    let left = || deadline.saturating_duration_since(Instant::now());
    if left() < settings.source_budget() {
        return SourceOutcome::Deferred;
    }
    let validators = Validators {
        etag: source.etag.as_deref(),
        last_modified: source.last_modified.as_deref(),
    };
    let url = settings.origins.locate(&source.feed_url);
    let fetched = fetch_feed(outbound, &url, validators, &settings.fetch).await;
    let (result, body_status) = match fetched {
        Ok(FetchOutcome::NotModified { etag }) => {
            let stored = store_not_modified(db, source.id, etag, settings.interval).await;
            (stored.map(|()| SourceOutcome::NotModified), None)
        }
        Ok(FetchOutcome::Body {
            status,
            body,
            etag,
            last_modified,
        }) => {
            // Other sources' parses may have run while this one waited for its body: parse
            // only if the parse and the statements after it still fit in the round.
            if left() < settings.after_fetch() {
                return SourceOutcome::Deferred;
            }
            let parse_started = Instant::now();
            let parsed = parse_feed(&body, &source.feed_url);
            let parsed = if parse_started.elapsed() > settings.parse_budget {
                Err(SourceError::OverBudget)
            } else {
                parsed.map_err(SourceError::Parse)
            };
            let result = match parsed {
                Ok(feed) => {
                    let state = FetchState {
                        status,
                        etag,
                        last_modified,
                    };
                    store_feed(db, source.id, &feed, &state, settings.interval)
                        .await
                        .map(|items_added| SourceOutcome::Fetched { items_added })
                }
                Err(error) => Err(error),
            };
            (result, Some(status))
        }
        Err(error) => (Err(SourceError::Fetch(error)), None),
    };
    match result {
        Ok(outcome) => outcome,
        Err(error) => {
            let status = error.status(body_status);
            let recorded = store_failure(db, source.id, status, settings).await;
            log::warn(
                "ingest_source_failed",
                json!({
                    "source_id": source.id,
                    "reason": error.kind(),
                    "status": status,
                    "consecutive_failures": source.consecutive_failures.saturating_add(1),
                    "recorded": recorded.is_ok(),
                }),
            );
            SourceOutcome::Failed
        }
    }
}

/// A successful fetch's state, stored with its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchState {
    pub status: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Stores a parsed feed's items and the fetch state in one statement; returns how many
/// items were new.
pub async fn store_feed(
    db: &impl Db,
    source_id: i64,
    feed: &ParsedFeed,
    state: &FetchState,
    interval: Duration,
) -> Result<u64, SourceError> {
    let items = &feed.items;
    let column = |f: &dyn Fn(&FeedItem) -> Option<String>| -> ParameterValue {
        ParameterValue::ArrayStr(items.iter().map(f).collect())
    };
    let params = [
        ParameterValue::Int64(source_id),
        column(&|i| Some(i.external_id.clone())),
        column(&|i| Some(i.title.clone())),
        column(&|i| i.url.clone()),
        column(&|i| i.author.clone()),
        ParameterValue::ArrayInt64(
            items
                .iter()
                .map(|i| i.published_at.map(|t| t.timestamp_micros()))
                .collect(),
        ),
        column(&|i| i.summary.clone()),
        ParameterValue::Int32(i32::from(state.status)),
        nullable(state.etag.clone()),
        nullable(state.last_modified.clone()),
        ParameterValue::Int64(seconds(interval)),
        nullable(feed.title.clone()),
        nullable(feed.site_url.clone()),
    ];
    let rows = db
        .write(sql::STORE_FEED, &params)
        .await
        .map_err(SourceError::Store)?;
    let row = rows.first().ok_or(SourceError::Store(DbError::Decode {
        column: "items_added".into(),
        problem: "the statement returned no row".into(),
    }))?;
    let added: i64 = row.get("items_added").map_err(SourceError::Store)?;
    Ok(u64::try_from(added).unwrap_or(0))
}

/// Records a `304`: the source only.
pub async fn store_not_modified(
    db: &impl Db,
    source_id: i64,
    etag: Option<String>,
    interval: Duration,
) -> Result<(), SourceError> {
    let params = [
        ParameterValue::Int64(source_id),
        ParameterValue::Int64(seconds(interval)),
        nullable(etag),
    ];
    db.execute(sql::STORE_NOT_MODIFIED, &params)
        .await
        .map(|_| ())
        .map_err(SourceError::Store)
}

/// Records a failure and backs the source off: `min(base * 2^failures, cap)`.
pub async fn store_failure(
    db: &impl Db,
    source_id: i64,
    status: i32,
    settings: &IngestSettings,
) -> Result<(), DbError> {
    let params = [
        ParameterValue::Int64(source_id),
        ParameterValue::Int32(status),
        ParameterValue::Int64(seconds(settings.backoff_base)),
        ParameterValue::Int64(seconds(settings.backoff_cap)),
    ];
    db.execute(sql::STORE_FAILURE, &params).await.map(|_| ())
}

/// Gives back the lease of claimed sources the round did not ingest: due again now, no
/// failure counted.
pub async fn release(db: &impl Db, source_ids: &[i64]) -> Result<(), DbError> {
    let params = [ParameterValue::ArrayInt64(
        source_ids.iter().copied().map(Some).collect(),
    )];
    db.execute(sql::RELEASE, &params).await.map(|_| ())
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_origins_replace_youtube_and_reddit_only() {
        let none = FeedOrigins::default();
        let yt = "https://www.youtube.com/feeds/videos.xml?channel_id=UC1";
        assert_eq!(none.locate(yt), yt);
        let origins = FeedOrigins {
            youtube: Url::parse("http://127.0.0.1:8081").ok(),
            reddit: Url::parse("http://127.0.0.1:8082/ignored").ok(),
        };
        assert_eq!(
            origins.locate(yt),
            "http://127.0.0.1:8081/feeds/videos.xml?channel_id=UC1"
        );
        assert_eq!(
            origins.locate("https://www.reddit.com/r/rust/.rss"),
            "http://127.0.0.1:8082/r/rust/.rss"
        );
        for other in [
            "https://www.youtube.com.evil.example/feed",
            "https://www.reddit.community/r/x/.rss",
            "https://blog.example/feed.xml",
        ] {
            assert_eq!(origins.locate(other), other);
        }
    }
}
