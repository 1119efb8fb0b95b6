"""`python -m webhook_app.sandbox`: serve the sandbox on SANDBOX_PORT (refused in production)."""
from __future__ import annotations

import sys

from werkzeug.serving import run_simple

from webhook_app.config import ConfigError, load_settings
from webhook_app.logging_setup import configure_logging
from webhook_app.sandbox import PathOnlyHandler, create_sandbox_app


def main() -> int:
    try:
        settings = load_settings()
        app = create_sandbox_app(settings)
    except ConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    print(f"Meta sandbox at http://{settings.host}:{settings.sandbox_port} "
          f"(controls: /_sandbox/; webhooks go to {app.extensions['sandbox'].webhook_url})", flush=True)
    run_simple(settings.host, settings.sandbox_port, app, threaded=True, request_handler=PathOnlyHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
