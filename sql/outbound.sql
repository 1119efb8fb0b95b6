-- Named queries: Replies (webhook_app/outbound): queueing, the senders' claim and outcomes, the reply views.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- outbound_target --
-- One of a user's conversations with what a reply to it needs: the reply window, and the connected account that
-- answers it (the phone number's WhatsApp account, the Instagram account, the Page) with its token's status.
SELECT c.id, c.channel, c.kind AS thread, c.account_id, c.contact_key, c.thread_key, c.last_inbound_at,
       a.kind AS account_kind, a.id AS account_ref, a.status, a.status_reason, a.has_token, a.expires_at,
       a.checked_expires_at, a.refresh_expires_at, n.whatsapp_account_id
FROM conversations c
LEFT JOIN whatsapp_phone_numbers n ON c.channel = 'whatsapp' AND n.user_id = c.user_id
                                  AND n.phone_number_id = c.account_id
LEFT JOIN instagram_accounts i ON c.channel = 'instagram' AND i.user_id = c.user_id AND i.ig_user_id = c.account_id
LEFT JOIN pages p ON c.channel = 'messenger' AND p.user_id = c.user_id AND p.page_id = c.account_id
LEFT JOIN account_credentials a ON (a.kind = 'whatsapp' AND a.id = n.whatsapp_account_id)
                               OR (a.kind = 'instagram' AND a.id = i.id) OR (a.kind = 'page' AND a.id = p.id)
WHERE c.id = %(conversation_id)s AND c.user_id = %(user_id)s
LIMIT 1;

-- outbound_comment --
-- One of a user's stored messages (the comment a reply answers), with its conversation's id and thread.
SELECT m.id, m.external_id, m.kind, m.direction, m.occurred_at, m.deleted_at, m.sender_id, c.id AS conversation_id
FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.id = %(message_id)s AND m.user_id = %(user_id)s;

-- outbound_templates --
-- The APPROVED templates of one WhatsApp Business account, by name and language.
SELECT name, language, category, components
FROM message_templates
WHERE whatsapp_account_id = %(whatsapp_account_id)s AND user_id = %(user_id)s AND status = 'APPROVED'
ORDER BY name, language;

-- outbound_template --
-- One template of a WhatsApp Business account by name and language, whatever its status.
SELECT name, language, status, category, components
FROM message_templates
WHERE whatsapp_account_id = %(whatsapp_account_id)s AND user_id = %(user_id)s AND name = %(template_name)s
  AND language = %(language)s
ORDER BY (status = 'APPROVED') DESC
LIMIT 1;

-- outbound_by_key --
-- A user's outbound message queued under an Idempotency-Key.
SELECT * FROM outbound_messages WHERE user_id = %(user_id)s AND idempotency_key = %(idempotency_key)s;

-- outbound_insert --
-- Queue a reply (nothing when the user already used this Idempotency-Key: the caller reads that one).
INSERT INTO outbound_messages (user_id, conversation_id, channel, account_id, account_kind, account_ref, recipient,
                               kind, body, idempotency_key, request_hash)
VALUES (%(user_id)s, %(conversation_id)s, %(channel)s, %(account_id)s, %(account_kind)s, %(account_ref)s,
        %(recipient)s, %(kind)s, %(body)s, %(idempotency_key)s, %(request_hash)s)
ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- outbound_insert_message --
-- The reply's row in its conversation, shown at once; 'outbound:<id>' stands for Meta's id until it is known.
-- The conversation's latest activity moves to it. Returns the outbound message, linked to the row.
WITH shown AS (
    INSERT INTO messages (user_id, conversation_id, channel, external_id, direction, kind, sender_id, text, content,
                          occurred_at)
    VALUES (%(user_id)s, %(conversation_id)s, %(channel)s, 'outbound:' || %(id)s::bigint, 'outbound', %(kind)s,
            %(account_id)s, %(text)s, %(content)s, now())
    RETURNING id
), bumped AS (
    UPDATE conversations SET last_message_at = greatest(last_message_at, now())
    WHERE id = %(conversation_id)s AND user_id = %(user_id)s
)
UPDATE outbound_messages o SET message_id = shown.id FROM shown WHERE o.id = %(id)s::bigint
RETURNING o.*;

-- outbound_wake --
-- Wake the senders (LISTEN outbound_messages), at the commit of the queueing transaction.
SELECT pg_notify('outbound_messages', '');

-- outbound_get --
-- One of a user's outbound messages.
SELECT * FROM outbound_messages WHERE id = %(id)s AND user_id = %(user_id)s;

-- outbound_of_messages --
-- The outbound messages behind some of a conversation's rows (the conversation view).
SELECT * FROM outbound_messages
WHERE user_id = %(user_id)s AND message_id = ANY(%(message_ids)s::bigint[]);

-- outbound_resolve --
-- The user's word on an `unknown` message: not sent (queued again, sent anew) or sent (it stays as sent).
-- Returns nothing when the message is not the user's or not `unknown`.
WITH resolved AS (
    UPDATE outbound_messages
    SET status = %(status)s, status_at = now(), next_attempt_at = now(), worker = NULL, lease_until = NULL,
        updated_at = now()
    WHERE id = %(id)s AND user_id = %(user_id)s AND status = 'unknown'
    RETURNING *
), shown AS (
    UPDATE messages m SET status = CASE WHEN r.status = 'sent' THEN 'sent' END, status_at = now(), updated_at = now()
    FROM resolved r WHERE m.id = r.message_id
)
SELECT * FROM resolved;

-- outbound_claim --
-- A sender takes the oldest due queued message and commits `sending` before calling Meta (at most once: a sender
-- that dies from here on leaves it `sending` until its lease ends, then `unknown`). With the account's token.
WITH next AS (
    SELECT id FROM outbound_messages
    WHERE status = 'queued' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE outbound_messages o
    SET status = 'sending', attempts = o.attempts + 1, worker = %(worker)s,
        lease_until = now() + make_interval(secs => %(lease_seconds)s), status_at = now(), updated_at = now()
    FROM next WHERE o.id = next.id
    RETURNING o.*
)
SELECT c.*, a.access_token_ciphertext, a.access_token_key_id, a.status AS account_status, a.has_token,
       a.expires_at, a.checked_expires_at, a.refresh_expires_at, a.credential_id, a.token_kind
FROM claimed c
LEFT JOIN account_credentials a ON a.kind = c.account_kind AND a.id = c.account_ref;

-- outbound_next_due --
-- When the next queued message falls due (NULL: none queued): how long a sender may sleep.
SELECT min(next_attempt_at) AS due FROM outbound_messages WHERE status = 'queued';

-- outbound_sent --
-- Meta accepted the message and named it.
SELECT * FROM outbound_mark_sent(%(id)s, %(external_id)s);

-- outbound_failed --
-- Meta refused the message for good (or its account must be reconnected): failed, with Meta's code and title.
WITH failed AS (
    UPDATE outbound_messages
    SET status = 'failed', error = %(error)s, status_at = now(), worker = NULL, lease_until = NULL, updated_at = now()
    WHERE id = %(id)s AND status = 'sending'
    RETURNING *
), shown AS (
    UPDATE messages m SET status = 'failed', status_at = now(), error = f.error, updated_at = now()
    FROM failed f WHERE m.id = f.message_id
)
SELECT * FROM failed;

-- outbound_retry --
-- A refusal worth another try (rate limit, Meta down): queued again after the backoff, the error kept to show.
UPDATE outbound_messages
SET status = 'queued', error = %(error)s, next_attempt_at = now() + make_interval(secs => %(delay)s),
    status_at = now(), worker = NULL, lease_until = NULL, updated_at = now()
WHERE id = %(id)s AND status = 'sending'
RETURNING *;

-- outbound_unknown --
-- The call's outcome cannot be known (no answer came back): `unknown`, never resent on its own.
UPDATE outbound_messages
SET status = 'unknown', error = %(error)s, status_at = now(), worker = NULL, lease_until = NULL, updated_at = now()
WHERE id = %(id)s AND status = 'sending'
RETURNING *;

-- outbound_expire_leases --
-- Messages whose sender died during the call (its lease ran out): `unknown`. Returns their users.
UPDATE outbound_messages
SET status = 'unknown', worker = NULL, lease_until = NULL, status_at = now(), updated_at = now(),
    error = jsonb_build_object('code', NULL, 'title', 'Sender stopped during the call',
                               'message', 'The sender stopped while Meta was being called: the message may or may '
                                          'not have been sent.')
WHERE status = 'sending' AND lease_until < now()
RETURNING id, user_id;
