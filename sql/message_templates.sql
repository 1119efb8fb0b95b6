-- Named queries: WhatsApp message templates (webhook_app/message_templates): sync state, the templates, webhook updates.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- whatsapp_accounts_to_sync --
-- Every WhatsApp Business account (optionally one user's) with its sealed token, for a template sync.
SELECT c.*, w.waba_id
FROM whatsapp_accounts w JOIN account_credentials c ON c.kind = 'whatsapp' AND c.id = w.id
WHERE %(user_id)s::bigint IS NULL OR w.user_id = %(user_id)s
ORDER BY w.id;

-- whatsapp_account_to_sync --
-- One WhatsApp Business account by row id with its sealed token (for a queued sync).
SELECT c.*, w.waba_id
FROM whatsapp_accounts w JOIN account_credentials c ON c.kind = 'whatsapp' AND c.id = w.id WHERE w.id = %(id)s;

-- start_template_sync --
-- Mark an account's template sync as running.
INSERT INTO template_sync_state (whatsapp_account_id, user_id, running, started_at)
VALUES (%(whatsapp_account_id)s, %(user_id)s, true, now())
ON CONFLICT (whatsapp_account_id) DO UPDATE SET running = true, started_at = now();

-- upsert_templates --
-- Store the templates Meta listed; rows whose content did not change are left untouched.
INSERT INTO message_templates (user_id, whatsapp_account_id, template_id, name, language, status, category,
                               quality_score, rejected_reason, components)
SELECT %(user_id)s, %(whatsapp_account_id)s, t.template_id, t.name, t.language, t.status, t.category,
       t.quality_score, t.rejected_reason, t.components
FROM jsonb_to_recordset(%(templates)s::jsonb) AS t(template_id text, name text, language text, status text,
                                                     category text, quality_score text, rejected_reason text,
                                                     components jsonb)
ON CONFLICT (whatsapp_account_id, template_id) DO UPDATE SET
    name = EXCLUDED.name, language = EXCLUDED.language, status = EXCLUDED.status, category = EXCLUDED.category,
    quality_score = EXCLUDED.quality_score, rejected_reason = EXCLUDED.rejected_reason,
    components = EXCLUDED.components, updated_at = now()
WHERE (message_templates.name, message_templates.language, message_templates.status, message_templates.category,
       message_templates.quality_score, message_templates.rejected_reason, message_templates.components)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.language, EXCLUDED.status, EXCLUDED.category, EXCLUDED.quality_score,
       EXCLUDED.rejected_reason, EXCLUDED.components)
RETURNING (xmax = 0) AS inserted;

-- delete_templates_not_in --
-- Forget the account's templates that Meta no longer lists.
DELETE FROM message_templates
WHERE whatsapp_account_id = %(whatsapp_account_id)s AND NOT (template_id = ANY(%(keep)s))
RETURNING template_id;

-- finish_template_sync --
-- Record a successful sync: when, how many templates, and no error.
UPDATE template_sync_state SET running = false, last_synced_at = now(), template_count = %(template_count)s,
                               last_error = NULL, last_error_at = NULL
WHERE whatsapp_account_id = %(whatsapp_account_id)s;

-- fail_template_sync --
-- Record why a sync failed (the templates stored before stay as they were).
INSERT INTO template_sync_state (whatsapp_account_id, user_id, running, last_error, last_error_at)
VALUES (%(whatsapp_account_id)s, %(user_id)s, false, %(error)s, now())
ON CONFLICT (whatsapp_account_id) DO UPDATE SET running = false, last_error = EXCLUDED.last_error,
                                                last_error_at = EXCLUDED.last_error_at;

-- update_template_from_webhook --
-- Apply a template webhook (status, category or quality) to that one template of the WABA.
UPDATE message_templates t SET
    status = COALESCE(%(status)s, t.status),
    rejected_reason = CASE WHEN %(status)s::text IS NULL THEN t.rejected_reason ELSE %(rejected_reason)s END,
    category = COALESCE(%(category)s, t.category),
    quality_score = COALESCE(%(quality_score)s, t.quality_score),
    updated_at = now()
FROM whatsapp_accounts w
WHERE t.whatsapp_account_id = w.id AND w.waba_id = %(waba_id)s AND t.template_id = %(template_id)s
  AND (%(user_id)s::bigint IS NULL OR w.user_id = %(user_id)s)
RETURNING t.id, w.id AS whatsapp_account_id;

-- delete_template_from_webhook --
-- A template deleted at Meta goes at once.
DELETE FROM message_templates t
USING whatsapp_accounts w
WHERE t.whatsapp_account_id = w.id AND w.waba_id = %(waba_id)s AND t.template_id = %(template_id)s
  AND (%(user_id)s::bigint IS NULL OR w.user_id = %(user_id)s)
RETURNING t.id;

-- whatsapp_accounts_by_waba --
-- The account rows (one per user who connected it) of a WABA id.
SELECT id, user_id FROM whatsapp_accounts
WHERE waba_id = %(waba_id)s AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s);

-- approved_templates --
-- The user's APPROVED templates with their parsed components.
SELECT t.template_id, t.name, t.language, t.category, t.quality_score, t.components, t.updated_at,
       w.id AS whatsapp_account_id, w.waba_id
FROM message_templates t JOIN whatsapp_accounts w ON w.id = t.whatsapp_account_id
WHERE t.user_id = %(user_id)s AND t.status = 'APPROVED'
ORDER BY t.name, t.language, t.id;

-- all_user_templates --
-- Every template of the user whatever its status (the Templates page lists and filters them), with the rejection reason.
SELECT t.template_id, t.name, t.language, t.status, t.category, t.quality_score, t.rejected_reason, t.components,
       t.updated_at, w.id AS whatsapp_account_id, w.waba_id
FROM message_templates t JOIN whatsapp_accounts w ON w.id = t.whatsapp_account_id
WHERE t.user_id = %(user_id)s
ORDER BY t.name, t.language, t.id;

-- template_counts --
-- The user's templates counted by status.
SELECT status, count(*) AS count FROM message_templates WHERE user_id = %(user_id)s GROUP BY status ORDER BY status;

-- template_sync_states --
-- The sync state of each of the user's WhatsApp accounts.
SELECT w.id AS whatsapp_account_id, w.waba_id, w.name, s.running, s.started_at, s.last_synced_at,
       s.template_count, s.last_error, s.last_error_at
FROM whatsapp_accounts w LEFT JOIN template_sync_state s ON s.whatsapp_account_id = w.id
WHERE w.user_id = %(user_id)s ORDER BY w.id;
