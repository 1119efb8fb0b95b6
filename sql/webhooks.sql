-- store_delivery --
-- Store a new delivery and one event per entry[] item (owner from account_routes); returns nothing for bytes already stored.
WITH delivery AS (
    INSERT INTO webhook_deliveries (body_sha256, object, entry_count)
    VALUES (%(body_sha256)s, %(object)s, %(entry_count)s)
    ON CONFLICT (body_sha256) DO NOTHING
    RETURNING id
), events AS (
    INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
    SELECT delivery.id, item.ordinality - 1, route.user_id, %(object)s,
           coalesce(item.value -> 'changes' -> 0 ->> 'field',
                    CASE WHEN item.value ? 'messaging' THEN 'messaging' END),
           item.value ->> 'id', item.value
    FROM delivery
    CROSS JOIN jsonb_array_elements(%(body)s::jsonb -> 'entry') WITH ORDINALITY AS item
    LEFT JOIN account_routes route ON route.external_id = item.value ->> 'id'
    RETURNING user_id
), owners AS (
    SELECT user_id, count(*) AS events FROM events WHERE user_id IS NOT NULL GROUP BY user_id
)
SELECT delivery.id AS delivery_id,
       (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM events WHERE user_id IS NULL) AS unknown_owner,
       coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM owners), '{}') AS user_ids,
       coalesce((SELECT array_agg(events ORDER BY user_id) FROM owners), '{}') AS user_events
FROM delivery;

-- relax_commit --
-- Bookkeeping that may be lost in a crash commits without waiting for the disk, so it never queues deliveries behind a flush.
SELECT set_config('synchronous_commit', 'off', true);

-- record_delivery_health --
-- After a delivery committed: count its events in the owners' and the app-wide health records, and wake the processors.
WITH owners AS (
    INSERT INTO webhook_health AS h (user_id, received_count, last_received_at)
    SELECT owner.user_id, owner.events, now()
    FROM unnest(%(user_ids)s::bigint[], %(user_events)s::bigint[]) AS owner (user_id, events)
    ORDER BY owner.user_id
    ON CONFLICT (user_id) DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count, last_received_at = now()
), app AS (
    INSERT INTO webhook_health AS h (user_id, received_count, unknown_owner_count, last_received_at)
    VALUES (NULL, %(events)s, %(unknown_owner)s, now())
    ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
    SET received_count = h.received_count + EXCLUDED.received_count,
        unknown_owner_count = h.unknown_owner_count + EXCLUDED.unknown_owner_count,
        last_received_at = now()
)
SELECT pg_notify('webhook_events', %(delivery_id)s::text);

-- count_duplicate_delivery --
-- The same bytes arrived again: count it on the delivery and in the app-wide health record.
WITH delivery AS (
    UPDATE webhook_deliveries SET duplicate_count = duplicate_count + 1, last_duplicate_at = now()
    WHERE body_sha256 = %(body_sha256)s
    RETURNING id
)
INSERT INTO webhook_health AS h (user_id, duplicate_count, last_received_at)
SELECT NULL, count(*), now() FROM delivery
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE
SET duplicate_count = h.duplicate_count + EXCLUDED.duplicate_count, last_received_at = now();

-- mark_webhook_verified --
-- Meta's verification handshake succeeded: record it on the app-wide health record.
INSERT INTO webhook_health AS h (user_id, verified_at) VALUES (NULL, now())
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE SET verified_at = now();

-- app_webhook_health --
-- The app-wide health record (verification, totals, unknown owners).
SELECT * FROM webhook_health WHERE user_id IS NULL;

