"""Every benchmark in one command: `python -m bench.run` (intake, drain, latency); figures to stdout.

Procrastinate is run from bench/.venv (never installed into requirements):
    python3 -m venv bench/.venv && bench/.venv/bin/pip install procrastinate==3.10.0 'psycopg[binary]'
"""
from bench import drain, intake, latency


def main() -> None:
    intake.main([])
    latency.main([])
    drain.main([])


if __name__ == "__main__":
    main()
