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

-- instagram_data_sync_failed --
-- Remember why an Instagram account's data could not be read (it is tried again next run).
UPDATE instagram_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;

-- tiktok_data_sync_failed --
-- Remember why a TikTok account's data could not be read (it is tried again next run).
UPDATE tiktok_accounts SET last_data_sync_error = %(error)s WHERE id = %(id)s;

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
