"""The project's own exceptions; driver errors are turned into these at the boundary."""


class InstaConnectError(Exception):
    """Base class of every error this project raises on purpose."""


class DatabaseUnavailable(InstaConnectError):
    """PostgreSQL could not be reached or the connection broke mid-way."""


class QueryNotFound(InstaConnectError):
    """A named query was asked for that no file in sql/ defines."""
