-- Connected accounts (SPEC 5, 6, 9): the Facebook login, its Pages and Instagram Business accounts,
-- webhook subscriptions, WhatsApp Business accounts and phone numbers, TikTok accounts.
--
-- Every secret is stored as <name>_ciphertext (AES-256-GCM: 12-byte nonce + ciphertext + tag) and
-- <name>_key_id (which key sealed it, see webhook_app/vault.py); never in plain text.
-- Every account row belongs to a user and carries the token-lifecycle columns the refresh and
-- health jobs work on: status, status_reason, expires_at, last_refreshed_at, last_validated_at.

CREATE TABLE meta_accounts (
    id                          bigserial PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    meta_user_id                text NOT NULL,
    name                        text NOT NULL DEFAULT '',
    access_token_ciphertext     bytea,
    access_token_key_id         text,
    token_kind                  text NOT NULL DEFAULT 'long_lived_user'
                                CHECK (token_kind IN ('short_lived_user', 'long_lived_user')),
    scopes                      text[] NOT NULL DEFAULT '{}',
    expires_at                  timestamptz,
    data_access_expires_at      timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason               text,
    last_refreshed_at           timestamptz,
    last_validated_at           timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, meta_user_id),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL))
);

CREATE TABLE pages (
    id                          bigserial PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    meta_account_id             bigint NOT NULL REFERENCES meta_accounts (id) ON DELETE CASCADE,
    page_id                     text NOT NULL,
    name                        text NOT NULL DEFAULT '',
    category                    text,
    access_token_ciphertext     bytea,
    access_token_key_id         text,
    -- Page tokens derived from a long-lived user token carry no expiry: NULL.
    expires_at                  timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason               text,
    is_selected                 boolean NOT NULL DEFAULT false,
    last_validated_at           timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, page_id),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL))
);
CREATE INDEX pages_meta_account_id_idx ON pages (meta_account_id);
-- The dashboard watches one Page per user.
CREATE UNIQUE INDEX pages_one_selected_per_user ON pages (user_id) WHERE is_selected;

CREATE TABLE instagram_accounts (
    id                          bigserial PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Set for accounts reached through a Facebook Page (token_kind 'page': the Page token is used).
    page_id                     bigint REFERENCES pages (id) ON DELETE CASCADE,
    ig_user_id                  text NOT NULL,
    username                    text NOT NULL DEFAULT '',
    name                        text,
    profile_picture_url         text,
    followers_count             integer,
    media_count                 integer,
    token_kind                  text NOT NULL DEFAULT 'page' CHECK (token_kind IN ('page', 'instagram_login')),
    -- Only Instagram Login accounts hold a token of their own.
    access_token_ciphertext     bytea,
    access_token_key_id         text,
    expires_at                  timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason               text,
    last_refreshed_at           timestamptz,
    last_validated_at           timestamptz,
    last_synced_at              timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, ig_user_id),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL))
);
CREATE INDEX instagram_accounts_page_id_idx ON instagram_accounts (page_id);

-- What we asked Meta to send us, and when we stopped. History is kept after a disconnect.
CREATE TABLE webhook_subscriptions (
    id                bigserial PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('page', 'whatsapp_business')),
    -- The Meta id subscribed: a Page id or a WhatsApp Business account id.
    external_id       text NOT NULL,
    page_id           bigint REFERENCES pages (id) ON DELETE SET NULL,
    fields            text[] NOT NULL DEFAULT '{}',
    subscribed_at     timestamptz NOT NULL DEFAULT now(),
    unsubscribed_at   timestamptz
);
CREATE INDEX webhook_subscriptions_user_id_idx ON webhook_subscriptions (user_id);
-- At most one live subscription per object and user.
CREATE UNIQUE INDEX webhook_subscriptions_live_key ON webhook_subscriptions (user_id, external_id)
    WHERE unsubscribed_at IS NULL;

CREATE TABLE whatsapp_accounts (
    id                          bigserial PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    waba_id                     text NOT NULL,
    name                        text NOT NULL DEFAULT '',
    currency                    text,
    timezone_id                 text,
    message_template_namespace  text,
    access_token_ciphertext     bytea,
    access_token_key_id         text,
    token_kind                  text NOT NULL DEFAULT 'long_lived_user'
                                CHECK (token_kind IN ('long_lived_user', 'system_user', 'business_integration')),
    scopes                      text[] NOT NULL DEFAULT '{}',
    expires_at                  timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason               text,
    last_refreshed_at           timestamptz,
    last_validated_at           timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, waba_id),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL))
);

CREATE TABLE whatsapp_phone_numbers (
    id                    bigserial PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    whatsapp_account_id   bigint NOT NULL REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    phone_number_id       text NOT NULL,
    display_phone_number  text NOT NULL DEFAULT '',
    verified_name         text,
    quality_rating        text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (whatsapp_account_id, phone_number_id)
);
CREATE INDEX whatsapp_phone_numbers_user_id_idx ON whatsapp_phone_numbers (user_id);

CREATE TABLE tiktok_accounts (
    id                          bigserial PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    open_id                     text NOT NULL,
    union_id                    text,
    display_name                text NOT NULL DEFAULT '',
    avatar_url                  text,
    scopes                      text[] NOT NULL DEFAULT '{}',
    access_token_ciphertext     bytea,
    access_token_key_id         text,
    expires_at                  timestamptz,
    refresh_token_ciphertext    bytea,
    refresh_token_key_id        text,
    refresh_expires_at          timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'expiring', 'needs_reauth', 'inactive')),
    status_reason               text,
    last_refreshed_at           timestamptz,
    last_validated_at           timestamptz,
    last_synced_at              timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, open_id),
    CHECK ((access_token_ciphertext IS NULL) = (access_token_key_id IS NULL)),
    CHECK ((refresh_token_ciphertext IS NULL) = (refresh_token_key_id IS NULL))
);

-- The token-lifecycle jobs look for tokens by expiry.
CREATE INDEX meta_accounts_expires_at_idx ON meta_accounts (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX instagram_accounts_expires_at_idx ON instagram_accounts (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX whatsapp_accounts_expires_at_idx ON whatsapp_accounts (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX tiktok_accounts_expires_at_idx ON tiktok_accounts (expires_at) WHERE expires_at IS NOT NULL;
