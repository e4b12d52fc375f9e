//! The statements behind the users API: one statement per operation (CTEs where both
//! tables are involved), values always bound as parameters.
//!
//! Rows carry the user's columns unprefixed and the preferences' columns prefixed `p_`.
//! Versions for `If-Match` are compared as `updated_at` in microseconds since the epoch; a
//! conditional write takes the list of versions `If-Match` allows as `bigint[]` parameters.
//!
//! Spin 4's host cannot decode a `timestamptz` result (it fails the whole statement, after it
//! ran): every timestamp column is returned as `(col AT TIME ZONE 'UTC') AS col`, a UTC
//! `timestamp` the host decodes as `Datetime`. The columns stay `timestamptz`.
//!
//! Statements that address one user by id take an "active only" `boolean` parameter
//! ([`super::Scope`]): the operator API passes `false` (every user); a user's own routes
//! (`/me`) pass `true`, so a deactivated account is "not found" there, in the same
//! statement as the work.

/// The version of a row aliased `$alias`: its `updated_at` in microseconds since the epoch.
macro_rules! version {
    ($alias:literal) => {
        concat!(
            "(extract(epoch FROM ",
            $alias,
            ".updated_at) * 1000000)::bigint"
        )
    };
}

/// The user's and the preferences' columns, from relations aliased `u` and `p`.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.name, u.profile_picture, u.profession, u.date_of_birth, u.timezone, \
         u.is_active, (u.last_login AT TIME ZONE 'UTC') AS last_login, \
         (u.created_at AT TIME ZONE 'UTC') AS created_at, \
         (u.updated_at AT TIME ZONE 'UTC') AS updated_at, \
         p.id AS p_id, p.user_id AS p_user_id, p.update_frequency AS p_update_frequency, \
         p.summary_length AS p_summary_length, \
         p.email_notifications_enabled AS p_email_notifications_enabled, \
         (p.created_at AT TIME ZONE 'UTC') AS p_created_at, \
         (p.updated_at AT TIME ZONE 'UTC') AS p_updated_at"
    };
}
pub(crate) use user_columns;

/// The preferences' columns (prefixed `p_`), from a relation aliased `p`.
macro_rules! preference_columns {
    () => {
        "p.id AS p_id, p.user_id AS p_user_id, p.update_frequency AS p_update_frequency, \
         p.summary_length AS p_summary_length, \
         p.email_notifications_enabled AS p_email_notifications_enabled, \
         (p.created_at AT TIME ZONE 'UTC') AS p_created_at, \
         (p.updated_at AT TIME ZONE 'UTC') AS p_updated_at"
    };
}

/// `$1` email, `$2` name, `$3` profile_picture, `$4` profession, `$5` date_of_birth,
/// `$6` timezone, `$7` is_active, `$8` password_hash (PHC string; NULL for a user created
/// through the operator API). The user and its default preferences in one statement: both
/// rows or neither. The hash is not returned.
pub const CREATE: &str = concat!(
    "WITH u AS (
        INSERT INTO users (email, name, profile_picture, profession, date_of_birth, timezone,
                           is_active, password_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text)
        RETURNING *
    ), p AS (
        INSERT INTO user_preferences (user_id) SELECT id FROM u
        RETURNING *
    )
    SELECT ",
    user_columns!(),
    " FROM u JOIN p ON p.user_id = u.id"
);

/// `$1` user id, `$2` active only (true: an inactive user is not found; see [`ACTIVE_ONLY`]).
pub const GET: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u JOIN user_preferences p ON p.user_id = u.id \
      WHERE u.id = $1 AND (u.is_active OR NOT $2::boolean)"
);

/// `$1` after (id, or NULL), `$2` email (or NULL), `$3` limit. Keyset pagination by id.
///
/// The page of users is chosen first (the subquery: `pk_users` from `after`, `LIMIT`), then
/// each of its rows finds its preferences through `uq_user_preferences_user_id` (a nested
/// loop). Joining first let the planner pick a merge join that walked the preferences' index
/// from its first entry up to `after`, so a deep page cost in proportion to its depth
/// (`tests/list_plan.rs` reads the plan). Ids are positive, so `COALESCE($1, 0)` means "from
/// the start" and stays an index condition even in a generic plan.
pub const LIST: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM (
        SELECT * FROM users
        WHERE id > COALESCE($1::bigint, 0)
          AND ($2::text IS NULL OR lower(email) = lower($2::text))
        ORDER BY id
        LIMIT $3
    ) u
    JOIN user_preferences p ON p.user_id = u.id
    ORDER BY u.id"
);

/// `$1` id; for each field a flag "change it" and the new value (NULL clears):
/// `$2/$3` email, `$4/$5` name, `$6/$7` profile_picture, `$8/$9` profession,
/// `$10/$11` date_of_birth, `$12/$13` timezone, `$14/$15` is_active;
/// `$16/$17` the versions `If-Match` allows, as two arrays of the same length (the user's
/// and the preferences' versions, pairwise; NULL: unconditional); `$18` active only; `$19`
/// the session family to keep (or NULL).
/// Returns one row: `found` (the user exists) and the updated user, NULL if not updated.
///
/// A new e-mail address (other than the old one in any case) is unproved
/// (`email_verified_at` cleared) and revokes every live session family of the user but `$19`;
/// a deactivation revokes them all. Both in this statement.
///
/// `locked` locks the user and its preferences first and reads their latest committed
/// versions (under READ COMMITTED a locking read that waited returns the row as the other
/// transaction left it, and nothing if it was deleted), so a write racing this one is either
/// seen (412, or 404 if it deleted the user) or waits for this one. `found` and the version
/// check come from those locked rows, never from the statement's older snapshot.
pub const UPDATE: &str = concat!(
    "WITH locked AS (
        SELECT p.*, ",
    version!("u"),
    " AS user_version, u.email AS old_email
        FROM users u JOIN user_preferences p ON p.user_id = u.id
        WHERE u.id = $1 AND (u.is_active OR NOT $18::boolean)
        FOR UPDATE OF u, p
    ), updated AS (
        UPDATE users u SET
            email = CASE WHEN $2::boolean THEN $3::text ELSE u.email END,
            email_verified_at = CASE WHEN $2::boolean AND lower($3::text) <> lower(u.email)
                                     THEN NULL ELSE u.email_verified_at END,
            name = CASE WHEN $4::boolean THEN $5::text ELSE u.name END,
            profile_picture = CASE WHEN $6::boolean THEN $7::text ELSE u.profile_picture END,
            profession = CASE WHEN $8::boolean THEN $9::text ELSE u.profession END,
            date_of_birth = CASE WHEN $10::boolean THEN $11::date ELSE u.date_of_birth END,
            timezone = CASE WHEN $12::boolean THEN $13::text ELSE u.timezone END,
            is_active = CASE WHEN $14::boolean THEN $15::boolean ELSE u.is_active END
        FROM locked p
        WHERE u.id = $1 AND p.user_id = u.id
          AND ($16::bigint[] IS NULL OR (p.user_version, ",
    version!("p"),
    ") IN (SELECT * FROM unnest($16::bigint[], $17::bigint[])))
        RETURNING ",
    user_columns!(),
    "
    ), revoked AS (
        UPDATE session_families f SET revoked_at = now()
        FROM updated n, locked l
        WHERE f.user_id = n.id AND f.revoked_at IS NULL
          AND (NOT n.is_active
               OR (lower(n.email) <> lower(l.old_email) AND f.id IS DISTINCT FROM $19::bigint))
        RETURNING f.id
    )
    SELECT EXISTS (SELECT 1 FROM locked) AS found, updated.*
    FROM (SELECT 1) AS one LEFT JOIN updated ON true"
);

/// `$1` id, `$2/$3` the versions `If-Match` allows (user's and preferences', pairwise; NULL:
/// unconditional), `$4` active only. Preferences go with the user (ON DELETE CASCADE). Locks both rows first,
/// as [`UPDATE`] does, so the check sees the latest preferences and cannot cascade over a
/// change made meanwhile.
pub const DELETE: &str = concat!(
    "WITH locked AS (
        SELECT u.id, ",
    version!("u"),
    " AS user_version, ",
    version!("p"),
    " AS preferences_version
        FROM users u JOIN user_preferences p ON p.user_id = u.id
        WHERE u.id = $1 AND (u.is_active OR NOT $4::boolean)
        FOR UPDATE OF u, p
    ), deleted AS (
        DELETE FROM users u USING locked l
        WHERE u.id = l.id
          AND ($2::bigint[] IS NULL OR (l.user_version, l.preferences_version)
                IN (SELECT * FROM unnest($2::bigint[], $3::bigint[])))
        RETURNING u.id
    )
    SELECT EXISTS (SELECT 1 FROM locked) AS found, EXISTS (SELECT 1 FROM deleted) AS deleted"
);

/// `$1` user id, `$2` active only.
pub const GET_PREFERENCES: &str = concat!(
    "SELECT ",
    preference_columns!(),
    " FROM user_preferences p WHERE p.user_id = $1 AND (NOT $2::boolean OR EXISTS (
        SELECT 1 FROM users u WHERE u.id = p.user_id AND u.is_active))"
);

/// `$1` user id; `$2/$3` update_frequency, `$4/$5` summary_length,
/// `$6/$7` email_notifications_enabled (flag, value); `$8` the versions `If-Match` allows
/// (NULL: unconditional); `$9` active only. Locks the row first and decides from its latest version.
pub const UPDATE_PREFERENCES: &str = concat!(
    "WITH locked AS (
        SELECT p.id, ",
    version!("p"),
    " AS version
        FROM user_preferences p WHERE p.user_id = $1 AND (NOT $9::boolean OR EXISTS (
            SELECT 1 FROM users u WHERE u.id = $1 AND u.is_active))
        FOR UPDATE OF p
    ), updated AS (
        UPDATE user_preferences p SET
            update_frequency = CASE WHEN $2::boolean THEN $3::text ELSE p.update_frequency END,
            summary_length = CASE WHEN $4::boolean THEN $5::text ELSE p.summary_length END,
            email_notifications_enabled =
                CASE WHEN $6::boolean THEN $7::boolean ELSE p.email_notifications_enabled END
        FROM locked l
        WHERE p.id = l.id AND ($8::bigint[] IS NULL OR l.version = ANY ($8::bigint[]))
        RETURNING ",
    preference_columns!(),
    "
    )
    SELECT EXISTS (SELECT 1 FROM locked) AS found, updated.*
    FROM (SELECT 1) AS one LEFT JOIN updated ON true"
);
