-- webhook_events partitioned by week of received_at (SPEC 18, issue 20), the rows already there moved in.
--
-- Retention drops a whole week at a time (detached, then dropped) instead of deleting rows in
-- batches: no row-by-row WAL, no dead tuples to vacuum, no triggers per deleted row. Events not yet
-- finished (pending, processing, failed, dead_letter) are never dropped: they are moved into the
-- default partition first, keeping their id, so the inbox's links to them stay valid.
--
-- Partitions are named webhook_events_wYYYYMMDD (the Monday, UTC, the week starts on) and made ahead
-- by the prune job (webhook_events_create_partition). The default partition catches any event no
-- week covers (a prune job that has not run for weeks): the intake never fails for want of one, and
-- creating that week's partition later moves those events into it.
--
-- What partitioning changes elsewhere:
-- - The primary key is (id, received_at): a unique constraint on a partitioned table must hold the
--   partition key. id still comes from the same sequence, so it stays unique by construction.
-- - interactions.event_id is a plain column now (no unique id alone for a foreign key to refer
--   to). What the ON DELETE SET NULL did is done by whoever removes events: the drop function below
--   and the queries that delete events (sql/webhooks.sql) unlink the inbox rows in the same transaction.
-- - The rollup triggers of migration 0030 are recreated on the partitioned table (statement triggers
--   with transition tables see the rows of every partition). Moving rows between partitions by hand
--   (below) bypasses them on purpose: the events are the same events.

ALTER TABLE interactions DROP CONSTRAINT interactions_event_id_fkey;
ALTER SEQUENCE webhook_events_id_seq OWNED BY NONE;
ALTER TABLE webhook_events RENAME TO webhook_events_unpartitioned;
ALTER INDEX webhook_events_pkey RENAME TO webhook_events_unpartitioned_pkey;
ALTER INDEX webhook_events_delivery_id_entry_index_key RENAME TO webhook_events_unpartitioned_delivery_key;
DROP INDEX webhook_events_due_idx, webhook_events_lease_idx, webhook_events_user_list_idx,
           webhook_events_user_status_idx, webhook_events_processed_at_idx;

CREATE TABLE webhook_events (
    id               bigint NOT NULL DEFAULT nextval('webhook_events_id_seq'),
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    entry_index      integer NOT NULL,
    user_id          bigint REFERENCES users (id) ON DELETE SET NULL,
    object           text NOT NULL,
    field            text,
    entry_id         text,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'processed', 'failed', 'dead_letter')),
    attempts         integer NOT NULL DEFAULT 0,
    errors           jsonb NOT NULL DEFAULT '[]',
    note             text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    run_at           timestamptz NOT NULL DEFAULT now(),
    locked_by        text,
    lease_expires_at timestamptz,
    processed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, received_at),
    UNIQUE (delivery_id, entry_index, received_at)
) PARTITION BY RANGE (received_at);
ALTER SEQUENCE webhook_events_id_seq OWNED BY webhook_events.id;
CREATE TABLE webhook_events_default PARTITION OF webhook_events DEFAULT;

CREATE INDEX webhook_events_due_idx ON webhook_events (run_at) WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_events_lease_idx ON webhook_events (lease_expires_at) WHERE status = 'processing';
CREATE INDEX webhook_events_user_list_idx ON webhook_events (user_id, received_at DESC, id DESC);
CREATE INDEX webhook_events_user_status_idx ON webhook_events (user_id, status, received_at DESC, id DESC);
CREATE INDEX webhook_events_processed_at_idx ON webhook_events (processed_at) WHERE status = 'processed';

-- The week's partition, made if missing (events of that week waiting in the default partition are
-- moved into it); returns its name. Identifiers are quoted by format(%I), values passed as values.
CREATE FUNCTION webhook_events_create_partition(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    starts timestamptz := date_trunc('week', day::timestamp) AT TIME ZONE 'UTC';
    ends   timestamptz := starts + interval '7 days';
    name   text := 'webhook_events_w' || to_char(starts AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE webhook_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('INSERT INTO %I SELECT * FROM webhook_events_default WHERE received_at >= $1 AND received_at < $2',
                   name) USING starts, ends;
    DELETE FROM webhook_events_default WHERE received_at >= starts AND received_at < ends;
    EXECUTE format('ALTER TABLE webhook_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, starts, ends);
    RETURN name;
END $$;

-- The weekly partitions, oldest first, with their bounds (read from the catalog, so nothing to keep in step).
CREATE FUNCTION webhook_events_partitions() RETURNS TABLE (name text, starts timestamptz, ends timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b.bounds[1]::timestamptz, b.bounds[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                            'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS bounds) b
    WHERE i.inhparent = 'webhook_events'::regclass AND b.bounds IS NOT NULL
    ORDER BY 2
$$;

-- Retention for one whole week, step 1: detach it. Only this takes the parent's strongest lock, and
-- only for a catalog change: from its commit on, the week is a table of its own that nobody writes.
-- Refuses a partition not entirely older than `cutoff`.
CREATE FUNCTION webhook_events_detach_partition(part text, cutoff timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ends timestamptz;
BEGIN
    SELECT p.ends INTO ends FROM webhook_events_partitions() p WHERE p.name = part;
    IF ends IS NULL OR ends > cutoff THEN
        RAISE EXCEPTION 'partition % is not entirely older than %', part, cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('ALTER TABLE webhook_events DETACH PARTITION %I', part);
END $$;

-- Weeks detached but not yet dropped (step 2 had not run, or did not finish): oldest first.
CREATE FUNCTION webhook_events_detached() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT c.relname::text FROM pg_class c
    WHERE c.relname ~ '^webhook_events_w[0-9]{8}$' AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
      AND NOT c.relispartition
    ORDER BY 1
$$;

-- Step 2, without any lock that the intake or the processors wait for: the detached week's
-- unfinished events move into the default partition (same ids, back in the queue), the inbox rows
-- of the others are unlinked, the rollups forget them, and the table is dropped. Returns how many
-- events were dropped and how many kept.
CREATE FUNCTION webhook_events_drop_detached(part text, OUT dropped bigint, OUT kept bigint) LANGUAGE plpgsql AS $$
DECLARE
    lowest bigint;
    highest bigint;
BEGIN
    IF part NOT IN (SELECT webhook_events_detached()) THEN
        RAISE EXCEPTION '% is not a detached week of webhook_events', part USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The default partition's range is everything no partition covers, the detached week included now.
    EXECUTE format('INSERT INTO webhook_events_default SELECT * FROM %I WHERE status <> ''processed''', part);
    GET DIAGNOSTICS kept = ROW_COUNT;
    -- The inbox rows that point into it, found through interactions_event_id_idx within its id range.
    EXECUTE format('SELECT min(id), max(id) FROM %I', part) INTO lowest, highest;
    EXECUTE format('UPDATE interactions SET event_id = NULL WHERE event_id BETWEEN $1 AND $2 '
                   'AND event_id IN (SELECT id FROM %I WHERE status = ''processed'')', part) USING lowest, highest;
    -- One pass over it for both the count and the rollups' deltas.
    EXECUTE format('WITH gone AS (SELECT user_id, status, count(*) AS n FROM %I WHERE status = ''processed'' '
                   '              GROUP BY 1, 2), '
                   '     counted AS (INSERT INTO webhook_status_counts (user_id, status, n) '
                   '                 SELECT user_id, status, -n FROM gone WHERE user_id IS NOT NULL) '
                   'SELECT coalesce(sum(n), 0) FROM gone', part) INTO dropped;
    EXECUTE format('DROP TABLE %I', part);
END $$;

-- Every week that has events, and the next four, before the rows come over.
SELECT webhook_events_create_partition(week::date)
FROM generate_series(date_trunc('week', coalesce((SELECT min(received_at) FROM webhook_events_unpartitioned), now())
                                  AT TIME ZONE 'UTC'),
                     date_trunc('week', now() AT TIME ZONE 'UTC') + interval '4 weeks', interval '1 week') AS week;

INSERT INTO webhook_events (id, delivery_id, entry_index, user_id, object, field, entry_id, payload, status, attempts,
                            errors, note, received_at, run_at, locked_by, lease_expires_at, processed_at, updated_at)
SELECT id, delivery_id, entry_index, user_id, object, field, entry_id, payload, status, attempts,
       errors, note, received_at, run_at, locked_by, lease_expires_at, processed_at, updated_at
FROM webhook_events_unpartitioned;

DROP TABLE webhook_events_unpartitioned;

-- Migration 0030's rollups, on the partitioned table (its functions are unchanged; they already count the rows above).
CREATE TRIGGER webhook_events_rollup_insert AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_insert();
CREATE TRIGGER webhook_events_rollup_update AFTER UPDATE ON webhook_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_update();
CREATE TRIGGER webhook_events_rollup_delete AFTER DELETE ON webhook_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_delete();
