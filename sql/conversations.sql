-- Named queries: Conversations (webhook_app/conversations): what the handlers write, what the inbox reads.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- lock_user_conversations --
-- Hold one user's conversations for the rest of the transaction (an advisory lock: 7015 is this package's).
SELECT pg_advisory_xact_lock(7015, %(user_id)s::integer);

-- insert_contacts --
-- The contacts of gathered messages that are new (existing ones are neither changed nor locked here;
-- refresh_contacts brings their names up to date at the end of the batch). `rows`: the messages as JSON.
-- Returns the channel of each new contact.
INSERT INTO contacts (user_id, channel, account_id, external_id, name, username)
SELECT DISTINCT ON (r.user_id, r.channel, r.account_id, r.contact_key)
       r.user_id, r.channel, r.account_id, r.contact_key, r.contact_name, r.contact_username
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (n integer, user_id bigint, channel text, account_id text,
                                              contact_key text, contact_name text, contact_username text)
WHERE r.contact_key <> ''
ORDER BY r.user_id, r.channel, r.account_id, r.contact_key, (r.contact_name IS NULL), r.n DESC
ON CONFLICT (user_id, channel, account_id, external_id) DO NOTHING
RETURNING channel;

-- insert_conversations --
-- The conversations of gathered messages that are new, with their contact and first times (existing ones are
-- moved forward by bump_conversations at the end of the batch).
INSERT INTO conversations (user_id, channel, kind, account_id, contact_id, contact_key, thread_key,
                           last_message_at, last_inbound_at)
SELECT r.user_id, r.channel, r.thread, r.account_id,
       (SELECT k.id FROM contacts k WHERE k.user_id = r.user_id AND k.channel = r.channel
          AND k.account_id = r.account_id AND k.external_id = r.contact_key),
       r.contact_key, r.thread_key, max(r.occurred_at), max(r.occurred_at) FILTER (WHERE r.direction = 'inbound')
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, thread text, account_id text,
                                              contact_key text, thread_key text, direction text,
                                              occurred_at timestamptz)
GROUP BY r.user_id, r.channel, r.thread, r.account_id, r.contact_key, r.thread_key
ORDER BY r.user_id, r.channel, r.account_id, r.thread, r.contact_key, r.thread_key
ON CONFLICT (user_id, channel, account_id, kind, contact_key, thread_key) DO NOTHING;

-- refresh_contacts --
-- At the end of a batch: a name or username Meta now gives replaces the stored one. Rows are locked in id order
-- (every worker the same), and only those that change.
WITH input AS (
    SELECT DISTINCT ON (r.user_id, r.channel, r.account_id, r.contact_key)
           r.user_id, r.channel, r.account_id, r.contact_key, r.contact_name, r.contact_username
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (n integer, user_id bigint, channel text, account_id text,
                                                  contact_key text, contact_name text, contact_username text)
    WHERE r.contact_key <> '' AND (r.contact_name IS NOT NULL OR r.contact_username IS NOT NULL)
    ORDER BY r.user_id, r.channel, r.account_id, r.contact_key, (r.contact_name IS NULL), r.n DESC
), locked AS (
    SELECT k.id, i.contact_name, i.contact_username
    FROM contacts k
    JOIN input i ON k.user_id = i.user_id AND k.channel = i.channel AND k.account_id = i.account_id
                AND k.external_id = i.contact_key
    WHERE (i.contact_name IS NOT NULL AND i.contact_name IS DISTINCT FROM k.name)
       OR (i.contact_username IS NOT NULL AND i.contact_username IS DISTINCT FROM k.username)
    ORDER BY k.id
    FOR UPDATE OF k
)
UPDATE contacts k
SET name = coalesce(l.contact_name, k.name), username = coalesce(l.contact_username, k.username), updated_at = now()
FROM locked l WHERE k.id = l.id;

-- bump_conversations --
-- At the end of a batch: each conversation's times move forward to its newest message (never back, so a
-- redelivered batch writes nothing). Rows are locked in id order (every worker the same).
WITH input AS (
    SELECT r.user_id, r.channel, r.thread, r.account_id, r.contact_key, r.thread_key,
           max(r.occurred_at) AS last_at, max(r.occurred_at) FILTER (WHERE r.direction = 'inbound') AS inbound_at
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, thread text, account_id text,
                                                  contact_key text, thread_key text, direction text,
                                                  occurred_at timestamptz)
    GROUP BY r.user_id, r.channel, r.thread, r.account_id, r.contact_key, r.thread_key
), locked AS (
    SELECT c.id, i.last_at, i.inbound_at,
           (SELECT k.id FROM contacts k WHERE k.user_id = c.user_id AND k.channel = c.channel
              AND k.account_id = c.account_id AND k.external_id = c.contact_key) AS contact_id
    FROM conversations c
    JOIN input i ON c.user_id = i.user_id AND c.channel = i.channel AND c.account_id = i.account_id
                AND c.kind = i.thread AND c.contact_key = i.contact_key AND c.thread_key = i.thread_key
    WHERE i.last_at > c.last_message_at OR i.inbound_at > coalesce(c.last_inbound_at, '-infinity')
       OR (c.contact_id IS NULL AND c.contact_key <> '')
    ORDER BY c.id
    FOR UPDATE OF c
)
UPDATE conversations c
SET last_message_at = greatest(c.last_message_at, l.last_at),
    last_inbound_at = greatest(c.last_inbound_at, l.inbound_at),
    contact_id = coalesce(c.contact_id, l.contact_id)
FROM locked l WHERE c.id = l.id;

-- insert_messages --
-- A batch of messages into their conversations (upsert_conversations ran first), keyed by Meta's id: an id
-- stored before adds nothing. An outbound message takes the most advanced status Meta already reported.
INSERT INTO messages (user_id, conversation_id, channel, external_id, direction, kind, sender_id, text, content,
                      status, status_at, error, pricing, occurred_at, edited_at, deleted_at, event_id)
SELECT r.user_id, c.id, r.channel, r.external_id, r.direction, r.kind, r.sender_id, r.text, r.content,
       known.status, known.at, known.error, known.pricing, r.occurred_at, r.edited_at, r.deleted_at, r.event_id
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (n integer, user_id bigint, channel text, thread text, account_id text,
                                              contact_key text, thread_key text, external_id text, direction text,
                                              kind text, sender_id text, text text, content jsonb,
                                              occurred_at timestamptz, edited_at timestamptz,
                                              deleted_at timestamptz, event_id bigint)
JOIN conversations c ON c.user_id = r.user_id AND c.channel = r.channel AND c.account_id = r.account_id
                    AND c.kind = r.thread AND c.contact_key = r.contact_key AND c.thread_key = r.thread_key
LEFT JOIN LATERAL (
    SELECT s.status, s.at, s.error, s.pricing FROM message_statuses s
    WHERE r.direction = 'outbound' AND s.user_id = r.user_id AND s.channel = r.channel
      AND s.external_id = r.external_id
    ORDER BY message_status_rank(s.status) DESC LIMIT 1
) AS known ON true
ORDER BY r.n
ON CONFLICT (user_id, channel, external_id) DO NOTHING;

-- apply_reactions --
-- At the end of a batch: set (or, with a null emoji, clear) people's reactions on stored messages, unless a later
-- one of theirs is there already; at most one row per message (the caller sends rounds). Rows locked in id order.
-- Returns the messages found (a reaction to one that is not stored shows on its own).
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, target text,
                                                           reactor text, reaction jsonb, at timestamptz)
), target AS (
    SELECT m.id, m.external_id, i.reactor, i.reaction, i.at FROM messages m
    JOIN input i ON m.user_id = i.user_id AND m.channel = i.channel AND m.external_id = i.target
    ORDER BY m.id
    FOR UPDATE OF m
), changed AS (
    UPDATE messages m
    SET reactions = jsonb_set(m.reactions, ARRAY[t.reactor], t.reaction), updated_at = now()
    FROM target t
    WHERE m.id = t.id AND coalesce((m.reactions -> t.reactor ->> 'at')::timestamptz, '-infinity') <= t.at
    RETURNING m.id
)
SELECT external_id FROM target;

-- apply_edits --
-- At the end of a batch: show stored messages' new texts and keep the ones they replace, unless this edit (or a
-- later one) is applied already; at most one row per message (the caller sends rounds). Rows locked in id order.
-- Returns the messages found.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, target text,
                                                           text text, at timestamptz)
), target AS (
    SELECT m.id, m.external_id, i.text, i.at FROM messages m
    JOIN input i ON m.user_id = i.user_id AND m.channel = i.channel AND m.external_id = i.target
    ORDER BY m.id
    FOR UPDATE OF m
), changed AS (
    UPDATE messages m
    SET edits = m.edits || jsonb_build_array(jsonb_build_object('text', m.text, 'until', t.at)),
        text = t.text, edited_at = t.at, updated_at = now()
    FROM target t
    WHERE m.id = t.id AND (m.edited_at IS NULL OR m.edited_at < t.at)
    RETURNING m.id
)
SELECT external_id FROM target;

-- apply_deletions --
-- At the end of a batch: mark stored messages deleted (the first deletion time stays); at most one row per
-- message. Rows locked in id order. Returns the messages found.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, target text,
                                                           at timestamptz)
), target AS (
    SELECT m.id, m.external_id, i.at FROM messages m
    JOIN input i ON m.user_id = i.user_id AND m.channel = i.channel AND m.external_id = i.target
    ORDER BY m.id
    FOR UPDATE OF m
), changed AS (
    UPDATE messages m SET deleted_at = t.at, updated_at = now()
    FROM target t WHERE m.id = t.id AND m.deleted_at IS NULL
    RETURNING m.id
)
SELECT external_id FROM target;

-- apply_statuses --
-- At the end of a batch: keep every status Meta reported for our messages (WhatsApp), and move each stored
-- message to the furthest one (never back), with a failure's error and the pricing. Rows locked in id order.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, external_id text,
                                                           status text, at timestamptz, recipient_id text,
                                                           error jsonb, pricing jsonb, callback_data text,
                                                           event_id bigint)
), kept AS (
    INSERT INTO message_statuses (user_id, channel, external_id, status, at, recipient_id, error, pricing,
                                  callback_data, event_id)
    SELECT DISTINCT ON (user_id, channel, external_id, status) user_id, channel, external_id, status, at,
           recipient_id, error, pricing, callback_data, event_id
    FROM input ORDER BY user_id, channel, external_id, status, at
    ON CONFLICT (user_id, channel, external_id, status) DO NOTHING
), best AS (
    SELECT user_id, channel, external_id,
           (array_agg(status ORDER BY message_status_rank(status) DESC, at DESC))[1] AS status,
           (array_agg(at ORDER BY message_status_rank(status) DESC, at DESC))[1] AS at,
           (array_agg(error) FILTER (WHERE error IS NOT NULL))[1] AS error,
           (array_agg(pricing) FILTER (WHERE pricing IS NOT NULL))[1] AS pricing
    FROM input GROUP BY user_id, channel, external_id
), locked AS (
    SELECT m.id, b.status, b.at, b.error, b.pricing,
           message_status_rank(b.status) > coalesce(message_status_rank(m.status), 0) AS forward
    FROM messages m
    JOIN best b ON m.user_id = b.user_id AND m.channel = b.channel AND m.external_id = b.external_id
    WHERE message_status_rank(b.status) > coalesce(message_status_rank(m.status), 0)
       OR (b.pricing IS NOT NULL AND m.pricing IS NULL)
    ORDER BY m.id
    FOR UPDATE OF m
)
UPDATE messages m
SET status = CASE WHEN l.forward THEN l.status ELSE m.status END,
    status_at = CASE WHEN l.forward THEN l.at ELSE m.status_at END,
    error = coalesce(l.error, m.error), pricing = coalesce(m.pricing, l.pricing), updated_at = now()
FROM locked l WHERE m.id = l.id;

-- apply_receipts --
-- At the end of a batch: contacts' read and delivery receipts (Instagram, Messenger). Our messages to them up to
-- the one named (or up to the watermark time) move to that status, never back. Rows locked in id order.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (user_id bigint, channel text, account_id text,
                                                           contact_key text, status text, at timestamptz,
                                                           mids text[], watermark timestamptz)
), targets AS (
    SELECT m.id, i.status, i.at
    FROM input i
    JOIN conversations c ON c.user_id = i.user_id AND c.channel = i.channel AND c.account_id = i.account_id
                        AND c.kind = 'direct' AND c.contact_key = i.contact_key
    -- A reply Meta has not named yet ('outbound:<id>', SPEC 16) is not covered by any receipt.
    JOIN messages m ON m.conversation_id = c.id AND m.direction = 'outbound' AND left(m.external_id, 9) <> 'outbound:'
    WHERE m.external_id = ANY(i.mids)
       OR m.occurred_at <= coalesce(i.watermark, (SELECT max(t.occurred_at) FROM messages t
                                                   WHERE t.user_id = i.user_id AND t.channel = i.channel
                                                     AND t.external_id = ANY(i.mids)))
), best AS (
    SELECT id, (array_agg(status ORDER BY message_status_rank(status) DESC))[1] AS status, max(at) AS at
    FROM targets GROUP BY id
), locked AS (
    SELECT m.id, b.status, b.at FROM messages m JOIN best b ON b.id = m.id
    WHERE message_status_rank(b.status) > coalesce(message_status_rank(m.status), 0)
    ORDER BY m.id
    FOR UPDATE OF m
)
UPDATE messages m SET status = l.status, status_at = l.at, updated_at = now()
FROM locked l WHERE m.id = l.id;

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
       OR c.id IN (SELECT s.conversation_id FROM messages s WHERE s.user_id = %(user_id)s AND s.text ILIKE %(q)s))
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

-- contact_of_message --
-- Who the conversation holding a message is with (our reply to a comment goes to the commenter's thread).
SELECT c.contact_key FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.user_id = %(user_id)s AND m.channel = %(channel)s AND m.external_id = %(external_id)s;

-- contacts_due_for_profile --
-- Instagram and Messenger contacts whose profile was never asked for, oldest first, each with the sealed token of
-- the account they wrote to (the Instagram account's own or its Page's; the Page's for Messenger).
SELECT k.id, k.channel, k.external_id, k.user_id, a.access_token_ciphertext, a.access_token_key_id, a.token_kind,
       a.status, a.status_reason, a.expires_at, a.refresh_expires_at, a.checked_expires_at,
       a.data_access_expires_at, a.is_valid, a.error_code, a.kind, a.has_token, a.last_refreshed_at,
       a.last_validated_at
FROM contacts k
LEFT JOIN instagram_accounts i ON k.channel = 'instagram' AND i.user_id = k.user_id AND i.ig_user_id = k.account_id
LEFT JOIN pages p ON k.channel = 'messenger' AND p.user_id = k.user_id AND p.page_id = k.account_id
JOIN account_credentials a ON (a.kind = 'instagram' AND a.id = i.id) OR (a.kind = 'page' AND a.id = p.id)
WHERE k.profile_checked_at IS NULL AND k.channel IN ('instagram', 'messenger')
ORDER BY k.created_at
LIMIT %(limit)s;

-- save_contact_profile --
-- What the profile API said about a contact (or why it said nothing); asked once.
UPDATE contacts
SET name = coalesce(%(contact_name)s, name), username = coalesce(%(username)s, username),
    picture_url = coalesce(%(picture_url)s, picture_url), profile_error = %(error)s,
    profile_checked_at = now(), updated_at = now()
WHERE id = %(id)s;
