-- Issue 21: Instagram Login accounts hold a webhook subscription of their own, and each live subscription
-- remembers when Meta was last asked about it ("check subscription", the silence alarm's action).

ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_kind_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_kind_check
    CHECK (kind IN ('page', 'whatsapp_business', 'instagram'));

ALTER TABLE webhook_subscriptions
    -- When GET /{id}/subscribed_apps was last asked, and what it found: 'subscribed', or 'resubscribed'
    -- (our app was missing and was subscribed again), or the error Meta answered.
    ADD COLUMN last_checked_at timestamptz,
    ADD COLUMN check_result text;
