-- Scale-out (SPEC 18, issue 20): an intake that takes no shared row lock and keeps no session state.
--
-- 1. The intake statement lives in a function. PgBouncer in transaction mode hands each transaction
--    whichever server connection is free, so a statement prepared with SQL PREPARE on one is unknown
--    on the next. A PL/pgSQL function's statements are planned once per server connection by the
--    server itself, invisible to the pooler: the plan is kept without any client-side session state
--    (bench/prepare.py measured plain text at 38-64 % of the prepared statement's rate, the function
--    at the prepared one's). The generic plan is kept whatever the batch size: a custom plan per
--    batch cost more than the batch's rows (docs/BENCHMARKS.md, intake).
-- 2. No shared counters. Every batch used to update the app-wide webhook_health row and each owner's
--    row (received, unknown-owner and duplicate counts that nothing read), and every processor batch
--    each user's row: all deliveries and all processors queued on those row locks. What the dashboard
--    shows is now derived from the events themselves (webhook_events) and the rollups of migration
--    0030; webhook_health keeps Meta's verification (written by the handshake only) and a user's last
--    handler error (written only by a batch that had one).
-- 3. NOTIFY only when a processor may be asleep. PostgreSQL serializes the commits of notifying
--    transactions (a global lock from pre-commit to the end of commit), so a NOTIFY in every delivery's
--    commit made the receivers' commits take turns. A follower that finds nothing to do records a nap
--    here before it waits; the intake, after its commit and in a statement of its own, notifies only
--    while a nap is recorded. Unlogged: after a crash the table is empty and the processors poll.

CREATE UNLOGGED TABLE webhook_processor_naps (
    worker     text PRIMARY KEY,
    until      timestamptz NOT NULL   -- the nap ends by then (the poll interval); older rows are ignored
);

ALTER TABLE webhook_health
    DROP COLUMN received_count,
    DROP COLUMN duplicate_count,
    DROP COLUMN unknown_owner_count,
    DROP COLUMN last_received_at,
    DROP COLUMN last_processed_at;

-- Store a batch of distinct deliveries: one pending event per entry[] item (owner from account_routes).
-- Returns the digest of each delivery stored; bytes stored before return nothing.
-- Two parameters whatever the batch size, so neither psycopg2 nor PostgreSQL pays per element to quote
-- and parse arrays: `bodies` is the deliveries' own JSON texts joined into one JSON array, `digests`
-- their SHA-256 digests (32 bytes each) concatenated in the same order.
CREATE FUNCTION store_webhook_deliveries(digests bytea, bodies jsonb) RETURNS TABLE (stored_sha256 bytea)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    WITH input AS (
        SELECT substring(digests FROM (b.n::integer - 1) * 32 + 1 FOR 32) AS sha256, b.body
        FROM jsonb_array_elements(bodies) WITH ORDINALITY AS b (body, n)
    ), delivery AS (
        INSERT INTO webhook_deliveries AS d (body_sha256, object, entry_count)
        SELECT input.sha256, input.body ->> 'object', jsonb_array_length(input.body -> 'entry') FROM input
        ON CONFLICT (body_sha256) DO NOTHING
        RETURNING d.id, d.body_sha256, d.object
    ), events AS (
        INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
        SELECT delivery.id, item.ordinality - 1, route.user_id, delivery.object,
               coalesce(item.value -> 'changes' -> 0 ->> 'field',
                        CASE WHEN item.value ? 'messaging' THEN 'messaging' END),
               item.value ->> 'id', item.value
        FROM delivery
        JOIN input ON input.sha256 = delivery.body_sha256
        CROSS JOIN jsonb_array_elements(input.body -> 'entry') WITH ORDINALITY AS item
        LEFT JOIN account_routes route ON route.external_id = item.value ->> 'id'
    )
    SELECT delivery.body_sha256 FROM delivery;
END $$;
