//! The statements behind accounts and sign-in: one statement per operation (CTEs where
//! several tables are involved), values always bound as parameters.
//!
//! Host type rules (Spin 4.0.2, `../shared/spin-facts.md`): timestamps are returned as
//! `(col AT TIME ZONE 'UTC') AS col` and bound as `($n::timestamp AT TIME ZONE 'UTC')`;
//! `Int64` parameters are cast to `bigint`, `Str` parameters to `text`; integer results are
//! cast to `bigint` so they decode as `i64`.
//!
//! The throttle policy (attempts allowed, window length) and the hash budgets are bound as
//! `bigint` parameters, so Rust holds them in one place.

/// The CTEs `f` (a new session family for the user of CTE `$user`) and `s` (its first
/// refresh token: hash `$token`, expiry `$expires`, a UTC `timestamp`): every statement that
/// starts a session.
macro_rules! session_ctes {
    ($user:literal, $token:literal, $expires:literal) => {
        concat!(
            "f AS (
        INSERT INTO session_families (user_id) SELECT id FROM ",
            $user,
            "
        RETURNING id, user_id
    ), s AS (
        INSERT INTO sessions (family_id, token_hash, expires_at)
        SELECT f.id, ",
            $token,
            "::text, (",
            $expires,
            "::timestamp AT TIME ZONE 'UTC') FROM f
        RETURNING id, family_id, expires_at
    )"
        )
    };
}

/// The budget CTEs of [`RESERVE_VERIFICATION`] and [`RESERVE_HASH`]: `client` counts one
/// hash in the caller's one-second window (`$c` its key) unless `skip`; `global` counts it in
/// the service's window only if the client was within its budget (`$cmax`). Each window is
/// the current second (`date_trunc('second', now())`); a row from an earlier second starts
/// over at 1. Rows are locked client first, then global, then (login) the email's throttle:
/// always in that order, so concurrent statements cannot deadlock.
macro_rules! budget_ctes {
    ($client:literal, $client_max:literal, $skip:literal) => {
        concat!(
            "client AS (
        INSERT INTO hash_budgets AS b (budget_key, window_start, used)
        SELECT 'client:' || ",
            $client,
            "::text, date_trunc('second', now()), 1
        WHERE NOT (",
            $skip,
            ")
        ON CONFLICT (budget_key) DO UPDATE SET
            used = CASE WHEN b.window_start = date_trunc('second', now())
                        THEN b.used + 1 ELSE 1 END,
            window_start = date_trunc('second', now())
        RETURNING b.used
    ), global AS (
        INSERT INTO hash_budgets AS b (budget_key, window_start, used)
        SELECT 'global', date_trunc('second', now()), 1 FROM client
        WHERE client.used <= ",
            $client_max,
            "::bigint
        ON CONFLICT (budget_key) DO UPDATE SET
            used = CASE WHEN b.window_start = date_trunc('second', now())
                        THEN b.used + 1 ELSE 1 END,
            window_start = date_trunc('second', now())
        RETURNING b.used
    )"
        )
    };
}

/// Reserves one password verification before any hash is computed, in one statement.
///
/// `$1` email (NULL to name the account by id instead), `$2` user id (NULL when by email),
/// `$3` max attempts per window, `$4` window seconds, `$5` client key, `$6` hashes per second
/// per client, `$7` hashes per second for the whole service.
///
/// The email (any case; for `$2`, the account's email) has a throttle row counting the
/// verification attempts of its current window. The attempt is taken by the same upsert that
/// checks the limit (`ON CONFLICT ... DO UPDATE ... WHERE attempts < max`), so however many
/// requests race, at most `$3` verifications run per window. It is taken only within the
/// client's and the service's hash budgets, and those are not spent on an email already
/// locked. Always one row: the account (`id` NULL if none), `attempts` (this attempt's
/// number, NULL if none was reserved) and `refused` (NULL when reserved, or when `$2` names
/// no user: then nothing is counted; else `locked`, `client` or `global`), with
/// `retry_after_seconds` for a refusal.
pub const RESERVE_VERIFICATION: &str = concat!(
    "WITH k AS (
        SELECT lower(COALESCE($1::text, (SELECT email FROM users WHERE id = $2::bigint)))
            AS email_key
    ), locked AS (
        SELECT t.window_start FROM login_throttles t JOIN k ON t.email_key = k.email_key
        WHERE t.window_start > now() - $4::bigint * interval '1 second'
          AND t.attempts >= $3::bigint
    ), ",
    budget_ctes!(
        "$5",
        "$6",
        "EXISTS (SELECT 1 FROM locked) OR (SELECT email_key FROM k) IS NULL"
    ),
    ", attempt AS (
        INSERT INTO login_throttles AS t (email_key, attempts, window_start)
        SELECT k.email_key, 1, now() FROM k, global
        WHERE global.used <= $7::bigint AND k.email_key IS NOT NULL
        ON CONFLICT (email_key) DO UPDATE SET
            attempts = CASE WHEN t.window_start > now() - $4::bigint * interval '1 second'
                            THEN t.attempts + 1 ELSE 1 END,
            window_start = CASE WHEN t.window_start > now() - $4::bigint * interval '1 second'
                                THEN t.window_start ELSE now() END
        WHERE t.window_start <= now() - $4::bigint * interval '1 second'
           OR t.attempts < $3::bigint
        RETURNING t.attempts
    )
    SELECT u.id, u.password_hash, u.is_active,
        (SELECT attempts FROM attempt)::bigint AS attempts,
        CASE WHEN EXISTS (SELECT 1 FROM attempt) OR (SELECT email_key FROM k) IS NULL THEN NULL
             WHEN NOT EXISTS (SELECT 1 FROM client) THEN 'locked'
             WHEN NOT EXISTS (SELECT 1 FROM global) THEN 'client'
             WHEN (SELECT used FROM global) > $7::bigint THEN 'global'
             ELSE 'locked' END AS refused,
        CASE WHEN EXISTS (SELECT 1 FROM attempt) OR (SELECT email_key FROM k) IS NULL THEN NULL
             WHEN EXISTS (SELECT 1 FROM client)
                  AND (NOT EXISTS (SELECT 1 FROM global) OR (SELECT used FROM global) > $7::bigint)
                 THEN 1::bigint
             ELSE GREATEST(1, COALESCE(
                 (SELECT ceil(extract(epoch FROM
                     l.window_start + $4::bigint * interval '1 second' - now()))::bigint
                  FROM locked l),
                 $4::bigint))
             END AS retry_after_seconds
    FROM k LEFT JOIN users u ON lower(u.email) = k.email_key
        AND ($2::bigint IS NULL OR u.id = $2::bigint)"
);

/// Reserves one password hash (registration, a new password) within the client's and the
/// service's budgets. `$1` client key, `$2` hashes per second per client, `$3` for the whole
/// service. One row: `refused` NULL when reserved, else `client` or `global`.
pub const RESERVE_HASH: &str = concat!(
    "WITH ",
    budget_ctes!("$1", "$2", "false"),
    "
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM global) THEN 'client'
                WHEN (SELECT used FROM global) > $3::bigint THEN 'global' END AS refused"
);

/// `$1` user id. Sets `last_login` and clears the throttle of the user's email. No row if
/// the user does not exist.
pub const RECORD_SUCCESS: &str = "WITH u AS (
        UPDATE users SET last_login = now() WHERE id = $1::bigint
        RETURNING id, email, last_login
    ), cleared AS (
        DELETE FROM login_throttles t USING u WHERE t.email_key = lower(u.email)
        RETURNING t.id
    )
    SELECT u.id, (u.last_login AT TIME ZONE 'UTC') AS last_login FROM u";

/// `$1` email, `$2` name, `$3` timezone, `$4` password hash (PHC string), `$5` refresh token
/// hash, `$6` its expires_at (UTC `timestamp`). Registration: the user, its default
/// preferences and its first session (a family and its first refresh token), in one
/// statement: all or nothing. The user's columns as [`crate::models::user::sql`] returns them,
/// then `s_id`, `family_id`, `user_id`, `s_expires_at`. An email already taken, in any case, is a unique
/// violation on `uq_users_email`.
pub const REGISTER: &str = concat!(
    "WITH u AS (
        INSERT INTO users (email, name, timezone, password_hash)
        VALUES ($1::text, $2::text, $3::text, $4::text)
        RETURNING *
    ), p AS (
        INSERT INTO user_preferences (user_id) SELECT id FROM u
        RETURNING *
    ), ",
    session_ctes!("u", "$5", "$6"),
    "
    SELECT ",
    crate::models::user::sql::user_columns!(),
    ", s.id AS s_id, s.family_id, f.user_id,
        (s.expires_at AT TIME ZONE 'UTC') AS s_expires_at
    FROM u JOIN p ON p.user_id = u.id CROSS JOIN s JOIN f ON f.id = s.family_id"
);

/// `$1` user id, `$2` token hash, `$3` expires_at (UTC `timestamp`). A new family (one
/// sign-in) and its first refresh token.
pub const CREATE_SESSION: &str = concat!(
    "WITH u AS (SELECT $1::bigint AS id), ",
    session_ctes!("u", "$2", "$3"),
    "
    SELECT s.id, s.family_id, f.user_id, (s.expires_at AT TIME ZONE 'UTC') AS expires_at
    FROM s JOIN f ON f.id = s.family_id"
);

/// `$1` presented token hash, `$2` new token hash, `$3` new expires_at (UTC `timestamp`).
///
/// Locks the presented token and its family (`presented`; under READ COMMITTED a locking
/// read that waited sees the rows as the other statement left them, so two rotations of
/// one token are serialised and the second sees it spent). Then:
/// - live (not replaced, family not revoked, not expired): mints the new token in the same
///   family and marks the presented one replaced by it: `outcome` `rotated`;
/// - already replaced, family still live: a stolen or replayed token; revokes the family:
///   `outcome` `reused`;
/// - family already revoked: `revoked`; expired: `expired`; the user is deactivated:
///   `inactive` (nothing minted).
///
/// No row when no token has that hash.
pub const ROTATE_SESSION: &str = "WITH presented AS (
        SELECT s.id, s.family_id, s.replaced_by, s.expires_at, s.expires_at <= now() AS expired,
               f.user_id, f.revoked_at, u.is_active
        FROM sessions s JOIN session_families f ON f.id = s.family_id
        JOIN users u ON u.id = f.user_id
        WHERE s.token_hash = $1::text
        FOR UPDATE OF s, f
    ), live AS (
        SELECT * FROM presented
        WHERE replaced_by IS NULL AND revoked_at IS NULL AND NOT expired AND is_active
    ), minted AS (
        INSERT INTO sessions (family_id, token_hash, expires_at)
        SELECT family_id, $2::text, ($3::timestamp AT TIME ZONE 'UTC') FROM live
        RETURNING id, family_id, expires_at
    ), spent AS (
        UPDATE sessions s SET replaced_by = m.id
        FROM live l, minted m
        WHERE s.id = l.id
        RETURNING s.id
    ), revoked AS (
        UPDATE session_families f SET revoked_at = now()
        FROM presented p
        WHERE f.id = p.family_id AND p.replaced_by IS NOT NULL AND p.revoked_at IS NULL
        RETURNING f.id
    )
    SELECT p.user_id, p.family_id,
        CASE WHEN p.revoked_at IS NOT NULL THEN 'revoked'
             WHEN p.replaced_by IS NOT NULL THEN 'reused'
             WHEN p.expired THEN 'expired'
             WHEN NOT p.is_active THEN 'inactive'
             ELSE 'rotated' END AS outcome,
        m.id AS new_id, (m.expires_at AT TIME ZONE 'UTC') AS new_expires_at
    FROM presented p LEFT JOIN minted m ON true";

/// `$1` a token hash of the family. Revokes the family (logout); affects 1 row if it was
/// live, 0 if unknown or already revoked.
pub const REVOKE_FAMILY: &str = "UPDATE session_families f SET revoked_at = now()
    FROM sessions s
    WHERE s.token_hash = $1::text AND f.id = s.family_id AND f.revoked_at IS NULL";

/// `$1` user id. Revokes every live family of the user; affects as many rows.
pub const REVOKE_ALL: &str = "UPDATE session_families SET revoked_at = now()
    WHERE user_id = $1::bigint AND revoked_at IS NULL";

/// `$1` Google subject (`sub`), `$2` email (verified by Google), `$3` name.
///
/// - the user with that Google identity: `existing`;
/// - else the user with that email, if its holder proved the address before
///   (`email_verified_at` set): the identity is linked to it, `linked`;
/// - else the user with that email whose address was never proved: Google has just proved
///   it, so the account is the address holder's: its unproved password, its sessions and any
///   other identity linked to it are discarded, the address is marked proved, and the
///   identity linked, `claimed` (whoever registered the address before cannot sign in any more);
/// - else a new user with default preferences, the identity and the address proved,
///   without a password, `created`.
///
/// One row: `id`, `outcome`, `is_active`. Two first sign-ins racing may fail one with a
/// unique violation (`uq_users_email` or `uq_user_identities_provider_subject`): retrying it
/// finds the other's rows.
pub const GOOGLE_SIGN_IN: &str = "WITH found AS (
        SELECT i.user_id FROM user_identities i
        WHERE i.provider = 'google' AND i.subject = $1::text
    ), by_email AS (
        SELECT u.id AS user_id, u.email_verified_at IS NOT NULL AS proved FROM users u
        WHERE lower(u.email) = lower($2::text) AND NOT EXISTS (SELECT 1 FROM found)
        FOR UPDATE OF u
    ), claimed AS (
        UPDATE users u SET password_hash = NULL, email_verified_at = now()
        FROM by_email b WHERE u.id = b.user_id AND NOT b.proved
        RETURNING u.id
    ), revoked AS (
        UPDATE session_families f SET revoked_at = now()
        FROM claimed c WHERE f.user_id = c.id AND f.revoked_at IS NULL
        RETURNING f.id
    ), unlinked AS (
        DELETE FROM user_identities i USING claimed c WHERE i.user_id = c.id
        RETURNING i.id
    ), created AS (
        INSERT INTO users (email, name, email_verified_at)
        SELECT $2::text, $3::text, now()
        WHERE NOT EXISTS (SELECT 1 FROM found) AND NOT EXISTS (SELECT 1 FROM by_email)
        RETURNING id, is_active
    ), preferences AS (
        INSERT INTO user_preferences (user_id) SELECT id FROM created
        RETURNING id
    ), linked AS (
        INSERT INTO user_identities (user_id, provider, subject)
        SELECT n.user_id, 'google', $1::text
        FROM (SELECT user_id FROM by_email UNION ALL SELECT id FROM created) n
        RETURNING user_id
    )
    SELECT f.user_id AS id, 'existing' AS outcome, u.is_active
        FROM found f JOIN users u ON u.id = f.user_id
    UNION ALL
    SELECT b.user_id, CASE WHEN b.proved THEN 'linked' ELSE 'claimed' END, u.is_active
        FROM by_email b JOIN users u ON u.id = b.user_id
    UNION ALL
    SELECT c.id, 'created', c.is_active FROM created c";

/// `$1` user id, `$2` Google subject, `$3` the email Google verified for it. Links the
/// identity to the signed-in user (`POST /me/identities/google`); when that email is the
/// account's own, the address is marked proved. One row: `outcome` `linked` (new link),
/// `already` (linked to this user before) or `taken` (linked to another user: nothing
/// changed). No row if the user does not exist or is deactivated.
pub const LINK_GOOGLE: &str = "WITH u AS (
        SELECT id, email FROM users WHERE id = $1::bigint AND is_active FOR UPDATE
    ), existing AS (
        SELECT i.user_id FROM user_identities i
        WHERE i.provider = 'google' AND i.subject = $2::text
    ), linked AS (
        INSERT INTO user_identities (user_id, provider, subject)
        SELECT u.id, 'google', $2::text FROM u
        WHERE NOT EXISTS (SELECT 1 FROM existing)
        ON CONFLICT ON CONSTRAINT uq_user_identities_provider_subject DO NOTHING
        RETURNING user_id
    ), proved AS (
        UPDATE users v SET email_verified_at = COALESCE(v.email_verified_at, now())
        FROM u WHERE v.id = u.id AND lower(u.email) = lower($3::text)
          AND (EXISTS (SELECT 1 FROM linked)
               OR EXISTS (SELECT 1 FROM existing e WHERE e.user_id = u.id))
        RETURNING v.id
    )
    SELECT u.id,
        CASE WHEN EXISTS (SELECT 1 FROM linked) THEN 'linked'
             WHEN EXISTS (SELECT 1 FROM existing e WHERE e.user_id = u.id) THEN 'already'
             ELSE 'taken' END AS outcome
    FROM u";

/// `$1` user id, `$2` Google subject. Whether that identity is linked to the user (a fresh
/// Google proof for an account without a password). One row: `linked` (boolean).
pub const HAS_GOOGLE_IDENTITY: &str = "SELECT EXISTS (
        SELECT 1 FROM user_identities
        WHERE user_id = $1::bigint AND provider = 'google' AND subject = $2::text
    ) AS linked";

/// `$1` user id, `$2` token hash, `$3` expires_at (UTC `timestamp`). A successful password
/// sign-in: sets `last_login`, clears the email's throttle and starts a session (a new family
/// and its first refresh token), all in one statement. No row if the user does not exist or
/// is deactivated (then nothing changed).
pub const LOGIN_SESSION: &str = concat!(
    "WITH u AS (
        UPDATE users SET last_login = now() WHERE id = $1::bigint AND is_active
        RETURNING id, email
    ), cleared AS (
        DELETE FROM login_throttles t USING u WHERE t.email_key = lower(u.email)
        RETURNING t.id
    ), ",
    session_ctes!("u", "$2", "$3"),
    "
    SELECT s.id, s.family_id, f.user_id, (s.expires_at AT TIME ZONE 'UTC') AS expires_at
    FROM s JOIN f ON f.id = s.family_id"
);

/// `$1` user id. The password hash of an active user (NULL for a Google-only account); no
/// row if the user does not exist or is deactivated.
pub const PASSWORD_OF: &str = "SELECT id, password_hash, is_active FROM users
    WHERE id = $1::bigint AND is_active";

/// `$1` user id, `$2` the new password hash. Sets it and revokes every live session family
/// of the user, in one statement. One row (`revoked`: how many families) if the user exists
/// and is active, none otherwise.
pub const CHANGE_PASSWORD: &str = "WITH u AS (
        UPDATE users SET password_hash = $2::text WHERE id = $1::bigint AND is_active
        RETURNING id
    ), r AS (
        UPDATE session_families f SET revoked_at = now()
        FROM u WHERE f.user_id = u.id AND f.revoked_at IS NULL
        RETURNING f.id
    ), cleared AS (
        DELETE FROM login_throttles t USING users v
        WHERE v.id = $1::bigint AND t.email_key = lower(v.email)
        RETURNING t.id
    )
    SELECT u.id, (SELECT count(*) FROM r)::bigint AS revoked FROM u";

/// The maintenance round's deletions, in one statement, each bounded to `$3` rows
/// (`FOR UPDATE SKIP LOCKED`: rounds running at once share the work and never wait on each
/// other): throttle rows whose window ended more than `$1` seconds ago, hash budget rows
/// older than a minute, and session families revoked, or whose newest token expired, more
/// than `$2` seconds ago (their tokens go with them: ON DELETE CASCADE). One row: how many
/// of each were deleted.
pub const MAINTENANCE: &str = "WITH throttles AS (
        DELETE FROM login_throttles WHERE id IN (
            SELECT id FROM login_throttles
            WHERE window_start < now() - $1::bigint * interval '1 second'
            ORDER BY window_start LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
        RETURNING id
    ), budgets AS (
        DELETE FROM hash_budgets WHERE id IN (
            SELECT id FROM hash_budgets WHERE window_start < now() - interval '1 minute'
            ORDER BY window_start LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
        RETURNING id
    ), revoked AS (
        DELETE FROM session_families WHERE id IN (
            SELECT id FROM session_families
            WHERE revoked_at < now() - $2::bigint * interval '1 second'
            ORDER BY revoked_at LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
        RETURNING id
    ), expired AS (
        DELETE FROM session_families WHERE id IN (
            SELECT s.family_id FROM sessions s
            WHERE s.expires_at < now() - $2::bigint * interval '1 second'
              AND s.replaced_by IS NULL
            ORDER BY s.expires_at LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
        RETURNING id
    )
    SELECT (SELECT count(*) FROM throttles)::bigint AS throttles,
        (SELECT count(*) FROM budgets)::bigint AS budgets,
        (SELECT count(*) FROM revoked)::bigint + (SELECT count(*) FROM expired)::bigint
            AS session_families";
