"""SQLite plans lookups by span id with the span id index once statistics exist."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from evalplane.db.dialect import SqliteStatistics
from evalplane.domains.spans.writer import SpanWriter
from tests.arrange import a_space
from tests.support import migrated_database
from tests.support_spans import decoded

LOOKUP = (
    "EXPLAIN QUERY PLAN SELECT id FROM spans WHERE project_id = 1 AND start_time >= '2000-01-01' "
    "AND start_time <= '2100-01-01' AND span_id = 'abc' ORDER BY start_time DESC, trace_id DESC, span_id DESC LIMIT 51"
)


async def plan(db) -> str:
    async with db.session() as session:
        return " ".join(row[3] for row in (await session.execute(text(LOOKUP))).all())


async def test_statistics_are_gathered_as_spans_grow(tmp_path: Path) -> None:
    db, _ = await migrated_database("sqlite", tmp_path)
    try:
        statistics = SqliteStatistics()
        writer = SpanWriter(db)
        space_id = await a_space(db)
        await writer.store(space_id, decoded(400))
        assert not await statistics.refresh(db.engine)  # too few spans to be worth it
        for _ in range(4):
            await writer.store(space_id, decoded(400))
        assert "ix_spans_project_start" in await plan(db)  # without statistics: the whole window
        assert await statistics.refresh(db.engine)
        assert "ix_spans_project_span_id" in await plan(db)
        assert not await statistics.refresh(db.engine)  # not again until the table doubles
    finally:
        await db.dispose()
