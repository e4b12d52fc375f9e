//! The ingestion's statements. Each is one statement (autocommit), so none needs a
//! transaction and a failure leaves nothing half-written.
//!
//! Host type rules (`../shared/spin-facts.md`): bigint parameters are `Int64`, `integer`
//! ones `Int32`; timestamps travel as microseconds since the epoch (`int8[]`, converted
//! here); no `timestamptz` column is returned.

/// Claims up to `$1` (bigint) due sources that someone follows, soonest due first, and
/// leases them for `$2` seconds (bigint): `next_fetch_at` moves past the lease, so a crashed
/// round's sources come back later and a concurrent claim skips them. `FOR UPDATE SKIP
/// LOCKED`: a claim running at the same time takes other rows instead of waiting, so no
/// source is fetched twice.
///
/// "Someone follows" is an active subscription of an active account: a source whose
/// followers all left, paused it or were deactivated is not fetched (it stays due, and is
/// claimed again as soon as someone follows it). The due sources are read in
/// `ix_content_sources_next_fetch_at_id` order and each is probed through
/// `ix_user_subscriptions_source_id` (and the users' primary key), stopping at `$1` claimed.
pub const CLAIM: &str = "\
UPDATE content_sources AS s
SET next_fetch_at = now() + $2::bigint * interval '1 second'
FROM (
    SELECT c.id FROM content_sources AS c
    WHERE c.next_fetch_at <= now()
      AND EXISTS (
          SELECT 1 FROM user_subscriptions AS us
          JOIN users AS u ON u.id = us.user_id
          WHERE us.source_id = c.id AND us.is_active AND u.is_active
      )
    ORDER BY c.next_fetch_at, c.id
    LIMIT $1
    FOR UPDATE OF c SKIP LOCKED
) AS due
WHERE s.id = due.id
RETURNING s.id, s.feed_url, s.etag, s.last_modified, s.consecutive_failures";

/// Stores a fetched feed in one statement: inserts its items (`$2`..`$7`, parallel arrays:
/// external ids, titles, URLs, authors, published microseconds since the epoch or NULL,
/// summaries) for source `$1`, skipping those the source already has (`ON CONFLICT DO
/// NOTHING`: an item is never duplicated and never rewritten; a title edited upstream
/// keeps its first version), and records the successful fetch: status `$8` (integer),
/// validators `$9`/`$10`, failures reset, next fetch in `$11` seconds (bigint), and the
/// source's title `$12` and site URL `$13` as the feed gives them now (kept when the feed
/// gives none): a source's title and site always come from its own feed, refreshed by every
/// successful fetch, never from a page a subscriber pasted (issue 22).
///
/// `published_at`: the item's date, at most now (a feed dated in the future does not pin its
/// items at the top of every feed), else now.
///
/// Returns `items_added` and `source_found` (0 if the source was deleted meanwhile).
pub const STORE_FEED: &str = "\
WITH items AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[])
        AS i(external_id, title, url, author, published_us, summary)
),
inserted AS (
    INSERT INTO content_items (source_id, external_id, title, url, author, published_at, summary)
    SELECT $1::bigint, i.external_id, i.title, i.url, i.author,
           LEAST(COALESCE(timestamptz 'epoch' + i.published_us * interval '1 microsecond', now()), now()),
           i.summary
    FROM items AS i
    WHERE EXISTS (SELECT 1 FROM content_sources WHERE id = $1::bigint)
    ON CONFLICT (source_id, external_id) DO NOTHING
    RETURNING 1
),
source AS (
    UPDATE content_sources
    SET last_fetched_at = now(),
        last_status = $8::integer,
        etag = $9::text,
        last_modified = $10::text,
        consecutive_failures = 0,
        next_fetch_at = now() + $11::bigint * interval '1 second',
        title = COALESCE(NULLIF($12::text, ''), title),
        site_url = COALESCE(NULLIF($13::text, ''), site_url)
    WHERE id = $1::bigint
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS items_added,
       (SELECT count(*) FROM source) AS source_found";

/// Records a `304 Not Modified` for source `$1`: no item is touched; failures reset, next
/// fetch in `$2` seconds (bigint), a new `ETag` `$3` kept if the server sent one.
pub const STORE_NOT_MODIFIED: &str = "\
UPDATE content_sources
SET last_fetched_at = now(),
    last_status = 304,
    etag = COALESCE($3::text, etag),
    consecutive_failures = 0,
    next_fetch_at = now() + $2::bigint * interval '1 second'
WHERE id = $1";

/// Gives back the lease of sources `$1` (bigint[]) that a round claimed but did not ingest
/// (its budget would not have covered them): due again now, nothing else touched (no
/// failure counted, validators kept).
pub const RELEASE: &str = "\
UPDATE content_sources SET next_fetch_at = now() WHERE id = ANY($1::bigint[])";

/// Records a failed fetch of source `$1`: status `$2` (integer; 0 when no response came),
/// one more consecutive failure, and the next attempt after `min($3 * 2^failures, $4)`
/// seconds (both bigint; failures counted before this one, so the first failure waits `$3`).
/// The validators are kept.
pub const STORE_FAILURE: &str = "\
UPDATE content_sources
SET last_fetched_at = now(),
    last_status = $2::integer,
    consecutive_failures = consecutive_failures + 1,
    next_fetch_at = now() + LEAST($3::bigint * power(2, LEAST(consecutive_failures, 30)),
                                  $4::bigint) * interval '1 second'
WHERE id = $1";
