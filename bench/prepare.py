"""What SQL PREPARE saved the intake statement: the same batches, prepared once per connection or sent plain.

    python -m bench.prepare [--rounds 5] [--statements 400]

PgBouncer in transaction mode carries no session state, so a statement prepared with SQL PREPARE
on one server connection is unknown on the next (issue 20). This measures what dropping it costs:
`store_deliveries` (sql/webhooks.sql) with batches of 1 and 16 deliveries, on one autocommit
connection, prepared (a generic plan, as the receivers' pool had) against plain, the two taking
turns round after round on the same server; the figure is the median of each round's ratio.
Each statement commits durably, as the intake does, so the ratio is what a receiver would see.
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

_PARAM = re.compile(r"%\((\w+)\)s")


def prepare_texts(name: str) -> tuple[str, str]:
    """PREPARE and EXECUTE texts for a named query (what webhook_app.db had until issue 20)."""
    order: list[str] = []

    def number(found: re.Match) -> str:
        if found.group(1) not in order:
            order.append(found.group(1))
        return f"${order.index(found.group(1)) + 1}"

    body = _PARAM.sub(number, query(name)).replace("%%", "%").rstrip().rstrip(";")
    return f"PREPARE {name} AS {body}", f"EXECUTE {name}(" + ", ".join(f"%({p})s" for p in order) + ")"


def batches(tag: str, size: int, count: int):
    for b in range(count):
        bodies = [load.delivery(f"{tag}.{b}", n)[0] for n in range(size)]
        yield {"digests": b"".join(hashlib.sha256(body).digest() for body in bodies),
               "bodies": "[" + ",".join(body.decode() for body in bodies) + "]"}


def run(url: str, prepared: bool, params: list[dict]) -> float:
    """Statements per second for these batches on a fresh connection."""
    conn = psycopg2.connect(url, options="-c plan_cache_mode=force_generic_plan" if prepared else None)
    conn.autocommit = True
    plain = query("store_deliveries")
    prepare, execute = prepare_texts("store_deliveries")
    try:
        with conn.cursor() as cur:
            if prepared:
                cur.execute(prepare)
            started = time.perf_counter()
            for p in params:
                cur.execute(execute if prepared else plain, p)
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
        for size in (1, 16):
            ratios, rates = [], {"prepared": [], "plain": []}
            for r in range(args.rounds):
                pair = {}
                for kind in (("prepared", "plain") if r % 2 == 0 else ("plain", "prepared")):
                    params = list(batches(f"{kind}.{size}.{r}", size, args.statements))
                    pair[kind] = run(url, kind == "prepared", params)
                    rates[kind].append(pair[kind])
                ratios.append(pair["plain"] / pair["prepared"])
            results[size] = statistics.median(ratios)
            print(f"batch of {size:2d}: prepared {statistics.median(rates['prepared']):7.0f} statements/s, "
                  f"plain {statistics.median(rates['plain']):7.0f} statements/s; plain/prepared "
                  f"{results[size]:.1%} (median of {args.rounds} rounds: "
                  + ", ".join(f"{x:.0%}" for x in ratios) + ")")
    finally:
        pg.close()
    return results


if __name__ == "__main__":
    main()
