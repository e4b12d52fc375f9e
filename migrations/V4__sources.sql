-- Sources people follow (YouTube channels, subreddits, blogs), who follows what, and the
-- items ingested from each source's feed.

-- One source per (kind, canonical identifier): a YouTube channel id (`UC...`), a subreddit
-- name (lower case), or a blog's feed URL (canonical form). The fetch state drives ingestion:
-- a source is due when `next_fetch_at <= now()`; failures back off exponentially.
CREATE TABLE content_sources (
    id                    bigint GENERATED ALWAYS AS IDENTITY,
    kind                  text NOT NULL,
    identifier            text NOT NULL,
    title                 text,
    site_url              text,
    feed_url              text NOT NULL,
    last_fetched_at       timestamptz,
    last_status           integer,
    etag                  text,
    last_modified         text,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    next_fetch_at         timestamptz NOT NULL DEFAULT now(),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_content_sources PRIMARY KEY (id),
    CONSTRAINT uq_content_sources_kind_identifier UNIQUE (kind, identifier),
    CONSTRAINT ck_content_sources_kind CHECK (kind IN ('youtube_channel', 'subreddit', 'blog')),
    CONSTRAINT ck_content_sources_identifier_length
        CHECK (char_length(identifier) BETWEEN 1 AND 2048),
    CONSTRAINT ck_content_sources_title_length CHECK (char_length(title) <= 300),
    CONSTRAINT ck_content_sources_site_url_length CHECK (char_length(site_url) <= 2048),
    CONSTRAINT ck_content_sources_feed_url_http CHECK (
        char_length(feed_url) <= 2048 AND feed_url ~ '^https?://'
    ),
    CONSTRAINT ck_content_sources_last_status_range CHECK (last_status BETWEEN 0 AND 999),
    CONSTRAINT ck_content_sources_etag_length CHECK (char_length(etag) <= 1024),
    CONSTRAINT ck_content_sources_last_modified_length CHECK (char_length(last_modified) <= 128),
    CONSTRAINT ck_content_sources_consecutive_failures_positive CHECK (consecutive_failures >= 0)
);

-- The ingestion claim: due sources, soonest first.
CREATE INDEX ix_content_sources_next_fetch_at_id ON content_sources (next_fetch_at, id);

CREATE TRIGGER trg_content_sources_updated_at BEFORE UPDATE ON content_sources
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A user following a source.
CREATE TABLE user_subscriptions (
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    user_id                bigint NOT NULL,
    source_id              bigint NOT NULL,
    display_name           text,
    notifications_enabled  boolean NOT NULL DEFAULT true,
    is_active              boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_subscriptions PRIMARY KEY (id),
    CONSTRAINT fk_user_subscriptions_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_user_subscriptions_source_id_content_sources FOREIGN KEY (source_id)
        REFERENCES content_sources (id) ON DELETE CASCADE,
    CONSTRAINT uq_user_subscriptions_user_id_source_id UNIQUE (user_id, source_id),
    CONSTRAINT ck_user_subscriptions_display_name_length
        CHECK (char_length(display_name) BETWEEN 1 AND 100)
);

-- A user's subscriptions by id (keyset pages); the unique constraint serves (user, source).
CREATE INDEX ix_user_subscriptions_user_id_id ON user_subscriptions (user_id, id);
CREATE INDEX ix_user_subscriptions_source_id ON user_subscriptions (source_id);

CREATE TRIGGER trg_user_subscriptions_updated_at BEFORE UPDATE ON user_subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- An item of a source's feed: a video, a post, an article. `external_id` is the feed's own
-- id (Atom `id`, RSS `guid`, else the link), unique per source so ingesting twice adds
-- nothing. `published_at` falls back to the time it was first seen.
CREATE TABLE content_items (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    source_id     bigint NOT NULL,
    external_id   text NOT NULL,
    title         text NOT NULL,
    url           text,
    author        text,
    published_at  timestamptz NOT NULL,
    summary       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_content_items PRIMARY KEY (id),
    CONSTRAINT fk_content_items_source_id_content_sources FOREIGN KEY (source_id)
        REFERENCES content_sources (id) ON DELETE CASCADE,
    CONSTRAINT uq_content_items_source_id_external_id UNIQUE (source_id, external_id),
    CONSTRAINT ck_content_items_external_id_length
        CHECK (char_length(external_id) BETWEEN 1 AND 2048),
    CONSTRAINT ck_content_items_title_length CHECK (char_length(title) BETWEEN 1 AND 500),
    CONSTRAINT ck_content_items_url_length CHECK (char_length(url) <= 2048),
    CONSTRAINT ck_content_items_author_length CHECK (char_length(author) <= 200),
    CONSTRAINT ck_content_items_summary_length CHECK (char_length(summary) <= 2000)
);

-- Newest first per source, and the keyset (published_at, id) of the feed.
CREATE INDEX ix_content_items_source_id_published_at_id
    ON content_items (source_id, published_at DESC, id DESC);

CREATE TRIGGER trg_content_items_updated_at BEFORE UPDATE ON content_items
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
