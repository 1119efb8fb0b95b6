-- Named queries: Pacing (webhook_app/pacing): the next free send slot per key, shared by every process.
-- Only the package named here runs them (tests/test_query_ownership.py).

-- reserve_pace_slot --
-- Take the key's next slot and move it on by `interval` seconds; a key idle for a while starts from now
-- (no credit is saved up, so there is never a burst). The row lock serializes concurrent callers.
-- Returns `wait`: seconds from now until the slot (0 when it is now). `now` (epoch seconds) is for tests.
INSERT INTO pace_slots AS p (key, next_at, reserved_at)
VALUES (%(key)s,
        coalesce(to_timestamp(%(now)s), clock_timestamp()) + make_interval(secs => %(interval)s),
        coalesce(to_timestamp(%(now)s), clock_timestamp()))
ON CONFLICT (key) DO UPDATE
   SET next_at = greatest(p.next_at + make_interval(secs => %(interval)s), excluded.next_at),
       reserved_at = excluded.reserved_at
RETURNING greatest(extract(epoch FROM p.next_at - p.reserved_at)::float8 - %(interval)s, 0) AS wait;

-- slow_down_pace --
-- Push the key's next slot at least `seconds` from now (Meta answered 130429 / 131056: too fast).
INSERT INTO pace_slots AS p (key, next_at, reserved_at)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(seconds)s), clock_timestamp())
ON CONFLICT (key) DO UPDATE
   SET next_at = greatest(p.next_at, excluded.next_at)
RETURNING extract(epoch FROM p.next_at - clock_timestamp())::float8 AS wait;
