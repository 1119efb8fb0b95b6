-- Conversations (SPEC 15): the inbox as people read it. A contact talks with one connected account;
-- comments and mentions are threads of their own. Messages keep what a person would see, keyed by
-- Meta's own id so a redelivered webhook changes nothing.

CREATE TABLE contacts (
    id                 bigserial PRIMARY KEY,
    user_id            bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel            text NOT NULL CHECK (channel IN ('instagram', 'messenger', 'whatsapp')),
    account_id         text NOT NULL,     -- our side: the Instagram account, Page or phone number id
    external_id        text NOT NULL,     -- their side: IGSID, PSID or wa_id
    name               text,
    username           text,
    picture_url        text,
    profile_checked_at timestamptz,       -- when the profile API was last asked (NULL: not yet)
    profile_error      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, channel, account_id, external_id)
);
-- The profile look-up job takes contacts never asked about, oldest first.
CREATE INDEX contacts_profile_due_idx ON contacts (created_at)
    WHERE profile_checked_at IS NULL AND channel IN ('instagram', 'messenger');

CREATE TABLE conversations (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('instagram', 'messenger', 'whatsapp')),
    kind            text NOT NULL CHECK (kind IN ('direct', 'comments', 'mentions')),
    account_id      text NOT NULL,
    contact_id      bigint REFERENCES contacts (id) ON DELETE SET NULL,
    contact_key     text NOT NULL DEFAULT '',  -- the contact's external id ('' when Meta names nobody)
    thread_key      text NOT NULL DEFAULT '',  -- the media or post of a comment thread ('' for direct)
    last_message_at timestamptz NOT NULL,      -- newest message's time as Meta gave it
    last_inbound_at timestamptz,               -- newest message from the contact (the reply window)
    last_read_at    timestamptz,               -- messages arrived after it are unread
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, channel, account_id, kind, contact_key, thread_key)
);
-- The list: a user's conversations, newest activity first (keyset on last_message_at, id).
CREATE INDEX conversations_user_recent_idx ON conversations (user_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    external_id     text NOT NULL,          -- Meta's id: mid, wamid, comment id
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    kind            text NOT NULL,          -- text, image, video, audio, file, share, story_mention, location,
                                            -- contacts, choice, order, comment, mention, postback, referral, ...
    sender_id       text,                   -- who wrote it (the contact, or our account)
    text            text,                   -- the latest text (or caption, or the title tapped)
    content         jsonb NOT NULL DEFAULT '{}',  -- attachments, reply_to, referral, location, contacts, choice...
    reactions       jsonb NOT NULL DEFAULT '{}',  -- {reactor id: {"emoji", "reaction", "at"}}; emoji null: removed
    edits           jsonb NOT NULL DEFAULT '[]',  -- the texts it had before, oldest first [{"text", "until"}]
    edited_at       timestamptz,
    deleted_at      timestamptz,
    status          text,                   -- our own messages: sent, delivered, read, failed
    status_at       timestamptz,
    error           jsonb,                  -- a failed one's {"code", "title", "message", "details"}
    pricing         jsonb,
    occurred_at     timestamptz NOT NULL,
    event_id        bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, channel, external_id)
);
-- A conversation's messages, newest first (its view pages backwards; its preview is the first).
CREATE INDEX messages_conversation_idx ON messages (conversation_id, occurred_at DESC, id DESC);
-- Deleting an event sets messages.event_id to NULL: without this, every pruned event scans the table.
CREATE INDEX messages_event_id_idx ON messages (event_id);

-- Every status Meta reported for one of our messages (sent, delivered, read, failed), kept even when
-- the message itself is not stored: an outbound row made later (replies, echoes) takes its status here.
CREATE TABLE message_statuses (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel      text NOT NULL,
    external_id  text NOT NULL,
    status       text NOT NULL,
    at           timestamptz,
    recipient_id text,
    error        jsonb,
    pricing      jsonb,
    callback_data text,                     -- WhatsApp's biz_opaque_callback_data: our own id for the message
    event_id     bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel, external_id, status)
);
CREATE INDEX message_statuses_event_id_idx ON message_statuses (event_id);

-- Events that arrived before their account was connected (SPEC 7): given to it when it is, counted.
ALTER TABLE webhook_events ADD COLUMN adopted_at timestamptz;
CREATE INDEX webhook_events_unowned_idx ON webhook_events (entry_id) WHERE user_id IS NULL;
CREATE INDEX webhook_events_adopted_idx ON webhook_events (user_id) WHERE adopted_at IS NOT NULL;

-- How far along a status is: a status only ever moves a message forward (a late "delivered" never
-- undoes "read"); a failure outranks them all; anything else Meta may add ranks 0.
CREATE FUNCTION message_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4
                         ELSE 0 END $$;
