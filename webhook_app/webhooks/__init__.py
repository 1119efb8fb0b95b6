"""A delivery's whole trip, in walking order: receiver, intake, group commit, queue, processor, handlers, inbox."""
