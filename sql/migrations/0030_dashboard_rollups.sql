-- The dashboard's webhook statistics (SPEC 6), kept small so reading them never counts the big
-- webhook_events table: counts by status, and per-minute received / processed / failed.
--
-- Triggers only ever INSERT delta rows here (never UPDATE a counter in place): the receiver and
-- any number of processors can change events at once without queueing on one hot counter row or
-- deadlocking on two. Reading a user's stats first folds that user's delta rows into one row per
-- key (sql/webhook_events.sql, compact_*), so what is read stays a handful of rows per user.
-- Sums are always taken over all rows for a key, so two compactions racing are harmless.
-- No foreign key to users: the trigger that records "this event lost its owner" runs while the
-- user is being deleted, and must not be refused for pointing at them.

CREATE TABLE webhook_status_counts (
    id        bigserial PRIMARY KEY,
    user_id   bigint NOT NULL,
    status    text NOT NULL,
    n         bigint NOT NULL,          -- a delta (+/-), or a folded total
    compacted boolean NOT NULL DEFAULT false
);
CREATE INDEX webhook_status_counts_user_idx ON webhook_status_counts (user_id, status);
CREATE INDEX webhook_status_counts_deltas_idx ON webhook_status_counts (user_id) WHERE NOT compacted;

CREATE TABLE webhook_activity_minutes (
    id        bigserial PRIMARY KEY,
    user_id   bigint NOT NULL,
    minute    timestamptz NOT NULL,     -- date_trunc('minute', ...)
    received  integer NOT NULL DEFAULT 0,
    processed integer NOT NULL DEFAULT 0,
    failed    integer NOT NULL DEFAULT 0,   -- failed attempts, including the one that dead-letters
    compacted boolean NOT NULL DEFAULT false
);
CREATE INDEX webhook_activity_minutes_user_idx ON webhook_activity_minutes (user_id, minute);
CREATE INDEX webhook_activity_minutes_deltas_idx ON webhook_activity_minutes (user_id, minute) WHERE NOT compacted;

CREATE FUNCTION webhook_events_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_status_counts (user_id, status, n)
    SELECT user_id, status, count(*) FROM new_rows WHERE user_id IS NOT NULL GROUP BY 1, 2;

    INSERT INTO webhook_activity_minutes (user_id, minute, received, processed, failed)
    SELECT user_id, minute, sum(received), sum(processed), sum(failed)
    FROM (
        SELECT user_id, date_trunc('minute', received_at) AS minute, 1 AS received, 0 AS processed, 0 AS failed
        FROM new_rows WHERE user_id IS NOT NULL
        UNION ALL
        SELECT user_id, date_trunc('minute', coalesce(processed_at, updated_at)), 0, 1, 0
        FROM new_rows WHERE user_id IS NOT NULL AND status = 'processed'
        UNION ALL
        SELECT user_id, date_trunc('minute', updated_at), 0, 0, 1
        FROM new_rows WHERE user_id IS NOT NULL AND status IN ('failed', 'dead_letter')
    ) happened
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION webhook_events_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Most updates (claims aside, lease extensions) change neither owner nor status: they record nothing.
    WITH changed AS (
        SELECT o.user_id AS old_user, o.status AS old_status, n.user_id AS new_user, n.status AS new_status,
               n.processed_at
        FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.status IS DISTINCT FROM n.status OR o.user_id IS DISTINCT FROM n.user_id
    ), counted AS (
        INSERT INTO webhook_status_counts (user_id, status, n)
        SELECT user_id, status, sum(n) FROM (
            SELECT old_user AS user_id, old_status AS status, -1 AS n FROM changed
            UNION ALL
            SELECT new_user, new_status, 1 FROM changed
        ) moved
        WHERE user_id IS NOT NULL
        GROUP BY 1, 2
        HAVING sum(n) <> 0
    )
    -- Activity is what happened now: a change into processed, or a failed attempt.
    INSERT INTO webhook_activity_minutes (user_id, minute, processed, failed)
    SELECT new_user,
           date_trunc('minute', CASE WHEN new_status = 'processed' THEN coalesce(processed_at, now()) ELSE now() END),
           count(*) FILTER (WHERE new_status = 'processed'),
           count(*) FILTER (WHERE new_status IN ('failed', 'dead_letter'))
    FROM changed
    WHERE new_user IS NOT NULL AND old_status IS DISTINCT FROM new_status
      AND new_status IN ('processed', 'failed', 'dead_letter')
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION webhook_events_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_status_counts (user_id, status, n)
    SELECT user_id, status, -count(*) FROM old_rows WHERE user_id IS NOT NULL GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_events_rollup_insert AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_insert();
CREATE TRIGGER webhook_events_rollup_update AFTER UPDATE ON webhook_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_update();
CREATE TRIGGER webhook_events_rollup_delete AFTER DELETE ON webhook_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_rollup_delete();

-- Events that existed before this migration.
INSERT INTO webhook_status_counts (user_id, status, n)
SELECT user_id, status, count(*) FROM webhook_events WHERE user_id IS NOT NULL GROUP BY 1, 2;

-- The inbox lists newest first; occurred_at can be missing, so it sorts by when it happened or,
-- failing that, when it arrived.
CREATE INDEX interactions_user_recent_idx
    ON interactions (user_id, (coalesce(occurred_at, created_at)) DESC, id DESC);
