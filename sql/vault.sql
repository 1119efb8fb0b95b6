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
