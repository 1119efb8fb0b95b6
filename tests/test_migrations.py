"""Migrations: applied once each, twice is a no-op, and every named query fits the schema."""
import re

import psycopg2
import pytest

from tests.support.live import with_database
from webhook_app.db.migrations import migrate, migration_files
from webhook_app.db.queries import all_queries

_PARAM = re.compile(r"%\((\w+)\)s")


@pytest.fixture
def empty_db(pg_admin_url):
    conn = psycopg2.connect(pg_admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS ic_fresh")
        cur.execute("CREATE DATABASE ic_fresh")
    yield with_database(pg_admin_url, "ic_fresh")
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS ic_fresh WITH (FORCE)")
    conn.close()


def _schema(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
                       WHERE table_schema = 'public' ORDER BY 1, 2""")
        columns = cur.fetchall()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
        return columns, cur.fetchall()


def test_fresh_database_gets_every_migration_once_and_twice_is_a_noop(empty_db):
    applied = migrate(empty_db)
    assert applied == [f.name for f in migration_files()]
    before = _schema(empty_db)
    assert migrate(empty_db) == []
    assert _schema(empty_db) == before
    with psycopg2.connect(empty_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == [f.name[:4] for f in migration_files()]


def test_every_named_query_fits_the_migrated_schema(empty_db):
    """PREPARE checks each query's tables, columns and types against a database migrated from scratch."""
    migrate(empty_db)
    conn = psycopg2.connect(empty_db)
    failures = []
    try:
        for name, sql in all_queries().items():
            names: list[str] = []

            def positional(match):
                if match.group(1) not in names:
                    names.append(match.group(1))
                return f"${names.index(match.group(1)) + 1}"

            statement = _PARAM.sub(positional, sql).replace("%%", "%")
            try:
                with conn.cursor() as cur:
                    cur.execute(f"PREPARE check_query AS {statement.rstrip(';')}")
                    cur.execute("DEALLOCATE check_query")
                conn.rollback()
            except psycopg2.Error as exc:
                conn.rollback()
                failures.append(f"{name}: {exc.pgerror or exc}")
    finally:
        conn.close()
    assert not failures, "\n".join(failures)
    assert len(all_queries()) > 10


def test_a_broken_migration_leaves_nothing_behind(empty_db, tmp_path):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM missing_table;")
    with pytest.raises(psycopg2.Error):
        migrate(empty_db, tmp_path)
    with psycopg2.connect(empty_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('good') IS NOT NULL, to_regclass('half') IS NOT NULL")
        assert cur.fetchone() == (True, False)
        cur.execute("SELECT version FROM schema_migrations")
        assert [r[0] for r in cur.fetchall()] == ["0001"]
