"""Run inside bench/.venv: enqueue N no-op PgQueuer jobs, then time one QueueManager draining them.

    bench/.venv/bin/python bench/pgqueuer_drain.py DATABASE_URL N BATCH_SIZE
Prints one JSON line with the figures.
"""
import asyncio
import json
import sys
import time
from datetime import timedelta

import psycopg
from pgqueuer import PsycopgDriver, Queries, QueueManager
from pgqueuer import __version__ as version
from pgqueuer.types import QueueExecutionMode

url, total, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


async def main():
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    driver = PsycopgDriver(conn)
    queries = Queries(driver)
    await queries.install()
    for start in range(0, total, 5000):
        n = min(total, start + 5000) - start
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n, [None] * n, [None] * n, [None] * n)
    manager = QueueManager(queries)

    @manager.entrypoint("noop")
    async def noop(job):
        return None

    started = time.perf_counter()
    await manager.run(batch_size=batch_size, mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=1))
    elapsed = time.perf_counter() - started
    cursor = await conn.execute("SELECT count(*) FROM pgqueuer")
    left = (await cursor.fetchone())[0]
    await conn.close()
    done = total - left
    print(json.dumps({"version": version, "jobs": done, "seconds": elapsed, "rate": done / elapsed,
                      "batch_size": batch_size}))


asyncio.run(main())
