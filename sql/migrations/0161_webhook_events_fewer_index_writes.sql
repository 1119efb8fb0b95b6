-- webhook_events' indexes, reshaped so that the intake's inserts and the processor's updates write fewer index
-- entries, and a lease extension none (SPEC 18, issue 20). Per event, index entries written by the insert, the
-- claim and the completion: 5, 5 and 5 before (6, 5, 5 without an owner); 4, 4 and 3 after (5, 4, 3).
--
-- An UPDATE is HOT (a new row version on the same page, no index touched) only when no indexed column
-- changes, the columns of an index's WHERE included. The queue's own index (webhook_events_due_idx, run_at
-- WHERE status IN ('pending', 'failed')) must tell unfinished events from finished ones, so a claim and a
-- completion, which change status, can never be HOT in this one table. What can be cut is what each such
-- non-HOT update writes: every index whose WHERE the new row version satisfies gets an entry.
--
-- 1. webhook_events_user_status_idx (user_id, status, received_at, id) held every event, so every insert and
--    every status change added an entry to it. It is now partial, over failed and dead-letter events only
--    (webhook_events_user_failed_idx): what the health card, "retry all failed" and the events list filtered
--    on a failure look for, rare enough to need an index. Pending, processing and processed events are found
--    through webhook_events_user_list_idx (user_id, received_at, id) filtered on status, newest first: the
--    pending and the processing are the newest, the processed nearly all. So an intake insert, a claim and a
--    completion write no entry to it.
-- 2. webhook_events_processed_at_idx (processed_at WHERE status = 'processed') got an entry at every
--    completion. Only retention's sweep of the default partition used it (prune_processed_webhook_events),
--    and that partition holds only the events no week covers and unfinished ones kept from dropped weeks:
--    few, read in a scan. Dropped.
-- 3. webhook_events_lease_idx (lease_expires_at WHERE status = 'processing') made every lease extension
--    (every lease / 3 seconds, for every held event) a non-HOT update. Events are found by who holds them
--    instead (locked_by, which a lease extension leaves as it is): extend_webhook_leases by worker, and
--    reclaim_expired_webhook_leases reads the few held events (workers x batch size at most) and checks
--    their leases. A lease extension is now a HOT update.
--
-- On the partitioned table each statement acts on every partition's index.

DROP INDEX webhook_events_user_status_idx;
CREATE INDEX webhook_events_user_failed_idx ON webhook_events (user_id, status, received_at DESC, id DESC)
    WHERE status IN ('failed', 'dead_letter');

DROP INDEX webhook_events_processed_at_idx;

DROP INDEX webhook_events_lease_idx;
CREATE INDEX webhook_events_held_idx ON webhook_events (locked_by) WHERE status = 'processing';
