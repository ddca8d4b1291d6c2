"""Trace and session evaluations placed on the root spans being returned.

A trace's evaluations are shown on its root span (on each root, when a trace has several).
A session's are shown on the root span of its first trace: the trace of the session's
earliest span (start time, then trace id), a span belonging to a session when its
``session_id`` is set. Spans that are not roots never carry them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import SessionEvaluation, Span, TraceEvaluation

# Keeps each statement well under SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 400

ScopedEvaluation = TraceEvaluation | SessionEvaluation


async def on_roots(session: AsyncSession, project_id: int, spans: Iterable[Span]) -> dict[int, list[ScopedEvaluation]]:
    """The trace and session evaluations to show on each root span among ``spans``, by span row id."""
    roots: dict[str, set[int]] = defaultdict(set)  # a set: a trace's spans may come more than once
    for span in spans:
        if span.parent_id is None:
            roots[span.trace_id].add(span.id)
    if not roots:
        return {}
    found: dict[int, list[ScopedEvaluation]] = defaultdict(list)
    for by_trace in (
        await _trace_evaluations(session, project_id, list(roots)),
        await _session_evaluations(session, project_id, list(roots)),
    ):
        for trace_id, evaluations in by_trace.items():
            for row_id in roots[trace_id]:
                found[row_id].extend(evaluations)
    return found


async def _trace_evaluations(
    session: AsyncSession, project_id: int, trace_ids: list[str]
) -> dict[str, list[ScopedEvaluation]]:
    found: dict[str, list[ScopedEvaluation]] = defaultdict(list)
    for chunk in _chunks(trace_ids):
        stmt = (
            select(TraceEvaluation)
            .where(TraceEvaluation.project_id == project_id, TraceEvaluation.trace_id.in_(chunk))
            .order_by(TraceEvaluation.name)
        )
        for evaluation in (await session.scalars(stmt)).all():
            found[evaluation.trace_id].append(evaluation)
    return found


async def _session_evaluations(
    session: AsyncSession, project_id: int, trace_ids: list[str]
) -> dict[str, list[ScopedEvaluation]]:
    """Session evaluations by the trace that shows them: the first trace of each evaluated session."""
    evaluated = await _evaluated_sessions_of(session, project_id, trace_ids)
    if not evaluated:
        return {}
    firsts = await first_traces(session, project_id, sorted(evaluated))
    shown: dict[str, list[ScopedEvaluation]] = defaultdict(list)
    listed = set(trace_ids)
    for session_id, evaluations in evaluated.items():
        first = firsts.get(session_id)
        if first in listed:
            shown[first].extend(sorted(evaluations.values(), key=lambda e: e.name))
    return shown


async def _evaluated_sessions_of(
    session: AsyncSession, project_id: int, trace_ids: list[str]
) -> dict[str, dict[int, SessionEvaluation]]:
    """The evaluations (by id) of each session that spans of these traces belong to; one query
    per chunk, which finds nothing quickly in the common case of no session results."""
    found: dict[str, dict[int, SessionEvaluation]] = defaultdict(dict)
    for chunk in _chunks(trace_ids):
        stmt = (
            select(SessionEvaluation)
            .join(
                Span,
                and_(Span.project_id == SessionEvaluation.project_id, Span.session_id == SessionEvaluation.session_id),
            )
            .where(SessionEvaluation.project_id == project_id, Span.trace_id.in_(chunk))
        )
        for evaluation in (await session.scalars(stmt)).all():  # repeated once per matching span
            found[evaluation.session_id][evaluation.id] = evaluation
    return found


async def first_traces(session: AsyncSession, project_id: int, session_ids: list[str]) -> dict[str, str]:
    """The first trace of each session: the trace of its earliest span, the smaller trace id on a tie."""
    firsts: dict[str, str] = {}
    for chunk in _chunks(session_ids):
        earliest = (
            select(Span.session_id, func.min(Span.start_time))
            .where(Span.project_id == project_id, Span.session_id.in_(chunk))
            .group_by(Span.session_id)
        )
        starts = [tuple(row) for row in (await session.execute(earliest)).all()]
        if not starts:
            continue
        stmt = (
            select(Span.session_id, func.min(Span.trace_id))
            .where(Span.project_id == project_id, tuple_(Span.session_id, Span.start_time).in_(starts))
            .group_by(Span.session_id)
        )
        firsts.update((str(session_id), trace_id) for session_id, trace_id in (await session.execute(stmt)).all())
    return firsts


async def forget_emptied(
    session: AsyncSession, project_id: int, trace_ids: Iterable[str], session_ids: Iterable[str]
) -> None:
    """Delete the evaluations of the traces and sessions that no longer have a span, so a trace
    id sent again later starts with no result; a trace or session with spans left keeps its own."""
    for table, key, ids in (
        (TraceEvaluation, TraceEvaluation.trace_id, sorted(trace_ids)),
        (SessionEvaluation, SessionEvaluation.session_id, sorted(session_ids)),
    ):
        span_key = Span.trace_id if table is TraceEvaluation else Span.session_id
        for chunk in _chunks(ids):
            remaining = select(Span.id).where(Span.project_id == project_id, span_key == key)
            await session.execute(
                delete(table)
                .where(table.project_id == project_id, key.in_(chunk), ~remaining.exists())
                .execution_options(synchronize_session=False)
            )


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]
