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
