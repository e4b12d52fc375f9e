-- Account rules after the attack review (issue 22).

-- When the holder of the account's e-mail proved they hold it: Google's verified address at
-- sign-in, or (later) a signed link mailed to it. NULL: never proved, and cleared whenever
-- the address changes. An outside identity joins an account by e-mail only when it is set.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- The throttle counts verification attempts, reserved before any hash is computed (the
-- statement that checks the limit takes the attempt), not failures recorded afterwards.
ALTER TABLE login_throttles RENAME COLUMN failures TO attempts;
ALTER TABLE login_throttles RENAME CONSTRAINT ck_login_throttles_failures
    TO ck_login_throttles_attempts;

-- Password hashes computed per second: one row for the whole service (`global`) and one per
-- client address (`client:<address>`), each a fixed one-second window. Checked and counted
-- in the statement that reserves a hash, so the CPU anonymous callers can spend is bounded
-- across every instance.
CREATE TABLE hash_budgets (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    budget_key      text NOT NULL,
    window_start    timestamptz NOT NULL DEFAULT now(),
    used            integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_hash_budgets PRIMARY KEY (id),
    CONSTRAINT uq_hash_budgets_budget_key UNIQUE (budget_key),
    CONSTRAINT ck_hash_budgets_budget_key_length CHECK (char_length(budget_key) BETWEEN 1 AND 100),
    CONSTRAINT ck_hash_budgets_used CHECK (used >= 0)
);

CREATE TRIGGER trg_hash_budgets_updated_at BEFORE UPDATE ON hash_budgets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What the maintenance round deletes by age.
CREATE INDEX ix_login_throttles_window_start ON login_throttles (window_start);
CREATE INDEX ix_hash_budgets_window_start ON hash_budgets (window_start);
CREATE INDEX ix_sessions_expires_at ON sessions (expires_at);
CREATE INDEX ix_session_families_revoked_at ON session_families (revoked_at);
