-- store_deliveries --
-- Store a batch of new deliveries and one pending event per entry[] item (owner from account_routes); a row per delivery stored, none for bytes already stored.
WITH input AS (
    SELECT * FROM unnest(%(digests)s::bytea[], %(objects)s::text[], %(entry_counts)s::integer[], %(bodies)s::text[])
        AS d (body_sha256, object, entry_count, body)
), delivery AS (
    INSERT INTO webhook_deliveries AS d (body_sha256, object, entry_count)
    SELECT body_sha256, object, entry_count FROM input
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
)
SELECT delivery.body_sha256, delivery.id AS delivery_id,
       count(events.delivery_id) AS events,
       count(events.delivery_id) FILTER (WHERE events.user_id IS NULL) AS unknown_owner,
       coalesce(array_agg(events.user_id) FILTER (WHERE events.user_id IS NOT NULL), '{}') AS user_ids
FROM delivery
LEFT JOIN events ON events.delivery_id = delivery.id
GROUP BY delivery.body_sha256, delivery.id;

-- record_deliveries_health --
-- After a batch committed: count its events in the owners' and the app-wide health records, count the duplicates, and wake the processors.
-- Its own (implicit) transaction: bookkeeping that may be lost in a crash commits without waiting for the disk,
-- so it never queues deliveries behind a flush. Rows are locked in one order (owners by id, then the app-wide row).
WITH relax AS (
    -- is_local: for this statement's own transaction only
    SELECT set_config('synchronous_commit', 'off', true)
), owners AS (
    INSERT INTO webhook_health AS h (user_id, received_count, last_received_at)
    SELECT owner.user_id, owner.events, now()
    FROM unnest(%(user_ids)s::bigint[], %(user_events)s::bigint[]) AS owner (user_id, events)
    ORDER BY owner.user_id
    ON CONFLICT (user_id) DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count, last_received_at = now()
), duplicates AS (
    UPDATE webhook_deliveries AS d
    SET duplicate_count = d.duplicate_count + again.times, last_duplicate_at = now()
    FROM unnest(%(duplicate_digests)s::bytea[], %(duplicate_times)s::integer[]) AS again (body_sha256, times)
    WHERE d.body_sha256 = again.body_sha256
    RETURNING again.times
), app AS (
    INSERT INTO webhook_health AS h (user_id, received_count, unknown_owner_count, duplicate_count, last_received_at)
    SELECT NULL, %(events)s, %(unknown_owner)s, coalesce(sum(times), 0), now() FROM duplicates
    ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count,
        unknown_owner_count = h.unknown_owner_count + EXCLUDED.unknown_owner_count,
        duplicate_count = h.duplicate_count + EXCLUDED.duplicate_count,
        last_received_at = now()
)
SELECT CASE WHEN %(stored)s THEN pg_notify('webhook_events', %(last_delivery_id)s::text) END FROM relax;

-- mark_webhook_verified --
-- Meta's verification handshake succeeded: record it on the app-wide health record.
INSERT INTO webhook_health AS h (user_id, verified_at) VALUES (NULL, now())
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE SET verified_at = now();

-- app_webhook_health --
-- The app-wide health record (verification, totals, unknown owners).
SELECT * FROM webhook_health WHERE user_id IS NULL;

