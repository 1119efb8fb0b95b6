"""A small durable job queue in PostgreSQL and its worker."""
