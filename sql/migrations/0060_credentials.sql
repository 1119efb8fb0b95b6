-- One credentials table (SPEC 5, 9): the tokens and token-lifecycle columns of every kind of connected
-- account, moved out of meta_accounts, pages, instagram_accounts, whatsapp_accounts and tiktok_accounts.
--
-- A credential is named by (kind, account_id); the owner's foreign key column is derived from them, so
-- deleting an account deletes its credential (no ciphertext is left behind). Another kind of token for an
-- existing table is one more `kind` value; another account table is one more value and its derived key.
-- An Instagram account reached through a Page has no credential: it uses its Page's (account_credentials).

CREATE TABLE credentials (
    id                        bigserial PRIMARY KEY,
    user_id                   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                      text NOT NULL CHECK (kind IN ('meta', 'page', 'instagram', 'whatsapp', 'tiktok')),
    account_id                bigint NOT NULL,
    meta_account_id           bigint GENERATED ALWAYS AS (CASE WHEN kind = 'meta' THEN account_id END) STORED
                              REFERENCES meta_accounts (id) ON DELETE CASCADE,
    page_id                   bigint GENERATED ALWAYS AS (CASE WHEN kind = 'page' THEN account_id END) STORED
                              REFERENCES pages (id) ON DELETE CASCADE,
    instagram_account_id      bigint GENERATED ALWAYS AS (CASE WHEN kind = 'instagram' THEN account_id END) STORED
                              REFERENCES instagram_accounts (id) ON DELETE CASCADE,
    whatsapp_account_id       bigint GENERATED ALWAYS AS (CASE WHEN kind = 'whatsapp' THEN account_id END) STORED
                              REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    tiktok_account_id         bigint GENERATED ALWAYS AS (CASE WHEN kind = 'tiktok' THEN account_id END) STORED
                              REFERENCES tiktok_accounts (id) ON DELETE CASCADE,
    token_kind                text NOT NULL
                              CHECK (token_kind IN ('short_lived_user', 'long_lived_user', 'system_user',
                                                    'business_integration', 'page', 'instagram_login', 'tiktok')),
    scopes                    text[] NOT NULL DEFAULT '{}',
    access_token_ciphertext   bytea,
    access_token_key_id       text,
    -- Page tokens derived from a long-lived user token carry no expiry: NULL.
    expires_at                timestamptz,
    data_access_expires_at    timestamptz,
    -- TikTok only: the refresh token that renews the 2-hour access token, and its end.
    refresh_token_ciphertext  bytea,
    refresh_token_key_id      text,
    refresh_expires_at        timestamptz,
    status                    text NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason             text,
    last_refreshed_at         timestamptz,
    last_validated_at         timestamptz,
    -- A refresh job claims a credential until this time, so two jobs never refresh the same token;
    -- after a transient failure it also means "not before" (the next run tries again).
    refresh_claimed_until     timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, account_id),
    -- A kind without its owner's key column would have no foreign key: refused.
    CHECK (num_nonnulls(meta_account_id, page_id, instagram_account_id, whatsapp_account_id, tiktok_account_id) = 1),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL)),
    CHECK ((refresh_token_ciphertext IS NULL) = (refresh_token_key_id IS NULL))
);
-- The foreign keys' own indexes: deleting an account finds its credential without a scan.
CREATE INDEX credentials_meta_account_id_idx ON credentials (meta_account_id) WHERE meta_account_id IS NOT NULL;
CREATE INDEX credentials_page_id_idx ON credentials (page_id) WHERE page_id IS NOT NULL;
CREATE INDEX credentials_instagram_account_id_idx ON credentials (instagram_account_id)
    WHERE instagram_account_id IS NOT NULL;
CREATE INDEX credentials_whatsapp_account_id_idx ON credentials (whatsapp_account_id)
    WHERE whatsapp_account_id IS NOT NULL;
CREATE INDEX credentials_tiktok_account_id_idx ON credentials (tiktok_account_id) WHERE tiktok_account_id IS NOT NULL;
CREATE INDEX credentials_user_id_idx ON credentials (user_id);
-- The refresh job looks for tokens by expiry (TikTok also by its refresh token's end).
CREATE INDEX credentials_expires_at_idx ON credentials (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX credentials_refresh_expires_at_idx ON credentials (refresh_expires_at)
    WHERE refresh_expires_at IS NOT NULL;

-- The rows of today, moved as they are.
INSERT INTO credentials (user_id, kind, account_id, token_kind, scopes, access_token_ciphertext, access_token_key_id,
                         expires_at, data_access_expires_at, status, status_reason, last_refreshed_at,
                         last_validated_at, refresh_claimed_until, created_at, updated_at)
SELECT user_id, 'meta', id, token_kind, scopes, access_token_ciphertext, access_token_key_id, expires_at,
       data_access_expires_at, status, status_reason, last_refreshed_at, last_validated_at, refresh_claimed_until,
       created_at, updated_at
FROM meta_accounts;

-- An Instagram account reached through a Page showed its own status; it now shows its Page's credential's,
-- so a Page whose Instagram account had to be connected again carries that over.
INSERT INTO credentials (user_id, kind, account_id, token_kind, access_token_ciphertext, access_token_key_id,
                         expires_at, status, status_reason, last_validated_at, created_at, updated_at)
SELECT p.user_id, 'page', p.id, 'page', p.access_token_ciphertext, p.access_token_key_id, p.expires_at,
       COALESCE(ig.status, p.status), COALESCE(ig.status_reason, p.status_reason), p.last_validated_at,
       p.created_at, p.updated_at
FROM pages p
LEFT JOIN LATERAL (SELECT i.status, i.status_reason FROM instagram_accounts i
                   WHERE i.page_id = p.id AND i.access_token_ciphertext IS NULL AND i.status = 'needs_reauth'
                     AND p.status <> 'needs_reauth'
                   LIMIT 1) ig ON true;

-- Instagram accounts with a token of their own (Instagram Login).
INSERT INTO credentials (user_id, kind, account_id, token_kind, access_token_ciphertext, access_token_key_id,
                         expires_at, status, status_reason, last_refreshed_at, last_validated_at,
                         refresh_claimed_until, created_at, updated_at)
SELECT user_id, 'instagram', id, 'instagram_login', access_token_ciphertext, access_token_key_id, expires_at, status,
       status_reason, last_refreshed_at, last_validated_at, refresh_claimed_until, created_at, updated_at
FROM instagram_accounts
WHERE token_kind = 'instagram_login' OR access_token_ciphertext IS NOT NULL;

INSERT INTO credentials (user_id, kind, account_id, token_kind, scopes, access_token_ciphertext, access_token_key_id,
                         expires_at, status, status_reason, last_refreshed_at, last_validated_at,
                         refresh_claimed_until, created_at, updated_at)
SELECT user_id, 'whatsapp', id, token_kind, scopes, access_token_ciphertext, access_token_key_id, expires_at, status,
       status_reason, last_refreshed_at, last_validated_at, refresh_claimed_until, created_at, updated_at
FROM whatsapp_accounts;

INSERT INTO credentials (user_id, kind, account_id, token_kind, scopes, access_token_ciphertext, access_token_key_id,
                         expires_at, refresh_token_ciphertext, refresh_token_key_id, refresh_expires_at, status,
                         status_reason, last_refreshed_at, last_validated_at, refresh_claimed_until, created_at,
                         updated_at)
SELECT user_id, 'tiktok', id, 'tiktok', scopes, access_token_ciphertext, access_token_key_id, expires_at,
       refresh_token_ciphertext, refresh_token_key_id, refresh_expires_at, status, status_reason, last_refreshed_at,
       last_validated_at, refresh_claimed_until, created_at, updated_at
FROM tiktok_accounts;

-- The old columns go, with their CHECK constraints and expiry indexes. instagram_accounts.token_kind stays:
-- it says how the account is reached (through a Page, or by Instagram Login), not what a token is.
ALTER TABLE meta_accounts
    DROP COLUMN access_token_ciphertext, DROP COLUMN access_token_key_id, DROP COLUMN token_kind, DROP COLUMN scopes,
    DROP COLUMN expires_at, DROP COLUMN data_access_expires_at, DROP COLUMN status, DROP COLUMN status_reason,
    DROP COLUMN last_refreshed_at, DROP COLUMN last_validated_at, DROP COLUMN refresh_claimed_until;
ALTER TABLE pages
    DROP COLUMN access_token_ciphertext, DROP COLUMN access_token_key_id, DROP COLUMN expires_at, DROP COLUMN status,
    DROP COLUMN status_reason, DROP COLUMN last_validated_at;
ALTER TABLE instagram_accounts
    DROP COLUMN access_token_ciphertext, DROP COLUMN access_token_key_id, DROP COLUMN expires_at, DROP COLUMN status,
    DROP COLUMN status_reason, DROP COLUMN last_refreshed_at, DROP COLUMN last_validated_at,
    DROP COLUMN refresh_claimed_until;
ALTER TABLE whatsapp_accounts
    DROP COLUMN access_token_ciphertext, DROP COLUMN access_token_key_id, DROP COLUMN token_kind, DROP COLUMN scopes,
    DROP COLUMN expires_at, DROP COLUMN status, DROP COLUMN status_reason, DROP COLUMN last_refreshed_at,
    DROP COLUMN last_validated_at, DROP COLUMN refresh_claimed_until;
ALTER TABLE tiktok_accounts
    DROP COLUMN scopes, DROP COLUMN access_token_ciphertext, DROP COLUMN access_token_key_id, DROP COLUMN expires_at,
    DROP COLUMN refresh_token_ciphertext, DROP COLUMN refresh_token_key_id, DROP COLUMN refresh_expires_at,
    DROP COLUMN status, DROP COLUMN status_reason, DROP COLUMN last_refreshed_at, DROP COLUMN last_validated_at,
    DROP COLUMN refresh_claimed_until;

-- Every account the user sees, with the credential it uses and what Meta / TikTok last said about it: the
-- one place that knows an Instagram account reached through a Page uses its Page's token. The status rule
-- itself (webhook_app/tokens/credentials.py: status) reads these columns.
CREATE VIEW account_credentials AS
SELECT a.kind, a.id, a.user_id, a.name, c.id AS credential_id, c.token_kind, c.scopes, c.access_token_ciphertext,
       c.access_token_key_id, c.expires_at, c.data_access_expires_at, c.refresh_token_ciphertext,
       c.refresh_token_key_id, c.refresh_expires_at, COALESCE(c.status, 'inactive') AS status, c.status_reason,
       c.last_refreshed_at, c.last_validated_at,
       (c.access_token_ciphertext IS NOT NULL OR c.refresh_token_ciphertext IS NOT NULL) AS has_token,
       h.is_valid, h.expires_at AS checked_expires_at, h.data_access_expires_at AS checked_data_access_expires_at,
       h.scopes AS checked_scopes, h.error_code, h.error_message, h.checked_at
FROM (
    SELECT 'meta'::text AS kind, m.id, m.user_id, m.name, c.id AS credential_id
    FROM meta_accounts m LEFT JOIN credentials c ON c.kind = 'meta' AND c.account_id = m.id
    UNION ALL
    SELECT 'page', p.id, p.user_id, p.name, c.id
    FROM pages p LEFT JOIN credentials c ON c.kind = 'page' AND c.account_id = p.id
    UNION ALL
    -- Its own token (Instagram Login), else its Page's.
    SELECT 'instagram', i.id, i.user_id, '@' || i.username, COALESCE(own.id, page.id)
    FROM instagram_accounts i
    LEFT JOIN credentials own ON own.kind = 'instagram' AND own.account_id = i.id
    LEFT JOIN credentials page ON page.kind = 'page' AND page.account_id = i.page_id
    UNION ALL
    SELECT 'whatsapp', w.id, w.user_id, w.name, c.id
    FROM whatsapp_accounts w LEFT JOIN credentials c ON c.kind = 'whatsapp' AND c.account_id = w.id
    UNION ALL
    SELECT 'tiktok', t.id, t.user_id, t.display_name, c.id
    FROM tiktok_accounts t LEFT JOIN credentials c ON c.kind = 'tiktok' AND c.account_id = t.id
) a
LEFT JOIN credentials c ON c.id = a.credential_id
-- A check is about the token that was checked: once a new token is stored (connect, refresh), it no longer counts.
LEFT JOIN token_health h ON h.account_kind = a.kind AND h.account_id = a.id
                        AND h.checked_at >= COALESCE(c.last_refreshed_at, c.created_at);
