//! The statements behind subscriptions and feeds: one statement per operation, values
//! always bound as parameters, typed for Spin's host (ids `$n::bigint` bound as `Int64`,
//! timestamps returned as `(col AT TIME ZONE 'UTC')` (a UTC `timestamp`, which orders as the
//! `timestamptz` does) and bound as
//! `($n::timestamp AT TIME ZONE 'UTC')`).
//!
//! `$1` is always the signed-in user's id. Every statement starts from that user's row and
//! requires it to be active: no row at all means the account is gone or deactivated (the
//! API answers 401, as on every `/me` route), a row whose subscription columns are NULL
//! means no such subscription of this user (404; another user's id looks the same).
//!
//! Item lists are keyset pages on `(published_at, id)` descending. With no cursor the bound
//! is `('infinity', max bigint)`, so the comparison stays an index condition of
//! `ix_content_items_source_id_published_at_id` (and of
//! `ix_content_items_published_at_id_source_id` for the feed) in a generic plan too; items
//! are read from those indexes starting at the cursor, and a page costs the same at any
//! depth (`tests/feed_plan.rs` reads the plans).

/// A subscription's columns and its source's (prefixed `s_`), from relations aliased `us`
/// and `s`.
macro_rules! subscription_columns {
    () => {
        "us.id, us.display_name, us.notifications_enabled, us.is_active, \
         (us.created_at AT TIME ZONE 'UTC') AS created_at, \
         (us.updated_at AT TIME ZONE 'UTC') AS updated_at, \
         s.id AS s_id, s.kind AS s_kind, s.identifier AS s_identifier, s.title AS s_title, \
         s.site_url AS s_site_url, s.feed_url AS s_feed_url, \
         (s.last_fetched_at AT TIME ZONE 'UTC') AS s_last_fetched_at"
    };
}

/// An item's columns, from a relation aliased `ci`.
macro_rules! item_columns {
    () => {
        "ci.id, ci.title, ci.url, ci.author, \
         (ci.published_at AT TIME ZONE 'UTC') AS published_at, ci.summary"
    };
}

/// The keyset condition: items strictly older than the cursor `($a, $b)` (NULL, NULL: all).
macro_rules! older_than {
    ($at:literal, $id:literal) => {
        concat!(
            "(ci.published_at, ci.id) < (COALESCE((",
            $at,
            "::timestamp AT TIME ZONE 'UTC'), 'infinity'::timestamptz), COALESCE(",
            $id,
            "::bigint, 9223372036854775807))"
        )
    };
}

/// `$1` user, `$2` kind, `$3` identifier, `$4` title, `$5` site_url, `$6` feed_url, `$7` the
/// most subscriptions a user may have.
///
/// The source is upserted on `(kind, identifier)` (an existing source keeps its title and
/// site URL when it has them), then the subscription on `(user_id, source_id)`: a new one is
/// inserted, an existing one is returned, reactivated if it was inactive. `created` says
/// which (`xmax = 0` only for a row this statement inserted). Nothing is written, and no row
/// is returned, if the user is not active.
///
/// The limit: the user's row is locked first (`room`), then the user's subscriptions to
/// other sources are counted by `user_subscriptions_besides` (migration V6: a function, so
/// the count sees what concurrent subscribes committed while this one waited for the lock).
/// At `$7` or more, nothing is written and the one row has `user_id` with NULL subscription
/// columns. Following a source already followed is never refused.
pub const SUBSCRIBE: &str = concat!(
    "WITH u AS (
        SELECT id FROM users WHERE id = $1::bigint AND is_active FOR NO KEY UPDATE
    ), room AS (
        SELECT id FROM u WHERE user_subscriptions_besides(u.id, $2::text, $3::text) < $7::bigint
    ), s AS (
        INSERT INTO content_sources (kind, identifier, title, site_url, feed_url)
        SELECT $2::text, $3::text, $4::text, $5::text, $6::text FROM room
        ON CONFLICT (kind, identifier) DO UPDATE SET
            title = COALESCE(content_sources.title, EXCLUDED.title),
            site_url = COALESCE(content_sources.site_url, EXCLUDED.site_url)
        RETURNING *
    ), us AS (
        INSERT INTO user_subscriptions (user_id, source_id)
        SELECT room.id, s.id FROM room, s
        ON CONFLICT (user_id, source_id) DO UPDATE SET is_active = true
        RETURNING *, (xmax = 0) AS created
    )
    SELECT u.id AS user_id, sub.* FROM u
    LEFT JOIN (SELECT us.created, ",
    subscription_columns!(),
    " FROM us JOIN s ON s.id = us.source_id) sub ON true"
);

/// `$1` user, `$2` after (subscription id, or NULL), `$3` limit. Subscriptions by id
/// ascending. One row with NULL `id` when the user has none after `$2`; no row when the
/// user is not active.
pub const LIST: &str = concat!(
    "SELECT u.id AS user_id, page.* FROM users u
    LEFT JOIN LATERAL (
        SELECT ",
    subscription_columns!(),
    " FROM (
            SELECT * FROM user_subscriptions
            WHERE user_id = u.id AND id > COALESCE($2::bigint, 0)
            ORDER BY id
            LIMIT $3::bigint
        ) us
        JOIN content_sources s ON s.id = us.source_id
    ) page ON true
    WHERE u.id = $1::bigint AND u.is_active
    ORDER BY page.id"
);

/// `$1` user, `$2` subscription id. No row: the user is not active; `id` NULL: no such
/// subscription of the user.
pub const GET: &str = concat!(
    "SELECT u.id AS user_id, sub.* FROM users u
    LEFT JOIN LATERAL (
        SELECT ",
    subscription_columns!(),
    " FROM user_subscriptions us
        JOIN content_sources s ON s.id = us.source_id
        WHERE us.id = $2::bigint AND us.user_id = u.id
    ) sub ON true
    WHERE u.id = $1::bigint AND u.is_active"
);

/// `$1` user, `$2` subscription id; `$3/$4` display_name, `$5/$6` notifications_enabled,
/// `$7/$8` is_active (flag "change it", new value; NULL clears the display name). Rows as
/// [`GET`]'s.
pub const UPDATE: &str = concat!(
    "WITH u AS (
        SELECT id FROM users WHERE id = $1::bigint AND is_active
    ), updated AS (
        UPDATE user_subscriptions us SET
            display_name = CASE WHEN $3::boolean THEN $4::text ELSE us.display_name END,
            notifications_enabled =
                CASE WHEN $5::boolean THEN $6::boolean ELSE us.notifications_enabled END,
            is_active = CASE WHEN $7::boolean THEN $8::boolean ELSE us.is_active END
        FROM content_sources s, u
        WHERE us.id = $2::bigint AND us.user_id = u.id AND s.id = us.source_id
        RETURNING ",
    subscription_columns!(),
    "
    )
    SELECT u.id AS user_id, updated.* FROM u LEFT JOIN updated ON true"
);

/// `$1` user, `$2` subscription id. The source and its items stay (other users may follow
/// it). No row: the user is not active; `id` NULL: no such subscription of the user.
pub const DELETE: &str = "WITH u AS (
        SELECT id FROM users WHERE id = $1::bigint AND is_active
    ), deleted AS (
        DELETE FROM user_subscriptions us USING u
        WHERE us.id = $2::bigint AND us.user_id = u.id
        RETURNING us.id
    )
    SELECT u.id AS user_id, deleted.id FROM u LEFT JOIN deleted ON true";

/// `$1` user, `$2` subscription id, `$3/$4` the cursor (published_at as a UTC timestamp,
/// id; NULL for the first page), `$5` limit. The items of the subscription's source, newest
/// first. No row: the user is not active; `subscription_id` NULL: no such subscription of
/// the user; one row with NULL `id`: no items.
pub const ITEMS: &str = concat!(
    "SELECT u.id AS user_id, us.id AS subscription_id, page.* FROM users u
    LEFT JOIN user_subscriptions us ON us.id = $2::bigint AND us.user_id = u.id
    LEFT JOIN LATERAL (
        SELECT ",
    item_columns!(),
    " FROM content_items ci
        WHERE ci.source_id = us.source_id AND ",
    older_than!("$3", "$4"),
    "
        ORDER BY ci.published_at DESC, ci.id DESC
        LIMIT $5::bigint
    ) page ON true
    WHERE u.id = $1::bigint AND u.is_active
    ORDER BY page.published_at DESC, page.id DESC"
);

/// `$1` user, `$2/$3` the cursor (as in [`ITEMS`]), `$4` limit. The items of the user's
/// active subscriptions, newest first, each with its source and subscription. One row with
/// NULL `id` when there are no items; no row when the user is not active.
///
/// The page costs about the same whether the user follows 10 sources or 1,000
/// (`tests/feed_plan.rs` counts the pages each plan touches). Two ways to the same rows:
///
/// - `slow`, exact for any user: the newest item of each followed source older than the
///   cursor (`heads`: one index entry per source), then the `$4` sources whose newest is
///   newest, then at most `$4` items of each of those. The page can only hold items of those
///   sources (any other source's newest item is older than `$4` items of theirs). Its cost
///   is one index probe per followed source plus `$4 x $4` entries: a few pages per source.
/// - `fast`, tried first when the user follows more than `5 x $4` sources (where the probes
///   would cost more than it does): the newest `20 x $4` items of all sources older than the
///   cursor, read in feed order from `ix_content_items_published_at_id_source_id` (which
///   includes `source_id`), kept when their source is one the user follows (`mine`, from
///   the partial index `ix_user_subscriptions_user_id_source_id`). That window is a prefix
///   of all items in feed order, so if it holds `$4` of the user's items they are the page, and `slow`
///   is never executed (`WHERE (SELECT count(*) FROM fast) < $4` is a one-time filter). It
///   succeeds when the user's sources publish at least a twentieth of what is published:
///   the more sources one follows, the likelier. Otherwise the page costs both, at most the
///   window plus a probe per source (bounded by `MAX_SUBSCRIPTIONS`).
///
/// The item, subscription and source rows are then read for the `$4` items only (by key:
/// the `LATERAL ... LIMIT 1` keeps the planner from joining all of the user's subscriptions
/// or all sources).
pub const FEED: &str = concat!(
    "WITH u AS (
        SELECT id FROM users WHERE id = $1::bigint AND is_active
    ), mine AS (
        SELECT us.source_id FROM user_subscriptions us JOIN u ON us.user_id = u.id
        WHERE us.is_active
    ), fast AS (
        SELECT w.source_id, w.published_at, w.id FROM (
            SELECT ci.source_id, ci.published_at, ci.id FROM content_items ci
            WHERE ",
    older_than!("$2", "$3"),
    "
            ORDER BY ci.published_at DESC, ci.id DESC
            LIMIT 20 * $4::bigint
        ) w
        WHERE (SELECT count(*) FROM mine) > 5 * $4::bigint
          AND w.source_id IN (SELECT source_id FROM mine)
        ORDER BY w.published_at DESC, w.id DESC
        LIMIT $4::bigint
    ), heads AS (
        SELECT mine.source_id, h.published_at, h.id FROM mine
        CROSS JOIN LATERAL (
            SELECT ci.published_at, ci.id FROM content_items ci
            WHERE ci.source_id = mine.source_id AND ",
    older_than!("$2", "$3"),
    "
            ORDER BY ci.published_at DESC, ci.id DESC
            LIMIT 1
        ) h
        WHERE (SELECT count(*) FROM fast) < $4::bigint
        ORDER BY h.published_at DESC, h.id DESC
        LIMIT $4::bigint
    ), slow AS (
        SELECT heads.source_id, i.published_at, i.id FROM heads
        CROSS JOIN LATERAL (
            SELECT ci.published_at, ci.id FROM content_items ci
            WHERE ci.source_id = heads.source_id AND ",
    older_than!("$2", "$3"),
    "
            ORDER BY ci.published_at DESC, ci.id DESC
            LIMIT $4::bigint
        ) i
        ORDER BY i.published_at DESC, i.id DESC
        LIMIT $4::bigint
    ), picked AS (
        SELECT * FROM fast WHERE (SELECT count(*) FROM fast) >= $4::bigint
        UNION ALL
        SELECT * FROM slow
    )
    SELECT u.id AS user_id, page.* FROM u
    LEFT JOIN LATERAL (
        SELECT ",
    item_columns!(),
    ", sub.id AS subscription_id, sub.display_name,
               sub.source_id, sub.source_kind, sub.source_title
        FROM picked p
        JOIN content_items ci ON ci.id = p.id
        CROSS JOIN LATERAL (
            SELECT us.id, us.display_name,
                   s.id AS source_id, s.kind AS source_kind, s.title AS source_title
            FROM user_subscriptions us JOIN content_sources s ON s.id = us.source_id
            WHERE us.user_id = u.id AND us.source_id = p.source_id
            LIMIT 1
        ) sub
    ) page ON true
    ORDER BY page.published_at DESC, page.id DESC"
);
