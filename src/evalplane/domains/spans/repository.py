"""Storage access for spans and their evaluations. No access checks here; the service does those."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.dialect import insert_for
from evalplane.db.models import Project, Span, SpanEvaluation
from evalplane.db.types import UtcDateTime
from evalplane.domains.spans import filtering
from evalplane.ingest.otlp import ROW_FIELDS, SpanRow

# Keeps each statement well under SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 900


def apply_filter(stmt: Select[Any], text: str, dialect: str) -> Select[Any]:
    """Narrow ``stmt`` (a select over ``spans``) to the spans matching filter ``text``.

    The filter language lives in ``evalplane.filters``; ``filtering`` says where each column
    lives in the ``spans`` table. A bad filter raises ``FilterSyntaxError`` (a 400).
    """
    return stmt.where(filtering.span_filter_clause(dialect, text))


async def ensure_project(session: AsyncSession, space_id: int, name: str) -> int:
    """The id of the project ``name`` in the space, created if missing (safe under races)."""
    found = await session.scalar(select(Project.id).where(Project.space_id == space_id, Project.name == name))
    if found is not None:
        return found
    stmt = insert_for(session.bind.dialect.name, Project.__table__).values(space_id=space_id, name=name, description="")
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["space_id", "name"]))
    return await session.scalar(select(Project.id).where(Project.space_id == space_id, Project.name == name))


# Spans are written with one prepared statement per dialect, fed plain tuples through the
# driver's executemany: no ORM, no per-row parameter compilation, JSON already serialized.
# The table's column order, which the compiled statement follows; session_id was added last.
_INSERT_COLUMNS = ("project_id", *ROW_FIELDS[:-1], "resource_attributes", "ingested_at", ROW_FIELDS[-1])
_INSERTS: dict[str, tuple[str, Callable[[Any], Any] | None]] = {}


def _span_insert(dialect: Any) -> tuple[str, Callable[[Any], Any] | None]:
    """The INSERT … ON CONFLICT DO NOTHING text for this dialect, and its timestamp converter
    (decoded times are already timezone-aware UTC)."""
    found = _INSERTS.get(dialect.name)
    if found is None:
        table = Span.__table__
        stmt = (
            insert_for(dialect.name, table)
            .values({name: bindparam(name) for name in _INSERT_COLUMNS})
            .on_conflict_do_nothing(index_elements=["project_id", "trace_id", "span_id"])
        )
        compiled = stmt.compile(dialect=dialect)
        if tuple(compiled.positiontup or ()) != _INSERT_COLUMNS:
            raise RuntimeError(f"unexpected parameter order for the span insert: {compiled.positiontup}")
        to_time = UtcDateTime.bulk_bind_processor(dialect)
        found = _INSERTS[dialect.name] = (compiled.string, to_time)
    return found


async def insert_spans(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert spans given as column dicts (arrangements, tools); spans already stored are skipped.

    Ingestion uses ``insert_span_rows``, which skips per-row parameter processing.
    """
    if not rows:
        return
    stmt = insert_for(session.bind.dialect.name, Span.__table__).on_conflict_do_nothing(
        index_elements=["project_id", "trace_id", "span_id"]
    )
    await session.execute(stmt, rows)


async def insert_span_rows(
    session: AsyncSession, project_id: int, resource_json: str, ingested_at: datetime, rows: Sequence[SpanRow]
) -> None:
    """Insert decoded span rows into one project; spans already stored (same project, trace
    and span id) are skipped, so a re-sent batch inserts nothing."""
    if not rows:
        return
    connection = await session.connection()
    sql, to_time = _span_insert(connection.dialect)
    if to_time is None:
        params = [
            (project_id, t, s, p, n, k, c, m, start, end, lat, a, e, resource_json, ingested_at, sid)
            for t, s, p, n, k, c, m, start, end, lat, a, e, sid in rows
        ]
    else:
        at = to_time(ingested_at)
        params = [
            (project_id, t, s, p, n, k, c, m, to_time(start), to_time(end), lat, a, e, resource_json, at, sid)
            for t, s, p, n, k, c, m, start, end, lat, a, e, sid in rows
        ]
    await connection.exec_driver_sql(sql, params)


def in_window(project_id: int, start: datetime, end: datetime) -> Select[Any]:
    return select(Span).where(Span.project_id == project_id, Span.start_time >= start, Span.start_time <= end)


def newest_first(stmt: Select[Any], after: tuple[datetime, str, str] | None) -> Select[Any]:
    """Order by start time, then trace and span id, all descending; resume after ``after``."""
    if after is not None:
        start, trace_id, span_id = after
        stmt = stmt.where(
            Span.start_time <= start,
            or_(Span.start_time < start, tuple_(Span.trace_id, Span.span_id) < tuple_(trace_id, span_id)),
        )
    return stmt.order_by(Span.start_time.desc(), Span.trace_id.desc(), Span.span_id.desc())


async def fetch(session: AsyncSession, stmt: Select[Any]) -> list[Span]:
    return list((await session.scalars(stmt)).all())


async def evaluations_for(session: AsyncSession, span_row_ids: Iterable[int]) -> dict[int, list[SpanEvaluation]]:
    """Evaluations of each span row, by name."""
    ids = list(span_row_ids)
    found: dict[int, list[SpanEvaluation]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = select(SpanEvaluation).where(SpanEvaluation.span_row_id.in_(chunk)).order_by(SpanEvaluation.name)
        for evaluation in (await session.scalars(stmt)).all():
            found[evaluation.span_row_id].append(evaluation)
    return found


async def spans_of_traces(
    session: AsyncSession, project_id: int, trace_ids: Sequence[str], start: datetime, end: datetime, allowance: int
) -> list[Span]:
    """The spans of these traces inside the window, at most ``allowance`` in all."""
    if not trace_ids:
        return []
    stmt = (
        in_window(project_id, start, end)
        .where(Span.trace_id.in_(list(trace_ids)))
        .order_by(Span.trace_id, Span.start_time, Span.span_id)
        .limit(allowance)
    )
    return await fetch(session, stmt)


async def delete_spans(
    session: AsyncSession, project_id: int, span_ids: Sequence[str], start: datetime, end: datetime
) -> set[str]:
    """Delete the project's spans with these ids inside the window; returns the ids deleted."""
    deleted: set[str] = set()
    for chunk in _chunks(list(span_ids)):
        stmt = (
            delete(Span)
            .where(
                and_(
                    Span.project_id == project_id,
                    Span.span_id.in_(chunk),
                    Span.start_time >= start,
                    Span.start_time <= end,
                )
            )
            .returning(Span.span_id)
            .execution_options(synchronize_session=False)
        )
        deleted.update((await session.scalars(stmt)).all())
    return deleted


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]
