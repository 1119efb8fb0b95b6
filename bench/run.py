"""`make bench` (`python -m bench.run`): every benchmark, from a fresh clone, one after another.

It makes what the benchmarks need that the project's .venv does not hold: bench/.venv with the
reference systems of bench/requirements-reference.txt (Procrastinate, PgQueuer), made again when that
file changes. A system tool that is missing (`wrk` for the intake benchmarks) is named with the one
command that installs it, and the benchmarks that do not need it still run. Each benchmark runs in
its own process; a summary line per benchmark at the end, and the exit status is non-zero if any failed.

    python -m bench.run [--quick] [--only intake,drain] [--list]

`--quick` runs each with small sizes (a smoke run: the figures are not the ones to record).
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / "bench" / ".venv"
REFERENCE_REQUIREMENTS = ROOT / "bench" / "requirements-reference.txt"
INSTALL = {"wrk": "apt-get install wrk"}


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    what: str
    tools: tuple[str, ...] = ()
    reference: bool = False                    # needs bench/.venv
    quick: tuple[str, ...] = ()


BENCHMARKS = (
    Benchmark("intake", "bench.intake", "signed deliveries through gunicorn, beside a bare route", ("wrk",),
              quick=("--rounds", "1", "--seconds", "3")),
    Benchmark("intake_ceiling", "bench.intake_ceiling", "the receivers with the write replaced by a wait", ("wrk",),
              quick=("--rounds", "1", "--seconds", "2", "--waits", "0,0.005")),
    Benchmark("latency", "bench.latency", "receiver's commit to processed, follow mode",
              quick=("--rate", "100", "--seconds", "5")),
    Benchmark("drain", "bench.drain", "pending events through the processor, beside Procrastinate", reference=True,
              quick=("--events", "5000")),
    Benchmark("refresh_tokens", "bench.refresh_tokens", "the token refresh job against the sandbox",
              quick=("--accounts", "500", "--limit-calls", "400")),
    Benchmark("dashboard", "bench.dashboard", "the dashboard's API at a million events",
              quick=("--events", "20000", "--samples", "30")),
    Benchmark("send", "bench.send", "10,000 WhatsApp template replies through the sender, sandbox limit 80/s",
              quick=("--messages", "800", "--latency-samples", "20")),
)


def missing_tools(benchmarks, which=shutil.which) -> dict[str, str]:
    """Tool -> the command that installs it, for every tool these benchmarks need and PATH lacks."""
    return {tool: INSTALL.get(tool, f"install {tool}") for b in benchmarks for tool in b.tools if which(tool) is None}


def _requirements_digest() -> str:
    return hashlib.sha256(REFERENCE_REQUIREMENTS.read_bytes()).hexdigest()


def reference_python(say=print) -> Path:
    """bench/.venv's python with the reference systems installed (made or brought up to date first)."""
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".installed"
    digest = _requirements_digest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    say(f"Making {BENCH_VENV.relative_to(ROOT)} for the reference systems ({REFERENCE_REQUIREMENTS.name}) ...")
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(BENCH_VENV)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                    "-r", str(REFERENCE_REQUIREMENTS)], check=True)
    stamp.write_text(digest)
    return python


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures to record")
    parser.add_argument("--only", default="", help="comma-separated names: " + ", ".join(b.name for b in BENCHMARKS))
    parser.add_argument("--list", action="store_true", help="say what would run and what is missing, run nothing")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    missing = missing_tools(chosen)
    for tool, command in missing.items():
        needing = ", ".join(b.name for b in chosen if tool in b.tools)
        print(f"{tool} is not installed, so {needing} will not run; to install it: {command}", flush=True)
    runnable = [b for b in chosen if not set(b.tools) & set(missing)]
    skipped = [b for b in chosen if b not in runnable]
    if args.list:
        for b in runnable:
            print(f"would run {b.name}: {b.what}")
        return 0

    if any(b.reference for b in runnable):
        reference_python()
    results: list[tuple[str, str]] = []
    for b in runnable:
        command = [sys.executable, "-m", b.module, *(b.quick if args.quick else ())]
        print(f"\n== {b.name}: {b.what}\n   {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.run(command, cwd=ROOT).returncode
        results.append((b.name, f"{'ok' if code == 0 else f'FAILED (exit {code})'} in {time.monotonic() - started:.0f}s"))
    print("\nbenchmarks:", flush=True)
    for name, outcome in results:
        print(f"  {name}: {outcome}")
    for b in skipped:
        print(f"  {b.name}: not run ({', '.join(t for t in b.tools if t in missing)} missing: "
              f"{'; '.join(missing[t] for t in b.tools if t in missing)})")
    return 0 if all(o.startswith("ok") for _, o in results) else 1


if __name__ == "__main__":
    sys.exit(main())
