-- WhatsApp message templates and their sync state, the durable background-job queue, and account
-- metrics snapshots with recent media (SPEC 5, 10).

-- One row per template per WhatsApp Business account, as Meta last described it.
CREATE TABLE message_templates (
    id                   bigserial PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    whatsapp_account_id  bigint NOT NULL REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    template_id          text NOT NULL,            -- Meta's id
    name                 text NOT NULL,
    language             text NOT NULL DEFAULT '',
    status               text NOT NULL,            -- APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
    category             text,                     -- MARKETING, UTILITY, AUTHENTICATION
    quality_score        text,                     -- GREEN, YELLOW, RED, UNKNOWN
    rejected_reason      text,
    -- Parsed: {"header": {"format", "text"}, "body": {"text", "variables"}, "footer": {"text"},
    --          "buttons": [{"type", "text", ...}]}
    components           jsonb NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (whatsapp_account_id, template_id)
);
-- /api/templates and /api/templates/status: a user's templates by status.
CREATE INDEX message_templates_user_status_idx ON message_templates (user_id, status, name);

-- When each account's templates were last pulled from Meta, and the last failure.
CREATE TABLE template_sync_state (
    whatsapp_account_id  bigint PRIMARY KEY REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    running              boolean NOT NULL DEFAULT false,
    started_at           timestamptz,
    last_synced_at       timestamptz,
    template_count       integer,
    last_error           text,                     -- Meta's message, never a token
    last_error_at        timestamptz
);
CREATE INDEX template_sync_state_user_idx ON template_sync_state (user_id);

-- Durable work queued by the web app (e.g. a template sync after a WhatsApp connect) and run by
-- `python -m jobs.sync_templates --follow`. Claimed with FOR UPDATE SKIP LOCKED under a lease.
CREATE TABLE background_jobs (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL,
    payload           jsonb NOT NULL DEFAULT '{}',
    -- At most one queued job per key: connecting twice in a row queues one sync.
    dedupe_key        text,
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    run_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 5,
    last_error        text,
    locked_by         text,
    lease_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE INDEX background_jobs_due_idx ON background_jobs (run_at) WHERE status = 'queued';
CREATE INDEX background_jobs_lease_idx ON background_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX background_jobs_finished_idx ON background_jobs (finished_at) WHERE status IN ('done', 'failed');
CREATE UNIQUE INDEX background_jobs_queued_key ON background_jobs (dedupe_key)
    WHERE status = 'queued' AND dedupe_key IS NOT NULL;

-- A snapshot per account per data-sync run, so growth can be charted.
CREATE TABLE account_metrics (
    id                    bigserial PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instagram_account_id  bigint REFERENCES instagram_accounts (id) ON DELETE CASCADE,
    tiktok_account_id     bigint REFERENCES tiktok_accounts (id) ON DELETE CASCADE,
    followers_count       bigint,
    follows_count         bigint,
    media_count           bigint,
    likes_count           bigint,
    taken_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((instagram_account_id IS NULL) <> (tiktok_account_id IS NULL))
);
CREATE INDEX account_metrics_user_taken_idx ON account_metrics (user_id, taken_at);
CREATE INDEX account_metrics_instagram_idx ON account_metrics (instagram_account_id) WHERE instagram_account_id IS NOT NULL;
CREATE INDEX account_metrics_tiktok_idx ON account_metrics (tiktok_account_id) WHERE tiktok_account_id IS NOT NULL;

-- The latest posts of each Instagram account, refreshed by the data sync.
CREATE TABLE account_media (
    id                    bigserial PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instagram_account_id  bigint NOT NULL REFERENCES instagram_accounts (id) ON DELETE CASCADE,
    media_id              text NOT NULL,
    caption               text,
    media_type            text,
    permalink             text,
    like_count            bigint,
    comments_count        bigint,
    posted_at             timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instagram_account_id, media_id)
);
CREATE INDEX account_media_user_idx ON account_media (user_id, posted_at DESC);

-- When the data sync last visited an account (instagram_accounts and tiktok_accounts already
-- have last_synced_at from 0020); the last error it met there.
ALTER TABLE instagram_accounts ADD COLUMN last_data_sync_error text;
ALTER TABLE tiktok_accounts ADD COLUMN last_data_sync_error text;
CREATE INDEX instagram_accounts_last_synced_idx ON instagram_accounts (last_synced_at NULLS FIRST);
CREATE INDEX tiktok_accounts_last_synced_idx ON tiktok_accounts (last_synced_at NULLS FIRST);
