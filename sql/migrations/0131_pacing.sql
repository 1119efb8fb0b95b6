-- Send pacing shared by every sender process on every host (webhook_app/pacing, sql/pacing.sql).
-- One row per key ("whatsapp:<phone-number-id>", "instagram:<ig-user-id>"): the earliest moment the next
-- send may go. UNLOGGED: a row lost in a crash only means pacing starts again from "now", which is what an
-- idle key does anyway, and it spares the write-ahead log one record per message sent.
CREATE UNLOGGED TABLE pace_slots (
    key text PRIMARY KEY,
    next_at timestamptz NOT NULL,
    reserved_at timestamptz NOT NULL   -- the clock when the last slot was taken: the wait is measured from it
);
