//! The statements behind the users API: one statement per operation (CTEs where both
//! tables are involved), values always bound as parameters.
//!
//! Rows carry the user's columns unprefixed and the preferences' columns prefixed `p_`.
//! Versions for `If-Match` are compared as `updated_at` in microseconds since the epoch.
//!
//! Spin 4's host cannot decode a `timestamptz` result (it fails the whole statement, after it
//! ran): every timestamp column is returned as `(col AT TIME ZONE 'UTC') AS col`, a UTC
//! `timestamp` the host decodes as `Datetime`. The columns stay `timestamptz`.

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
/// `$6` timezone, `$7` is_active. The user and its default preferences in one statement:
/// both rows or neither.
pub const CREATE: &str = concat!(
    "WITH u AS (
        INSERT INTO users (email, name, profile_picture, profession, date_of_birth, timezone, is_active)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING *
    ), p AS (
        INSERT INTO user_preferences (user_id) SELECT id FROM u
        RETURNING *
    )
    SELECT ",
    user_columns!(),
    " FROM u JOIN p ON p.user_id = u.id"
);

/// `$1` user id.
pub const GET: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u JOIN user_preferences p ON p.user_id = u.id WHERE u.id = $1"
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
/// `$16/$17` the expected versions of user and preferences (NULL: unconditional).
/// Returns one row: `found` (the user exists) and the updated user, NULL if not updated.
pub const UPDATE: &str = concat!(
    "WITH found AS (
        SELECT id FROM users WHERE id = $1
    ), updated AS (
        UPDATE users u SET
            email = CASE WHEN $2::boolean THEN $3::text ELSE u.email END,
            name = CASE WHEN $4::boolean THEN $5::text ELSE u.name END,
            profile_picture = CASE WHEN $6::boolean THEN $7::text ELSE u.profile_picture END,
            profession = CASE WHEN $8::boolean THEN $9::text ELSE u.profession END,
            date_of_birth = CASE WHEN $10::boolean THEN $11::date ELSE u.date_of_birth END,
            timezone = CASE WHEN $12::boolean THEN $13::text ELSE u.timezone END,
            is_active = CASE WHEN $14::boolean THEN $15::boolean ELSE u.is_active END
        FROM user_preferences p
        WHERE u.id = $1 AND p.user_id = u.id
          AND ($16::bigint IS NULL OR (
                (extract(epoch FROM u.updated_at) * 1000000)::bigint = $16::bigint
            AND (extract(epoch FROM p.updated_at) * 1000000)::bigint = $17::bigint))
        RETURNING ",
    user_columns!(),
    "
    )
    SELECT EXISTS (SELECT 1 FROM found) AS found, updated.*
    FROM (SELECT 1) AS one LEFT JOIN updated ON true"
);

/// `$1` id, `$2/$3` expected versions of user and preferences (NULL: unconditional).
/// Preferences go with the user (ON DELETE CASCADE).
pub const DELETE: &str = "WITH found AS (
        SELECT id FROM users WHERE id = $1
    ), deleted AS (
        DELETE FROM users u USING user_preferences p
        WHERE u.id = $1 AND p.user_id = u.id
          AND ($2::bigint IS NULL OR (
                (extract(epoch FROM u.updated_at) * 1000000)::bigint = $2::bigint
            AND (extract(epoch FROM p.updated_at) * 1000000)::bigint = $3::bigint))
        RETURNING u.id
    )
    SELECT EXISTS (SELECT 1 FROM found) AS found, EXISTS (SELECT 1 FROM deleted) AS deleted";

/// `$1` user id.
pub const GET_PREFERENCES: &str = concat!(
    "SELECT ",
    preference_columns!(),
    " FROM user_preferences p WHERE p.user_id = $1"
);

/// `$1` user id; `$2/$3` update_frequency, `$4/$5` summary_length,
/// `$6/$7` email_notifications_enabled (flag, value); `$8` expected version (or NULL).
pub const UPDATE_PREFERENCES: &str = concat!(
    "WITH found AS (
        SELECT id FROM user_preferences WHERE user_id = $1
    ), updated AS (
        UPDATE user_preferences p SET
            update_frequency = CASE WHEN $2::boolean THEN $3::text ELSE p.update_frequency END,
            summary_length = CASE WHEN $4::boolean THEN $5::text ELSE p.summary_length END,
            email_notifications_enabled =
                CASE WHEN $6::boolean THEN $7::boolean ELSE p.email_notifications_enabled END
        WHERE p.user_id = $1
          AND ($8::bigint IS NULL OR (extract(epoch FROM p.updated_at) * 1000000)::bigint = $8::bigint)
        RETURNING ",
    preference_columns!(),
    "
    )
    SELECT EXISTS (SELECT 1 FROM found) AS found, updated.*
    FROM (SELECT 1) AS one LEFT JOIN updated ON true"
);
