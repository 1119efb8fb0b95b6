-- Named queries: Tokens (webhook_app/tokens): credentials, refresh claims and writes, token health, key rotation.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- upsert_credential --
-- Store the token a connect flow got for an account (kind, account_id); no new token keeps the stored one.
INSERT INTO credentials (user_id, kind, account_id, token_kind, scopes, access_token_ciphertext, access_token_key_id,
                         expires_at, data_access_expires_at, refresh_token_ciphertext, refresh_token_key_id,
                         refresh_expires_at, last_refreshed_at)
VALUES (%(user_id)s, %(kind)s, %(account_id)s, %(token_kind)s, COALESCE(%(scopes)s::text[], '{}'),
        %(access_token_ciphertext)s, %(access_token_key_id)s, %(expires_at)s, %(data_access_expires_at)s,
        %(refresh_token_ciphertext)s, %(refresh_token_key_id)s, %(refresh_expires_at)s,
        CASE WHEN %(access_token_ciphertext)s::bytea IS NOT NULL THEN now() END)
ON CONFLICT (kind, account_id) DO UPDATE SET
    token_kind = EXCLUDED.token_kind,
    scopes = CASE WHEN %(scopes)s::text[] IS NULL THEN credentials.scopes ELSE EXCLUDED.scopes END,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, credentials.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, credentials.access_token_key_id),
    -- A new token comes with its own expiry; without one the stored token keeps its.
    expires_at = CASE WHEN EXCLUDED.access_token_ciphertext IS NULL THEN credentials.expires_at
                      ELSE EXCLUDED.expires_at END,
    data_access_expires_at = EXCLUDED.data_access_expires_at,
    refresh_token_ciphertext = COALESCE(EXCLUDED.refresh_token_ciphertext, credentials.refresh_token_ciphertext),
    refresh_token_key_id = COALESCE(EXCLUDED.refresh_token_key_id, credentials.refresh_token_key_id),
    refresh_expires_at = CASE WHEN EXCLUDED.refresh_token_ciphertext IS NULL THEN credentials.refresh_expires_at
                              ELSE EXCLUDED.refresh_expires_at END,
    last_refreshed_at = COALESCE(EXCLUDED.last_refreshed_at, credentials.last_refreshed_at),
    status = 'active', status_reason = NULL, updated_at = now();

-- claim_tokens_to_refresh --
-- Claim (FOR UPDATE SKIP LOCKED) tokens expiring within window_seconds (of one kind, if only_kind), or one given
-- account (account_id), for lease_seconds. A TikTok row a before-call refresher holds locked is skipped.
WITH claimed AS (
    UPDATE credentials c SET refresh_claimed_until = now() + make_interval(secs => %(lease_seconds)s)
    WHERE c.id IN (
        SELECT id FROM credentials
        WHERE status <> 'needs_reauth'
          AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now())
          -- Once per run: TikTok's short-lived access token would otherwise stay due.
          AND (last_refreshed_at IS NULL OR last_refreshed_at < %(run_started_at)s)
          AND CASE kind
                  WHEN 'meta' THEN access_token_ciphertext IS NOT NULL AND token_kind = 'long_lived_user'
                  WHEN 'whatsapp' THEN access_token_ciphertext IS NOT NULL AND token_kind = 'long_lived_user'
                  -- ig_refresh_token takes a token at least 24 hours old that has not expired.
                  WHEN 'instagram' THEN access_token_ciphertext IS NOT NULL AND token_kind = 'instagram_login'
                       AND expires_at > now() AND COALESCE(last_refreshed_at, created_at) <= now() - interval '24 hours'
                  WHEN 'tiktok' THEN refresh_token_ciphertext IS NOT NULL
                  -- Page tokens are derived again when their Facebook login is refreshed.
                  ELSE false END
          AND CASE WHEN %(account_id)s::bigint IS NULL
                   THEN (expires_at <= now() + make_interval(secs => %(window_seconds)s)
                         OR refresh_expires_at <= now() + make_interval(secs => %(window_seconds)s))
                        AND (%(only_kind)s::text IS NULL OR kind = %(only_kind)s)
                   ELSE kind = %(kind)s AND account_id = %(account_id)s AND user_id = %(user_id)s END
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING c.*
)
SELECT a.kind, a.id, a.user_id, a.name, a.credential_id, a.has_token, a.checked_expires_at, c.status, c.expires_at,
       c.refresh_expires_at, c.access_token_ciphertext, c.access_token_key_id, c.refresh_token_ciphertext,
       c.refresh_token_key_id
FROM claimed c JOIN account_credentials a ON a.kind = c.kind AND a.id = c.account_id
ORDER BY c.expires_at;

-- save_refreshed_token --
-- Store a refreshed token (TikTok: and its new refresh token, if any), make it active, release the claim.
UPDATE credentials SET access_token_ciphertext = %(access_token_ciphertext)s,
    access_token_key_id = %(access_token_key_id)s, expires_at = %(expires_at)s,
    -- TikTok may hand out a new refresh token: keep it, or keep the old one when none came back.
    refresh_token_ciphertext = COALESCE(%(refresh_token_ciphertext)s, refresh_token_ciphertext),
    refresh_token_key_id = COALESCE(%(refresh_token_key_id)s, refresh_token_key_id),
    refresh_expires_at = CASE WHEN %(refresh_token_ciphertext)s IS NULL THEN refresh_expires_at
                              ELSE %(refresh_expires_at)s END,
    last_refreshed_at = now(), status = 'active', status_reason = NULL, refresh_claimed_until = NULL,
    updated_at = now()
WHERE id = %(credential_id)s;

-- save_page_token --
-- Store a Page token derived again from a refreshed user token.
UPDATE credentials c SET access_token_ciphertext = %(access_token_ciphertext)s,
    access_token_key_id = %(access_token_key_id)s, last_refreshed_at = now(), status = 'active', status_reason = NULL,
    updated_at = now()
FROM pages p
WHERE c.kind = 'page' AND c.account_id = p.id AND p.meta_account_id = %(meta_account_id)s
  AND p.page_id = %(page_id)s;

-- mark_needs_reauth --
-- The user must connect again: flag the credential (a Facebook login's: with its Pages' and their Instagram accounts').
UPDATE credentials c SET status = 'needs_reauth', status_reason = %(reason)s, refresh_claimed_until = NULL,
    updated_at = now()
WHERE c.id = %(credential_id)s
   OR c.page_id IN (SELECT p.id FROM credentials login JOIN pages p ON p.meta_account_id = login.meta_account_id
                    WHERE login.id = %(credential_id)s)
   OR c.instagram_account_id IN (SELECT i.id FROM credentials login
                                 JOIN pages p ON p.meta_account_id = login.meta_account_id
                                 JOIN instagram_accounts i ON i.page_id = p.id
                                 WHERE login.id = %(credential_id)s);

-- defer_token_refresh --
-- Leave the credential as it is, but not claimable again for retry_seconds (a transient or rate-limit failure).
UPDATE credentials SET refresh_claimed_until = now() + make_interval(secs => %(retry_seconds)s)
WHERE id = %(credential_id)s;

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
-- Accounts to validate (one user's, or everyone's when user_id is NULL) after a (kind, id) cursor, with the sealed
-- token each uses (an Instagram account reached through a Page: the Page's) and the cached health.
SELECT * FROM account_credentials
WHERE kind <> 'page' AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s)
  AND (kind, id) > (%(after_kind)s::text, %(after_id)s::bigint)
ORDER BY kind, id
LIMIT %(limit)s;

-- save_token_health --
-- Cache what Meta / TikTok said about an account's token (fresh for 5 minutes).
WITH validated AS (
    UPDATE credentials SET last_validated_at = now() WHERE id = %(credential_id)s
)
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

-- secrets_to_reseal --
-- Every stored secret sealed with a key other than the current one (a new secret column is added here).
SELECT 'credentials.access_token' AS secret, id, access_token_ciphertext AS ciphertext, access_token_key_id AS key_id
FROM credentials WHERE access_token_key_id <> %(current_key_id)s
UNION ALL
SELECT 'credentials.refresh_token', id, refresh_token_ciphertext, refresh_token_key_id
FROM credentials WHERE refresh_token_key_id <> %(current_key_id)s;

-- reseal_secret --
-- Replace one secret's ciphertext, only if it still holds what was read (a concurrent refresh wins).
UPDATE credentials SET
    access_token_ciphertext = CASE WHEN %(secret)s = 'credentials.access_token' THEN %(ciphertext)s
                                   ELSE access_token_ciphertext END,
    access_token_key_id = CASE WHEN %(secret)s = 'credentials.access_token' THEN %(key_id)s
                               ELSE access_token_key_id END,
    refresh_token_ciphertext = CASE WHEN %(secret)s = 'credentials.refresh_token' THEN %(ciphertext)s
                                    ELSE refresh_token_ciphertext END,
    refresh_token_key_id = CASE WHEN %(secret)s = 'credentials.refresh_token' THEN %(key_id)s
                                ELSE refresh_token_key_id END
WHERE id = %(id)s
  AND CASE %(secret)s WHEN 'credentials.access_token' THEN access_token_ciphertext = %(old_ciphertext)s
                      WHEN 'credentials.refresh_token' THEN refresh_token_ciphertext = %(old_ciphertext)s
                      ELSE false END;

-- lock_tiktok_credential --
-- One TikTok credential with its sealed tokens, locked until the transaction ends: the one writer that refreshes it.
SELECT c.id AS credential_id, c.kind, c.account_id AS id, c.user_id, c.status, c.expires_at, c.refresh_expires_at,
       c.access_token_ciphertext, c.access_token_key_id, c.refresh_token_ciphertext, c.refresh_token_key_id,
       (c.access_token_ciphertext IS NOT NULL OR c.refresh_token_ciphertext IS NOT NULL) AS has_token
FROM credentials c
WHERE c.id = %(credential_id)s AND c.kind = 'tiktok'
FOR UPDATE;
