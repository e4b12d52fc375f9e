-- Foundation shared by every table.
--
-- Every table has:
--   id          bigint GENERATED ALWAYS AS IDENTITY (constraint pk_<table>)
--   created_at  timestamptz NOT NULL DEFAULT now()
--   updated_at  timestamptz NOT NULL DEFAULT now(), kept by a trigger:
--     CREATE TRIGGER trg_<table>_updated_at BEFORE UPDATE ON <table>
--       FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- Constraint names: pk_<table>, fk_<table>_<column>_<referred_table>, uq_<table>_<column>,
-- ix_<table>_<column>, ck_<table>_<name> (checked by tests/naming_conventions.rs).

-- updated_at moves on every UPDATE. clock_timestamp() rather than now(): two updates of a
-- row in one transaction, or in transactions that started in the same microsecond, still
-- get distinct values (ETags are derived from updated_at).
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

-- pgvector, where the server offers it (hosted PostgreSQL usually does; a plain Debian
-- PostgreSQL does not). Without the privilege to create it, carry on without it: /health
-- reports "available" then.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS vector;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'vector extension available but not created: insufficient privilege';
        END;
    END IF;
END;
$$;
