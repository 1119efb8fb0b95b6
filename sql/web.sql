-- Named queries: Request plumbing (webhook_app/web): server-side sessions and rate-limit counters.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- get_session --
-- A session's data if it has not expired.
SELECT data FROM sessions WHERE session_id = %(session_id)s AND expires_at > now();

-- upsert_session --
-- Create or replace a session.
INSERT INTO sessions (session_id, user_id, data, expires_at)
VALUES (%(session_id)s, %(user_id)s, %(data)s, %(expires_at)s)
ON CONFLICT (session_id) DO UPDATE
SET data = EXCLUDED.data, user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at, updated_at = now();

-- delete_session --
-- Remove one session.
DELETE FROM sessions WHERE session_id = %(session_id)s;

-- delete_expired_sessions --
-- Remove every expired session, and anonymous ones nobody has touched for a day.
DELETE FROM sessions
WHERE expires_at <= now() OR (user_id IS NULL AND updated_at < now() - interval '1 day');

-- rate_limit_incr --
-- Add to a counter, starting a new window when the old one has expired; returns the new count.
INSERT INTO rate_limit_counters AS c (key, count, expires_at)
VALUES (%(key)s, %(amount)s, now() + make_interval(secs => %(expiry)s))
ON CONFLICT (key) DO UPDATE
SET count = CASE WHEN c.expires_at <= now() THEN EXCLUDED.count ELSE c.count + EXCLUDED.count END,
    expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
RETURNING count;

-- rate_limit_get --
-- The live count of a counter (0 when absent or expired).
SELECT count FROM rate_limit_counters WHERE key = %(key)s AND expires_at > now();

-- rate_limit_expiry --
-- When a counter's window ends, as a Unix time.
SELECT extract(epoch FROM expires_at)::float8 AS expires_at
FROM rate_limit_counters WHERE key = %(key)s AND expires_at > now();

-- rate_limit_clear --
-- Forget one counter.
DELETE FROM rate_limit_counters WHERE key = %(key)s;

-- rate_limit_reset --
-- Forget every counter.
DELETE FROM rate_limit_counters;

-- rate_limit_purge_expired --
-- Drop counters whose window has ended.
DELETE FROM rate_limit_counters WHERE expires_at <= now();
