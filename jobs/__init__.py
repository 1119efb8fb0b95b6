"""Command-line jobs run by systemd timers and services (`python -m jobs.<name>`)."""
