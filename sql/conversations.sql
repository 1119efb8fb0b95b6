-- Named queries: Conversations (webhook_app/conversations): what the handlers write, what the inbox reads.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- record_message --
-- Add a message to its conversation (made on first use, with its contact), keyed by Meta's id: the same id
-- again adds nothing. The conversation's times only move forward, so a redelivery changes nothing either.
-- An outbound message takes the most advanced status Meta already reported for its id.
WITH contact AS (
    INSERT INTO contacts AS k (user_id, channel, account_id, external_id, name, username)
    SELECT %(user_id)s, %(channel)s, %(account_id)s, %(contact_key)s, %(contact_name)s, %(contact_username)s
    WHERE %(contact_key)s <> ''
    ON CONFLICT (user_id, channel, account_id, external_id) DO UPDATE
    SET name = coalesce(EXCLUDED.name, k.name), username = coalesce(EXCLUDED.username, k.username)
    RETURNING id
), conversation AS (
    INSERT INTO conversations AS c (user_id, channel, kind, account_id, contact_id, contact_key, thread_key,
                                    last_message_at, last_inbound_at)
    VALUES (%(user_id)s, %(channel)s, %(thread)s, %(account_id)s, (SELECT id FROM contact), %(contact_key)s,
            %(thread_key)s, %(occurred_at)s,
            CASE WHEN %(direction)s = 'inbound' THEN %(occurred_at)s::timestamptz END)
    ON CONFLICT (user_id, channel, account_id, kind, contact_key, thread_key) DO UPDATE
    SET last_message_at = greatest(c.last_message_at, EXCLUDED.last_message_at),
        last_inbound_at = greatest(c.last_inbound_at, EXCLUDED.last_inbound_at),
        contact_id = coalesce(c.contact_id, EXCLUDED.contact_id)
    RETURNING id
), known AS (
    SELECT s.status, s.at, s.error, s.pricing FROM message_statuses s
    WHERE %(direction)s = 'outbound' AND s.user_id = %(user_id)s AND s.channel = %(channel)s
      AND s.external_id = %(external_id)s
    ORDER BY message_status_rank(s.status) DESC LIMIT 1
)
INSERT INTO messages (user_id, conversation_id, channel, external_id, direction, kind, sender_id, text, content,
                      status, status_at, error, pricing, occurred_at, edited_at, deleted_at, event_id)
SELECT %(user_id)s, conversation.id, %(channel)s, %(external_id)s, %(direction)s, %(kind)s, %(sender_id)s,
       %(text)s, %(content)s::jsonb, known.status, known.at, known.error, known.pricing, %(occurred_at)s,
       %(edited_at)s, %(deleted_at)s, %(event_id)s
FROM conversation LEFT JOIN known ON true
ON CONFLICT (user_id, channel, external_id) DO NOTHING
RETURNING id;

-- react_to_message --
-- Set (or, with a null emoji, clear) one person's reaction on a message, unless a later one of theirs is
-- already there. Returns whether the message is stored at all.
WITH target AS (
    SELECT id FROM messages
    WHERE user_id = %(user_id)s AND channel = %(channel)s AND external_id = %(target)s
), changed AS (
    UPDATE messages m
    SET reactions = jsonb_set(m.reactions, ARRAY[%(reactor)s::text], %(reaction)s::jsonb), updated_at = now()
    FROM target
    WHERE m.id = target.id
      AND coalesce((m.reactions -> %(reactor)s ->> 'at')::timestamptz, '-infinity') <= %(at)s::timestamptz
    RETURNING m.id
)
SELECT count(*) > 0 AS found FROM target;

-- edit_message --
-- Show a message's new text and keep the one it replaces, unless this edit (or a later one) is already
-- applied. Returns whether the message is stored at all.
WITH target AS (
    SELECT id FROM messages
    WHERE user_id = %(user_id)s AND channel = %(channel)s AND external_id = %(target)s
), changed AS (
    UPDATE messages m
    SET edits = m.edits || jsonb_build_array(jsonb_build_object('text', m.text, 'until', %(at)s::timestamptz)),
        text = %(text)s, edited_at = %(at)s, updated_at = now()
    FROM target
    WHERE m.id = target.id AND (m.edited_at IS NULL OR m.edited_at < %(at)s::timestamptz)
    RETURNING m.id
)
SELECT count(*) > 0 AS found FROM target;

-- delete_message --
-- Mark a message deleted (its first deletion time stays). Returns whether the message is stored at all.
WITH target AS (
    SELECT id FROM messages
    WHERE user_id = %(user_id)s AND channel = %(channel)s AND external_id = %(target)s
), changed AS (
    UPDATE messages m SET deleted_at = coalesce(m.deleted_at, %(at)s::timestamptz), updated_at = now()
    FROM target WHERE m.id = target.id AND m.deleted_at IS NULL
    RETURNING m.id
)
SELECT count(*) > 0 AS found FROM target;

-- record_message_status --
-- Keep a status Meta reported for one of our messages, and move the message to it if it is further along.
WITH kept AS (
    INSERT INTO message_statuses (user_id, channel, external_id, status, at, recipient_id, error, pricing,
                                  callback_data, event_id)
    VALUES (%(user_id)s, %(channel)s, %(external_id)s, %(status)s, %(at)s, %(recipient_id)s, %(error)s::jsonb,
            %(pricing)s::jsonb, %(callback_data)s, %(event_id)s)
    ON CONFLICT (user_id, channel, external_id, status) DO NOTHING
)
UPDATE messages m
SET status = %(status)s, status_at = %(at)s, error = coalesce(%(error)s::jsonb, m.error),
    pricing = coalesce(%(pricing)s::jsonb, m.pricing), updated_at = now()
WHERE m.user_id = %(user_id)s AND m.channel = %(channel)s AND m.external_id = %(external_id)s
  AND message_status_rank(%(status)s) > coalesce(message_status_rank(m.status), 0);

-- apply_receipt --
-- A contact's read or delivery receipt (Instagram, Messenger): our messages to them up to the one named
-- (or up to the watermark time) move to that status.
UPDATE messages m
SET status = %(status)s, status_at = %(at)s, updated_at = now()
FROM conversations c
WHERE c.user_id = %(user_id)s AND c.channel = %(channel)s AND c.account_id = %(account_id)s
  AND c.kind = 'direct' AND c.contact_key = %(contact_key)s
  AND m.conversation_id = c.id AND m.direction = 'outbound'
  AND message_status_rank(%(status)s) > coalesce(message_status_rank(m.status), 0)
  AND (m.external_id = ANY(%(mids)s::text[])
       OR m.occurred_at <= coalesce(%(watermark)s::timestamptz,
                                    (SELECT max(t.occurred_at) FROM messages t
                                     WHERE t.user_id = %(user_id)s AND t.channel = %(channel)s
                                       AND t.external_id = ANY(%(mids)s::text[]))));

-- list_conversations --
-- One page of a user's conversations, newest activity first, filtered; each with its contact, its latest
-- message and how many of the contact's messages arrived since it was last read.
-- Keyset: strictly older than (before_at, before_id).
SELECT c.id, c.channel, c.kind, c.account_id, c.thread_key, c.last_message_at, c.last_inbound_at, c.last_read_at,
       c.contact_key, k.name AS contact_name, k.username AS contact_username, k.picture_url AS contact_picture_url,
       last.kind AS last_kind, last.text AS last_text, last.direction AS last_direction,
       last.content AS last_content, last.deleted_at AS last_deleted_at, last.status AS last_status,
       (SELECT count(*) FROM messages u
        WHERE u.conversation_id = c.id AND u.direction = 'inbound'
          AND u.created_at > coalesce(c.last_read_at, '-infinity')) AS unread_count
FROM conversations c
LEFT JOIN contacts k ON k.id = c.contact_id
LEFT JOIN LATERAL (
    SELECT m.kind, m.text, m.direction, m.content, m.deleted_at, m.status FROM messages m
    WHERE m.conversation_id = c.id ORDER BY m.occurred_at DESC, m.id DESC LIMIT 1
) AS last ON true
WHERE c.user_id = %(user_id)s
  AND (%(channel)s::text IS NULL OR c.channel = %(channel)s)
  AND (%(account)s::text IS NULL OR c.account_id = %(account)s)
  AND (%(kind)s::text IS NULL OR c.kind = %(kind)s)
  AND (NOT %(unread)s OR EXISTS (
        SELECT 1 FROM messages u WHERE u.conversation_id = c.id AND u.direction = 'inbound'
          AND u.created_at > coalesce(c.last_read_at, '-infinity')))
  AND (%(q)s::text IS NULL OR k.name ILIKE %(q)s OR k.username ILIKE %(q)s OR c.contact_key ILIKE %(q)s
       OR EXISTS (SELECT 1 FROM messages s WHERE s.conversation_id = c.id AND s.text ILIKE %(q)s))
  AND (%(before_at)s::timestamptz IS NULL
       OR (c.last_message_at, c.id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY c.last_message_at DESC, c.id DESC
LIMIT %(limit)s;

-- get_conversation --
-- One of a user's conversations with its contact and unread count.
SELECT c.id, c.channel, c.kind, c.account_id, c.thread_key, c.last_message_at, c.last_inbound_at, c.last_read_at,
       c.contact_key, k.name AS contact_name, k.username AS contact_username, k.picture_url AS contact_picture_url,
       (SELECT count(*) FROM messages u
        WHERE u.conversation_id = c.id AND u.direction = 'inbound'
          AND u.created_at > coalesce(c.last_read_at, '-infinity')) AS unread_count
FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id
WHERE c.id = %(conversation_id)s AND c.user_id = %(user_id)s;

-- conversation_messages --
-- One page of a conversation's messages, newest first (the caller shows them oldest first);
-- keyset: strictly older than (before_at, before_id).
SELECT id, external_id, direction, kind, sender_id, text, content, reactions, edits, edited_at, deleted_at,
       status, status_at, error, pricing, occurred_at, created_at
FROM messages
WHERE conversation_id = %(conversation_id)s AND user_id = %(user_id)s
  AND (%(before_at)s::timestamptz IS NULL
       OR (occurred_at, id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY occurred_at DESC, id DESC
LIMIT %(limit)s;

-- mark_conversation_read --
-- Everything that arrived in one of a user's conversations until now is read.
UPDATE conversations SET last_read_at = now()
WHERE id = %(conversation_id)s AND user_id = %(user_id)s
RETURNING id;

-- messages_by_external_ids --
-- The messages of one conversation with these Meta ids (what replies quote).
SELECT external_id, direction, kind, text, content, deleted_at
FROM messages
WHERE conversation_id = %(conversation_id)s AND user_id = %(user_id)s AND external_id = ANY(%(external_ids)s::text[]);
