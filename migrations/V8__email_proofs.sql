-- E-mail address proofs (issue 19): a signed, expiring link mailed to the address a user
-- gave, that sets users.email_verified_at when followed. Digests are mailed only to verified
-- addresses (double opt-in): an address typed at registration is someone else's until its
-- owner follows the link.
--
-- One row per proof asked for: email is the address being proved (lower-cased), status
-- pending (waiting for the delivery round, which leases it by moving next_attempt_at past
-- the round), sent, or failed (given up, or the address changed before it was sent:
-- last_error 'address_changed'). The API queues at most one pending proof per user and at
-- most a few per day.
CREATE TABLE email_proofs (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    user_id            bigint NOT NULL,
    email              text NOT NULL,
    status             text NOT NULL DEFAULT 'pending',
    delivery_attempts  integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    last_error         text,
    sent_at            timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_email_proofs PRIMARY KEY (id),
    CONSTRAINT fk_email_proofs_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_email_proofs_status CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT ck_email_proofs_email_length CHECK (char_length(email) BETWEEN 3 AND 255),
    CONSTRAINT ck_email_proofs_delivery_attempts CHECK (delivery_attempts >= 0),
    CONSTRAINT ck_email_proofs_last_error_length CHECK (char_length(last_error) <= 64)
);

-- The proofs waiting: pending ones whose next attempt is due.
CREATE INDEX ix_email_proofs_next_attempt_at ON email_proofs (next_attempt_at)
    WHERE status = 'pending';
-- A user's proofs, newest first (the per-user bounds of the API).
CREATE INDEX ix_email_proofs_user_id_created_at ON email_proofs (user_id, created_at DESC);

CREATE TRIGGER trg_email_proofs_updated_at BEFORE UPDATE ON email_proofs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- At most one pending proof per user, however many requests race (ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX uq_email_proofs_user_id ON email_proofs (user_id)
    WHERE status = 'pending';
