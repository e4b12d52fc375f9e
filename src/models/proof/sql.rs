//! The statements behind e-mail address proofs. Values are always bound; timestamps are
//! returned as `(col AT TIME ZONE 'UTC')` (Spin's host decodes no `timestamptz`).

/// Queues a proof of active user `$1`'s current address unless it is verified already, a
/// proof of theirs is pending (at most one: `uq_email_proofs_user_id`, whatever races), or
/// `$2` were asked for in the last 24 hours. No row: no such active user. Otherwise one row:
/// `verified`, `queued` (0 or 1), `pending` (one is pending: queued before, or by a
/// request racing this one) and `retry_after`
/// (seconds until the oldest of the last 24 hours' proofs leaves the window).
pub const REQUEST: &str = "WITH u AS (
        SELECT id, lower(email) AS email, email_verified_at IS NOT NULL AS verified
        FROM users WHERE id = $1::bigint AND is_active
    ), recent AS (
        SELECT count(*) FILTER (WHERE p.created_at > now() - interval '24 hours') AS n,
            min(p.created_at) FILTER (WHERE p.created_at > now() - interval '24 hours')
                AS oldest,
            COALESCE(bool_or(p.status = 'pending'), false) AS pending
        FROM email_proofs p JOIN u ON p.user_id = u.id
    ), queued AS (
        INSERT INTO email_proofs (user_id, email)
        SELECT u.id, u.email FROM u, recent
        WHERE NOT u.verified AND NOT recent.pending AND recent.n < $2::bigint
        ON CONFLICT (user_id) WHERE status = 'pending' DO NOTHING
        RETURNING id
    )
    SELECT u.verified, (SELECT count(*) FROM queued) AS queued,
        (recent.pending OR recent.n < $2::bigint) AS pending,
        ceil(extract(epoch FROM recent.oldest + interval '24 hours' - now()))::bigint
            AS retry_after
    FROM u, recent";

/// Claims up to `$1` pending proofs whose attempt is due, skipping those another sender
/// holds. Those still wanted (the user active and unverified, the address unchanged) count
/// one attempt and are leased for `$2` seconds; the others are `failed` with `last_error`
/// saying why, never sent. One row per claimed proof, `wanted` telling which.
pub const CLAIM: &str = "WITH due AS (
        SELECT p.id,
            CASE WHEN NOT u.is_active THEN 'inactive'
                WHEN lower(u.email) <> p.email THEN 'address_changed'
                WHEN u.email_verified_at IS NOT NULL THEN 'already_verified'
            END AS drop_reason
        FROM email_proofs p
        JOIN users u ON u.id = p.user_id
        WHERE p.status = 'pending' AND p.next_attempt_at <= now()
        ORDER BY p.next_attempt_at
        LIMIT $1::bigint
        FOR UPDATE OF p SKIP LOCKED
    ), claimed AS (
        UPDATE email_proofs p SET
            status = CASE WHEN due.drop_reason IS NULL THEN 'pending' ELSE 'failed' END,
            next_attempt_at = CASE WHEN due.drop_reason IS NULL
                THEN now() + $2::bigint * interval '1 second' ELSE p.next_attempt_at END,
            delivery_attempts = p.delivery_attempts
                + CASE WHEN due.drop_reason IS NULL THEN 1 ELSE 0 END,
            last_error = COALESCE(due.drop_reason, p.last_error)
        FROM due WHERE p.id = due.id
        RETURNING p.id, p.user_id, p.delivery_attempts::bigint AS delivery_attempts,
            (due.drop_reason IS NULL) AS wanted, p.email,
            (p.created_at AT TIME ZONE 'UTC') AS created_at
    )
    SELECT id, user_id, delivery_attempts, wanted, email, created_at FROM claimed ORDER BY id";

/// Records proof `$1`'s delivery attempt: `$2` is `sent`, `failed` (given up) or `pending`
/// (tried again in `$3` seconds); `$4` the error's class (NULL when sent). Only a proof still
/// `pending` changes.
pub const RECORD: &str = "UPDATE email_proofs SET status = $2::text,
        sent_at = CASE WHEN $2::text = 'sent' THEN now() END,
        next_attempt_at = CASE WHEN $2::text = 'pending'
            THEN now() + $3::bigint * interval '1 second' ELSE next_attempt_at END,
        last_error = $4::text
    WHERE id = $1::bigint AND status = 'pending'";

/// Proof `$1`, if its user is active and its address is still the user's: one row (the
/// user's id), else none.
pub const VALID: &str = "SELECT u.id FROM email_proofs p
    JOIN users u ON u.id = p.user_id AND u.is_active AND lower(u.email) = p.email
    WHERE p.id = $1::bigint";

/// Sets `email_verified_at` of proof `$1`'s user, if the user is active and the address is
/// still the one proved (a verified address keeps its time). One row (the user's id) when
/// the proof holds, none otherwise.
pub const VERIFY: &str = "WITH proof AS (
        SELECT u.id, u.email_verified_at IS NULL AS unverified
        FROM email_proofs p
        JOIN users u ON u.id = p.user_id AND u.is_active AND lower(u.email) = p.email
        WHERE p.id = $1::bigint
        FOR UPDATE OF u
    ), verified AS (
        UPDATE users u SET email_verified_at = now()
        FROM proof WHERE u.id = proof.id AND proof.unverified
        RETURNING u.id
    )
    SELECT id, (SELECT count(*) FROM verified) AS changed FROM proof";

/// The pending proofs whose attempt is due (one row, `due`): counted by a round that cannot
/// send them (links not configured).
pub const DUE: &str = "SELECT count(*) AS due FROM email_proofs
    WHERE status = 'pending' AND next_attempt_at <= now()";
