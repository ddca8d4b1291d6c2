"""Storing decoded exports: on SQLite, exports that arrive together are committed together,
and an export that cannot be stored fails alone."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from evalplane.db.models import Organization, Space, Span
from evalplane.domains.spans import service
from evalplane.domains.spans.writer import SpanWriter
from evalplane.ingest import otlp
from tests.support_spans import new_project_name, request_pb, span_pb


async def a_space(db) -> int:
    async with db.session() as session:
        org = Organization(name="o")
        session.add(org)
        await session.flush()
        space = Space(organization_id=org.id, name="s")
        session.add(space)
        await session.flush()
        return space.id


def decoded(spans: int) -> otlp.DecodedRequest:
    body = request_pb([span_pb(name=f"s{i}") for i in range(spans)], new_project_name())
    return otlp.decode(body, otlp.PROTOBUF, service.prepare_attributes)


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
