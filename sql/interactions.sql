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
