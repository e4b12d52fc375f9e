-- Digests (issue 19): what each person is sent, at the frequency and length they chose.
--
-- digest_schedules: one row per user, when their next digest is due. Kept apart from
-- user_preferences so that the builders moving it never change the preferences' ETag.
-- due_at NULL: not computed yet (a new user; the next round computes it). lease_until: a
-- builder's claim (FOR UPDATE SKIP LOCKED, then a lease longer than a round can last), so
-- that concurrent rounds never build one user at once.
CREATE TABLE digest_schedules (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    user_id      bigint NOT NULL,
    due_at       timestamptz,
    lease_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_digest_schedules PRIMARY KEY (id),
    CONSTRAINT fk_digest_schedules_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_digest_schedules_user_id UNIQUE (user_id)
);

-- The claim reads the earliest due first (NULL, never computed, before any).
CREATE INDEX ix_digest_schedules_due_at ON digest_schedules (due_at NULLS FIRST);

CREATE TRIGGER trg_digest_schedules_updated_at BEFORE UPDATE ON digest_schedules
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Every user has a schedule: those of today, and each new one from its insert.
INSERT INTO digest_schedules (user_id) SELECT id FROM users;

CREATE FUNCTION add_digest_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digest_schedules (user_id) VALUES (NEW.id) ON CONFLICT (user_id) DO NOTHING;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_users_digest_schedule AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION add_digest_schedule();

-- A change of frequency or time zone takes effect at the next round: the user's schedule is
-- computed again then (due_at NULL), from the end of their latest digest.
CREATE FUNCTION reset_digest_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        UPDATE digest_schedules SET due_at = NULL WHERE user_id = NEW.id;
    ELSE
        UPDATE digest_schedules SET due_at = NULL WHERE user_id = NEW.user_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_users_digest_schedule_timezone AFTER UPDATE OF timezone ON users
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION reset_digest_schedule();

CREATE TRIGGER trg_user_preferences_digest_schedule AFTER UPDATE OF update_frequency
    ON user_preferences
    FOR EACH ROW WHEN (OLD.update_frequency IS DISTINCT FROM NEW.update_frequency)
    EXECUTE FUNCTION reset_digest_schedule();

-- One digest per user and period: unique (user_id, period_end), however many builders run.
-- status: built (waiting to be sent, or e-mail is off), sent, failed (delivery gave up),
-- skipped (an empty period: recorded, never sent). The frequency and length are those it
-- was built with.
CREATE TABLE digests (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    user_id            bigint NOT NULL,
    period_start       timestamptz NOT NULL,
    period_end         timestamptz NOT NULL,
    update_frequency   text NOT NULL,
    summary_length     text NOT NULL,
    status             text NOT NULL,
    item_count         integer NOT NULL,
    overview           text,
    delivery_attempts  integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    last_error         text,
    sent_at            timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_digests PRIMARY KEY (id),
    CONSTRAINT fk_digests_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_digests_user_id_period_end UNIQUE (user_id, period_end),
    CONSTRAINT ck_digests_period CHECK (period_start < period_end),
    CONSTRAINT ck_digests_update_frequency CHECK (
        update_frequency IN ('daily', 'every_3_days', 'weekly', 'every_2_weeks', 'monthly')
    ),
    CONSTRAINT ck_digests_summary_length CHECK (
        summary_length IN ('concise', 'standard', 'detailed')
    ),
    CONSTRAINT ck_digests_status CHECK (status IN ('built', 'sent', 'failed', 'skipped')),
    CONSTRAINT ck_digests_item_count CHECK (item_count BETWEEN 0 AND 100),
    CONSTRAINT ck_digests_overview_length CHECK (char_length(overview) <= 2000),
    CONSTRAINT ck_digests_delivery_attempts CHECK (delivery_attempts >= 0),
    CONSTRAINT ck_digests_last_error_length CHECK (char_length(last_error) <= 64)
);

-- A user's digests, newest first (keyset pages on (period_end, id)).
CREATE INDEX ix_digests_user_id_period_end_id ON digests (user_id, period_end DESC, id DESC);
-- The deliveries waiting: built digests whose next attempt is due.
CREATE INDEX ix_digests_next_attempt_at ON digests (next_attempt_at) WHERE status = 'built';

CREATE TRIGGER trg_digests_updated_at BEFORE UPDATE ON digests
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The items of a digest, in order, with the excerpt it showed.
CREATE TABLE digest_items (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    digest_id        bigint NOT NULL,
    content_item_id  bigint NOT NULL,
    position         integer NOT NULL,
    excerpt          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_digest_items PRIMARY KEY (id),
    CONSTRAINT fk_digest_items_digest_id_digests FOREIGN KEY (digest_id)
        REFERENCES digests (id) ON DELETE CASCADE,
    CONSTRAINT fk_digest_items_content_item_id_content_items FOREIGN KEY (content_item_id)
        REFERENCES content_items (id) ON DELETE CASCADE,
    CONSTRAINT uq_digest_items_digest_id_position UNIQUE (digest_id, position),
    CONSTRAINT uq_digest_items_digest_id_content_item_id UNIQUE (digest_id, content_item_id),
    CONSTRAINT ck_digest_items_position CHECK (position BETWEEN 1 AND 100),
    CONSTRAINT ck_digest_items_excerpt_length CHECK (char_length(excerpt) <= 1000)
);

CREATE INDEX ix_digest_items_content_item_id ON digest_items (content_item_id);

CREATE TRIGGER trg_digest_items_updated_at BEFORE UPDATE ON digest_items
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
