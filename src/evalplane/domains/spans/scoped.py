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

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import SessionEvaluation, Span, TraceEvaluation

# Keeps each statement well under SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 400

ScopedEvaluation = TraceEvaluation | SessionEvaluation


async def on_roots(session: AsyncSession, project_id: int, spans: Iterable[Span]) -> dict[int, list[ScopedEvaluation]]:
    """The trace and session evaluations to show on each root span among ``spans``, by span row id."""
    roots: dict[str, list[int]] = defaultdict(list)
    for span in spans:
        if span.parent_id is None:
            roots[span.trace_id].append(span.id)
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
    sessions = await _sessions_of(session, project_id, trace_ids)
    if not sessions:
        return {}
    evaluated: dict[str, list[SessionEvaluation]] = defaultdict(list)
    for chunk in _chunks(sorted(sessions)):
        stmt = (
            select(SessionEvaluation)
            .where(SessionEvaluation.project_id == project_id, SessionEvaluation.session_id.in_(chunk))
            .order_by(SessionEvaluation.name)
        )
        for evaluation in (await session.scalars(stmt)).all():
            evaluated[evaluation.session_id].append(evaluation)
    if not evaluated:
        return {}
    firsts = await first_traces(session, project_id, sorted(evaluated))
    shown: dict[str, list[ScopedEvaluation]] = defaultdict(list)
    listed = set(trace_ids)
    for session_id, evaluations in evaluated.items():
        first = firsts.get(session_id)
        if first in listed:
            shown[first].extend(evaluations)
    return shown


async def _sessions_of(session: AsyncSession, project_id: int, trace_ids: list[str]) -> set[str]:
    """The sessions that spans of these traces belong to."""
    sessions: set[str] = set()
    for chunk in _chunks(trace_ids):
        stmt = (
            select(Span.session_id)
            .where(Span.project_id == project_id, Span.trace_id.in_(chunk), Span.session_id.is_not(None))
            .distinct()
        )
        sessions.update(s for s in (await session.scalars(stmt)).all() if s is not None)
    return sessions


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


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]
