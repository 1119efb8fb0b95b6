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
-- Remove every expired session.
DELETE FROM sessions WHERE expires_at <= now();
