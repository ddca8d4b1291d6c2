"""Which traces (or sessions) a task's ``query_filters`` admit, and which of their spans a
``query_mappings`` entry reads, with the filters compiled by the one filter language, so a
backfill, a continuous unit and ``POST /v2/spans`` agree. The planner asks SQL which traces
are admitted (``admission_sql``); the worker reads, beside each span of its batch, which
filters the span matches (``filter_flags``) and combines them in memory (``admitted``,
``mapped_ids``) — one query per batch, the same meaning.

Filter ``X`` holds for a trace when ANY span of the trace (same project) matches ``X``; the
expression (``A AND NOT B``) combines those facts; an absent ``query_filters`` admits every
trace. The meaning is ``filters.scopes.trace_admission_sql``'s; the shape differs: each ``X``
is an uncorrelated ``IN (SELECT trace_id ... WHERE X)``, read once per query, instead of an
EXISTS per trace — SQLite without statistics (a fresh database) ran that EXISTS as a scan of
the project per trace, which took minutes for a 10,000-trace backfill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, not_, or_, select, true

from evalplane.db.models import Span
from evalplane.domains.spans.filtering import span_resolver
from evalplane.filters.scopes import FilterRef, QueryExpr, QueryFilters, parse_query_filters
from evalplane.filters.sql import to_sql

__all__ = ["QueryFilters", "admission_sql", "admitted", "filter_flags", "mapped_ids", "parse_query_filters"]
_SPANS: Any = Span.__table__


def admission_sql(
    qf: QueryFilters | None,
    dialect: str,
    project_id: Any,
    group_column: str,
    group_key: Any,
) -> ColumnElement[bool]:
    """True for a trace/session (``group_key``, a value of ``spans.<group_column>``) that the
    filters admit."""
    if qf is None:
        return true()

    def holds(query_id: str) -> ColumnElement[bool]:
        spans = _SPANS.alias()
        where = [spans.c.project_id == project_id, to_sql(qf.span_filter(query_id), span_resolver(dialect, spans))]
        return group_key.in_(select(spans.c[group_column]).where(*where))

    return _combine(qf.expression, holds)


def _combine(expr: QueryExpr, holds: Any) -> ColumnElement[bool]:
    if isinstance(expr, FilterRef):
        return holds(expr.id)
    parts = [_combine(part, holds) for part in expr.operands]
    if expr.op == "not":
        return not_(parts[0])
    return and_(*parts) if expr.op == "and" else or_(*parts)


def filter_flags(qf: QueryFilters | None, dialect: str) -> list[tuple[str, ColumnElement[bool]]]:
    """Per filter id, a column that is true on the spans matching it (false when unknown, as a
    WHERE would read it): read beside the spans, so a batch asks SQL once."""
    if qf is None:
        return []
    resolver = span_resolver(dialect)
    return [(id, case((to_sql(qf.span_filter(id), resolver), True), else_=False)) for id in qf.ids]


def admitted(qf: QueryFilters | None, matched: set[str]) -> bool:
    """``admission_sql`` in memory, given the filter ids some span of the trace matches."""
    if qf is None:
        return True

    def holds(expr: QueryExpr) -> bool:
        if isinstance(expr, FilterRef):
            return expr.id in matched
        parts = [holds(part) for part in expr.operands]
        if expr.op == "not":
            return not parts[0]
        return all(parts) if expr.op == "and" else any(parts)

    return holds(qf.expression)


def mapped_ids(qf: QueryFilters | None, query_ids: Sequence[str]) -> list[str]:
    """The filter ids a mapping reads spans of (those it names that exist); empty means every span."""
    return [q.upper() for q in query_ids if qf is not None and q.upper() in qf.filters]
