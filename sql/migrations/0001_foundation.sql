-- Accounts, server-side sessions, rate-limit counters, and the routing of Meta ids to owners.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
-- Emails are compared without regard to case: one account per address.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Flask-Session's server-side store (webhook_app/sessions.py).
CREATE TABLE sessions (
    session_id text PRIMARY KEY,
    user_id    bigint REFERENCES users (id) ON DELETE CASCADE,
    data       bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Fixed-window rate-limit counters shared by every worker (webhook_app/ratelimit_storage.py).
CREATE UNLOGGED TABLE rate_limit_counters (
    key        text PRIMARY KEY,
    count      integer NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_counters_expires_at_idx ON rate_limit_counters (expires_at);

-- Which user owns a Meta object id (Page, Instagram account, WhatsApp business account or phone
-- number) as it appears in a webhook's entry[].id. The connect flows write it; intake reads it.
CREATE TABLE account_routes (
    external_id text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('page', 'instagram', 'whatsapp_business', 'whatsapp_phone', 'tiktok')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_routes_user_id_idx ON account_routes (user_id);
