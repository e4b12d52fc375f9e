//! The statements behind digests (issue 19): claiming the users whose digest is due, reading
//! a period's candidates, and writing a digest with its items. Values are always bound;
//! timestamps are returned as `(col AT TIME ZONE 'UTC')` and bound as
//! `($n::timestamp AT TIME ZONE 'UTC')` (Spin's host decodes no `timestamptz`).

/// Claims up to `$2` users whose digest is due at `$1` (or whose schedule was never
/// computed), skipping those another builder holds, and leases them for `$3` seconds. One
/// row per claimed user: what [`crate::digests::Schedule`] needs (a user without a
/// preferences row has the columns' defaults), the end of their latest
/// digest (`previous_end`, NULL if none) and when they first followed a source they still
/// follow (`first_followed`, NULL if none).
pub const CLAIM: &str = "WITH due AS (
        SELECT ds.id FROM digest_schedules ds
        JOIN users u ON u.id = ds.user_id
        WHERE u.is_active
          AND (ds.due_at IS NULL OR ds.due_at <= ($1::timestamp AT TIME ZONE 'UTC'))
          AND (ds.lease_until IS NULL OR ds.lease_until < now())
        ORDER BY ds.due_at NULLS FIRST
        LIMIT $2::bigint
        FOR UPDATE OF ds SKIP LOCKED
    ), claimed AS (
        UPDATE digest_schedules ds SET lease_until = now() + $3::bigint * interval '1 second'
        FROM due WHERE ds.id = due.id
        RETURNING ds.user_id
    )
    SELECT c.user_id, u.timezone,
        COALESCE(p.update_frequency, 'weekly') AS update_frequency,
        COALESCE(p.summary_length, 'standard') AS summary_length,
        COALESCE(p.email_notifications_enabled, true) AS email_notifications_enabled,
        (SELECT max(d.period_end) FROM digests d WHERE d.user_id = c.user_id)
            AT TIME ZONE 'UTC' AS previous_end,
        (SELECT min(us.created_at) FROM user_subscriptions us WHERE us.user_id = c.user_id)
            AT TIME ZONE 'UTC' AS first_followed
    FROM claimed c
    JOIN users u ON u.id = c.user_id
    LEFT JOIN user_preferences p ON p.user_id = c.user_id
    ORDER BY c.user_id";

/// The candidates of user `$1`'s digest for the period (`$2`, `$3`]: the newest `$4` items
/// of each active subscription published in it, the same URL once (from the source where it
/// ranks highest), ordered round-robin over what is left: every source's newest first, then
/// every source's second, and so on (newest first within a round), at most `$4`. The turns
/// are counted after removing the copies, so a source whose newest item another source also
/// carries still has a first turn. Reads the user's
/// subscriptions and, per source, its index range for the period only.
pub const CANDIDATES: &str = "WITH ranked AS (
        SELECT ci.id, ci.title, ci.url, ci.summary, ci.published_at, ci.source_id,
            row_number() OVER (PARTITION BY ci.source_id
                               ORDER BY ci.published_at DESC, ci.id DESC) AS round
        FROM user_subscriptions us
        CROSS JOIN LATERAL (
            SELECT ci.id, ci.title, ci.url, ci.summary, ci.published_at, ci.source_id
            FROM content_items ci
            WHERE ci.source_id = us.source_id
              AND ci.published_at > ($2::timestamp AT TIME ZONE 'UTC')
              AND ci.published_at <= ($3::timestamp AT TIME ZONE 'UTC')
            ORDER BY ci.published_at DESC, ci.id DESC
            LIMIT $4::bigint
        ) ci
        WHERE us.user_id = $1::bigint AND us.is_active
    ), once AS (
        SELECT DISTINCT ON (COALESCE(r.url, 'item:' || r.id::text)) r.*
        FROM ranked r
        ORDER BY COALESCE(r.url, 'item:' || r.id::text), r.round, r.published_at DESC, r.id DESC
    ), turns AS (
        SELECT o.*, row_number() OVER (PARTITION BY o.source_id
                                       ORDER BY o.published_at DESC, o.id DESC) AS turn
        FROM once o
    )
    SELECT t.id, t.title, t.url, t.summary, t.source_id,
        (t.published_at AT TIME ZONE 'UTC') AS published_at
    FROM turns t
    ORDER BY t.turn, t.published_at DESC, t.id DESC
    LIMIT $4::bigint";

/// Writes user `$1`'s digest for (`$2`, `$3`] built with frequency `$4` and length `$5`,
/// its items (`$6`: a JSON array of `{"item_id": n, "excerpt": "..." | null}` in order;
/// positions from 1; `Jsonb` binds under Spin, arrays were never measured), and moves the
/// user's schedule to `$7` (its lease released). `skipped` when there is no item, else
/// `built`. A digest of that user and period end that exists already stays as it is (one
/// row however many builders run). One row: the digest's id, NULL if it existed.
pub const BUILD: &str = "WITH digest AS (
        INSERT INTO digests (user_id, period_start, period_end, update_frequency,
            summary_length, status, item_count, next_attempt_at)
        VALUES ($1::bigint, ($2::timestamp AT TIME ZONE 'UTC'),
            ($3::timestamp AT TIME ZONE 'UTC'), $4::text, $5::text,
            CASE WHEN jsonb_array_length($6::jsonb) = 0 THEN 'skipped' ELSE 'built' END,
            jsonb_array_length($6::jsonb),
            CASE WHEN jsonb_array_length($6::jsonb) = 0 THEN NULL ELSE now() END)
        ON CONFLICT (user_id, period_end) DO NOTHING
        RETURNING id
    ), items AS (
        INSERT INTO digest_items (digest_id, content_item_id, position, excerpt)
        SELECT digest.id, i.item_id, e.position::integer, i.excerpt
        FROM digest,
            jsonb_array_elements($6::jsonb) WITH ORDINALITY AS e(item, position),
            jsonb_to_record(e.item) AS i(item_id bigint, excerpt text)
        RETURNING digest_id
    ), moved AS (
        UPDATE digest_schedules SET due_at = ($7::timestamp AT TIME ZONE 'UTC'),
            lease_until = NULL
        WHERE user_id = $1::bigint
        RETURNING user_id
    )
    SELECT (SELECT id FROM digest) AS id, (SELECT count(*) FROM items) AS items,
        (SELECT count(*) FROM moved) AS moved";

/// Gives digest `$1` the overview `$2`, if it has none and no delivery was attempted yet (an
/// overview arriving once a sender holds the digest is dropped: the e-mail and the digest's
/// page never disagree).
pub const SET_OVERVIEW: &str = "UPDATE digests SET overview = $2::text, updated_at = now()
    WHERE id = $1::bigint AND overview IS NULL AND sent_at IS NULL
      AND delivery_attempts = 0";

/// Moves user `$1`'s schedule to `$2` with nothing built (nothing due yet), releasing the
/// lease.
pub const RESCHEDULE: &str = "UPDATE digest_schedules
    SET due_at = ($2::timestamp AT TIME ZONE 'UTC'), lease_until = NULL
    WHERE user_id = $1::bigint";

/// The columns [`super::store::view`] decodes, one row per item of a digest `d` (items `di`
/// joined to `ci`, their source `cs`, the reader's subscription `us`): the one list
/// [`DIGEST`] and the signed links' statements ([`super::linked`]) select, as a string
/// literal for `concat!`.
macro_rules! digest_view_columns {
    () => {
        "d.id, d.user_id,
        (d.period_start AT TIME ZONE 'UTC') AS period_start,
        (d.period_end AT TIME ZONE 'UTC') AS period_end,
        d.update_frequency, d.summary_length, d.status, d.item_count::bigint AS item_count,
        d.overview, (d.sent_at AT TIME ZONE 'UTC') AS sent_at,
        (d.created_at AT TIME ZONE 'UTC') AS created_at,
        di.position::bigint AS item_position, ci.id AS item_id, ci.title AS item_title,
        ci.url AS item_url, di.excerpt AS item_excerpt,
        (ci.published_at AT TIME ZONE 'UTC') AS item_published_at,
        cs.id AS item_source_id, cs.kind AS item_source_kind,
        COALESCE(us.display_name, cs.title, cs.identifier) AS item_source_name"
    };
}
pub(super) use digest_view_columns;

/// Digest `$1` with its items in order, if it belongs to user `$2`: one row per item (the
/// digest's columns repeated), or one row with NULL item columns for a digest without any.
/// The source's name is the user's display name for the subscription, else the source's
/// title, else its identifier. The statement starts from the user's row: no row at all
/// means no such user, one row with a NULL `id` no such digest of theirs (another user's
/// id looks the same); `user_active` says whether the account is active (the API answers
/// 401 on every `/me` route when it is not).
pub const DIGEST: &str = concat!(
    "SELECT u.is_active AS user_active, ",
    digest_view_columns!(),
    "
    FROM users u
    LEFT JOIN digests d ON d.id = $1::bigint AND d.user_id = u.id
    LEFT JOIN digest_items di ON di.digest_id = d.id
    LEFT JOIN content_items ci ON ci.id = di.content_item_id
    LEFT JOIN content_sources cs ON cs.id = ci.source_id
    LEFT JOIN user_subscriptions us ON us.user_id = d.user_id AND us.source_id = cs.id
    WHERE u.id = $2::bigint
    ORDER BY di.position"
);

/// `$1` user, `$2`/`$3` the cursor (`period_end` as a UTC `timestamp`, `id`; NULL, NULL: from
/// the newest), `$4` limit. The user's digests strictly older than the cursor in the order
/// (`period_end`, `id`) descending, from `ix_digests_user_id_period_end_id` (the row
/// comparison is its index condition; with no cursor the bound is `('infinity', max
/// bigint)`, so a generic plan keeps it). One row with NULL `id` when there are none; no
/// row when the user is not active.
pub const LIST: &str = "SELECT u.id AS user_id, page.* FROM users u
    LEFT JOIN LATERAL (
        SELECT d.id, (d.period_start AT TIME ZONE 'UTC') AS period_start,
            (d.period_end AT TIME ZONE 'UTC') AS period_end,
            d.update_frequency, d.summary_length, d.status,
            d.item_count::bigint AS item_count, d.overview,
            (d.sent_at AT TIME ZONE 'UTC') AS sent_at
        FROM digests d
        WHERE d.user_id = u.id
          AND (d.period_end, d.id) < (
              COALESCE(($2::timestamp AT TIME ZONE 'UTC'), 'infinity'::timestamptz),
              COALESCE($3::bigint, 9223372036854775807))
        ORDER BY d.period_end DESC, d.id DESC
        LIMIT $4::bigint
    ) page ON true
    WHERE u.id = $1::bigint AND u.is_active
    ORDER BY page.period_end DESC, page.id DESC";

/// Claims up to `$1` built digests whose delivery is due (`next_attempt_at` passed),
/// skipping those another sender holds. Those still wanted (the user is active, has e-mail
/// on, a verified address, and the digest was built less than `$3` seconds ago: an address
/// nobody proved is never mailed, `email_unverified`) count one attempt and are leased
/// for `$2` seconds (their next attempt moves past the lease); the others are taken out of
/// the queue (`next_attempt_at` NULL, `last_error` says why), never sent. One row per
/// claimed digest, `wanted` telling which; the address and time zone of the wanted.
pub const CLAIM_DELIVERIES: &str = "WITH due AS (
        SELECT d.id, u.email, u.timezone,
            (u.is_active AND COALESCE(p.email_notifications_enabled, true)) AS enabled,
            (u.email_verified_at IS NOT NULL) AS verified,
            (d.created_at > now() - $3::bigint * interval '1 second') AS fresh
        FROM digests d
        JOIN users u ON u.id = d.user_id
        LEFT JOIN user_preferences p ON p.user_id = d.user_id
        WHERE d.status = 'built' AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT $1::bigint
        FOR UPDATE OF d SKIP LOCKED
    ), claimed AS (
        UPDATE digests d SET
            next_attempt_at = CASE WHEN due.enabled AND due.verified AND due.fresh
                THEN now() + $2::bigint * interval '1 second' END,
            delivery_attempts = d.delivery_attempts
                + CASE WHEN due.enabled AND due.verified AND due.fresh THEN 1 ELSE 0 END,
            last_error = CASE WHEN NOT due.enabled THEN 'email_off'
                WHEN NOT due.verified THEN 'email_unverified'
                WHEN NOT due.fresh THEN 'stale' ELSE d.last_error END
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.user_id, d.delivery_attempts::bigint AS delivery_attempts,
            (due.enabled AND due.verified AND due.fresh) AS wanted, due.email, due.timezone
    )
    SELECT id, user_id, delivery_attempts, wanted, email, timezone FROM claimed ORDER BY id";

/// Records digest `$1`'s delivery attempt: `$2` is `sent` (sent now), `failed` (given up)
/// or `built` (to be tried again in `$3` seconds); `$4` the error's class (NULL when sent).
/// Only a digest still `built` changes.
pub const RECORD_DELIVERY: &str = "UPDATE digests SET status = $2::text,
        sent_at = CASE WHEN $2::text = 'sent' THEN now() END,
        next_attempt_at = CASE WHEN $2::text = 'built'
            THEN now() + $3::bigint * interval '1 second' END,
        last_error = $4::text
    WHERE id = $1::bigint AND status = 'built'";
