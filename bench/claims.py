"""What a fair claim costs with a big queue: 100,000 pending units over 10 tasks (one task
holding 91,000 of them), on both databases.

    .venv/bin/python bench/claims.py                    # both databases (~1 min)
    .venv/bin/python bench/claims.py --databases sqlite --units 20000

Times (median of repeated calls) the two statements a worker runs per claim — listing the
tasks with waiting units, then claiming a batch of one task — beside the old oldest-first
claim, and prints each one's query plan.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalplane.core.clock import utcnow  # noqa: E402
from evalplane.db.models import Organization, Space, Task, TaskRun, WorkUnit  # noqa: E402
from evalplane.jobs import units  # noqa: E402
from tests.support import drop_pg_database, migrated_database  # noqa: E402

TASKS = 10


async def seed(db, total: int) -> list[int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        org = Organization(name="bench", description="")
        session.add(org)
        await session.flush()
        space = Space(organization_id=org.id, name="bench")
        session.add(space)
        await session.flush()
        tasks = [
            Task(space_id=space.id, name=f"t{i}", type="CODE_EVALUATION", is_continuous=False, experiment_ids=[])
            for i in range(TASKS)
        ]
        session.add_all(tasks)
        await session.flush()
        runs = [TaskRun(task_id=t.id, status="RUNNING", parameters={}) for t in tasks]
        session.add_all(runs)
        await session.flush()
        task_runs = [(t.id, r.id) for t, r in zip(tasks, runs, strict=True)]
    # The first task holds most of the queue: the case where oldest-first claims starve the rest.
    small = total // 100
    shares = [total - small * (TASKS - 1)] + [small] * (TASKS - 1)
    now = utcnow()
    rows = [
        {
            "run_id": run_id,
            "task_id": task_id,
            "evaluator_key": 1,
            "target_kind": "SPAN",
            "target_id": i,
            "fingerprint": "f",
            "state": "PENDING",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "updated_at": now,
        }
        for (task_id, run_id), share in zip(task_runs, shares, strict=True)
        for i in range(share)
    ]
    for start in range(0, len(rows), 5000):
        async with db.session() as session:
            await session.execute(insert(WorkUnit.__table__), rows[start : start + 5000])
    async with db.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    return [t for t, _ in task_runs]


async def timed(db, work, repeat: int = 20) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        async with db.session() as session:
            started = time.perf_counter()
            await work(session)
            samples.append((time.perf_counter() - started) * 1000)
            await session.rollback()  # leave the queue as it was
    return statistics.median(samples)


async def plan(db, sql: str, params: dict) -> str:  # type: ignore[no-untyped-def]
    postgres = db.engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " if postgres else "EXPLAIN QUERY PLAN "
    async with db.session() as session:
        rows = (await session.execute(text(prefix + sql), params)).all()
        await session.rollback()
    return "\n".join("    " + (row[0] if postgres else str(row[-1])) for row in rows)


CLAIM_ONE_TASK = """
SELECT id FROM work_units WHERE state = 'PENDING' AND not_before <= :now AND task_id = :task
ORDER BY not_before, id LIMIT 64
"""


async def bench(backend: str, total: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        db, pg_name = await migrated_database(backend, Path(home))
        try:
            started = time.perf_counter()
            tasks = await seed(db, total)
            print(
                f"\n## {backend}: {total:,} pending units over {TASKS} tasks (seeded in {time.perf_counter() - started:.1f} s)"
            )
            lease = timedelta(seconds=60)
            listing = await timed(db, units.pending_tasks)
            fair = await timed(db, lambda s: units.claim(s, worker="w", limit=64, lease=lease, task_id=tasks[-1]))
            oldest = await timed(db, lambda s: units.claim(s, worker="w", limit=64, lease=lease))
            print(
                f"pending_tasks: {listing:.2f} ms   claim of one task (64): {fair:.2f} ms   old oldest-first claim (64): {oldest:.2f} ms"
            )
            print("plan, pending_tasks:")
            print(await plan(db, str(units._PENDING_TASKS.text), {}))
            print("plan, the candidates of a one-task claim:")
            print(await plan(db, CLAIM_ONE_TASK, {"now": utcnow(), "task": tasks[-1]}))
        finally:
            await db.dispose()
            if pg_name:
                drop_pg_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--units", type=int, default=100_000)
    args = parser.parse_args()
    for backend in args.databases.split(","):
        asyncio.run(bench(backend.strip(), args.units))


if __name__ == "__main__":
    main()
