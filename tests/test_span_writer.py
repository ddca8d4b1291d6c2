"""Storing decoded exports: on SQLite, exports that arrive together are committed together,
and an export that cannot be stored fails alone."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from evalplane.db.models import Span
from evalplane.domains.spans.writer import SpanWriter
from tests.arrange import a_space
from tests.support_spans import decoded


async def stored_spans(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(Span))


async def test_concurrent_exports_are_each_stored_once(database) -> None:
    space_id = await a_space(database)
    writer = SpanWriter(database)
    exports = [decoded(50) for _ in range(12)]
    await asyncio.gather(*(writer.store(space_id, d) for d in exports))
    await asyncio.gather(*(writer.store(space_id, d) for d in exports))  # re-sent: nothing new
    assert await stored_spans(database) == 600
    if writer.grouped:  # SQLite: the exports that queued behind the first write went in together
        assert writer.groups < 24


async def test_an_export_that_cannot_be_stored_fails_alone(database) -> None:
    space_id = await a_space(database)
    writer = SpanWriter(database)
    good, bad, also_good = decoded(10), decoded(10), decoded(10)
    results = await asyncio.gather(
        writer.store(space_id, good),
        writer.store(space_id + 1000, bad),  # no such space: its project cannot be created
        writer.store(space_id, also_good),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert await stored_spans(database) == 20


async def test_a_group_stops_at_its_span_limit(database) -> None:
    space_id = await a_space(database)
    writer = SpanWriter(database, max_group_spans=100)
    await asyncio.gather(*(writer.store(space_id, decoded(60)) for _ in range(6)))
    assert await stored_spans(database) == 360
    if writer.grouped:  # 60 + 60 > 100: every export is its own transaction
        assert writer.groups == 6
