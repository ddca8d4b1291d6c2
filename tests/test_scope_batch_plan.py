"""A worker's batch of traces (or sessions) reads only those traces' spans on SQLite.

With an ORDER BY start_time, SQLite without statistics (a fresh database) preferred walking
the project's (project_id, start_time) index to skip a sort: every batch of 32 traces read
the whole project, and a 10,000-trace backfill ran at half the span-scope rate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from evalplane.engine.scopes.admission import filter_flags, parse_query_filters
from evalplane.engine.scopes.grouped import SESSIONS, TRACES, GroupScope, batch_spans_statement
from tests.support import migrated_database


@pytest.mark.parametrize("scope", [TRACES, SESSIONS], ids=["trace", "session"])
async def test_a_batch_probes_its_own_traces(tmp_path: Path, scope: GroupScope) -> None:
    db, _ = await migrated_database("sqlite", tmp_path)
    try:
        qf = parse_query_filters({"filters": [{"id": "A", "filter": "span_kind = 'LLM'"}]})
        stmt = batch_spans_statement(scope, filter_flags(qf, "sqlite"), 1, {"t1", "t2"})
        sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        async with db.session() as session:
            plan = " ".join(row[3] for row in (await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all())
        assert f"(project_id=? AND {scope.column}=?)" in plan, plan
        assert "SCAN" not in plan and "ix_spans_project_start" not in plan, plan
    finally:
        await db.dispose()
