"""The WSGI entry point: `gunicorn app:app`."""
import sys

from webhook_app import create_app
from webhook_app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line naming the variable, not a traceback (SPEC 4).
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
