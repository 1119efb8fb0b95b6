-- Webhook intake and the durable event queue (SPEC 7, 8).
-- A delivery is one signed POST from Meta; each of its entry[] items becomes one event, owned by
-- the user whose account id is the entry's id (NULL when no connected account matches).

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    body_sha256     bytea NOT NULL UNIQUE,        -- the same bytes again are a duplicate
    object          text NOT NULL,
    entry_count     integer NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    duplicate_count integer NOT NULL DEFAULT 0,
    last_duplicate_at timestamptz
);

CREATE TABLE webhook_events (
    id               bigserial PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    entry_index      integer NOT NULL,
    user_id          bigint REFERENCES users (id) ON DELETE SET NULL,
    object           text NOT NULL,                -- instagram, page, whatsapp_business_account, ...
    field            text,                         -- changes[].field, or 'messaging'
    entry_id         text,                         -- entry[].id as Meta sent it
    payload          jsonb NOT NULL,               -- the entry item, verbatim
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'processed', 'failed', 'dead_letter')),
    attempts         integer NOT NULL DEFAULT 0,
    errors           jsonb NOT NULL DEFAULT '[]',  -- [{"attempt", "at", "message"}], no secrets
    note             text,                         -- e.g. "no handler for field X"
    received_at      timestamptz NOT NULL DEFAULT now(),
    run_at           timestamptz NOT NULL DEFAULT now(),   -- due time (retries are scheduled here)
    locked_by        text,
    lease_expires_at timestamptz,
    processed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (delivery_id, entry_index)
);
-- The queue's claim: due pending/failed events, and expired leases.
CREATE INDEX webhook_events_due_idx ON webhook_events (run_at) WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_events_lease_idx ON webhook_events (lease_expires_at) WHERE status = 'processing';
-- The dashboard's list: a user's events newest first (keyset on received_at, id).
CREATE INDEX webhook_events_user_list_idx ON webhook_events (user_id, received_at DESC, id DESC);
CREATE INDEX webhook_events_user_status_idx ON webhook_events (user_id, status, received_at DESC, id DESC);
CREATE INDEX webhook_events_processed_at_idx ON webhook_events (processed_at) WHERE status = 'processed';

-- Per-user webhook health; user_id NULL holds the app-wide record (verification, unknown owners).
CREATE TABLE webhook_health (
    id                  bigserial PRIMARY KEY,
    user_id             bigint UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    verified_at         timestamptz,
    last_received_at    timestamptz,
    last_processed_at   timestamptz,
    received_count      bigint NOT NULL DEFAULT 0,
    duplicate_count     bigint NOT NULL DEFAULT 0,
    unknown_owner_count bigint NOT NULL DEFAULT 0,
    last_error          text,
    last_error_at       timestamptz
);
CREATE UNIQUE INDEX webhook_health_app_wide_key ON webhook_health ((user_id IS NULL)) WHERE user_id IS NULL;

-- The inbox: what the handlers make of events, one row per Meta id (mid, comment id, wamid...).
CREATE TABLE interactions (
    id           bigserial PRIMARY KEY,
    user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
    platform     text NOT NULL,       -- instagram, facebook, whatsapp
    kind         text NOT NULL,       -- message, echo, reaction, postback, read, deleted, comment,
                                      -- live_comment, mention, story_insights, feed, whatsapp_message,
                                      -- whatsapp_status
    external_id  text NOT NULL,       -- Meta's own id: the idempotency key
    account_id   text,                -- the Page / IG / WABA / phone number id it arrived for
    sender_id    text,
    recipient_id text,
    text         text,
    status       text,                -- WhatsApp delivery status, reaction type, ...
    occurred_at  timestamptz,
    event_id     bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, kind, external_id)
);
CREATE INDEX interactions_user_list_idx ON interactions (user_id, occurred_at DESC, id DESC);
