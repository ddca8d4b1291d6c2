"""Planning a trace-scope backfill over a 100,000-trace window (3 spans each), on SQLite and
PostgreSQL: how long the selection takes (admission by ``query_filters`` with
trace-contains-match semantics, then the deterministic sample) and its query plan.

    .venv/bin/python bench/trace_planning.py                 # both databases, 100,000 traces
    .venv/bin/python bench/trace_planning.py --traces 20000 --databases sqlite

Runs in-process against a fresh migrated database (no server): it measures the planner's
selection, the part that grows with the window. Rows are written directly for speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from evalplane.db.models import Project, Span  # noqa: E402
from evalplane.engine.scopes.admission import parse_query_filters  # noqa: E402
from evalplane.engine.scopes.grouped import TRACES, keys_statement, select_keys  # noqa: E402
from tests.arrange import a_space  # noqa: E402
from tests.support import drop_pg_database, migrated_database  # noqa: E402

FILTERS = {"filters": [{"id": "A", "filter": "span_kind = 'LLM'"}]}
KINDS = ("CHAIN", "LLM", "TOOL")


async def seed(db: Any, traces: int) -> int:
    space_id = await a_space(db)
    now = datetime.now(UTC)
    async with db.session() as session:
        project = Project(space_id=space_id, name="bench", description="")
        session.add(project)
        await session.flush()
        project_id = project.id
    rows: list[dict[str, Any]] = []
    for t in range(traces):
        start = now - timedelta(seconds=(traces - t) * 0.5)
        trace_id = f"{t:032x}"
        for s, kind in enumerate(KINDS):
            if t % 10 == 9 and kind == "LLM":
                kind = "RETRIEVER"  # a tenth of the traces have no LLM span: not admitted
            rows.append(
                {
                    "project_id": project_id,
                    "trace_id": trace_id,
                    "span_id": f"{t * 4 + s:016x}",
                    "parent_id": None if s == 0 else f"{t * 4:016x}",
                    "name": kind.lower(),
                    "span_kind": kind,
                    "status_code": "OK",
                    "status_message": "",
                    "start_time": start + timedelta(milliseconds=s),
                    "end_time": start + timedelta(milliseconds=s + 1),
                    "latency_ms": 1.0,
                    "attributes": {"input": {"value": f"q{t}"}, "output": {"value": f"a{t}"}},
                    "events": [],
                    "resource_attributes": {},
                    "ingested_at": now,
                }
            )
        if len(rows) >= 30_000 or t == traces - 1:
            async with db.session() as session:
                await session.execute(insert(Span.__table__), rows)
            rows = []
    async with db.session() as session:
        await session.execute(text("ANALYZE"))
    return project_id


async def explain(session: Any, stmt: Any) -> list[str]:
    compiled = stmt.compile(dialect=session.bind.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    prefix = "EXPLAIN QUERY PLAN " if session.bind.dialect.name == "sqlite" else "EXPLAIN "
    conn = await session.connection()
    rows = (await conn.exec_driver_sql(prefix + compiled.string, params)).all()
    return [" | ".join(str(c) for c in row) if len(row) > 1 else str(row[0]) for row in rows]


async def measure(backend: str, traces: int, home: Path) -> None:
    db, pg_name = await migrated_database(backend, home)
    try:
        started = time.perf_counter()
        project_id = await seed(db, traces)
        print(f"[{backend}] seeded {traces} traces × 3 spans in {time.perf_counter() - started:.1f} s", flush=True)
        task = SimpleNamespace(project_id=project_id, sampling_rate=None)
        now = datetime.now(UTC)
        run = SimpleNamespace(data_start_time=now - timedelta(days=2), data_end_time=now + timedelta(minutes=1))
        qf = parse_query_filters(FILTERS)
        dialect = "sqlite" if backend == "sqlite" else "postgresql"
        for label, filters, rate in (
            ("no filter", None, None),
            ("A: span_kind = 'LLM'", qf, None),
            ("A, 50% sample", qf, 0.5),
        ):
            task.sampling_rate = rate
            async with db.session() as session:
                started = time.perf_counter()
                keys = await select_keys(session, TRACES, task, filters, run, dialect, traces)  # type: ignore[arg-type]
                took = time.perf_counter() - started
            print(f"[{backend}] {label}: {len(keys)} traces planned in {took:.2f} s", flush=True)
        async with db.session() as session:
            for line in await explain(session, keys_statement(TRACES, task, qf, run, dialect)):  # type: ignore[arg-type]
                print(f"[{backend}] plan: {line}")
    finally:
        await db.engine.dispose()
        if pg_name:
            drop_pg_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--databases", default=os.environ.get("EVALPLANE_TEST_DATABASES", "sqlite,postgres"))
    args = parser.parse_args()
    for backend in args.databases.split(","):
        with tempfile.TemporaryDirectory() as home:
            asyncio.run(measure(backend.strip(), args.traces, Path(home)))


if __name__ == "__main__":
    main()
