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
//! `ix_content_items_source_id_published_at_id` in a generic plan too; each source's items
//! are read from that index starting at the cursor, and a page costs the same at any depth
//! (`tests/feed_plan.rs` reads the plans).

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
/// other sources are counted by `user_subscriptions_besides` (migration V7: a function, so
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
/// active subscriptions, newest first, each with its source and subscription.
///
/// Each active subscription contributes at most `$4` items from the index, starting at the
/// cursor (the inner LATERAL), and the page is the newest `$4` of those: the work is
/// subscriptions × limit index entries, whatever the depth. One row with NULL `id` when
/// there are no items; no row when the user is not active.
pub const FEED: &str = concat!(
    "SELECT u.id AS user_id, page.* FROM users u
    LEFT JOIN LATERAL (
        SELECT i.*, us.id AS subscription_id, us.display_name,
               s.id AS source_id, s.kind AS source_kind, s.title AS source_title
        FROM user_subscriptions us
        JOIN content_sources s ON s.id = us.source_id
        CROSS JOIN LATERAL (
            SELECT ",
    item_columns!(),
    " FROM content_items ci
            WHERE ci.source_id = us.source_id AND ",
    older_than!("$2", "$3"),
    "
            ORDER BY ci.published_at DESC, ci.id DESC
            LIMIT $4::bigint
        ) i
        WHERE us.user_id = u.id AND us.is_active
        ORDER BY i.published_at DESC, i.id DESC
        LIMIT $4::bigint
    ) page ON true
    WHERE u.id = $1::bigint AND u.is_active
    ORDER BY page.published_at DESC, page.id DESC"
);
