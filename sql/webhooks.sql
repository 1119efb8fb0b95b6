-- store_deliveries --
-- Store a batch of deliveries (unique bodies; `times` = how often each came in this batch), one pending event per entry[] item (owner from account_routes), count them in the health records and wake the processors; a row per delivery stored, none for bytes already stored.
-- One statement, one durable commit for the whole batch. Health rows are locked in one order (owners by id, then the
-- app-wide row). NOTIFY is sent at commit, so a processor woken by it sees the events.
WITH input AS (
    SELECT * FROM unnest(%(digests)s::bytea[], %(objects)s::text[], %(entry_counts)s::integer[], %(bodies)s::text[],
                         %(times)s::integer[])
        AS d (body_sha256, object, entry_count, body, times)
), delivery AS (
    INSERT INTO webhook_deliveries AS d (body_sha256, object, entry_count, duplicate_count, last_duplicate_at)
    SELECT body_sha256, object, entry_count, times - 1, CASE WHEN times > 1 THEN now() END FROM input
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
    CROSS JOIN jsonb_array_elements(input.body::jsonb -> 'entry') WITH ORDINALITY AS item
    LEFT JOIN account_routes route ON route.external_id = item.value ->> 'id'
    RETURNING delivery_id, user_id
), owners AS (
    INSERT INTO webhook_health AS h (user_id, received_count, last_received_at)
    SELECT user_id, count(*), now() FROM events WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count, last_received_at = now()
), again AS (
    -- bytes stored before: every arrival in this batch is a duplicate (counted on the stored delivery)
    UPDATE webhook_deliveries AS d
    SET duplicate_count = d.duplicate_count + input.times, last_duplicate_at = now()
    FROM input
    WHERE d.body_sha256 = input.body_sha256 AND input.body_sha256 NOT IN (SELECT body_sha256 FROM delivery)
    RETURNING input.times
), app AS (
    INSERT INTO webhook_health AS h (user_id, received_count, unknown_owner_count, duplicate_count, last_received_at)
    SELECT NULL, (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE user_id IS NULL),
           coalesce((SELECT sum(times) FROM again), 0)
           + coalesce((SELECT sum(times - 1) FROM input WHERE body_sha256 IN (SELECT body_sha256 FROM delivery)), 0),
           now()
    ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count,
        unknown_owner_count = h.unknown_owner_count + EXCLUDED.unknown_owner_count,
        duplicate_count = h.duplicate_count + EXCLUDED.duplicate_count,
        last_received_at = now()
), wake AS (
    SELECT pg_notify('webhook_events', max(id)::text) FROM delivery HAVING count(*) > 0
)
SELECT delivery.body_sha256, delivery.id AS delivery_id,
       count(events.delivery_id) AS events,
       (SELECT count(*) FROM wake) AS woken
FROM delivery
LEFT JOIN events ON events.delivery_id = delivery.id
GROUP BY delivery.body_sha256, delivery.id;

-- mark_webhook_verified --
-- Meta's verification handshake succeeded: record it on the app-wide health record.
INSERT INTO webhook_health AS h (user_id, verified_at) VALUES (NULL, now())
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE SET verified_at = now();

-- app_webhook_health --
-- The app-wide health record (verification, totals, unknown owners).
SELECT * FROM webhook_health WHERE user_id IS NULL;

