"""The WSGI entry point: `gunicorn app:app`."""
from webhook_app import create_app

app = create_app()
