-- Named queries: Connected accounts (webhook_app/accounts): the store, webhook routes and subscriptions, account data sync and metrics.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- upsert_meta_account --
-- Store a Facebook login for a user; reconnecting updates the same row (its token: tokens.credentials).
INSERT INTO meta_accounts (user_id, meta_user_id, name)
VALUES (%(user_id)s, %(meta_user_id)s, %(display_name)s)
ON CONFLICT (user_id, meta_user_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
RETURNING id;

-- upsert_page --
-- Store one of the user's Pages; the selection survives a reconnect.
INSERT INTO pages (user_id, meta_account_id, page_id, name, category)
VALUES (%(user_id)s, %(meta_account_id)s, %(page_id)s, %(display_name)s, %(category)s)
ON CONFLICT (user_id, page_id) DO UPDATE SET
    meta_account_id = EXCLUDED.meta_account_id, name = EXCLUDED.name, category = EXCLUDED.category, updated_at = now()
RETURNING id, is_selected;

-- delete_pages_not_in --
-- Forget the Pages of a Facebook login that Meta no longer lists for it.
DELETE FROM pages
WHERE meta_account_id = %(meta_account_id)s AND NOT (page_id = ANY(%(keep)s))
RETURNING page_id;

-- upsert_instagram_account --
-- Store an Instagram Business account (token_kind: reached through a Page, or by Instagram Login).
INSERT INTO instagram_accounts (user_id, page_id, ig_user_id, username, name, profile_picture_url,
                                followers_count, media_count, token_kind)
VALUES (%(user_id)s, %(page_id)s, %(ig_user_id)s, %(username)s, %(display_name)s, %(profile_picture_url)s,
        %(followers_count)s, %(media_count)s, %(token_kind)s)
ON CONFLICT (user_id, ig_user_id) DO UPDATE SET
    page_id = EXCLUDED.page_id, username = EXCLUDED.username, name = EXCLUDED.name,
    profile_picture_url = EXCLUDED.profile_picture_url, followers_count = EXCLUDED.followers_count,
    media_count = EXCLUDED.media_count, token_kind = EXCLUDED.token_kind, updated_at = now()
RETURNING id;

-- delete_page_instagram_not_in --
-- Forget Instagram accounts reached through this login's Pages that are no longer linked.
DELETE FROM instagram_accounts i
USING pages p
WHERE i.page_id = p.id AND p.meta_account_id = %(meta_account_id)s AND NOT (i.ig_user_id = ANY(%(keep)s))
RETURNING i.ig_user_id;

-- upsert_account_route --
-- Route webhooks for this Meta (or TikTok) id to the user, unless another user has it: the first keeps it
-- (no row returned then). Atomic: of two users connecting the same id at once, the second waits and is refused.
INSERT INTO account_routes (external_id, user_id, kind)
VALUES (%(external_id)s, %(user_id)s, %(kind)s)
ON CONFLICT (external_id) DO UPDATE SET kind = EXCLUDED.kind
WHERE account_routes.user_id = EXCLUDED.user_id
RETURNING user_id;

-- delete_account_routes --
-- Stop routing these ids to the user.
DELETE FROM account_routes WHERE user_id = %(user_id)s AND external_id = ANY(%(external_ids)s);

-- list_meta_accounts --
-- The user's Facebook logins with what the status rule reads, without tokens.
SELECT m.id, m.meta_user_id, m.name, c.token_kind, c.scopes, c.kind, c.status, c.status_reason, c.has_token,
       c.expires_at, c.refresh_expires_at, c.checked_expires_at, c.data_access_expires_at,
       c.checked_data_access_expires_at, c.last_refreshed_at, c.last_validated_at, m.created_at, m.updated_at
FROM meta_accounts m JOIN account_credentials c ON c.kind = 'meta' AND c.id = m.id
WHERE m.user_id = %(user_id)s ORDER BY m.id;

-- list_instagram_accounts --
-- The user's Instagram accounts with the Page they come through and the credential they use, without tokens.
SELECT i.id, i.ig_user_id, i.username, i.name, i.profile_picture_url, i.followers_count, i.media_count,
       i.token_kind, c.kind, c.status, c.status_reason, c.has_token, c.expires_at, c.refresh_expires_at,
       c.checked_expires_at, c.data_access_expires_at, c.checked_data_access_expires_at, i.created_at, i.updated_at,
       p.page_id AS page_external_id, p.name AS page_name
FROM instagram_accounts i JOIN account_credentials c ON c.kind = 'instagram' AND c.id = i.id
LEFT JOIN pages p ON p.id = i.page_id
WHERE i.user_id = %(user_id)s ORDER BY i.id;

-- list_whatsapp_accounts --
-- The user's WhatsApp Business accounts with their phone numbers, without tokens.
SELECT w.id, w.waba_id, w.name, w.currency, w.timezone_id, c.token_kind, c.scopes, c.kind, c.status,
       c.status_reason, c.has_token, c.expires_at, c.refresh_expires_at, c.checked_expires_at,
       c.data_access_expires_at, c.checked_data_access_expires_at, w.created_at, w.updated_at,
       COALESCE(json_agg(json_build_object('id', n.phone_number_id, 'display_phone_number', n.display_phone_number,
                                           'verified_name', n.verified_name, 'quality_rating', n.quality_rating)
                ORDER BY n.id) FILTER (WHERE n.id IS NOT NULL), '[]') AS phone_numbers
FROM whatsapp_accounts w JOIN account_credentials c ON c.kind = 'whatsapp' AND c.id = w.id
LEFT JOIN whatsapp_phone_numbers n ON n.whatsapp_account_id = w.id
WHERE w.user_id = %(user_id)s
GROUP BY w.id, c.token_kind, c.scopes, c.kind, c.status, c.status_reason, c.has_token, c.expires_at,
         c.refresh_expires_at, c.checked_expires_at, c.data_access_expires_at, c.checked_data_access_expires_at
ORDER BY w.id;

-- list_tiktok_accounts --
-- The user's TikTok accounts, without tokens.
SELECT t.id, t.open_id, t.display_name, t.avatar_url, c.scopes, c.kind, c.status, c.status_reason, c.has_token,
       c.expires_at, c.refresh_expires_at, c.checked_expires_at, c.last_refreshed_at, t.created_at, t.updated_at
FROM tiktok_accounts t JOIN account_credentials c ON c.kind = 'tiktok' AND c.id = t.id
WHERE t.user_id = %(user_id)s ORDER BY t.id;

-- list_pages --
-- The user's Pages with their Instagram account and live webhook subscription, without tokens.
SELECT p.id, p.page_id, p.name, p.category, c.kind, c.status, c.has_token, c.expires_at, c.refresh_expires_at,
       c.checked_expires_at, p.is_selected, p.meta_account_id, i.ig_user_id, i.username AS instagram_username,
       s.fields AS subscribed_fields, s.subscribed_at
FROM pages p
JOIN account_credentials c ON c.kind = 'page' AND c.id = p.id
LEFT JOIN instagram_accounts i ON i.page_id = p.id
LEFT JOIN webhook_subscriptions s ON s.user_id = p.user_id AND s.external_id = p.page_id AND s.unsubscribed_at IS NULL
WHERE p.user_id = %(user_id)s ORDER BY p.name, p.id;

-- get_page --
-- One of the user's Pages with its sealed token (nothing for someone else's id).
SELECT c.*, p.meta_account_id, p.page_id, p.is_selected
FROM pages p JOIN account_credentials c ON c.kind = 'page' AND c.id = p.id
WHERE p.id = %(id)s AND p.user_id = %(user_id)s;

-- selected_pages --
-- The user's selected Page(s) with sealed tokens.
SELECT c.*, p.page_id
FROM pages p JOIN account_credentials c ON c.kind = 'page' AND c.id = p.id
WHERE p.user_id = %(user_id)s AND p.is_selected;

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
SELECT c.*, m.meta_user_id
FROM meta_accounts m JOIN account_credentials c ON c.kind = 'meta' AND c.id = m.id
WHERE m.id = %(id)s AND m.user_id = %(user_id)s;

-- pages_of_meta_account --
-- The Pages (with sealed tokens) and linked Instagram ids of one Facebook login.
SELECT c.*, p.page_id, p.is_selected, i.ig_user_id
FROM pages p JOIN account_credentials c ON c.kind = 'page' AND c.id = p.id
LEFT JOIN instagram_accounts i ON i.page_id = p.id
WHERE p.meta_account_id = %(meta_account_id)s AND p.user_id = %(user_id)s;

-- delete_meta_account --
-- Remove a Facebook login; its Pages and their Instagram accounts go with it.
DELETE FROM meta_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- get_instagram_account --
-- One of the user's Instagram accounts with the sealed token it uses.
SELECT c.*, i.page_id, i.ig_user_id, i.username
FROM instagram_accounts i JOIN account_credentials c ON c.kind = 'instagram' AND c.id = i.id
WHERE i.id = %(id)s AND i.user_id = %(user_id)s;

-- delete_instagram_account --
-- Remove one of the user's Instagram accounts.
DELETE FROM instagram_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING ig_user_id;

-- upsert_whatsapp_account --
-- Store a WhatsApp Business account; reconnecting updates it in place (its token: tokens.credentials).
INSERT INTO whatsapp_accounts (user_id, waba_id, name, currency, timezone_id, message_template_namespace)
VALUES (%(user_id)s, %(waba_id)s, %(display_name)s, %(currency)s, %(timezone_id)s, %(message_template_namespace)s)
ON CONFLICT (user_id, waba_id) DO UPDATE SET
    name = EXCLUDED.name, currency = EXCLUDED.currency, timezone_id = EXCLUDED.timezone_id,
    message_template_namespace = EXCLUDED.message_template_namespace, updated_at = now()
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
SELECT c.*, w.waba_id,
       ARRAY(SELECT n.phone_number_id FROM whatsapp_phone_numbers n WHERE n.whatsapp_account_id = w.id) AS phone_number_ids
FROM whatsapp_accounts w JOIN account_credentials c ON c.kind = 'whatsapp' AND c.id = w.id
WHERE w.id = %(id)s AND w.user_id = %(user_id)s;

-- delete_whatsapp_account --
-- Remove a WhatsApp Business account and its phone numbers.
DELETE FROM whatsapp_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- upsert_tiktok_account --
-- Store a TikTok account (its tokens: tokens.credentials).
INSERT INTO tiktok_accounts (user_id, open_id, union_id, display_name, avatar_url)
VALUES (%(user_id)s, %(open_id)s, %(union_id)s, %(display_name)s, %(avatar_url)s)
ON CONFLICT (user_id, open_id) DO UPDATE SET
    union_id = COALESCE(EXCLUDED.union_id, tiktok_accounts.union_id),
    display_name = EXCLUDED.display_name, avatar_url = EXCLUDED.avatar_url, updated_at = now()
RETURNING id;

-- get_tiktok_account --
-- One of the user's TikTok accounts with its sealed tokens.
SELECT c.*, t.open_id
FROM tiktok_accounts t JOIN account_credentials c ON c.kind = 'tiktok' AND c.id = t.id
WHERE t.id = %(id)s AND t.user_id = %(user_id)s;

-- delete_tiktok_account --
-- Remove a TikTok account and its tokens.
DELETE FROM tiktok_accounts WHERE id = %(id)s AND user_id = %(user_id)s RETURNING id;

-- instagram_accounts_due_for_data_sync --
-- Instagram accounts not synced within the interval, with the sealed token to use (own or the Page's).
SELECT c.*, i.ig_user_id, i.username
FROM instagram_accounts i JOIN account_credentials c ON c.kind = 'instagram' AND c.id = i.id
WHERE i.last_synced_at IS NULL OR i.last_synced_at < now() - make_interval(hours => %(hours)s)
ORDER BY i.last_synced_at NULLS FIRST, i.id;

-- tiktok_accounts_due_for_data_sync --
-- TikTok accounts not synced within the interval, with their sealed access token.
SELECT c.*, t.open_id
FROM tiktok_accounts t JOIN account_credentials c ON c.kind = 'tiktok' AND c.id = t.id
WHERE t.last_synced_at IS NULL OR t.last_synced_at < now() - make_interval(hours => %(hours)s)
ORDER BY t.last_synced_at NULLS FIRST, t.id;

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

-- instagram_data_sync_failed --
-- Remember why an Instagram account's data could not be read (it is tried again next run).
UPDATE instagram_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;

-- tiktok_data_sync_failed --
-- Remember why a TikTok account's data could not be read (it is tried again next run).
UPDATE tiktok_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;

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

-- subscription_activity --
-- The user's live webhook subscriptions, each with the account it belongs to and its last 14 days of webhooks
-- (a Page's include its linked Instagram account's): the last one, on how many days any came, and how many.
SELECT s.id, s.kind, s.external_id, s.fields, s.subscribed_at, s.last_checked_at, s.check_result,
       COALESCE(p.name, w.name, '@' || i.username, s.external_id) AS name,
       CASE s.kind WHEN 'page' THEN 'meta-' || p.meta_account_id WHEN 'whatsapp_business' THEN 'whatsapp-' || w.id
                   ELSE 'instagram-' || i.id END AS account_id,
       a.last_event_at, a.active_days, a.events
FROM webhook_subscriptions s
LEFT JOIN pages p ON s.kind = 'page' AND p.id = s.page_id
LEFT JOIN instagram_accounts linked ON linked.page_id = p.id
LEFT JOIN whatsapp_accounts w ON s.kind = 'whatsapp_business' AND w.user_id = s.user_id AND w.waba_id = s.external_id
LEFT JOIN instagram_accounts i ON s.kind = 'instagram' AND i.user_id = s.user_id AND i.ig_user_id = s.external_id
CROSS JOIN LATERAL (
    SELECT max(e.received_at) AS last_event_at, count(DISTINCT date_trunc('day', e.received_at)) AS active_days,
           count(*) AS events
    FROM webhook_events e
    WHERE e.user_id = s.user_id AND e.received_at > now() - interval '14 days'
      AND e.entry_id IN (s.external_id, linked.ig_user_id)
) a
WHERE s.user_id = %(user_id)s AND s.unsubscribed_at IS NULL
ORDER BY s.id;

-- get_subscription --
-- One of the user's live webhook subscriptions with the sealed token that manages it at Meta.
SELECT s.id AS subscription_id, s.kind AS subscription_kind, s.external_id, s.fields, c.*
FROM webhook_subscriptions s
LEFT JOIN whatsapp_accounts w ON s.kind = 'whatsapp_business' AND w.user_id = s.user_id AND w.waba_id = s.external_id
LEFT JOIN instagram_accounts i ON s.kind = 'instagram' AND i.user_id = s.user_id AND i.ig_user_id = s.external_id
JOIN account_credentials c ON (s.kind = 'page' AND c.kind = 'page' AND c.id = s.page_id)
                           OR (s.kind = 'whatsapp_business' AND c.kind = 'whatsapp' AND c.id = w.id)
                           OR (s.kind = 'instagram' AND c.kind = 'instagram' AND c.id = i.id)
WHERE s.id = %(id)s AND s.user_id = %(user_id)s AND s.unsubscribed_at IS NULL;

-- record_subscription_check --
-- What asking Meta found; a resubscription starts the subscription's clock again (its silence is reset).
UPDATE webhook_subscriptions SET last_checked_at = now(), check_result = %(result)s,
    subscribed_at = CASE WHEN %(result)s = 'resubscribed' THEN now() ELSE subscribed_at END
WHERE id = %(id)s AND user_id = %(user_id)s;
