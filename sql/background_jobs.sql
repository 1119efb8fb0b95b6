-- Named queries: The background-jobs queue (webhook_app/background_jobs).
-- Only the package named here runs them (tests/test_query_ownership.py).

-- enqueue_job --
-- Queue a job (once per dedupe key while one is queued) and wake the workers at commit.
WITH added AS (
    INSERT INTO background_jobs (kind, payload, dedupe_key, run_at)
    VALUES (%(kind)s, %(payload)s::jsonb, %(dedupe_key)s, now() + make_interval(secs => %(delay)s))
    ON CONFLICT (dedupe_key) WHERE status = 'queued' AND dedupe_key IS NOT NULL DO NOTHING
    RETURNING id
)
SELECT id, pg_notify('background_jobs', %(kind)s) FROM added;

-- claim_job --
-- Take the next due job (or one whose worker's lease ran out) and hold it under a lease.
UPDATE background_jobs SET status = 'running', attempts = attempts + 1, locked_by = %(worker)s,
                           lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
WHERE id = (
    SELECT id FROM background_jobs
    WHERE (status = 'queued' AND run_at <= now()) OR (status = 'running' AND lease_expires_at < now())
    ORDER BY run_at, id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING id, kind, payload, attempts, max_attempts;

-- finish_job --
-- A job that ran to the end.
UPDATE background_jobs SET status = 'done', finished_at = now(), locked_by = NULL, lease_expires_at = NULL,
                           last_error = NULL
WHERE id = %(id)s AND locked_by = %(worker)s;

-- retry_job --
-- A job that failed: back in the queue after a delay, or given up after its last attempt.
UPDATE background_jobs j SET
    status = CASE WHEN j.attempts >= j.max_attempts OR superseded.id IS NOT NULL THEN 'failed' ELSE 'queued' END,
    run_at = now() + make_interval(secs => %(delay)s),
    finished_at = CASE WHEN j.attempts >= j.max_attempts OR superseded.id IS NOT NULL THEN now() END,
    last_error = %(error)s, locked_by = NULL, lease_expires_at = NULL
FROM (SELECT 1) AS one
-- A newer job with the same key is already queued: it does the work, this one stops here.
LEFT JOIN LATERAL (SELECT o.id FROM background_jobs o, background_jobs me
                   WHERE me.id = %(id)s AND o.dedupe_key = me.dedupe_key AND o.status = 'queued'
                     AND o.id <> me.id LIMIT 1) AS superseded ON true
WHERE j.id = %(id)s AND j.locked_by = %(worker)s
RETURNING j.status;

-- prune_jobs --
-- Forget finished jobs older than the retention.
DELETE FROM background_jobs
WHERE status IN ('done', 'failed') AND finished_at < now() - make_interval(days => %(days)s);
