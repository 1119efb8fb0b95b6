-- Token lifecycle (SPEC 9): the refresh job's claims and log, and the shared token-health cache.

-- A refresh job claims an account until this time, so two jobs never refresh the same token;
-- after a transient failure it also means "not before" (the next run tries again).
ALTER TABLE meta_accounts ADD COLUMN refresh_claimed_until timestamptz;
ALTER TABLE instagram_accounts ADD COLUMN refresh_claimed_until timestamptz;
ALTER TABLE whatsapp_accounts ADD COLUMN refresh_claimed_until timestamptz;
ALTER TABLE tiktok_accounts ADD COLUMN refresh_claimed_until timestamptz;

-- Every refresh attempt, kept after the account is gone (no foreign key) for the operator.
CREATE TABLE token_refresh_log (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL,
    account_kind  text NOT NULL CHECK (account_kind IN ('meta', 'instagram', 'whatsapp', 'tiktok')),
    account_id    bigint NOT NULL,
    method        text NOT NULL CHECK (method IN ('fb_exchange_token', 'ig_refresh_token', 'tiktok_refresh_token')),
    outcome       text NOT NULL CHECK (outcome IN ('refreshed', 'needs_reauth', 'rate_limited', 'transient', 'failed')),
    error_code    text,
    error_message text,
    duration_ms   integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX token_refresh_log_account_idx ON token_refresh_log (account_kind, account_id, created_at DESC);
CREATE INDEX token_refresh_log_created_at_idx ON token_refresh_log (created_at);

-- What Meta (debug_token) or TikTok last said about an account's token; every worker reads the same
-- cache, which is fresh for 5 minutes after checked_at.
CREATE TABLE token_health (
    user_id                 bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_kind            text NOT NULL CHECK (account_kind IN ('meta', 'instagram', 'whatsapp', 'tiktok')),
    account_id              bigint NOT NULL,
    is_valid                boolean NOT NULL,
    expires_at              timestamptz,
    data_access_expires_at  timestamptz,
    scopes                  text[] NOT NULL DEFAULT '{}',
    error_code              text,
    error_message           text,
    checked_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_kind, account_id)
);
CREATE INDEX token_health_user_id_idx ON token_health (user_id);
