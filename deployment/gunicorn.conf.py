"""gunicorn settings shared by `make run`, the tests and the systemd unit."""
import os

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Each request is a gevent greenlet, not an OS thread. A webhook delivery spends most of its life
# waiting for the group commit that stores it (webhook_app/webhooks/group_commit.py); as a greenlet, that
# wait costs no thread hand-off and no queueing for the GIL. Measured in bench.intake on 2 cores:
# gthread with 16 threads reached 41-49 % of the bare Flask route, gevent 64-79 % (docs/BENCHMARKS.md).
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Our own logging (webhook_app/logging_setup.py) writes one line per request with its id.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (`gunicornc`) defaults to ~/.gunicorn/gunicorn.ctl: under systemd the
# home directory is read-only, and two servers on one machine would share the path. systemd's
# signals (reload = HUP, stop = TERM) do everything we need.
control_socket_disable = True


def post_worker_init(worker):
    """psycopg2 waits for PostgreSQL through gevent, so a query in progress lets the worker's other requests run.

    And a worker told to stop (SIGTERM: a restart, a reload, systemd's stop) ends its open live streams at once:
    they never finish by themselves, so the worker would otherwise hold on until graceful_timeout. Each browser
    reconnects (Last-Event-ID) to another worker or the new one; other requests still finish as before.
    """
    import signal

    import gevent
    from psycogreen.gevent import patch_psycopg

    from webhook_app.web import stream

    patch_psycopg()

    def handle_exit(sig, frame):
        worker.alive = False                     # what gunicorn's own handler does: stop accepting, drain
        gevent.spawn(stream.end_all_streams)     # not in the signal handler itself (gunicorn #1126)

    signal.signal(signal.SIGTERM, handle_exit)
