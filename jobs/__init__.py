"""Command-line entry points only (`python -m jobs.<name>`): timers' jobs, workers, migrate, rotate_keys."""
