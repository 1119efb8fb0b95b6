"""The project's own exceptions; driver errors are turned into these at the boundary (webhook_app.db)."""


class InstaConnectError(Exception):
    """Base class of every error this project raises on purpose."""


class DatabaseError(InstaConnectError):
    """PostgreSQL refused or could not run a statement; the driver's own exception is the __cause__."""


class DatabaseUnavailable(DatabaseError):
    """PostgreSQL could not be reached or the connection broke mid-way."""


class InvalidData(DatabaseError):
    """A value PostgreSQL will not store: out of its type's range, text jsonb refuses, a NUL byte."""


class IntegrityViolation(DatabaseError):
    """A constraint refused the write (a foreign key, a check, a unique key)."""


class UniqueViolation(IntegrityViolation):
    """A unique key refused the write: the row is there already."""


class QueryNotFound(InstaConnectError):
    """A named query was asked for that no file in sql/ defines."""


class TransactionConflict(DatabaseError):
    """PostgreSQL rolled the transaction back to break a deadlock (or a serialization conflict): retry it."""
