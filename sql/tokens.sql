-- Named queries: Tokens (webhook_app/tokens): refresh claims and writes, token health, re-authorization, key rotation.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- claim_tokens_to_refresh --
-- Claim (FOR UPDATE SKIP LOCKED) tokens due for refresh, or one given account (account_id), for lease_seconds.
WITH meta AS (
    UPDATE meta_accounts a SET refresh_claimed_until = now() + make_interval(secs => %(lease_seconds)s)
    WHERE a.id IN (
        SELECT id FROM meta_accounts
        WHERE access_token_ciphertext IS NOT NULL AND token_kind = 'long_lived_user' AND status <> 'needs_reauth'
          AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())
          -- Once per run: TikTok's day-long access token would otherwise stay due.
          AND (last_refreshed_at IS NULL OR last_refreshed_at < %(run_started_at)s)
          AND CASE WHEN %(account_id)s::bigint IS NULL
                   THEN expires_at <= now() + make_interval(days => %(window_days)s)
                   ELSE %(kind)s = 'meta' AND id = %(account_id)s AND user_id = %(user_id)s END
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 'meta'::text AS kind, a.id, a.user_id, a.name, a.status, a.expires_at,
              a.access_token_ciphertext, a.access_token_key_id,
              NULL::bytea AS refresh_token_ciphertext, NULL::text AS refresh_token_key_id
), instagram AS (
    UPDATE instagram_accounts a SET refresh_claimed_until = now() + make_interval(secs => %(lease_seconds)s)
    WHERE a.id IN (
        SELECT id FROM instagram_accounts
        WHERE access_token_ciphertext IS NOT NULL AND token_kind = 'instagram_login' AND status <> 'needs_reauth'
          AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())
          -- Once per run: TikTok's day-long access token would otherwise stay due.
          AND (last_refreshed_at IS NULL OR last_refreshed_at < %(run_started_at)s)
          -- ig_refresh_token takes a token at least 24 hours old that has not expired.
          AND expires_at > now() AND COALESCE(last_refreshed_at, created_at) <= now() - interval '24 hours'
          AND CASE WHEN %(account_id)s::bigint IS NULL
                   THEN expires_at <= now() + make_interval(days => %(window_days)s)
                   ELSE %(kind)s = 'instagram' AND id = %(account_id)s AND user_id = %(user_id)s END
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 'instagram'::text, a.id, a.user_id, a.username, a.status, a.expires_at,
              a.access_token_ciphertext, a.access_token_key_id, NULL::bytea, NULL::text
), whatsapp AS (
    UPDATE whatsapp_accounts a SET refresh_claimed_until = now() + make_interval(secs => %(lease_seconds)s)
    WHERE a.id IN (
        SELECT id FROM whatsapp_accounts
        WHERE access_token_ciphertext IS NOT NULL AND token_kind = 'long_lived_user' AND status <> 'needs_reauth'
          AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())
          -- Once per run: TikTok's day-long access token would otherwise stay due.
          AND (last_refreshed_at IS NULL OR last_refreshed_at < %(run_started_at)s)
          AND CASE WHEN %(account_id)s::bigint IS NULL
                   THEN expires_at <= now() + make_interval(days => %(window_days)s)
                   ELSE %(kind)s = 'whatsapp' AND id = %(account_id)s AND user_id = %(user_id)s END
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 'whatsapp'::text, a.id, a.user_id, a.name, a.status, a.expires_at,
              a.access_token_ciphertext, a.access_token_key_id, NULL::bytea, NULL::text
), tiktok AS (
    UPDATE tiktok_accounts a SET refresh_claimed_until = now() + make_interval(secs => %(lease_seconds)s)
    WHERE a.id IN (
        SELECT id FROM tiktok_accounts
        WHERE refresh_token_ciphertext IS NOT NULL AND status <> 'needs_reauth'
          AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())
          -- Once per run: TikTok's day-long access token would otherwise stay due.
          AND (last_refreshed_at IS NULL OR last_refreshed_at < %(run_started_at)s)
          AND CASE WHEN %(account_id)s::bigint IS NULL
                   THEN expires_at <= now() + make_interval(days => %(window_days)s)
                        OR refresh_expires_at <= now() + make_interval(days => %(window_days)s)
                   ELSE %(kind)s = 'tiktok' AND id = %(account_id)s AND user_id = %(user_id)s END
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 'tiktok'::text, a.id, a.user_id, a.display_name, a.status, a.expires_at,
              a.access_token_ciphertext, a.access_token_key_id, a.refresh_token_ciphertext, a.refresh_token_key_id
)
SELECT * FROM meta UNION ALL SELECT * FROM instagram UNION ALL SELECT * FROM whatsapp UNION ALL SELECT * FROM tiktok;

-- save_refreshed_token --
-- Store a refreshed token (TikTok: and its new refresh token, if any), make the account active, release the claim.
WITH meta AS (
    UPDATE meta_accounts SET access_token_ciphertext = %(access_token_ciphertext)s,
        access_token_key_id = %(access_token_key_id)s, expires_at = %(expires_at)s, last_refreshed_at = now(),
        status = 'active', status_reason = NULL, refresh_claimed_until = NULL, updated_at = now()
    WHERE %(kind)s = 'meta' AND id = %(id)s RETURNING 1
), instagram AS (
    UPDATE instagram_accounts SET access_token_ciphertext = %(access_token_ciphertext)s,
        access_token_key_id = %(access_token_key_id)s, expires_at = %(expires_at)s, last_refreshed_at = now(),
        status = 'active', status_reason = NULL, refresh_claimed_until = NULL, updated_at = now()
    WHERE %(kind)s = 'instagram' AND id = %(id)s RETURNING 1
), whatsapp AS (
    UPDATE whatsapp_accounts SET access_token_ciphertext = %(access_token_ciphertext)s,
        access_token_key_id = %(access_token_key_id)s, expires_at = %(expires_at)s, last_refreshed_at = now(),
        status = 'active', status_reason = NULL, refresh_claimed_until = NULL, updated_at = now()
    WHERE %(kind)s = 'whatsapp' AND id = %(id)s RETURNING 1
), tiktok AS (
    -- TikTok may hand out a new refresh token: keep it, or keep the old one when none came back.
    UPDATE tiktok_accounts SET access_token_ciphertext = %(access_token_ciphertext)s,
        access_token_key_id = %(access_token_key_id)s, expires_at = %(expires_at)s,
        refresh_token_ciphertext = COALESCE(%(refresh_token_ciphertext)s, refresh_token_ciphertext),
        refresh_token_key_id = COALESCE(%(refresh_token_key_id)s, refresh_token_key_id),
        refresh_expires_at = CASE WHEN %(refresh_token_ciphertext)s IS NULL THEN refresh_expires_at
                                  ELSE %(refresh_expires_at)s END,
        last_refreshed_at = now(), status = 'active', status_reason = NULL, refresh_claimed_until = NULL,
        updated_at = now()
    WHERE %(kind)s = 'tiktok' AND id = %(id)s RETURNING 1
)
SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM instagram) + (SELECT count(*) FROM whatsapp)
     + (SELECT count(*) FROM tiktok) AS updated;

-- save_page_token --
-- Store a Page token derived again from a refreshed user token.
UPDATE pages SET access_token_ciphertext = %(access_token_ciphertext)s, access_token_key_id = %(access_token_key_id)s,
    status = 'active', status_reason = NULL, updated_at = now()
WHERE meta_account_id = %(meta_account_id)s AND page_id = %(page_id)s;

-- mark_needs_reauth --
-- The user must connect again: flag the account (a Facebook login: with its Pages and their Instagram accounts).
WITH meta AS (
    UPDATE meta_accounts SET status = 'needs_reauth', status_reason = %(reason)s, refresh_claimed_until = NULL,
        updated_at = now()
    WHERE %(kind)s = 'meta' AND id = %(id)s RETURNING id
), meta_pages AS (
    UPDATE pages SET status = 'needs_reauth', status_reason = %(reason)s, updated_at = now()
    WHERE meta_account_id IN (SELECT id FROM meta) RETURNING id
), instagram AS (
    UPDATE instagram_accounts SET status = 'needs_reauth', status_reason = %(reason)s, refresh_claimed_until = NULL,
        updated_at = now()
    WHERE (%(kind)s = 'instagram' AND id = %(id)s) OR page_id IN (SELECT id FROM meta_pages) RETURNING 1
), whatsapp AS (
    UPDATE whatsapp_accounts SET status = 'needs_reauth', status_reason = %(reason)s, refresh_claimed_until = NULL,
        updated_at = now()
    WHERE %(kind)s = 'whatsapp' AND id = %(id)s RETURNING 1
), tiktok AS (
    UPDATE tiktok_accounts SET status = 'needs_reauth', status_reason = %(reason)s, refresh_claimed_until = NULL,
        updated_at = now()
    WHERE %(kind)s = 'tiktok' AND id = %(id)s RETURNING 1
)
SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM instagram) + (SELECT count(*) FROM whatsapp)
     + (SELECT count(*) FROM tiktok) AS updated;

-- defer_token_refresh --
-- Leave the account as it is, but not claimable again for retry_seconds (a transient or rate-limit failure).
WITH meta AS (
    UPDATE meta_accounts SET refresh_claimed_until = now() + make_interval(secs => %(retry_seconds)s)
    WHERE %(kind)s = 'meta' AND id = %(id)s RETURNING 1
), instagram AS (
    UPDATE instagram_accounts SET refresh_claimed_until = now() + make_interval(secs => %(retry_seconds)s)
    WHERE %(kind)s = 'instagram' AND id = %(id)s RETURNING 1
), whatsapp AS (
    UPDATE whatsapp_accounts SET refresh_claimed_until = now() + make_interval(secs => %(retry_seconds)s)
    WHERE %(kind)s = 'whatsapp' AND id = %(id)s RETURNING 1
), tiktok AS (
    UPDATE tiktok_accounts SET refresh_claimed_until = now() + make_interval(secs => %(retry_seconds)s)
    WHERE %(kind)s = 'tiktok' AND id = %(id)s RETURNING 1
)
SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM instagram) + (SELECT count(*) FROM whatsapp)
     + (SELECT count(*) FROM tiktok) AS updated;

-- log_token_refresh --
-- Record one refresh attempt.
INSERT INTO token_refresh_log (user_id, account_kind, account_id, method, outcome, error_code, error_message,
                               duration_ms)
VALUES (%(user_id)s, %(kind)s, %(account_id)s, %(method)s, %(outcome)s, %(error_code)s, %(error_message)s,
        %(duration_ms)s);

-- meta_account_of_instagram --
-- The Facebook login whose Page token an Instagram account (reached through a Page) uses.
SELECT p.meta_account_id FROM instagram_accounts i JOIN pages p ON p.id = i.page_id
WHERE i.id = %(id)s AND i.user_id = %(user_id)s;

-- token_health_targets --
-- Accounts to validate (one user's, or everyone's when user_id is NULL) after a (kind, id) cursor, with sealed
-- tokens (an Instagram account reached through a Page: the Page's) and the cached health.
SELECT t.*, h.is_valid, h.expires_at AS checked_expires_at, h.data_access_expires_at, h.scopes AS checked_scopes,
       h.error_code, h.error_message, h.checked_at
FROM (
    SELECT 'meta'::text AS kind, id, user_id, name, status, status_reason, expires_at, access_token_ciphertext,
           access_token_key_id
    FROM meta_accounts
    UNION ALL
    SELECT 'instagram', i.id, i.user_id, '@' || i.username, i.status, i.status_reason,
           COALESCE(i.expires_at, p.expires_at), COALESCE(i.access_token_ciphertext, p.access_token_ciphertext),
           COALESCE(i.access_token_key_id, p.access_token_key_id)
    FROM instagram_accounts i LEFT JOIN pages p ON p.id = i.page_id
    UNION ALL
    SELECT 'whatsapp', id, user_id, name, status, status_reason, expires_at, access_token_ciphertext,
           access_token_key_id
    FROM whatsapp_accounts
    UNION ALL
    -- TikTok's access token lasts a day and is renewed; the refresh token's end is what the user sees.
    SELECT 'tiktok', id, user_id, display_name, status, status_reason, refresh_expires_at, access_token_ciphertext,
           access_token_key_id
    FROM tiktok_accounts
) t
LEFT JOIN token_health h ON h.account_kind = t.kind AND h.account_id = t.id
WHERE (%(user_id)s::bigint IS NULL OR t.user_id = %(user_id)s)
  AND (t.kind, t.id) > (%(after_kind)s::text, %(after_id)s::bigint)
ORDER BY t.kind, t.id
LIMIT %(limit)s;

-- save_token_health --
-- Cache what Meta / TikTok said about an account's token (fresh for 5 minutes).
INSERT INTO token_health (user_id, account_kind, account_id, is_valid, expires_at, data_access_expires_at, scopes,
                          error_code, error_message, checked_at)
VALUES (%(user_id)s, %(kind)s, %(account_id)s, %(is_valid)s, %(expires_at)s, %(data_access_expires_at)s,
        %(scopes)s, %(error_code)s, %(error_message)s, now())
ON CONFLICT (account_kind, account_id) DO UPDATE SET
    user_id = EXCLUDED.user_id, is_valid = EXCLUDED.is_valid, expires_at = EXCLUDED.expires_at,
    data_access_expires_at = EXCLUDED.data_access_expires_at, scopes = EXCLUDED.scopes,
    error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, checked_at = now();

-- clear_token_health --
-- Forget the cached token health of one user's accounts.
DELETE FROM token_health WHERE user_id = %(user_id)s;

-- reauth_accounts --
-- The user's accounts that must be connected again, for the dashboard's banners.
SELECT 'meta'::text AS kind, id, name, status_reason FROM meta_accounts
WHERE user_id = %(user_id)s AND (status = 'needs_reauth' OR expires_at <= now())
UNION ALL
SELECT 'instagram', id, '@' || username, status_reason FROM instagram_accounts
WHERE user_id = %(user_id)s AND (status = 'needs_reauth' OR expires_at <= now())
UNION ALL
SELECT 'whatsapp', id, name, status_reason FROM whatsapp_accounts
WHERE user_id = %(user_id)s AND (status = 'needs_reauth' OR expires_at <= now())
UNION ALL
SELECT 'tiktok', id, display_name, status_reason FROM tiktok_accounts
WHERE user_id = %(user_id)s AND (status = 'needs_reauth' OR refresh_expires_at <= now())
ORDER BY 1, 2;

-- secrets_to_reseal --
-- Every stored secret sealed with a key other than the current one (a new secret column is added here).
SELECT 'meta_accounts.access_token' AS secret, id, access_token_ciphertext AS ciphertext, access_token_key_id AS key_id
FROM meta_accounts WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'pages.access_token', id, access_token_ciphertext, access_token_key_id
FROM pages WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'instagram_accounts.access_token', id, access_token_ciphertext, access_token_key_id
FROM instagram_accounts WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'whatsapp_accounts.access_token', id, access_token_ciphertext, access_token_key_id
FROM whatsapp_accounts WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'tiktok_accounts.access_token', id, access_token_ciphertext, access_token_key_id
FROM tiktok_accounts WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'tiktok_accounts.refresh_token', id, refresh_token_ciphertext, refresh_token_key_id
FROM tiktok_accounts WHERE refresh_token_key_id <> %(current_key_id)s;

-- reseal_secret --
-- Replace one secret's ciphertext, only if it still holds what was read (a concurrent refresh wins).
WITH meta AS (
    UPDATE meta_accounts SET access_token_ciphertext = %(ciphertext)s, access_token_key_id = %(key_id)s
    WHERE %(secret)s = 'meta_accounts.access_token' AND id = %(id)s AND access_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
), page AS (
    UPDATE pages SET access_token_ciphertext = %(ciphertext)s, access_token_key_id = %(key_id)s
    WHERE %(secret)s = 'pages.access_token' AND id = %(id)s AND access_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
), instagram AS (
    UPDATE instagram_accounts SET access_token_ciphertext = %(ciphertext)s, access_token_key_id = %(key_id)s
    WHERE %(secret)s = 'instagram_accounts.access_token' AND id = %(id)s
      AND access_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
), whatsapp AS (
    UPDATE whatsapp_accounts SET access_token_ciphertext = %(ciphertext)s, access_token_key_id = %(key_id)s
    WHERE %(secret)s = 'whatsapp_accounts.access_token' AND id = %(id)s
      AND access_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
), tiktok_access AS (
    UPDATE tiktok_accounts SET access_token_ciphertext = %(ciphertext)s, access_token_key_id = %(key_id)s
    WHERE %(secret)s = 'tiktok_accounts.access_token' AND id = %(id)s AND access_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
), tiktok_refresh AS (
    UPDATE tiktok_accounts SET refresh_token_ciphertext = %(ciphertext)s, refresh_token_key_id = %(key_id)s
    WHERE %(secret)s = 'tiktok_accounts.refresh_token' AND id = %(id)s
      AND refresh_token_ciphertext = %(old_ciphertext)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM page) + (SELECT count(*) FROM instagram)
     + (SELECT count(*) FROM whatsapp) + (SELECT count(*) FROM tiktok_access)
     + (SELECT count(*) FROM tiktok_refresh) AS updated;
