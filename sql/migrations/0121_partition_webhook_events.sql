-- webhook_events partitioned by week of received_at (SPEC 18, issue 20), the rows already there moved in.
--
-- Retention drops a whole week at a time (detached, then dropped) instead of deleting rows in
-- batches: no row-by-row WAL, no dead tuples to vacuum, no triggers per deleted row. Events not yet
-- finished (pending, processing, failed, dead_letter) are never dropped: they are moved into the
-- default partition first, keeping their id, so the links to them stay valid.
--
-- Partitions are named webhook_events_wYYYYMMDD (the Monday, UTC, the week starts on) and made ahead
-- by the prune job (webhook_events_create_partition). The default partition catches any event no
-- week covers (a prune job that has not run for weeks): the intake never fails for want of one, and
-- creating that week's partition later moves those events into it.
--
-- What partitioning changes elsewhere:
-- - The primary key is (id, received_at): a unique constraint on a partitioned table must hold the
--   partition key. id still comes from the same sequence, so it stays unique by construction.
-- - A foreign key can no longer point at webhook_events(id) (no unique id alone to refer to). Every
--   one that did (interactions.event_id, and any other table's) becomes a plain column,
--   listed in webhook_event_links; what its ON DELETE SET NULL did is done by whoever removes
--   events (webhook_events_unlink, and the week drop below), in the same transaction.
-- - The table is rebuilt from what it is when this runs (LIKE: every column, default and check;
--   every index recreated as it was), so columns and indexes other migrations added stay.
-- - The rollup triggers of migration 0030 are recreated on the partitioned table (statement triggers
--   with transition tables see the rows of every partition). Moving rows between partitions by hand
--   (below) bypasses them on purpose: the events are the same events.

CREATE TABLE webhook_event_links (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    PRIMARY KEY (table_name, column_name)
);
INSERT INTO webhook_event_links (table_name, column_name)
SELECT c.conrelid::regclass::text, a.attname
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = 'webhook_events'::regclass;

CREATE TEMPORARY TABLE webhook_events_old_indexes ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
WHERE i.indrelid = 'webhook_events'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint
             WHERE contype = 'f' AND confrelid = 'webhook_events'::regclass LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
    END LOOP;
    FOR r IN SELECT name FROM webhook_events_old_indexes LOOP
        EXECUTE format('DROP INDEX %s', r.name);
    END LOOP;
END $$;

ALTER SEQUENCE webhook_events_id_seq OWNED BY NONE;
ALTER TABLE webhook_events RENAME TO webhook_events_unpartitioned;
ALTER TABLE webhook_events_unpartitioned RENAME CONSTRAINT webhook_events_pkey TO webhook_events_unpartitioned_pkey;
ALTER TABLE webhook_events_unpartitioned
    RENAME CONSTRAINT webhook_events_delivery_id_entry_index_key TO webhook_events_unpartitioned_delivery_key;

CREATE TABLE webhook_events (LIKE webhook_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                             INCLUDING STORAGE INCLUDING COMMENTS)
    PARTITION BY RANGE (received_at);
ALTER TABLE webhook_events
    ADD PRIMARY KEY (id, received_at),
    ADD UNIQUE (delivery_id, entry_index, received_at),
    ADD FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL;
ALTER SEQUENCE webhook_events_id_seq OWNED BY webhook_events.id;
CREATE TABLE webhook_events_default PARTITION OF webhook_events DEFAULT;

-- Removing events by id: clear every link to them (what ON DELETE SET NULL did).
CREATE FUNCTION webhook_events_unlink(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    link record;
BEGIN
    IF cardinality(ids) > 0 THEN
        FOR link IN SELECT table_name, column_name FROM webhook_event_links LOOP
            EXECUTE format('UPDATE %s SET %I = NULL WHERE %I = ANY($1)', link.table_name::regclass,
                           link.column_name, link.column_name) USING ids;
        END LOOP;
    END IF;
END $$;

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
-- unfinished events move into the default partition (same ids, back in the queue), the links to
-- the others (the inbox's) are cleared, the rollups forget them, and the table is dropped. Returns how many
-- events were dropped and how many kept.
CREATE FUNCTION webhook_events_drop_detached(part text, OUT dropped bigint, OUT kept bigint) LANGUAGE plpgsql AS $$
DECLARE
    link record;
    lowest bigint;
    highest bigint;
BEGIN
    IF part NOT IN (SELECT webhook_events_detached()) THEN
        RAISE EXCEPTION '% is not a detached week of webhook_events', part USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The default partition's range is everything no partition covers, the detached week included now.
    EXECUTE format('INSERT INTO webhook_events_default SELECT * FROM %I WHERE status <> ''processed''', part);
    GET DIAGNOSTICS kept = ROW_COUNT;
    -- The rows that point into it (the inbox's), found through their index within its id range.
    EXECUTE format('SELECT min(id), max(id) FROM %I', part) INTO lowest, highest;
    FOR link IN SELECT table_name, column_name FROM webhook_event_links LOOP
        EXECUTE format('UPDATE %s SET %I = NULL WHERE %I BETWEEN $1 AND $2 '
                       'AND %I IN (SELECT id FROM %I WHERE status = ''processed'')', link.table_name::regclass,
                       link.column_name, link.column_name, link.column_name, part) USING lowest, highest;
    END LOOP;
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

INSERT INTO webhook_events SELECT * FROM webhook_events_unpartitioned;

-- The indexes as they were (built once over the copied rows, on every partition).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT definition FROM webhook_events_old_indexes LOOP
        EXECUTE replace(r.definition, ' ON public.webhook_events_unpartitioned ', ' ON public.webhook_events ');
    END LOOP;
END $$;

DROP TABLE webhook_events_unpartitioned;

-- Migration 0030's rollups, on the partitioned table (its functions are unchanged; they already count the rows above).
CREATE TRIGGER webhook_events_rollup_insert AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_insert();
CREATE TRIGGER webhook_events_rollup_update AFTER UPDATE ON webhook_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_update();
CREATE TRIGGER webhook_events_rollup_delete AFTER DELETE ON webhook_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_delete();
