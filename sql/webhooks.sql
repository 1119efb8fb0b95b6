-- Named queries: A delivery's trip (webhook_app/webhooks), in walking order: intake, queue, handlers' inbox writes, the events and inbox lists, statistics, health, retention.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- store_deliveries --
-- Store a batch of distinct deliveries and their events, in one statement, one round trip and one durable commit;
-- returns the digest of each delivery stored (bytes stored before return nothing) and whether anyone naps. The
-- statement is the function of migration 0160, so its plan is kept by the server without a prepared statement (none
-- survives PgBouncer's transaction pooling). It locks no shared row and sends no NOTIFY (wake_webhook_processors
-- does, after the commit, when `napping` says so).
SELECT stored_sha256, napping FROM store_webhook_deliveries(%(digests)s::bytea, %(bodies)s::jsonb, %(requests)s::jsonb);

-- wake_webhook_processors --
-- After an intake commit that found a nap: wake the processors and open streams (a statement of its own, so the
-- deliveries' commit does not take the lock PostgreSQL serializes notifying commits with).
SELECT pg_notify('webhook_events', 'intake');

-- count_duplicate_deliveries --
-- Deliveries whose bytes were stored before: add how often each arrived again to its own row.
UPDATE webhook_deliveries AS d
SET duplicate_count = d.duplicate_count + a.times, last_duplicate_at = now()
FROM unnest(%(digests)s::bytea[], %(times)s::integer[]) AS a (body_sha256, times)
WHERE d.body_sha256 = a.body_sha256;

-- mark_webhook_verified --
-- Meta's verification handshake succeeded: record it on the app-wide health record.
INSERT INTO webhook_health AS h (user_id, verified_at) VALUES (NULL, now())
ON CONFLICT ((user_id IS NULL)) WHERE user_id IS NULL DO UPDATE SET verified_at = now();

-- claim_webhook_events --
-- Take up to batch_size due events for one worker: mark them processing with a lease in the same statement (others skip rows already taken).
-- Returns event_queue.Event's fields, in their order.
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
-- A live worker pushes back the lease of every event it holds, skipping rows a batch has locked right now
-- (never waiting for it: reclaiming skips locked rows too, so those are not at risk while locked).
UPDATE webhook_events e
SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
WHERE e.id IN (
    SELECT id FROM webhook_events
    WHERE status = 'processing' AND locked_by = ANY(%(workers)s)
    FOR UPDATE SKIP LOCKED
);

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

-- set_nap_lock_timeout --
-- Recording a nap waits for the intake statements under way (record_webhook_processor_nap): a few milliseconds, never
-- more than this (a nap not recorded leaves the follower to its poll).
SELECT set_config('lock_timeout', '1s', true);

-- record_webhook_processor_nap --
-- A follower found nothing to do and is about to wait: until then, the intake wakes it (wake_webhook_processors).
-- Naps of workers long gone (each process start names its workers anew) are forgotten on the way.
-- Before its commit it waits for the intake statements under way (migration 0160's handshake): each of them either
-- commits first, so the follower's look after this finds its events, or reads the naps after this commit and NOTIFYs.
WITH forgotten AS (
    DELETE FROM webhook_processor_naps WHERE until < now() - interval '1 hour'
), napped AS (
    INSERT INTO webhook_processor_naps (worker, until) VALUES (%(worker)s, now() + make_interval(secs => %(seconds)s))
    ON CONFLICT (worker) DO UPDATE SET until = EXCLUDED.until
    RETURNING worker
)
SELECT pg_advisory_xact_lock(7020, 0) FROM napped;

-- record_webhook_processing_errors --
-- After a batch in which handlers failed: each user's latest error (only such batches write here; a batch that went
-- well touches no per-user row, its processed_at on the events says when).
INSERT INTO webhook_health AS h (user_id, last_error, last_error_at)
SELECT u.user_id, u.error, now()
FROM unnest(%(user_ids)s::bigint[], %(errors)s::text[]) AS u (user_id, error)
ORDER BY u.user_id
ON CONFLICT (user_id) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at;

-- retry_webhook_event --
-- Put one of a user's failed or dead-letter events back in the queue, due now, and wake the processors.
WITH retried AS (
    UPDATE webhook_events
    SET status = 'pending', run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = %(event_id)s AND user_id = %(user_id)s AND status IN ('failed', 'dead_letter')
    RETURNING id
)
SELECT id, pg_notify('webhook_events', id::text) FROM retried;

-- create_webhook_event_partitions_ahead --
-- The weekly partitions of webhook_events for this week and the next `weeks` (migration 0121), made where missing.
SELECT webhook_events_create_partition(week::date) AS name
FROM generate_series(date_trunc('week', now() AT TIME ZONE 'UTC'),
                     date_trunc('week', now() AT TIME ZONE 'UTC') + make_interval(weeks => %(weeks)s),
                     interval '1 week') AS week;

-- expired_webhook_event_partitions --
-- The weekly partitions whose whole week is older than the retention period, oldest first.
SELECT name FROM webhook_events_partitions() WHERE ends <= now() - make_interval(days => %(days)s) ORDER BY starts;

-- set_partition_drop_lock_timeout --
-- Detaching a week takes the parent's strongest lock: wait for it this long, never longer (the next run tries again).
SELECT set_config('lock_timeout', '5s', true);

-- detach_webhook_event_partition --
-- Retention for one whole week, step 1 (migration 0121): detach it, a catalog change under the parent's lock.
SELECT webhook_events_detach_partition(%(partition)s, now() - make_interval(days => %(days)s));

-- detached_webhook_event_partitions --
-- Weeks detached and not yet dropped (step 2 below), including any an interrupted run left.
SELECT name FROM webhook_events_detached() AS name;

-- drop_detached_webhook_event_partition --
-- Step 2, taking no lock others wait for: unfinished events back into the default partition, the rest dropped.
SELECT dropped, kept FROM webhook_events_drop_detached(%(partition)s);

-- prune_processed_webhook_events --
-- Delete up to `limit` processed events older than the retention period from the default partition (events no week
-- covered, and unfinished ones kept from dropped weeks that have finished since), clearing the links to them.
WITH doomed AS (
    SELECT id, received_at FROM webhook_events_default
    WHERE status = 'processed' AND processed_at < now() - make_interval(days => %(days)s)
    LIMIT %(limit)s
), gone AS (
    DELETE FROM webhook_events e USING doomed WHERE e.id = doomed.id AND e.received_at = doomed.received_at
    RETURNING e.id
), ids AS (
    SELECT coalesce(array_agg(id), '{}') AS ids FROM gone
)
SELECT cardinality(ids) AS deleted, webhook_events_unlink(ids) FROM ids;

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
-- The filter is webhook_event_matches (migration 0150), the same as "retry every match" uses: object and field
-- match case-insensitively from their start ("Comment" finds comments); `q` finds an event by its id, its entry
-- (Meta) id, or any text in its payload, case-insensitively; `account` is the entry id Meta sent.
SELECT id, object, field, entry_id, status, attempts, note, received_at, run_at, processed_at, updated_at,
       jsonb_array_length(errors) AS error_count, errors -> -1 ->> 'message' AS last_error,
       left(coalesce(payload #>> '{changes,0,value,text}', payload #>> '{messaging,0,message,text}',
                     payload #>> '{changes,0,value,messages,0,text,body}',
                     payload #>> '{changes,0,value,statuses,0,status}', payload #>> '{changes,0,value,message}'), 120)
           AS summary_text,
       coalesce(payload #>> '{changes,0,value,from,username}', payload #>> '{changes,0,value,from,name}',
                payload #>> '{messaging,0,sender,id}', payload #>> '{changes,0,value,contacts,0,profile,name}',
                payload #>> '{changes,0,value,messages,0,from}', payload #>> '{changes,0,value,from,id}')
           AS summary_who
FROM webhook_events
WHERE user_id = %(user_id)s
  AND webhook_event_matches(id, status, object, field, entry_id, payload, received_at, %(status)s, %(object)s,
                            %(field)s, %(account)s, %(q)s, %(since)s, %(until)s)
  AND (%(before_at)s::timestamptz IS NULL OR (received_at, id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s;

-- user_webhook_event_choices --
-- What the user's events hold, for the filters' choices: each object, field and entry (account) id, with a count.
SELECT 'object' AS kind, object AS value, count(*) AS count FROM webhook_events WHERE user_id = %(user_id)s GROUP BY object
UNION ALL
SELECT 'field', field, count(*) FROM webhook_events WHERE user_id = %(user_id)s AND field IS NOT NULL GROUP BY field
UNION ALL
SELECT 'account', e.entry_id, count(*) FROM webhook_events e
WHERE e.user_id = %(user_id)s AND e.entry_id IS NOT NULL GROUP BY e.entry_id
ORDER BY kind, count DESC, value
LIMIT 300;

-- get_user_webhook_event --
-- One of a user's events with its payload and error history, and its delivery: when it came, how often again, and the
-- request headers and peer address it came with (NULL for deliveries stored before migration 0160).
SELECT e.id, e.delivery_id, e.entry_index, e.object, e.field, e.entry_id, e.payload, e.status, e.attempts, e.errors,
       e.note, e.received_at, e.run_at, e.processed_at, e.updated_at, e.lease_expires_at,
       d.received_at AS delivered_at, d.entry_count AS delivery_entries, d.duplicate_count,
       d.last_duplicate_at, encode(d.body_sha256, 'hex') AS delivery_sha256,
       d.headers AS delivery_headers, d.remote_addr AS delivery_remote_addr
FROM webhook_events e JOIN webhook_deliveries d ON d.id = e.delivery_id
WHERE e.id = %(event_id)s AND e.user_id = %(user_id)s;

-- replay_user_webhook_events --
-- Run some of a user's events again, whatever their outcome (not while a worker holds one): back to pending, due
-- now, and wake the processors. `retryable_only` limits it to failed and dead-letter events (a retry).
WITH again AS (
    UPDATE webhook_events
    SET status = 'pending', run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE user_id = %(user_id)s AND id = ANY(%(ids)s::bigint[])
      AND (status IN ('failed', 'dead_letter') OR (NOT %(retryable_only)s AND status IN ('processed', 'pending')))
    RETURNING id
), counted AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM again
)
SELECT coalesce(ids, '{}') AS ids, CASE WHEN ids IS NOT NULL THEN pg_notify('webhook_events', 'replay') END AS notified
FROM counted;

-- delete_user_webhook_events --
-- Remove some of a user's events; the ids removed. The rows made from them stay, unlinked (no foreign key
-- on a partitioned table: webhook_events_unlink does what ON DELETE SET NULL did).
WITH gone AS (
    DELETE FROM webhook_events WHERE user_id = %(user_id)s AND id = ANY(%(ids)s::bigint[]) RETURNING id
), unlinked AS (
    SELECT webhook_events_unlink(array_agg(id)) FROM gone HAVING count(*) > 0
)
SELECT id FROM gone, (SELECT count(*) FROM unlinked) AS u;

-- delete_user_webhook_event --
-- Remove one of a user's events; the inbox rows made from it stay, unlinked (no foreign key on a partitioned table).
WITH gone AS (
    DELETE FROM webhook_events WHERE id = %(event_id)s AND user_id = %(user_id)s RETURNING id
)
SELECT id, webhook_events_unlink(ARRAY[id]) FROM gone;

-- retry_user_webhook_events_matching --
-- Put every failed or dead-letter event of a user that matches the filter back in the queue, due now, and wake the processors.
WITH retried AS (
    UPDATE webhook_events
    SET status = 'pending', run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE user_id = %(user_id)s
      AND status IN ('failed', 'dead_letter')
      AND webhook_event_matches(id, status, object, field, entry_id, payload, received_at, %(status)s, %(object)s,
                                %(field)s, %(account)s, %(q)s, %(since)s, %(until)s)
    RETURNING id
), counted AS (
    SELECT count(*) AS retried FROM retried
)
SELECT retried, CASE WHEN retried > 0 THEN pg_notify('webhook_events', 'retry') END AS notified FROM counted;

-- newest_webhook_event_id --
-- The highest event id so far: where the live stream starts watching for arrivals.
SELECT coalesce(max(id), 0) AS id FROM webhook_events;

-- webhook_arrivals_since --
-- Events stored after `after_id`, per owner (the live stream tells each owner); the highest id seen, owner or not.
WITH fresh AS (
    SELECT id, user_id FROM webhook_events WHERE id > %(after_id)s
)
SELECT user_id, max(id) AS last_id, count(*) AS count FROM fresh GROUP BY user_id;

-- user_has_webhook_events_after --
-- Whether a user has events stored after `after_id` (a stream reconnecting with Last-Event-ID missed them).
SELECT EXISTS (SELECT 1 FROM webhook_events WHERE user_id = %(user_id)s AND id > %(after_id)s) AS missed;

-- announce_webhook_changes --
-- After a processor's batch committed: tell the live streams which users' events changed (channel live_updates).
SELECT pg_notify('live_updates', %(payload)s);

-- webhook_activity_by_bucket --
-- A user's received / processed / failed per bucket (an hour or a day) over a range longer than a day: the hourly
-- rollup for what is older than the minute rollups' window, the minute rollups after it (never both for a moment).
SELECT date_bin(%(bucket)s::interval, at, '2000-01-01'::timestamptz) AS at, sum(received)::int AS received,
       sum(processed)::int AS processed, sum(failed)::int AS failed
FROM (
    SELECT hour AS at, received, processed, failed FROM webhook_activity_hours
    WHERE user_id = %(user_id)s AND hour > now() - %(span)s::interval
    UNION ALL
    SELECT minute, received, processed, failed FROM webhook_activity_minutes
    WHERE user_id = %(user_id)s AND minute > now() - %(span)s::interval
) rolled
GROUP BY 1
HAVING sum(received) <> 0 OR sum(processed) <> 0 OR sum(failed) <> 0
ORDER BY 1;

-- prune_webhook_activity_hours --
-- Forget a user's hourly activity older than the longest chart (30 days) needs.
DELETE FROM webhook_activity_hours WHERE user_id = %(user_id)s AND hour < now() - interval '31 days';

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
-- Move a user's per-minute activity older than the 24 h chart needs (48 h, to the hour) into the hourly rollup.
WITH gone AS (
    DELETE FROM webhook_activity_minutes
    WHERE user_id = %(user_id)s AND minute < date_trunc('hour', now() - interval '48 hours')
    RETURNING minute, received, processed, failed
)
INSERT INTO webhook_activity_hours (user_id, hour, received, processed, failed)
SELECT %(user_id)s, date_trunc('hour', minute), sum(received), sum(processed), sum(failed) FROM gone GROUP BY 2;

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
-- Whether Meta verified the webhook, when the user's events last arrived and were processed, and their last error.
SELECT (SELECT verified_at FROM webhook_health WHERE user_id IS NULL) AS verified_at,
       (SELECT e.received_at FROM webhook_events e WHERE e.user_id = %(user_id)s
        ORDER BY e.received_at DESC, e.id DESC LIMIT 1) AS last_received_at,
       (SELECT e.processed_at FROM webhook_events e WHERE e.user_id = %(user_id)s AND e.status = 'processed'
        ORDER BY e.received_at DESC, e.id DESC LIMIT 1) AS last_processed_at,
       h.last_error, h.last_error_at, now() AS now
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
-- The user's last handler error, and the newest event received and processed for them.
SELECT h.last_error, h.last_error_at,
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

-- unowned_webhook_events_summary --
-- Deliveries whose entry id no connected account owns (owner unknown, SPEC 7), kept until an account claims them:
-- how many, for how many ids, per object, and the newest. Counts only: the ids may be anyone's.
WITH unowned AS (
    SELECT entry_id, object, received_at FROM webhook_events WHERE user_id IS NULL
), per_object AS (
    SELECT object, count(*) AS n FROM unowned GROUP BY object
)
SELECT (SELECT count(*) FROM unowned) AS count,
       (SELECT count(DISTINCT entry_id) FROM unowned) AS ids,
       (SELECT max(received_at) FROM unowned) AS last_received_at,
       (SELECT coalesce(jsonb_object_agg(object, n), '{}') FROM per_object) AS by_object;
