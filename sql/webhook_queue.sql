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
-- Record a failed attempt on a worker's events: retry after the attempt's delay (with jitter), or dead_letter after the last one.
UPDATE webhook_events e
SET status = CASE WHEN e.attempts > cardinality(%(delays)s::float8[]) THEN 'dead_letter' ELSE 'failed' END,
    run_at = CASE WHEN e.attempts > cardinality(%(delays)s::float8[]) THEN e.run_at
                  ELSE now() + make_interval(secs => (%(delays)s::float8[])[e.attempts]
                                                    * (1 - %(jitter)s + 2 * %(jitter)s * random())) END,
    errors = e.errors || jsonb_build_array(jsonb_build_object(
        'attempt', e.attempts, 'at', now(), 'message', failed.message)),
    locked_by = NULL, lease_expires_at = NULL, updated_at = now()
FROM unnest(%(ids)s::bigint[], %(messages)s::text[]) AS failed (id, message)
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

-- webhook_queue_counts --
-- How many events are in each status.
SELECT status, count(*) AS count FROM webhook_events GROUP BY status;

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
