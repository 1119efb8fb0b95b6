"""PostgreSQL: the only code that talks to the driver (pool, transactions, named queries, LISTEN, migrations, the embedded server)."""
