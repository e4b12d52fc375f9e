-- The per-user subscription limit (issue 22 item 8). SUBSCRIBE (src/models/source/sql.rs)
-- locks the user's row (FOR NO KEY UPDATE), then counts the user's other subscriptions with
-- this function and subscribes only below the limit it binds.
--
-- Why a function: under READ COMMITTED every query of a statement reads the snapshot taken
-- when the statement started, before it waited for the lock, so a count written in the
-- statement itself misses a subscription that a concurrent subscribe of the same user
-- committed while this one waited (measured: 0 instead of 1). A VOLATILE PL/pgSQL function
-- takes a fresh snapshot for each of its queries, after the lock was granted; every
-- subscribe takes the same lock first, so the count is exact and the limit holds under any
-- concurrency.
--
-- Counts every subscription of the user, paused ones included, except one to the source
-- (kind, identifier) itself: following a source already followed never counts as a new one.
CREATE FUNCTION user_subscriptions_besides(p_user_id bigint, p_kind text, p_identifier text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n
    FROM user_subscriptions us
    WHERE us.user_id = p_user_id
      AND us.source_id IS DISTINCT FROM (
          SELECT s.id FROM content_sources s
          WHERE s.kind = p_kind AND s.identifier = p_identifier
      );
    RETURN n;
END
$$;

-- The feed page (FEED in src/models/source/sql.rs, issue 22 item 8): its cost no longer
-- grows with the number of sources a user follows. All items in feed order, with their
-- source, for the window of the newest items older than the cursor (index only)...
CREATE INDEX ix_content_items_published_at_id_source_id
    ON content_items (published_at DESC, id DESC) INCLUDE (source_id);
-- ...kept when their source is one of the user's active subscriptions (index only).
CREATE INDEX ix_user_subscriptions_user_id_source_id
    ON user_subscriptions (user_id, source_id) WHERE is_active;
