-- Named queries: A delivery's trip (webhook_app/webhooks), in walking order: intake, queue, handlers' inbox writes, the events and inbox lists, statistics, health, retention.
-- Only the package named here runs them (tests/test_query_ownership.py).

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

-- claim_webhook_events --
-- Take up to batch_size due events for one worker: mark them processing with a lease in the same statement (others skip rows already taken).
WITH due AS (
    SELECT id FROM webhook_events
    WHERE status IN ('pending', 'failed') AND run_at <= now()
    ORDER BY run_at
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_events e
SET status = 'processing', attempts = e.attempts + 1, locked_by = %(worker)s,
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s), updated_at = now()
FROM due
WHERE e.id = due.id
RETURNING e.id, e.user_id, e.object, e.field, e.entry_id, e.payload, e.attempts;

-- lock_claimed_webhook_events --
-- Row-lock the events this worker still holds, so nobody can reclaim them while it finishes.
SELECT id FROM webhook_events
WHERE id = ANY(%(ids)s) AND locked_by = %(worker)s AND status = 'processing'
ORDER BY id
FOR UPDATE;

-- complete_webhook_events --
-- Mark a worker's events processed, each with its note; only events it still holds.
UPDATE webhook_events e
SET status = 'processed', processed_at = now(), note = done.note,
    locked_by = NULL, lease_expires_at = NULL, updated_at = now()
FROM unnest(%(ids)s::bigint[], %(notes)s::text[]) AS done (id, note)
WHERE e.id = done.id AND e.locked_by = %(worker)s AND e.status = 'processing'
RETURNING e.id;

-- fail_webhook_events --
-- Record a failed attempt on a worker's events: retry after the attempt's delay (with jitter), or dead_letter after
-- the last one, or at once when the failure is permanent (a payload that can never succeed).
UPDATE webhook_events e
SET status = CASE WHEN failed.permanent OR e.attempts > cardinality(%(delays)s::float8[]) THEN 'dead_letter'
                  ELSE 'failed' END,
    run_at = CASE WHEN failed.permanent OR e.attempts > cardinality(%(delays)s::float8[]) THEN e.run_at
                  ELSE now() + make_interval(secs => (%(delays)s::float8[])[e.attempts]
                                                    * (1 - %(jitter)s + 2 * %(jitter)s * random())) END,
    errors = e.errors || jsonb_build_array(jsonb_build_object(
        'attempt', e.attempts, 'at', now(), 'message', failed.message)),
    locked_by = NULL, lease_expires_at = NULL, updated_at = now()
FROM unnest(%(ids)s::bigint[], %(messages)s::text[], %(permanent)s::bool[]) AS failed (id, message, permanent)
WHERE e.id = failed.id AND e.locked_by = %(worker)s AND e.status = 'processing'
RETURNING e.id, e.status;

-- extend_webhook_leases --
-- A live worker pushes back the lease of every event it holds.
UPDATE webhook_events
SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
WHERE status = 'processing' AND locked_by = ANY(%(workers)s);

-- reclaim_expired_webhook_leases --
-- Return events whose worker stopped extending its lease to the queue (dead_letter after too many lost leases).
UPDATE webhook_events e
SET status = CASE WHEN e.attempts >= %(lost_lease_limit)s THEN 'dead_letter' ELSE 'pending' END,
    errors = e.errors || jsonb_build_array(jsonb_build_object(
        'attempt', e.attempts, 'at', now(),
        'message', 'lease expired: worker ' || coalesce(e.locked_by, '?') || ' stopped before finishing')),
    locked_by = NULL, lease_expires_at = NULL, updated_at = now()
WHERE e.id IN (
    SELECT id FROM webhook_events
    WHERE status = 'processing' AND lease_expires_at <= now()
    FOR UPDATE SKIP LOCKED
)
RETURNING e.id;

-- seconds_until_next_webhook_event --
-- How long until the earliest pending or failed event is due (negative when overdue, NULL when none).
SELECT extract(epoch FROM min(run_at) - now())::float8 AS seconds
FROM webhook_events WHERE status IN ('pending', 'failed');

-- record_webhook_processing_health --
-- After a batch: when each user's events were last processed, and their latest error.
INSERT INTO webhook_health AS h (user_id, last_processed_at, last_error, last_error_at)
SELECT u.user_id, CASE WHEN u.processed THEN now() END, u.error, CASE WHEN u.error IS NOT NULL THEN now() END
FROM unnest(%(user_ids)s::bigint[], %(processed)s::bool[], %(errors)s::text[]) AS u (user_id, processed, error)
ORDER BY u.user_id
ON CONFLICT (user_id) DO UPDATE
SET last_processed_at = coalesce(EXCLUDED.last_processed_at, h.last_processed_at),
    last_error = coalesce(EXCLUDED.last_error, h.last_error),
    last_error_at = coalesce(EXCLUDED.last_error_at, h.last_error_at);

-- retry_webhook_event --
-- Put one of a user's failed or dead-letter events back in the queue, due now, and wake the processors.
WITH retried AS (
    UPDATE webhook_events
    SET status = 'pending', run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = %(event_id)s AND user_id = %(user_id)s AND status IN ('failed', 'dead_letter')
    RETURNING id
)
SELECT id, pg_notify('webhook_events', id::text) FROM retried;

-- prune_processed_webhook_events --
-- Delete up to `limit` processed events older than the retention period.
DELETE FROM webhook_events WHERE id IN (
    SELECT id FROM webhook_events
    WHERE status = 'processed' AND processed_at < now() - make_interval(days => %(days)s)
    LIMIT %(limit)s
);

-- prune_old_webhook_deliveries --
-- Delete up to `limit` deliveries older than the retention period whose events are all gone.
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.received_at < now() - make_interval(days => %(days)s)
      AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.delivery_id = d.id)
    LIMIT %(limit)s
);

-- record_interaction --
-- Add an inbox row keyed by Meta's own id; the same id again changes nothing.
INSERT INTO interactions (user_id, platform, kind, external_id, account_id, sender_id, recipient_id,
                          text, status, occurred_at, event_id, data)
VALUES (%(user_id)s, %(platform)s, %(kind)s, %(external_id)s, %(account_id)s, %(sender_id)s,
        %(recipient_id)s, %(text)s, %(status)s, %(occurred_at)s, %(event_id)s, %(data)s::jsonb)
ON CONFLICT (platform, kind, external_id) DO NOTHING;

-- record_interaction_latest --
-- Add or refresh an inbox row keyed by Meta's own id (for figures Meta sends again, such as story insights).
INSERT INTO interactions (user_id, platform, kind, external_id, account_id, sender_id, recipient_id,
                          text, status, occurred_at, event_id, data)
VALUES (%(user_id)s, %(platform)s, %(kind)s, %(external_id)s, %(account_id)s, %(sender_id)s,
        %(recipient_id)s, %(text)s, %(status)s, %(occurred_at)s, %(event_id)s, %(data)s::jsonb)
ON CONFLICT (platform, kind, external_id) DO UPDATE
SET data = EXCLUDED.data, occurred_at = EXCLUDED.occurred_at, event_id = EXCLUDED.event_id, updated_at = now();

-- list_user_webhook_events --
-- One page of a user's events, newest first, filtered; keyset: strictly older than (before_at, before_id).
SELECT id, object, field, entry_id, status, attempts, note, received_at, run_at, processed_at, updated_at,
       jsonb_array_length(errors) AS error_count
FROM webhook_events
WHERE user_id = %(user_id)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(object)s::text IS NULL OR object = %(object)s)
  AND (%(field)s::text IS NULL OR field = %(field)s)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)
  AND (%(before_at)s::timestamptz IS NULL OR (received_at, id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s;

-- get_user_webhook_event --
-- One of a user's events with its payload and error history.
SELECT id, delivery_id, entry_index, object, field, entry_id, payload, status, attempts, errors, note,
       received_at, run_at, processed_at, updated_at, lease_expires_at
FROM webhook_events
WHERE id = %(event_id)s AND user_id = %(user_id)s;

-- delete_user_webhook_event --
-- Remove one of a user's events.
DELETE FROM webhook_events WHERE id = %(event_id)s AND user_id = %(user_id)s RETURNING id;

-- retry_user_webhook_events_matching --
-- Put every failed or dead-letter event of a user that matches the filter back in the queue, due now, and wake the processors.
WITH retried AS (
    UPDATE webhook_events
    SET status = 'pending', run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE user_id = %(user_id)s
      AND status IN ('failed', 'dead_letter')
      AND (%(status)s::text IS NULL OR status = %(status)s)
      AND (%(object)s::text IS NULL OR object = %(object)s)
      AND (%(field)s::text IS NULL OR field = %(field)s)
      AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
      AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)
    RETURNING id
), counted AS (
    SELECT count(*) AS retried FROM retried
)
SELECT retried, CASE WHEN retried > 0 THEN pg_notify('webhook_events', 'retry') END AS notified FROM counted;

-- compact_webhook_status_counts --
-- Fold a user's status-count deltas into one row per status (only when there are deltas).
WITH gone AS (
    DELETE FROM webhook_status_counts
    WHERE user_id = %(user_id)s
      AND EXISTS (SELECT 1 FROM webhook_status_counts WHERE user_id = %(user_id)s AND NOT compacted)
    RETURNING status, n
)
INSERT INTO webhook_status_counts (user_id, status, n, compacted)
SELECT %(user_id)s, status, sum(n), true FROM gone GROUP BY status HAVING sum(n) <> 0;

-- compact_webhook_activity_minutes --
-- Fold a user's per-minute activity deltas into one row per minute, for the minutes that have deltas.
WITH touched AS (
    SELECT DISTINCT minute FROM webhook_activity_minutes WHERE user_id = %(user_id)s AND NOT compacted
), gone AS (
    DELETE FROM webhook_activity_minutes a USING touched
    WHERE a.user_id = %(user_id)s AND a.minute = touched.minute
    RETURNING a.minute, a.received, a.processed, a.failed
)
INSERT INTO webhook_activity_minutes (user_id, minute, received, processed, failed, compacted)
SELECT %(user_id)s, minute, sum(received), sum(processed), sum(failed), true FROM gone GROUP BY minute;

-- prune_webhook_activity_minutes --
-- Forget a user's per-minute activity older than the dashboard ever shows.
DELETE FROM webhook_activity_minutes WHERE user_id = %(user_id)s AND minute < now() - interval '48 hours';

-- webhook_status_counts_for_user --
-- How many of a user's events are in each status.
SELECT status, sum(n)::bigint AS count FROM webhook_status_counts WHERE user_id = %(user_id)s GROUP BY status;

-- webhook_activity_last_day --
-- A user's received / processed / failed counts for each minute of the last 24 hours that had any.
SELECT minute, sum(received)::int AS received, sum(processed)::int AS processed, sum(failed)::int AS failed
FROM webhook_activity_minutes
WHERE user_id = %(user_id)s AND minute > date_trunc('minute', now()) - interval '24 hours'
GROUP BY minute
ORDER BY minute;

-- webhook_state_for_user --
-- Whether Meta verified the webhook, and when the user's events last arrived and were processed.
SELECT (SELECT verified_at FROM webhook_health WHERE user_id IS NULL) AS verified_at,
       h.last_received_at, h.last_processed_at, h.last_error, h.last_error_at, now() AS now
FROM (SELECT 1) AS one
LEFT JOIN webhook_health h ON h.user_id = %(user_id)s;

-- list_user_interactions --
-- One page of a user's inbox, newest first; keyset: strictly older than (before_at, before_id).
SELECT id, platform, kind, external_id, account_id, sender_id, recipient_id, text, status,
       occurred_at, created_at, event_id, coalesce(occurred_at, created_at) AS sort_at
FROM interactions
WHERE user_id = %(user_id)s
  AND (%(platform)s::text IS NULL OR platform = %(platform)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(before_at)s::timestamptz IS NULL
       OR (coalesce(occurred_at, created_at), id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY coalesce(occurred_at, created_at) DESC, id DESC
LIMIT %(limit)s;

-- app_webhook_verification --
-- When Meta last completed the verification handshake (the app-wide health row).
SELECT verified_at FROM webhook_health WHERE user_id IS NULL;

-- user_webhook_health --
-- The user's webhook health row, and the newest event received and processed for them.
SELECT h.last_received_at, h.last_processed_at, h.received_count, h.duplicate_count, h.last_error, h.last_error_at,
       (SELECT e.received_at FROM webhook_events e WHERE e.user_id = %(user_id)s
        ORDER BY e.received_at DESC, e.id DESC LIMIT 1) AS newest_event_at,
       (SELECT e.processed_at FROM webhook_events e WHERE e.user_id = %(user_id)s AND e.status = 'processed'
        ORDER BY e.received_at DESC, e.id DESC LIMIT 1) AS newest_processed_at
FROM (SELECT 1) AS one LEFT JOIN webhook_health h ON h.user_id = %(user_id)s;

-- user_webhook_last_hour --
-- The user's events received in the last hour, and how many of them failed.
SELECT count(*) AS received,
       count(*) FILTER (WHERE status IN ('failed', 'dead_letter')) AS failed
FROM webhook_events WHERE user_id = %(user_id)s AND received_at > now() - interval '1 hour';

-- user_webhook_last_failure --
-- The newest failed event of the user, with its last error.
SELECT id, received_at, updated_at, errors -> -1 ->> 'message' AS message
FROM webhook_events WHERE user_id = %(user_id)s AND status IN ('failed', 'dead_letter')
ORDER BY received_at DESC, id DESC LIMIT 1;

-- adopt_unowned_webhook_events --
-- Give the events that arrived for these ids while no connected account had them (owner unknown) to the user who
-- just connected one, and queue them again, due now; the processors are woken at commit (SPEC 7).
WITH adopted AS (
    UPDATE webhook_events
    SET user_id = %(user_id)s, status = 'pending', run_at = now(), adopted_at = now(), note = NULL,
        locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE user_id IS NULL AND entry_id = ANY(%(external_ids)s::text[]) AND status <> 'processing'
    RETURNING id
), counted AS (
    SELECT count(*) AS adopted FROM adopted
)
SELECT adopted, CASE WHEN adopted > 0 THEN pg_notify('webhook_events', 'adopted') END AS notified FROM counted;

-- user_adopted_webhook_events --
-- How many of the user's events arrived before their account was connected (kept and handed over), and when.
SELECT count(*) AS count, max(received_at) AS last_received_at, max(adopted_at) AS last_adopted_at
FROM webhook_events WHERE user_id = %(user_id)s AND adopted_at IS NOT NULL;
