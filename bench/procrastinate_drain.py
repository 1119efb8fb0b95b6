"""Run inside bench/.venv: defer N no-op Procrastinate jobs, then time one worker draining them.

    bench/.venv/bin/python bench/procrastinate_drain.py DATABASE_URL N CONCURRENCY
Prints one JSON line with the figures.
"""
import asyncio
import json
import sys
import time

import procrastinate

url, total, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))


@app.task(name="noop")
async def noop(i):
    return None


async def main():
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for start in range(0, total, 5000):
            await noop.batch_defer_async(*({"i": i} for i in range(start, min(total, start + 5000))))
        started = time.perf_counter()
        await app.run_worker_async(wait=False, concurrency=concurrency, install_signal_handlers=False,
                                   listen_notify=False)
        elapsed = time.perf_counter() - started
        async with app.connector.pool.connection() as conn:
            cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            done = (await cursor.fetchone())[0]
    print(json.dumps({"version": procrastinate.__version__ if hasattr(procrastinate, "__version__") else "3.10.0",
                      "jobs": done, "seconds": elapsed, "rate": done / elapsed, "concurrency": concurrency}))


asyncio.run(main())
