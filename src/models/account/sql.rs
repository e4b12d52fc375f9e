//! The statements behind accounts and sign-in: one statement per operation (CTEs where
//! several tables are involved), values always bound as parameters.
//!
//! Host type rules (Spin 4.0.2, `../shared/spin-facts.md`): timestamps are returned as
//! `(col AT TIME ZONE 'UTC') AS col` and bound as `($n::timestamp AT TIME ZONE 'UTC')`;
//! `Int64` parameters are cast to `bigint`, `Str` parameters to `text`; integer results are
//! cast to `bigint` so they decode as `i64`.
//!
//! The throttle policy (failures allowed, window length) is bound as two `bigint`
//! parameters, `$max` failures and `$window` seconds, so Rust holds it in one place.

/// `$1` email, `$2` max failures, `$3` window seconds. Always one row: the account with that
/// email, if any (`id` NULL otherwise), and `locked_for_seconds`, NULL unless the email has
/// had `$2` failures in the current window (then the seconds until the window ends, >= 1).
/// The lock is per email whether or not an account has it, so it tells nothing about
/// which emails exist.
pub const LOGIN_CANDIDATE: &str = "SELECT u.id, u.password_hash, u.is_active,
        CASE WHEN t.failures >= $2::bigint THEN
            ceil(extract(epoch FROM
                t.window_start + $3::bigint * interval '1 second' - now()))::bigint
        END AS locked_for_seconds
    FROM (SELECT lower($1::text) AS email_key) k
    LEFT JOIN users u ON lower(u.email) = k.email_key
    LEFT JOIN login_throttles t ON t.email_key = k.email_key
        AND t.window_start > now() - $3::bigint * interval '1 second'";

/// `$1` email, `$2` max failures, `$3` window seconds. Counts one failed sign-in for the
/// email (a new window if the last one has ended) and answers, from the row it wrote,
/// how many failures the window holds and whether the email is now locked.
pub const RECORD_FAILURE: &str =
    "INSERT INTO login_throttles AS t (email_key, failures, window_start)
    VALUES (lower($1::text), 1, now())
    ON CONFLICT (email_key) DO UPDATE SET
        failures = CASE WHEN t.window_start > now() - $3::bigint * interval '1 second'
                        THEN t.failures + 1 ELSE 1 END,
        window_start = CASE WHEN t.window_start > now() - $3::bigint * interval '1 second'
                            THEN t.window_start ELSE now() END
    RETURNING t.failures::bigint AS failures,
        CASE WHEN t.failures >= $2::bigint THEN
            ceil(extract(epoch FROM
                t.window_start + $3::bigint * interval '1 second' - now()))::bigint
        END AS locked_for_seconds";

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

/// `$1` user id, `$2` token hash, `$3` expires_at (UTC `timestamp`). A new family (one
/// sign-in) and its first refresh token.
pub const CREATE_SESSION: &str = "WITH f AS (
        INSERT INTO session_families (user_id) VALUES ($1::bigint)
        RETURNING id, user_id
    ), s AS (
        INSERT INTO sessions (family_id, token_hash, expires_at)
        SELECT f.id, $2::text, ($3::timestamp AT TIME ZONE 'UTC') FROM f
        RETURNING id, family_id, expires_at
    )
    SELECT s.id, s.family_id, f.user_id, (s.expires_at AT TIME ZONE 'UTC') AS expires_at
    FROM s JOIN f ON f.id = s.family_id";

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
/// The user with that Google identity (`existing`); else the user with that email, whom the
/// identity is linked to (`linked`); else a new user with default preferences and the
/// identity (`created`), without a password. One row: `id`, `outcome`, `is_active`.
/// Two first sign-ins racing may fail one with a unique violation (`uq_users_email` or
/// `uq_user_identities_provider_subject`): retrying it finds the other's rows.
pub const GOOGLE_SIGN_IN: &str = "WITH found AS (
        SELECT i.user_id FROM user_identities i
        WHERE i.provider = 'google' AND i.subject = $1::text
    ), by_email AS (
        SELECT u.id AS user_id FROM users u
        WHERE lower(u.email) = lower($2::text) AND NOT EXISTS (SELECT 1 FROM found)
    ), created AS (
        INSERT INTO users (email, name)
        SELECT $2::text, $3::text
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
    SELECT b.user_id, 'linked', u.is_active FROM by_email b JOIN users u ON u.id = b.user_id
    UNION ALL
    SELECT c.id, 'created', c.is_active FROM created c";

/// `$1` user id, `$2` token hash, `$3` expires_at (UTC `timestamp`). A successful password
/// sign-in: sets `last_login`, clears the email's throttle and starts a session (a new family
/// and its first refresh token), all in one statement. No row if the user does not exist or
/// is deactivated (then nothing changed).
pub const LOGIN_SESSION: &str = "WITH u AS (
        UPDATE users SET last_login = now() WHERE id = $1::bigint AND is_active
        RETURNING id, email
    ), cleared AS (
        DELETE FROM login_throttles t USING u WHERE t.email_key = lower(u.email)
        RETURNING t.id
    ), f AS (
        INSERT INTO session_families (user_id) SELECT id FROM u
        RETURNING id, user_id
    ), s AS (
        INSERT INTO sessions (family_id, token_hash, expires_at)
        SELECT f.id, $2::text, ($3::timestamp AT TIME ZONE 'UTC') FROM f
        RETURNING id, family_id, expires_at
    )
    SELECT s.id, s.family_id, f.user_id, (s.expires_at AT TIME ZONE 'UTC') AS expires_at
    FROM s JOIN f ON f.id = s.family_id";

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
    )
    SELECT u.id, (SELECT count(*) FROM r)::bigint AS revoked FROM u";
