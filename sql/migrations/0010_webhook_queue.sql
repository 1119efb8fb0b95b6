-- Indexes the webhook queue's retention job needs (jobs/prune.py).

-- Deleting an event sets interactions.event_id to NULL; without this index every deleted event
-- would scan the whole inbox.
CREATE INDEX interactions_event_id_idx ON interactions (event_id);
-- Old deliveries are pruned once their events are gone; they are found by age.
CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at);
