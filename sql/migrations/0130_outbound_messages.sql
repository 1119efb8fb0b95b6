-- Replies (SPEC 16): our messages to customers, sent at most once and followed to "read".
--
-- A reply is two rows written in one transaction: `outbound_messages` (the send: its state, attempts, lease,
-- Meta's answer) and a `messages` row in its conversation (what the inbox shows, at its place in time). Until
-- Meta names the message, that row's external_id is 'outbound:<id>' and its status NULL; outbound_mark_sent
-- gives it Meta's id, and from then on the webhook handlers move it like any other message of ours (statuses,
-- delivery and read receipts), and the `outbound_messages` row follows it (trigger below).

CREATE TABLE outbound_messages (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      bigint REFERENCES messages (id) ON DELETE SET NULL,   -- its row in the conversation
    channel         text NOT NULL CHECK (channel IN ('instagram', 'messenger', 'whatsapp')),
    account_id      text NOT NULL,          -- Meta's id of our side: phone number id, Instagram account, Page
    account_kind    text NOT NULL CHECK (account_kind IN ('whatsapp', 'instagram', 'page')),
    account_ref     bigint NOT NULL,        -- our row of that account (account_credentials.id): its token
    recipient       text NOT NULL,          -- wa_id, IGSID, PSID, or the comment answered
    kind            text NOT NULL CHECK (kind IN ('text', 'attachment', 'template', 'comment_reply',
                                                  'private_reply')),
    body            jsonb NOT NULL,         -- {"text"}, {"attachment": {"type", "url"}, "text"?}, {"template": {...}}
    idempotency_key text,
    request_hash    text NOT NULL,          -- what was asked, so the same key with another body is refused
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown')),
    external_id     text,                   -- Meta's id of the message (wamid, mid, comment id)
    error           jsonb,                  -- {"code", "title", "message"}
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    worker          text,                   -- the sender holding it while `sending`
    lease_until     timestamptz,            -- past this, a `sending` row's sender is taken for dead: `unknown`
    created_at      timestamptz NOT NULL DEFAULT now(),
    status_at       timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX outbound_messages_idempotency_key ON outbound_messages (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The senders' claim: queued rows that are due, oldest first.
CREATE INDEX outbound_messages_due_idx ON outbound_messages (next_attempt_at, id) WHERE status = 'queued';
-- Rows held by senders, to find those whose sender died.
CREATE INDEX outbound_messages_sending_idx ON outbound_messages (lease_until) WHERE status = 'sending';
CREATE INDEX outbound_messages_message_idx ON outbound_messages (message_id);
CREATE INDEX outbound_messages_conversation_idx ON outbound_messages (conversation_id);
CREATE INDEX outbound_messages_external_idx ON outbound_messages (user_id, channel, external_id)
    WHERE external_id IS NOT NULL;

-- Meta's statuses (sent < delivered < read, failed above all) only move an outbound message forward; our own
-- states before Meta names it (queued, sending, unknown) rank 0, as in message_status_rank.

-- Meta named one of our messages: the send call answered, or a status webhook carrying our id
-- (biz_opaque_callback_data) came first. The reply's conversation row takes Meta's id (an echo of it stored
-- first is folded in) and the furthest status Meta already reported for that id. Returns the row when it moved.
CREATE FUNCTION outbound_mark_sent(p_id bigint, p_external_id text) RETURNS SETOF outbound_messages
LANGUAGE plpgsql AS $$
DECLARE
    o outbound_messages;
    best record;
    echo record;
    new_status text := 'sent';
    new_at timestamptz := now();
    new_error jsonb;
BEGIN
    SELECT * INTO o FROM outbound_messages WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR o.status = 'failed' OR (o.external_id IS NOT NULL AND o.external_id <> p_external_id) THEN
        RETURN;
    END IF;
    IF message_status_rank(o.status) > message_status_rank(new_status) THEN
        new_status := o.status; new_at := o.status_at; new_error := o.error;
    END IF;
    SELECT s.status, s.at, s.error INTO best FROM message_statuses s
    WHERE s.user_id = o.user_id AND s.channel = o.channel AND s.external_id = p_external_id
    ORDER BY message_status_rank(s.status) DESC, s.at DESC LIMIT 1;
    IF FOUND AND message_status_rank(best.status) > message_status_rank(new_status) THEN
        new_status := best.status; new_at := coalesce(best.at, now()); new_error := best.error;
    END IF;
    -- An echo (Messenger, Instagram) stored before the answer came: its receipts count, the row goes.
    DELETE FROM messages m WHERE m.user_id = o.user_id AND m.channel = o.channel AND m.external_id = p_external_id
      AND m.id IS DISTINCT FROM o.message_id
    RETURNING m.status, m.status_at, m.error INTO echo;
    IF FOUND AND message_status_rank(echo.status) > message_status_rank(new_status) THEN
        new_status := echo.status; new_at := coalesce(echo.status_at, now()); new_error := echo.error;
    END IF;
    UPDATE outbound_messages
    SET external_id = p_external_id, status = new_status, status_at = new_at, error = coalesce(new_error, error),
        worker = NULL, lease_until = NULL, updated_at = now()
    WHERE id = o.id RETURNING * INTO o;
    UPDATE messages SET external_id = p_external_id, status = new_status, status_at = new_at,
        error = new_error, updated_at = now()
    WHERE id = o.message_id;
    RETURN NEXT o;
END $$;

-- A status webhook of ours carrying our id (WhatsApp's biz_opaque_callback_data) names the message, even when it
-- arrives before the send call answered, or after its sender died (`unknown`).
CREATE FUNCTION outbound_follow_callback() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.callback_data ~ '^[0-9]{1,18}$' THEN
        PERFORM outbound_mark_sent(o.id, NEW.external_id) FROM outbound_messages o
        WHERE o.id = NEW.callback_data::bigint AND o.user_id = NEW.user_id AND o.channel = NEW.channel
          AND o.status IN ('queued', 'sending', 'unknown');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER message_statuses_follow_outbound AFTER INSERT ON message_statuses
    FOR EACH ROW WHEN (NEW.callback_data IS NOT NULL) EXECUTE FUNCTION outbound_follow_callback();

-- A reply's conversation row moved (a status, a receipt): its outbound message follows, never back.
CREATE FUNCTION outbound_follow_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbound_messages o
    SET status = NEW.status, status_at = coalesce(NEW.status_at, now()), error = coalesce(NEW.error, o.error),
        updated_at = now()
    WHERE o.message_id = NEW.id AND message_status_rank(NEW.status) > message_status_rank(o.status);
    RETURN NULL;
END $$;
CREATE TRIGGER messages_follow_outbound AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.direction = 'outbound' AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION outbound_follow_message();

-- An echo of a Messenger or Instagram reply carries the `metadata` we sent with it: our id. It names the message
-- (before the send call answered, or after its sender died) and folds into the reply's row.
CREATE FUNCTION outbound_follow_echo() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.content ->> 'metadata' ~ '^[0-9]{1,18}$' THEN
        PERFORM outbound_mark_sent(o.id, NEW.external_id) FROM outbound_messages o
        WHERE o.id = (NEW.content ->> 'metadata')::bigint AND o.user_id = NEW.user_id AND o.channel = NEW.channel
          AND o.status IN ('queued', 'sending', 'unknown') AND o.message_id IS DISTINCT FROM NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_echo_follows_outbound AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.direction = 'outbound' AND NEW.content ? 'metadata') EXECUTE FUNCTION outbound_follow_echo();
