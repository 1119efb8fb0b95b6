-- Named queries: Connected accounts (webhook_app/accounts): the store, webhook routes and subscriptions, account data sync and metrics.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- upsert_meta_account --
-- Store a Facebook login for a user; reconnecting updates the same row and makes it active again.
INSERT INTO meta_accounts (user_id, meta_user_id, name, access_token_ciphertext, access_token_key_id,
                           token_kind, scopes, expires_at, data_access_expires_at, last_refreshed_at)
VALUES (%(user_id)s, %(meta_user_id)s, %(display_name)s, %(access_token_ciphertext)s, %(access_token_key_id)s,
        %(token_kind)s, %(scopes)s, %(expires_at)s, %(data_access_expires_at)s, now())
ON CONFLICT (user_id, meta_user_id) DO UPDATE SET
    name = EXCLUDED.name,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, meta_accounts.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, meta_accounts.access_token_key_id),
    token_kind = EXCLUDED.token_kind, scopes = EXCLUDED.scopes, expires_at = EXCLUDED.expires_at,
    data_access_expires_at = EXCLUDED.data_access_expires_at, last_refreshed_at = now(),
    status = 'active', status_reason = NULL, updated_at = now()
RETURNING id;

-- upsert_page --
-- Store one of the user's Pages with its Page token; the selection survives a reconnect.
INSERT INTO pages (user_id, meta_account_id, page_id, name, category, access_token_ciphertext,
                   access_token_key_id, expires_at)
VALUES (%(user_id)s, %(meta_account_id)s, %(page_id)s, %(display_name)s, %(category)s, %(access_token_ciphertext)s,
        %(access_token_key_id)s, %(expires_at)s)
ON CONFLICT (user_id, page_id) DO UPDATE SET
    meta_account_id = EXCLUDED.meta_account_id, name = EXCLUDED.name, category = EXCLUDED.category,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, pages.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, pages.access_token_key_id),
    expires_at = EXCLUDED.expires_at, status = 'active', status_reason = NULL, updated_at = now()
RETURNING id, is_selected;

-- delete_pages_not_in --
-- Forget the Pages of a Facebook login that Meta no longer lists for it.
DELETE FROM pages
WHERE meta_account_id = %(meta_account_id)s AND NOT (page_id = ANY(%(keep)s))
RETURNING page_id;

-- upsert_instagram_account --
-- Store an Instagram Business account; a missing token never wipes a stored one.
INSERT INTO instagram_accounts (user_id, page_id, ig_user_id, username, name, profile_picture_url,
                                followers_count, media_count, token_kind, access_token_ciphertext,
                                access_token_key_id, expires_at)
VALUES (%(user_id)s, %(page_id)s, %(ig_user_id)s, %(username)s, %(display_name)s, %(profile_picture_url)s,
        %(followers_count)s, %(media_count)s, %(token_kind)s, %(access_token_ciphertext)s,
        %(access_token_key_id)s, %(expires_at)s)
ON CONFLICT (user_id, ig_user_id) DO UPDATE SET
    page_id = EXCLUDED.page_id, username = EXCLUDED.username, name = EXCLUDED.name,
    profile_picture_url = EXCLUDED.profile_picture_url, followers_count = EXCLUDED.followers_count,
    media_count = EXCLUDED.media_count, token_kind = EXCLUDED.token_kind,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, instagram_accounts.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, instagram_accounts.access_token_key_id),
    expires_at = COALESCE(EXCLUDED.expires_at, instagram_accounts.expires_at),
    status = 'active', status_reason = NULL, updated_at = now()
RETURNING id;

-- delete_page_instagram_not_in --
-- Forget Instagram accounts reached through this login's Pages that are no longer linked.
DELETE FROM instagram_accounts i
USING pages p
WHERE i.page_id = p.id AND p.meta_account_id = %(meta_account_id)s AND NOT (i.ig_user_id = ANY(%(keep)s))
RETURNING i.ig_user_id;

-- upsert_account_route --
-- Route webhooks for this Meta (or TikTok) id to the user; the latest connection wins.
INSERT INTO account_routes (external_id, user_id, kind)
VALUES (%(external_id)s, %(user_id)s, %(kind)s)
ON CONFLICT (external_id) DO UPDATE SET user_id = EXCLUDED.user_id, kind = EXCLUDED.kind;

-- delete_account_routes --
-- Stop routing these ids to the user.
DELETE FROM account_routes WHERE user_id = %(user_id)s AND external_id = ANY(%(external_ids)s);

-- list_meta_accounts --
-- The user's Facebook logins, without tokens.
SELECT id, meta_user_id, name, token_kind, scopes, expires_at, data_access_expires_at, status, status_reason,
       last_refreshed_at, last_validated_at, created_at, updated_at
FROM meta_accounts WHERE user_id = %(user_id)s ORDER BY id;

-- list_instagram_accounts --
-- The user's Instagram accounts with the Page they come through, without tokens.
SELECT i.id, i.ig_user_id, i.username, i.name, i.profile_picture_url, i.followers_count, i.media_count,
       i.token_kind, i.expires_at, i.status, i.status_reason, i.created_at, i.updated_at,
       p.page_id AS page_external_id, p.name AS page_name
FROM instagram_accounts i LEFT JOIN pages p ON p.id = i.page_id
WHERE i.user_id = %(user_id)s ORDER BY i.id;

-- list_whatsapp_accounts --
-- The user's WhatsApp Business accounts with their phone numbers, without tokens.
SELECT w.id, w.waba_id, w.name, w.currency, w.timezone_id, w.token_kind, w.scopes, w.expires_at, w.status,
       w.status_reason, w.created_at, w.updated_at,
       COALESCE(json_agg(json_build_object('id', n.phone_number_id, 'display_phone_number', n.display_phone_number,
                                           'verified_name', n.verified_name, 'quality_rating', n.quality_rating)
                ORDER BY n.id) FILTER (WHERE n.id IS NOT NULL), '[]') AS phone_numbers
FROM whatsapp_accounts w LEFT JOIN whatsapp_phone_numbers n ON n.whatsapp_account_id = w.id
WHERE w.user_id = %(user_id)s GROUP BY w.id ORDER BY w.id;

-- list_tiktok_accounts --
-- The user's TikTok accounts, without tokens.
SELECT id, open_id, display_name, avatar_url, scopes, expires_at, refresh_expires_at, status, status_reason,
       last_refreshed_at, created_at, updated_at
FROM tiktok_accounts WHERE user_id = %(user_id)s ORDER BY id;

-- list_pages --
-- The user's Pages with their Instagram account and live webhook subscription, without tokens.
SELECT p.id, p.page_id, p.name, p.category, p.status, p.is_selected, p.meta_account_id,
       i.ig_user_id, i.username AS instagram_username,
       s.fields AS subscribed_fields, s.subscribed_at
FROM pages p
LEFT JOIN instagram_accounts i ON i.page_id = p.id
LEFT JOIN webhook_subscriptions s ON s.user_id = p.user_id AND s.external_id = p.page_id AND s.unsubscribed_at IS NULL
WHERE p.user_id = %(user_id)s ORDER BY p.name, p.id;

-- get_page --
-- One of the user's Pages with its sealed token (nothing for someone else's id).
SELECT id, user_id, meta_account_id, page_id, name, status, is_selected, access_token_ciphertext,
       access_token_key_id
FROM pages WHERE id = %(id)s AND user_id = %(user_id)s;

-- selected_pages --
-- The user's selected Page(s) with sealed tokens.
SELECT id, user_id, page_id, name, access_token_ciphertext, access_token_key_id
FROM pages WHERE user_id = %(user_id)s AND is_selected;

-- unselect_pages --
-- Clear the user's Page selection.
UPDATE pages SET is_selected = false, updated_at = now() WHERE user_id = %(user_id)s AND is_selected;

-- select_page --
-- Mark one of the user's Pages as the one watched.
UPDATE pages SET is_selected = true, updated_at = now() WHERE id = %(id)s AND user_id = %(user_id)s;

-- start_webhook_subscription --
-- Record that Meta now sends us these fields for this object (updating a live record).
INSERT INTO webhook_subscriptions (user_id, kind, external_id, page_id, fields)
VALUES (%(user_id)s, %(kind)s, %(external_id)s, %(page_id)s, %(fields)s)
ON CONFLICT (user_id, external_id) WHERE unsubscribed_at IS NULL
DO UPDATE SET fields = EXCLUDED.fields, subscribed_at = now(), page_id = EXCLUDED.page_id;

-- end_webhook_subscription --
-- Record that Meta no longer sends us webhooks for this object.
UPDATE webhook_subscriptions SET unsubscribed_at = now()
WHERE user_id = %(user_id)s AND external_id = %(external_id)s AND unsubscribed_at IS NULL;

-- get_meta_account --
-- One of the user's Facebook logins with its sealed token.
SELECT id, user_id, meta_user_id, name, status, expires_at, access_token_ciphertext, access_token_key_id
FROM meta_accounts WHERE id = %(id)s AND user_id = %(user_id)s;

-- pages_of_meta_account --
-- The Pages (with sealed tokens) and linked Instagram ids of one Facebook login.
SELECT p.id, p.page_id, p.is_selected, p.access_token_ciphertext, p.access_token_key_id,
       i.ig_user_id
FROM pages p LEFT JOIN instagram_accounts i ON i.page_id = p.id
WHERE p.meta_account_id = %(meta_account_id)s AND p.user_id = %(user_id)s;

-- delete_meta_account --
-- Remove a Facebook login; its Pages and their Instagram accounts go with it.
DELETE FROM meta_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- get_instagram_account --
-- One of the user's Instagram accounts (sealed token included when it has its own).
SELECT id, user_id, page_id, ig_user_id, username, token_kind, status, expires_at,
       access_token_ciphertext, access_token_key_id
FROM instagram_accounts WHERE id = %(id)s AND user_id = %(user_id)s;

-- delete_instagram_account --
-- Remove one of the user's Instagram accounts.
DELETE FROM instagram_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING ig_user_id;

-- upsert_whatsapp_account --
-- Store a WhatsApp Business account; reconnecting updates it in place.
INSERT INTO whatsapp_accounts (user_id, waba_id, name, currency, timezone_id, message_template_namespace,
                               access_token_ciphertext, access_token_key_id, token_kind, scopes, expires_at,
                               last_refreshed_at)
VALUES (%(user_id)s, %(waba_id)s, %(display_name)s, %(currency)s, %(timezone_id)s, %(message_template_namespace)s,
        %(access_token_ciphertext)s, %(access_token_key_id)s, %(token_kind)s, %(scopes)s, %(expires_at)s, now())
ON CONFLICT (user_id, waba_id) DO UPDATE SET
    name = EXCLUDED.name, currency = EXCLUDED.currency, timezone_id = EXCLUDED.timezone_id,
    message_template_namespace = EXCLUDED.message_template_namespace,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, whatsapp_accounts.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, whatsapp_accounts.access_token_key_id),
    token_kind = EXCLUDED.token_kind, scopes = EXCLUDED.scopes, expires_at = EXCLUDED.expires_at,
    last_refreshed_at = now(), status = 'active', status_reason = NULL, updated_at = now()
RETURNING id;

-- upsert_whatsapp_phone_number --
-- Store one phone number of a WhatsApp Business account.
INSERT INTO whatsapp_phone_numbers (user_id, whatsapp_account_id, phone_number_id, display_phone_number,
                                    verified_name, quality_rating)
VALUES (%(user_id)s, %(whatsapp_account_id)s, %(phone_number_id)s, %(display_phone_number)s,
        %(verified_name)s, %(quality_rating)s)
ON CONFLICT (whatsapp_account_id, phone_number_id) DO UPDATE SET
    display_phone_number = EXCLUDED.display_phone_number, verified_name = EXCLUDED.verified_name,
    quality_rating = EXCLUDED.quality_rating, updated_at = now();

-- delete_whatsapp_phone_numbers_not_in --
-- Forget phone numbers Meta no longer lists for the account.
DELETE FROM whatsapp_phone_numbers
WHERE whatsapp_account_id = %(whatsapp_account_id)s AND NOT (phone_number_id = ANY(%(keep)s))
RETURNING phone_number_id;

-- get_whatsapp_account --
-- One of the user's WhatsApp Business accounts with its sealed token and phone number ids.
SELECT w.id, w.user_id, w.waba_id, w.name, w.status, w.expires_at, w.access_token_ciphertext,
       w.access_token_key_id,
       ARRAY(SELECT n.phone_number_id FROM whatsapp_phone_numbers n WHERE n.whatsapp_account_id = w.id) AS phone_number_ids
FROM whatsapp_accounts w WHERE w.id = %(id)s AND w.user_id = %(user_id)s;

-- delete_whatsapp_account --
-- Remove a WhatsApp Business account and its phone numbers.
DELETE FROM whatsapp_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- upsert_tiktok_account --
-- Store a TikTok account; an empty refresh token never replaces a stored one.
INSERT INTO tiktok_accounts (user_id, open_id, union_id, display_name, avatar_url, scopes,
                             access_token_ciphertext, access_token_key_id, expires_at,
                             refresh_token_ciphertext, refresh_token_key_id, refresh_expires_at, last_refreshed_at)
VALUES (%(user_id)s, %(open_id)s, %(union_id)s, %(display_name)s, %(avatar_url)s, %(scopes)s,
        %(access_token_ciphertext)s, %(access_token_key_id)s, %(expires_at)s,
        %(refresh_token_ciphertext)s, %(refresh_token_key_id)s, %(refresh_expires_at)s, now())
ON CONFLICT (user_id, open_id) DO UPDATE SET
    union_id = COALESCE(EXCLUDED.union_id, tiktok_accounts.union_id),
    display_name = EXCLUDED.display_name, avatar_url = EXCLUDED.avatar_url, scopes = EXCLUDED.scopes,
    access_token_ciphertext = COALESCE(EXCLUDED.access_token_ciphertext, tiktok_accounts.access_token_ciphertext),
    access_token_key_id = COALESCE(EXCLUDED.access_token_key_id, tiktok_accounts.access_token_key_id),
    expires_at = COALESCE(EXCLUDED.expires_at, tiktok_accounts.expires_at),
    refresh_token_ciphertext = COALESCE(EXCLUDED.refresh_token_ciphertext, tiktok_accounts.refresh_token_ciphertext),
    refresh_token_key_id = COALESCE(EXCLUDED.refresh_token_key_id, tiktok_accounts.refresh_token_key_id),
    refresh_expires_at = CASE WHEN EXCLUDED.refresh_token_ciphertext IS NULL THEN tiktok_accounts.refresh_expires_at
                              ELSE EXCLUDED.refresh_expires_at END,
    last_refreshed_at = now(), status = 'active', status_reason = NULL, updated_at = now()
RETURNING id;

-- get_tiktok_account --
-- One of the user's TikTok accounts with its sealed tokens.
SELECT id, user_id, open_id, display_name, status, expires_at, refresh_expires_at,
       access_token_ciphertext, access_token_key_id, refresh_token_ciphertext, refresh_token_key_id
FROM tiktok_accounts WHERE id = %(id)s AND user_id = %(user_id)s;

-- delete_tiktok_account --
-- Remove a TikTok account and its tokens.
DELETE FROM tiktok_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- instagram_accounts_due_for_data_sync --
-- Instagram accounts not synced within the interval, with the sealed token to use (own or the Page's).
SELECT i.id, i.user_id, i.ig_user_id, i.username, i.token_kind, i.status, i.expires_at,
       COALESCE(i.access_token_ciphertext, p.access_token_ciphertext) AS access_token_ciphertext,
       COALESCE(i.access_token_key_id, p.access_token_key_id) AS access_token_key_id
FROM instagram_accounts i LEFT JOIN pages p ON p.id = i.page_id
WHERE i.last_synced_at IS NULL OR i.last_synced_at < now() - make_interval(hours => %(hours)s)
ORDER BY i.last_synced_at NULLS FIRST, i.id;

-- tiktok_accounts_due_for_data_sync --
-- TikTok accounts not synced within the interval, with their sealed access token.
SELECT id, user_id, open_id, display_name, status, expires_at, access_token_ciphertext, access_token_key_id
FROM tiktok_accounts
WHERE last_synced_at IS NULL OR last_synced_at < now() - make_interval(hours => %(hours)s)
ORDER BY last_synced_at NULLS FIRST, id;

-- record_instagram_metrics --
-- A snapshot of an Instagram account's counts, kept on the account row too.
WITH snap AS (
    INSERT INTO account_metrics (user_id, instagram_account_id, followers_count, follows_count, media_count)
    VALUES (%(user_id)s, %(id)s, %(followers_count)s, %(follows_count)s, %(media_count)s)
)
UPDATE instagram_accounts SET followers_count = %(followers_count)s, media_count = %(media_count)s,
                              last_synced_at = now(), last_data_sync_error = NULL
WHERE id = %(id)s;

-- record_tiktok_metrics --
-- A snapshot of a TikTok account's counts.
WITH snap AS (
    INSERT INTO account_metrics (user_id, tiktok_account_id, followers_count, follows_count, media_count, likes_count)
    VALUES (%(user_id)s, %(id)s, %(followers_count)s, %(follows_count)s, %(media_count)s, %(likes_count)s)
)
UPDATE tiktok_accounts SET last_synced_at = now(), last_data_sync_error = NULL WHERE id = %(id)s;

-- upsert_account_media --
-- Store an Instagram account's recent posts (by Meta's media id).
INSERT INTO account_media (user_id, instagram_account_id, media_id, caption, media_type, permalink, like_count,
                           comments_count, posted_at)
SELECT %(user_id)s, %(id)s, m.id, m.caption, m.media_type, m.permalink, m.like_count, m.comments_count,
       m.timestamp
FROM jsonb_to_recordset(%(media)s::jsonb) AS m(id text, caption text, media_type text, permalink text,
                                               like_count bigint, comments_count bigint, timestamp timestamptz)
ON CONFLICT (instagram_account_id, media_id) DO UPDATE SET
    caption = EXCLUDED.caption, media_type = EXCLUDED.media_type, permalink = EXCLUDED.permalink,
    like_count = EXCLUDED.like_count, comments_count = EXCLUDED.comments_count, posted_at = EXCLUDED.posted_at,
    updated_at = now();

-- user_metrics --
-- The user's snapshots, oldest first, with the account they belong to.
SELECT m.taken_at, m.followers_count, m.follows_count, m.media_count, m.likes_count,
       CASE WHEN m.instagram_account_id IS NOT NULL THEN 'instagram-' || m.instagram_account_id
            ELSE 'tiktok-' || m.tiktok_account_id END AS account_id,
       COALESCE('@' || i.username, t.display_name) AS name
FROM account_metrics m
LEFT JOIN instagram_accounts i ON i.id = m.instagram_account_id
LEFT JOIN tiktok_accounts t ON t.id = m.tiktok_account_id
WHERE m.user_id = %(user_id)s AND m.taken_at >= now() - make_interval(days => %(days)s)
ORDER BY m.taken_at, m.id;

-- user_recent_media --
-- The user's most recent Instagram posts.
SELECT 'instagram-' || instagram_account_id AS account_id, media_id, caption, media_type, permalink, like_count,
       comments_count, posted_at
FROM account_media WHERE user_id = %(user_id)s ORDER BY posted_at DESC NULLS LAST, id DESC LIMIT %(limit)s;

-- instagram_data_sync_failed --
-- Remember why an Instagram account's data could not be read (it is tried again next run).
UPDATE instagram_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;

-- tiktok_data_sync_failed --
-- Remember why a TikTok account's data could not be read (it is tried again next run).
UPDATE tiktok_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;
