"""gunicorn settings shared by `make run`, the tests and the systemd unit."""
import os

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_class = "gthread"
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
