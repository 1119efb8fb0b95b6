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
