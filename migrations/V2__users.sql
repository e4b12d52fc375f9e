-- Users and their digest preferences.
-- Rules are enforced here as well as in Rust (src/domain): the database refuses what the
-- API would refuse, whoever writes.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    email           text NOT NULL,
    name            text NOT NULL,
    profile_picture text,
    profession      text,
    date_of_birth   date,
    timezone        text NOT NULL DEFAULT 'UTC',
    is_active       boolean NOT NULL DEFAULT true,
    last_login      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT ck_users_email_length CHECK (char_length(email) BETWEEN 3 AND 255),
    CONSTRAINT ck_users_email_format CHECK (email LIKE '%_@_%'),
    CONSTRAINT ck_users_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_users_profile_picture_url CHECK (
        profile_picture IS NULL
        OR (char_length(profile_picture) <= 255 AND profile_picture ~* '^https?://')
    ),
    CONSTRAINT ck_users_profession_length CHECK (
        profession IS NULL OR char_length(profession) BETWEEN 1 AND 100
    ),
    CONSTRAINT ck_users_date_of_birth_range CHECK (
        date_of_birth IS NULL OR date_of_birth >= DATE '1900-01-01'
    ),
    CONSTRAINT ck_users_timezone_length CHECK (char_length(timezone) BETWEEN 1 AND 64)
);

-- Unique without regard to case (the API also stores emails lower-cased).
CREATE UNIQUE INDEX uq_users_email ON users (lower(email));

CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE user_preferences (
    id                          bigint GENERATED ALWAYS AS IDENTITY,
    user_id                     bigint NOT NULL,
    update_frequency            text NOT NULL DEFAULT 'weekly',
    summary_length              text NOT NULL DEFAULT 'standard',
    email_notifications_enabled boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_preferences PRIMARY KEY (id),
    CONSTRAINT fk_user_preferences_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_user_preferences_user_id UNIQUE (user_id),
    CONSTRAINT ck_user_preferences_update_frequency CHECK (
        update_frequency IN ('daily', 'every_3_days', 'weekly', 'every_2_weeks', 'monthly')
    ),
    CONSTRAINT ck_user_preferences_summary_length CHECK (
        summary_length IN ('concise', 'standard', 'detailed')
    )
);

CREATE TRIGGER trg_user_preferences_updated_at BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
