"""`python -m webhook_app.sandbox`: serve the sandbox on SANDBOX_PORT (refused in production).

Its world is kept in VAR_DIR/sandbox/world.json and its address in VAR_DIR/sandbox/address.json,
where every job command run in development finds it (webhook_app/config.py).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading

from werkzeug.serving import make_server

from webhook_app.config import SANDBOX_ADDRESS_FILE, ConfigError, load_settings
from webhook_app.logging_setup import configure_logging
from webhook_app.sandbox import PathOnlyHandler, create_sandbox_app

WORLD_FILE = "sandbox/world.json"


def write_address(settings, url: str) -> None:
    path = settings.var_dir / SANDBOX_ADDRESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(path)


def main() -> int:
    try:
        settings = load_settings()
        app = create_sandbox_app(settings, world_path=settings.var_dir / WORLD_FILE)
    except ConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    # make_server, not run_simple: the same threaded server without the development-server banner.
    server = make_server(settings.host, settings.sandbox_port, app, threaded=True, request_handler=PathOnlyHandler)
    url = f"http://{settings.host}:{server.server_port}"
    write_address(settings, url)

    def _stop(signum, frame):
        # shutdown() waits for serve_forever to return, so it must not run on serve_forever's own thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"Meta sandbox at {url} (controls: /_sandbox/; webhooks go to {app.extensions['sandbox'].webhook_url}; "
          f"world kept in {settings.var_dir / WORLD_FILE})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        app.extensions["sandbox_autosave"].stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
