"""Command-line entry points only, each `python -m jobs.<name>`: the timers' jobs, the long-running workers, migrate and rotate_keys; the work itself lives in webhook_app."""
