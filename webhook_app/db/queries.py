"""Named SQL queries, parsed once from the `.sql` files in sql/ (procrastinate's format).

A file holds blocks of the form::

    -- create_user --
    -- Insert a user and return it
    INSERT INTO users (...) VALUES (%(email)s, ...) RETURNING *;

Python never builds SQL from strings: it asks for a query by name and passes named parameters.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from webhook_app.exceptions import QueryNotFound

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_HEADER = re.compile(r"^-- ([a-z0-9_]+) --$", re.MULTILINE)


def parse_queries(text: str, source: str = "<string>") -> dict[str, str]:
    """Split one file's text into {name: query}."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        lines = [line for line in body.strip().splitlines()]
        while lines and lines[0].startswith("--"):
            lines.pop(0)  # the line saying what the query does
        sql = "\n".join(lines).strip()
        if not sql:
            raise ValueError(f"query {name!r} in {source} is empty")
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {source}")
        queries[name] = sql
    return queries


@lru_cache(maxsize=1)
def all_queries() -> dict[str, str]:
    """Every named query of every sql/*.sql file; a name used twice is an error."""
    found: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        for name, sql in parse_queries(path.read_text(), str(path)).items():
            if name in found:
                raise ValueError(f"query {name!r} in {path} is already defined in another file")
            found[name] = sql
    return found


def query(name: str) -> str:
    try:
        return all_queries()[name]
    except KeyError:
        raise QueryNotFound(name) from None
