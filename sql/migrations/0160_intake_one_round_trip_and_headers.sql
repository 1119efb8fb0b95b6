-- The intake in one round trip per batch, and the headers each delivery came with (SPEC 18, issue 20).
--
-- 1. One round trip. Migration 0120's intake sent a second statement after every batch's commit, to
--    NOTIFY only while a processor naps. The function now reads the naps itself and says whether one
--    is current; only then does the intake send that NOTIFY (after the commit, a statement of its
--    own: a NOTIFY inside the deliveries' commit would serialize the receivers' commits while anyone
--    naps). As the naps are now read before the deliveries commit, a nap recorded between that read
--    and the commit would miss them until its poll. A handshake on an advisory lock closes that gap
--    (key 7020, 0; 7020 is this package's): each intake statement holds the lock shared until its
--    commit (shared holders never wait for each other, and it is no row: nothing is written), and
--    recording a nap takes it exclusively before its own commit. So any intake batch either committed
--    before the nap did (the processor's look after its nap finds its events) or reads the naps after
--    the nap committed (and NOTIFYs).
-- 2. Headers. Each delivery keeps the request headers that tell where it came from and how
--    (webhook_app/webhooks/intake.py DELIVERY_HEADERS: Content-Type, Content-Length, User-Agent, both
--    X-Hub-Signature headers, X-Forwarded-For, X-Meta-* and X-FB-*) and the peer's address, shown with
--    each event of it. Deliveries stored before this migration have none (NULL).

ALTER TABLE webhook_deliveries
    ADD COLUMN headers jsonb,       -- {"User-Agent": "facebookexternalua", ...}, as received (bounded)
    ADD COLUMN remote_addr text;    -- the peer of the receiving web server (nginx's address behind nginx)

DROP FUNCTION store_webhook_deliveries(bytea, jsonb);

-- Store a batch of distinct deliveries: one pending event per entry[] item (owner from account_routes).
-- Returns the digest of each delivery stored (bytes stored before return nothing), each with `napping`:
-- whether a processor or live stream naps (then the caller NOTIFYs after the commit).
-- `digests`: the SHA-256 digests (32 bytes each) concatenated; `bodies`: the deliveries' JSON texts joined
-- into one JSON array; `requests`: a JSON array in the same order, {"headers": {...}, "remote_addr": "..."}.
CREATE FUNCTION store_webhook_deliveries(digests bytea, bodies jsonb, requests jsonb)
RETURNS TABLE (stored_sha256 bytea, napping boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    -- Before the statement below takes its snapshot, so the naps it reads are those committed by now.
    PERFORM pg_advisory_xact_lock_shared(7020, 0);
    RETURN QUERY
    WITH input AS (
        SELECT substring(digests FROM (b.n::integer - 1) * 32 + 1 FOR 32) AS sha256, b.body,
               requests -> (b.n::integer - 1) AS request
        FROM jsonb_array_elements(bodies) WITH ORDINALITY AS b (body, n)
    ), delivery AS (
        INSERT INTO webhook_deliveries AS d (body_sha256, object, entry_count, headers, remote_addr)
        SELECT input.sha256, input.body ->> 'object', jsonb_array_length(input.body -> 'entry'),
               input.request -> 'headers', input.request ->> 'remote_addr'
        FROM input
        ON CONFLICT (body_sha256) DO NOTHING
        RETURNING d.id, d.body_sha256, d.object
    ), events AS (
        INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
        SELECT delivery.id, item.ordinality - 1, route.user_id, delivery.object,
               coalesce(item.value -> 'changes' -> 0 ->> 'field',
                        CASE WHEN item.value ? 'messaging' THEN 'messaging' END),
               item.value ->> 'id', item.value
        FROM delivery
        JOIN input ON input.sha256 = delivery.body_sha256
        CROSS JOIN jsonb_array_elements(input.body -> 'entry') WITH ORDINALITY AS item
        LEFT JOIN account_routes route ON route.external_id = item.value ->> 'id'
    ), naps AS (
        SELECT EXISTS (SELECT 1 FROM webhook_processor_naps WHERE until > now()) AS napping
    )
    SELECT delivery.body_sha256, naps.napping FROM delivery CROSS JOIN naps;
END $$;
