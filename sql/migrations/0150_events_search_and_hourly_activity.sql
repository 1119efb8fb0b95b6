-- The Events page at scale (issue 17): the 7 d / 30 d charts from an hourly rollup, and the events filter
-- written once. (A pg_trgm index for the payload search was measured and left out: every non-HOT update of
-- an event re-indexes its payload, which halved the processors' drain; docs/BENCHMARKS.md.)

-- 1. The events filter (the list, and "retry every match"), one definition. A plain SQL function of
--    immutable parts, so the planner inlines it: the filters left NULL fold away and the rest is seen
--    as plain conditions on the columns (the user's index still serves the keyset order). `q` matches
--    the event's id, its entry's Meta id, or any text of its payload, case-insensitively.
CREATE FUNCTION webhook_event_matches(
    e_id bigint, e_status text, e_object text, e_field text, e_entry_id text, e_payload jsonb, e_received_at timestamptz,
    status text, object text, field text, account text, q text, since timestamptz, until timestamptz
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (status IS NULL OR e_status = status)
       AND (object IS NULL OR starts_with(lower(e_object), lower(object)))
       AND (field IS NULL OR starts_with(lower(e_field), lower(field)))
       AND (account IS NULL OR e_entry_id = account)
       AND (q IS NULL
            OR e_id::text = q
            OR e_entry_id = q
            OR strpos(lower(e_payload::text), lower(q)) > 0)
       AND (since IS NULL OR e_received_at >= since)
       AND (until IS NULL OR e_received_at < until)
$$;

-- 2. Activity beyond the minute rollups' 48 hours: minutes leaving that window are folded into hours
--    (sql/webhooks.sql, prune_webhook_activity_minutes), so a 30-day chart sums at most 720 rows.
CREATE TABLE webhook_activity_hours (
    id        bigserial PRIMARY KEY,
    user_id   bigint NOT NULL,          -- no foreign key, like the minute rollups (migration 0030)
    hour      timestamptz NOT NULL,     -- date_trunc('hour', ...)
    received  integer NOT NULL DEFAULT 0,
    processed integer NOT NULL DEFAULT 0,
    failed    integer NOT NULL DEFAULT 0
);
CREATE INDEX webhook_activity_hours_user_idx ON webhook_activity_hours (user_id, hour);

-- The past: minute rows older than the window may be gone already (pruned at each stats read), so the
-- hours before it are counted from the events still kept (failed: as they stand now), and the minute rows
-- before it removed; after it, the minutes stay. Each moment is in exactly one of the two tables.
WITH cutoff AS (SELECT date_trunc('hour', now() - interval '48 hours') AS at),
gone AS (DELETE FROM webhook_activity_minutes USING cutoff WHERE minute < cutoff.at)
INSERT INTO webhook_activity_hours (user_id, hour, received, processed, failed)
SELECT user_id, hour, sum(received), sum(processed), sum(failed)
FROM (
    SELECT user_id, date_trunc('hour', received_at) AS hour, 1 AS received, 0 AS processed,
           (status IN ('failed', 'dead_letter'))::int AS failed
    FROM webhook_events, cutoff WHERE user_id IS NOT NULL AND received_at < cutoff.at
    UNION ALL
    SELECT user_id, date_trunc('hour', processed_at), 0, 1, 0
    FROM webhook_events, cutoff WHERE user_id IS NOT NULL AND processed_at < cutoff.at
) counted
GROUP BY user_id, hour;
