//! Ingestion: fetching the sources' feeds and storing their items (issue 9).
//!
//! One round ([`run_round`]):
//! 1. [`claim`]: one statement takes up to `batch` due sources (`FOR UPDATE SKIP LOCKED`)
//!    and leases them, so concurrent rounds never fetch the same source;
//! 2. each claimed source, at most `concurrency` at a time: [`fetch`] (conditional GET
//!    through [`Outbound`], bounded in time, size and redirects, every URL checked by
//!    [`crate::net_guard`], the rules subscribing uses), [`parse`] (RSS 2.0 / Atom with `feed-rs`), then one statement that
//!    stores the items and the fetch state ([`sql::STORE_FEED`]); a `304` only updates the
//!    source; a failure backs the source off exponentially. Each source's errors are its
//!    own: one failing source never stops the others.
//!
//! The Spin component `components/ingest` serves it as `POST /internal/ingest` ([`http`]).

pub mod fetch;
pub mod http;
pub mod parse;
pub mod sql;
pub mod text;

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use spin_sdk::pg::ParameterValue;
use url::Url;

use crate::db::{Db, DbError, nullable};
use crate::observability::log;
use crate::outbound::Outbound;
use fetch::{FetchError, FetchOutcome, FetchPolicy, Validators, fetch_feed};
use parse::{FeedItem, ParseError, ParsedFeed, parse_feed};

/// How a round runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Most sources claimed by one round.
    pub batch: u32,
    /// Most fetches in flight at once.
    pub concurrency: usize,
    /// How long a claimed source stays leased (skipped by other rounds) if the round never
    /// records its outcome.
    pub lease: Duration,
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

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            batch: 50,
            concurrency: 8,
            lease: Duration::from_secs(5 * 60),
            interval: Duration::from_secs(30 * 60),
            backoff_base: Duration::from_secs(10 * 60),
            backoff_cap: Duration::from_secs(24 * 60 * 60),
            fetch: FetchPolicy::default(),
            origins: FeedOrigins::default(),
        }
    }
}

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
    /// Sources whose fetch, parse or store failed (backed off).
    pub failed: u32,
    /// Items inserted (new to their source).
    pub items_added: u64,
}

/// What happened to one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOutcome {
    Fetched { items_added: u64 },
    NotModified,
    Failed,
}

/// Why one source's ingestion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    Fetch(FetchError),
    Parse(ParseError),
    Store(DbError),
}

impl SourceError {
    /// A stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fetch(error) => error.kind(),
            Self::Parse(_) => "not_a_feed",
            Self::Store(_) => "store_failed",
        }
    }

    /// The status recorded on the source: the HTTP status if a response ended it, the 2xx
    /// of a body that did not parse, else 0 (no response).
    fn status(&self, body_status: Option<u16>) -> i32 {
        match self {
            Self::Fetch(error) => error.status().map_or(0, i32::from),
            Self::Parse(_) | Self::Store(_) => body_status.map_or(0, i32::from),
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
/// `settings.concurrency` at once. Only the claim's failure fails the round; each source's
/// failure is recorded on it and counted.
pub async fn run_round(
    db: &impl Db,
    outbound: &impl Outbound,
    settings: &IngestSettings,
) -> Result<RoundReport, DbError> {
    let sources = claim(db, settings.batch, settings.lease).await?;
    let mut report = RoundReport {
        claimed: sources.len() as u32,
        ..RoundReport::default()
    };
    let outcomes: Vec<SourceOutcome> = futures_util::stream::iter(sources.iter())
        .map(|source| ingest_source(db, outbound, settings, source))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for outcome in outcomes {
        match outcome {
            SourceOutcome::Fetched { items_added } => {
                report.fetched += 1;
                report.items_added += items_added;
            }
            SourceOutcome::NotModified => report.not_modified += 1,
            SourceOutcome::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

/// Fetches, parses and stores one claimed source; a failure is recorded on the source (and
/// logged with the source's id, never its URL).
pub async fn ingest_source(
    db: &impl Db,
    outbound: &impl Outbound,
    settings: &IngestSettings,
    source: &ClaimedSource,
) -> SourceOutcome {
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
            let result = match parse_feed(&body, &source.feed_url) {
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
                Err(error) => Err(SourceError::Parse(error)),
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
