-- store_deliveries --
-- Store a batch of distinct deliveries: one pending event per entry[] item (owner from account_routes), counted in the
-- health records, and a wake-up for the processors. Returns the digest of each delivery stored; bytes stored before
-- return nothing (count_duplicate_deliveries counts them).
-- Two parameters whatever the batch size, so neither psycopg2 nor PostgreSQL pays per element to quote and parse
-- arrays: `bodies` is the deliveries' own JSON texts joined into one JSON array, `digests` their SHA-256 digests
-- (32 bytes each) concatenated in the same order. One statement, one durable commit. Health rows are locked in one
-- order (owners by id, then the app-wide row). NOTIFY is sent at commit, so a processor woken by it sees the events.
WITH input AS (
    SELECT substring(%(digests)s::bytea FROM (b.n::integer - 1) * 32 + 1 FOR 32) AS body_sha256, b.body
    FROM jsonb_array_elements(%(bodies)s::jsonb) WITH ORDINALITY AS b (body, n)
), delivery AS (
    INSERT INTO webhook_deliveries AS d (body_sha256, object, entry_count)
    SELECT body_sha256, body ->> 'object', jsonb_array_length(body -> 'entry') FROM input
    ON CONFLICT (body_sha256) DO NOTHING
    RETURNING d.id, d.body_sha256, d.object
), events AS (
    INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
    SELECT delivery.id, item.ordinality - 1, route.user_id, delivery.object,
           coalesce(item.value -> 'changes' -> 0 ->> 'field',
                    CASE WHEN item.value ? 'messaging' THEN 'messaging' END),
           item.value ->> 'id', item.value
    FROM delivery
    JOIN input USING (body_sha256)
    CROSS JOIN jsonb_array_elements(input.body -> 'entry') WITH ORDINALITY AS item
    LEFT JOIN account_routes route ON route.external_id = item.value ->> 'id'
    RETURNING user_id
), owners AS (
    INSERT INTO webhook_health AS h (user_id, received_count, last_received_at)
    SELECT user_id, count(*), now() FROM events WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count, last_received_at = now()
), app AS (
    INSERT INTO webhook_health AS h (user_id, received_count, unknown_owner_count, last_received_at)
    SELECT NULL, count(*), count(*) FILTER (WHERE user_id IS NULL), now() FROM events HAVING count(*) > 0
    ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count,
        unknown_owner_count = h.unknown_owner_count + EXCLUDED.unknown_owner_count,
        last_received_at = now()
), wake AS (
    SELECT pg_notify('webhook_events', max(id)::text) FROM delivery HAVING count(*) > 0
)
SELECT delivery.body_sha256, (SELECT count(*) FROM wake) AS woken FROM delivery;

-- count_duplicate_deliveries --
-- Deliveries whose bytes were stored before: add how often each arrived again to its row and to the app-wide record.
WITH again AS (
    UPDATE webhook_deliveries AS d
    SET duplicate_count = d.duplicate_count + a.times, last_duplicate_at = now()
    FROM unnest(%(digests)s::bytea[], %(times)s::integer[]) AS a (body_sha256, times)
    WHERE d.body_sha256 = a.body_sha256
    RETURNING a.times
)
INSERT INTO webhook_health AS h (user_id, duplicate_count)
SELECT NULL, sum(times) FROM again HAVING count(*) > 0
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
SET duplicate_count = h.duplicate_count + EXCLUDED.duplicate_count;

-- mark_webhook_verified --
-- Meta's verification handshake succeeded: record it on the app-wide health record.
INSERT INTO webhook_health AS h (user_id, verified_at) VALUES (NULL, now())
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE SET verified_at = now();

-- app_webhook_health --
-- The app-wide health record (verification, totals, unknown owners).
SELECT * FROM webhook_health WHERE user_id IS NULL;

