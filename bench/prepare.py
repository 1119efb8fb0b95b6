"""What SQL PREPARE saved the intake statement, and what its replacement keeps of it.

    python -m bench.prepare [--rounds 5] [--statements 300]

PgBouncer in transaction mode carries no session state, so a statement prepared with SQL PREPARE
on one server connection is unknown on the next (issue 20). The intake statement now runs inside
a PL/pgSQL function (migration 0120), whose plan the server keeps per connection on its own.
Three ways to run the same statement (the function's body, read from pg_proc), on one autocommit
connection, with batches of 1 and 16 deliveries: PREPAREd once (a generic plan, as the receivers'
pool had until issue 20), sent as plain text each time, and the shipped call of the function.
They take turns round after round on the same server; each figure is a median over the rounds.
Each statement commits durably, as the intake does, so the ratios are what a receiver would see.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import time

import psycopg2

from bench import load
from bench.common import Postgres, machine
from webhook_app.db.queries import query

KINDS = ("prepared", "plain", "function")


def inner_statement(url: str) -> str:
    """The function's statement, with its three arguments as psycopg2 parameters."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT prosrc FROM pg_proc WHERE proname = 'store_webhook_deliveries'")
            source = cur.fetchone()[0]
    finally:
        conn.close()
    body = re.search(r"RETURN QUERY(.*?);\s*END", source, re.S).group(1)
    body = re.sub(r"\bdigests\b", "%(digests)s::bytea", body)
    body = re.sub(r"\brequests\b", "%(requests)s::jsonb", body)
    return re.sub(r"\bbodies\b", "%(bodies)s::jsonb", body).strip()


def batches(tag: str, size: int, count: int):
    for b in range(count):
        bodies = [load.delivery(f"{tag}.{b}", n)[0] for n in range(size)]
        yield {"digests": b"".join(hashlib.sha256(body).digest() for body in bodies),
               "bodies": "[" + ",".join(body.decode() for body in bodies) + "]",
               "requests": "[" + ",".join('{"headers": {"User-Agent": "facebookexternalua"}}' for _ in bodies) + "]"}


def run(url: str, kind: str, statement: str, params: list[dict]) -> float:
    """Statements per second for these batches on a fresh connection."""
    conn = psycopg2.connect(url, options="-c plan_cache_mode=force_generic_plan" if kind == "prepared" else None)
    conn.autocommit = True
    text = {"plain": statement, "function": query("store_deliveries"),
            "prepared": "EXECUTE intake(%(digests)s, %(bodies)s, %(requests)s)"}[kind]
    try:
        with conn.cursor() as cur:
            if kind == "prepared":
                cur.execute("PREPARE intake (bytea, jsonb, jsonb) AS "
                            + statement.replace("%(digests)s", "$1").replace("%(bodies)s", "$2")
                            .replace("%(requests)s", "$3"))
            started = time.perf_counter()
            for p in params:
                cur.execute(text, p)
                cur.fetchall()
            return len(params) / (time.perf_counter() - started)
    finally:
        conn.close()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--statements", type=int, default=400)
    args = parser.parse_args(argv)
    pg = Postgres()
    results = {}
    try:
        url = pg.fresh("bench_prepare")
        print(f"# {machine()} · PostgreSQL {pg.version()}")
        statement = inner_statement(url)
        for size in (1, 16):
            rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
            plain_ratio, function_ratio = [], []
            for r in range(args.rounds):
                pair = {}
                for kind in KINDS[r % 3:] + KINDS[:r % 3]:
                    params = list(batches(f"{kind}.{size}.{r}", size, args.statements))
                    pair[kind] = run(url, kind, statement, params)
                    rates[kind].append(pair[kind])
                plain_ratio.append(pair["plain"] / pair["prepared"])
                function_ratio.append(pair["function"] / pair["prepared"])
            results[size] = (statistics.median(plain_ratio), statistics.median(function_ratio))
            print(f"batch of {size:2d}: statements/s prepared {statistics.median(rates['prepared']):6.0f}, "
                  f"plain {statistics.median(rates['plain']):6.0f}, function {statistics.median(rates['function']):6.0f}"
                  f"; against prepared: plain {results[size][0]:.0%} (rounds "
                  + ", ".join(f"{x:.0%}" for x in plain_ratio) + f"), function {results[size][1]:.0%} (rounds "
                  + ", ".join(f"{x:.0%}" for x in function_ratio) + ")")
    finally:
        pg.close()
    return results


if __name__ == "__main__":
    main()
