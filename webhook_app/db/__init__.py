"""PostgreSQL: the only code that imports the driver (pool, queries, LISTEN, migrations, embedded server).

Domain modules run their own named queries through `Database` (one statement: `one`, `all`,
`run`; several in one transaction: `with db.transaction() as tx`). Every driver error leaves this
package as one of `webhook_app.exceptions`' database errors.
"""
from webhook_app.db.embedded import with_database_url
from webhook_app.db.pool import Database, Transaction, get_db, init_app

__all__ = ["Database", "Transaction", "get_db", "init_app", "with_database_url"]
