"""More than one host on one machine (SPEC 18): PgBouncer in transaction mode in front of the test's
PostgreSQL, web instances under gunicorn as the deployment runs them, nginx spreading requests over
them, and processors; each a process of its own that a test may SIGKILL and start again."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.deploy import require_tool
from tests.support.live import ROOT, free_port, wait_for_http


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on {port} within {timeout}s")


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class PgBouncer:
    """Debian's pgbouncer, transaction pooling, in front of the server of `direct_url` (trust authentication).

    PgBouncer refuses to run as root: it runs as the user owning the server's socket directory (or
    nobody, over TCP), from a directory of its own that this user may read.
    """

    def __init__(self, direct_url: str, pool_size: int = 20):
        tool = require_tool("pgbouncer", "pgbouncer")
        parts = urlsplit(direct_url)
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or "/var/run/postgresql"])[0]
        # Over a Unix socket, as the socket directory's owner (who may enter it); over TCP, as nobody.
        owner = pwd.getpwuid(os.stat(host).st_uid) if host.startswith("/") else pwd.getpwnam("nobody")
        self.database = parts.path.lstrip("/")
        self.user = parts.username or "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="icbouncer-"))
        self.port = free_port()
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
* = host={host} port={parts.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
admin_users = {self.user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
server_reset_query =
logfile = {self.dir}/pgbouncer.log
""")
        for path in (self.dir, *self.dir.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        self.proc = subprocess.Popen([tool, "-u", owner.pw_name, str(self.dir / "pgbouncer.ini")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, "pgbouncer")
        self.url = f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"
        self.admin_url = f"postgresql://{self.user}@127.0.0.1:{self.port}/pgbouncer"

    def stats(self) -> dict:
        """SHOW STATS for the app's database: transactions and queries PgBouncer passed on."""
        import psycopg2
        import psycopg2.extras

        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute("SHOW STATS")
                return next(dict(row) for row in cur.fetchall() if row["database"] == self.database)
        finally:
            conn.close()

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)
        shutil.rmtree(self.dir, ignore_errors=True)


class Web:
    """One web instance: `gunicorn app:app` with deployment/gunicorn.conf.py, in a session of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1, port: int | None = None):
        self.env, self.log_path, self.workers = env, log_path, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Web":
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers",
                 str(self.workers), "--config", str(ROOT / "deployment" / "gunicorn.conf.py"), "app:app"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(self.url + "/healthz", proc=self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a host that lost power."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


class Processor:
    """`python -m jobs.process_webhooks --follow` in a session of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str):
        self.env, self.log_path, self.args = env, log_path, args
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Processor":
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "jobs.process_webhooks", "--follow", *self.args],
                                         cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


class Nginx:
    """nginx spreading requests over the web instances (plain HTTP; TLS is the deployment site's business)."""

    def __init__(self, directory: Path, upstreams: list[int]):
        tool = require_tool("nginx", "nginx")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        temp_paths = "\n".join(f"  {kind}_temp_path {directory}/{kind};" for kind in
                               ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in upstreams)
        user = "user root;" if os.geteuid() == 0 else ""  # workers must enter the test's directories
        config = directory / "nginx.conf"
        config.write_text(f"""{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp_paths}
  upstream insta_connect_web {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{self.port};
    client_max_body_size 5m;
    location / {{
      proxy_pass http://insta_connect_web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }}
  }}
}}
""")
        self.proc = subprocess.Popen([tool, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, "nginx")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGQUIT)
