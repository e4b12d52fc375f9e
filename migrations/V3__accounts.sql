-- Accounts and sign-in: password hashes, Google identities, refresh-token sessions and the
-- failed-login throttle. Hashes are computed by the application; the database only checks
-- their shape.

-- A PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`); NULL for an account that
-- signs in with Google only.
ALTER TABLE users ADD COLUMN password_hash text;
ALTER TABLE users ADD CONSTRAINT ck_users_password_hash_argon2id CHECK (
    password_hash IS NULL
    OR (starts_with(password_hash, '$argon2id$') AND char_length(password_hash) <= 512)
);

-- External identities (Google's `sub`), each linked to one user.
CREATE TABLE user_identities (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    user_id     bigint NOT NULL,
    provider    text NOT NULL,
    subject     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_identities PRIMARY KEY (id),
    CONSTRAINT fk_user_identities_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_user_identities_provider_subject UNIQUE (provider, subject),
    CONSTRAINT ck_user_identities_provider CHECK (provider IN ('google')),
    CONSTRAINT ck_user_identities_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255)
);

CREATE INDEX ix_user_identities_user_id ON user_identities (user_id);

CREATE TRIGGER trg_user_identities_updated_at BEFORE UPDATE ON user_identities
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A session family: one sign-in and the chain of refresh tokens rotated from it. Revocation
-- is recorded here, on one row, so that a rotation (which locks this row) and a revocation
-- (which updates it) are serialised: a token minted by a rotation that raced a revocation
-- belongs to a revoked family and is dead, whatever the statements' snapshots saw.
CREATE TABLE session_families (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    user_id     bigint NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_session_families PRIMARY KEY (id),
    CONSTRAINT fk_session_families_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_session_families_user_id ON session_families (user_id);

CREATE TRIGGER trg_session_families_updated_at BEFORE UPDATE ON session_families
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One refresh token, stored as the SHA-256 of the token (64 lower-case hex digits).
-- A token is live while it is not replaced, not expired and its family is not revoked.
CREATE TABLE sessions (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    family_id   bigint NOT NULL,
    token_hash  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    replaced_by bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_sessions PRIMARY KEY (id),
    CONSTRAINT fk_sessions_family_id_session_families FOREIGN KEY (family_id)
        REFERENCES session_families (id) ON DELETE CASCADE,
    CONSTRAINT fk_sessions_replaced_by_sessions FOREIGN KEY (replaced_by)
        REFERENCES sessions (id) ON DELETE SET NULL,
    CONSTRAINT uq_sessions_token_hash UNIQUE (token_hash),
    CONSTRAINT ck_sessions_token_hash_sha256 CHECK (
        char_length(token_hash) = 64 AND token_hash ~ '^[0-9a-f]{64}$'
    ),
    CONSTRAINT ck_sessions_replaced_by_other CHECK (replaced_by IS NULL OR replaced_by <> id)
);

CREATE INDEX ix_sessions_family_id ON sessions (family_id);
CREATE INDEX ix_sessions_replaced_by ON sessions (replaced_by);

CREATE TRIGGER trg_sessions_updated_at BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Failed sign-ins per lower-cased email (whether or not an account has it), in a fixed
-- window that starts at the first failure. Cleared by a successful sign-in. One row per
-- email, so recording a failure is one upsert that also answers "is it locked now".
CREATE TABLE login_throttles (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    email_key       text NOT NULL,
    failures        integer NOT NULL DEFAULT 0,
    window_start    timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_login_throttles PRIMARY KEY (id),
    CONSTRAINT uq_login_throttles_email_key UNIQUE (email_key),
    CONSTRAINT ck_login_throttles_email_key_lower CHECK (
        email_key = lower(email_key) AND char_length(email_key) BETWEEN 1 AND 255
    ),
    CONSTRAINT ck_login_throttles_failures CHECK (failures >= 0)
);

CREATE TRIGGER trg_login_throttles_updated_at BEFORE UPDATE ON login_throttles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
