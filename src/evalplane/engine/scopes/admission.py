"""Which traces (or sessions) a task's ``query_filters`` admit, and which of their spans a
``query_mappings`` entry reads — both asked of SQL, with the filters compiled by the one
filter language, so a backfill, a continuous unit and ``POST /v2/spans`` agree.

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

from sqlalchemy import ColumnElement, and_, not_, or_, select, true

from evalplane.db.models import Span
from evalplane.domains.spans.filtering import span_resolver
from evalplane.filters.scopes import FilterRef, QueryExpr, QueryFilters, parse_query_filters
from evalplane.filters.sql import to_sql

__all__ = ["QueryFilters", "admission_sql", "matching_ids", "parse_query_filters"]
_SPANS: Any = Span.__table__


def admission_sql(
    qf: QueryFilters | None,
    dialect: str,
    project_id: Any,
    group_column: str,
    group_key: Any,
    among: Sequence[str] | None = None,
) -> ColumnElement[bool]:
    """True for a trace/session (``group_key``, a value of ``spans.<group_column>``) that the
    filters admit. ``among``: the only ids asked about (a worker's batch), which bounds each
    subquery to their spans."""
    if qf is None:
        return true()

    def holds(query_id: str) -> ColumnElement[bool]:
        spans = _SPANS.alias()
        where = [spans.c.project_id == project_id, to_sql(qf.span_filter(query_id), span_resolver(dialect, spans))]
        if among is not None:
            where.append(spans.c[group_column].in_(list(among)))
        return group_key.in_(select(spans.c[group_column]).where(*where))

    return _combine(qf.expression, holds)


def _combine(expr: QueryExpr, holds: Any) -> ColumnElement[bool]:
    if isinstance(expr, FilterRef):
        return holds(expr.id)
    parts = [_combine(part, holds) for part in expr.operands]
    if expr.op == "not":
        return not_(parts[0])
    return and_(*parts) if expr.op == "and" else or_(*parts)


def matching_ids(qf: QueryFilters | None, query_ids: Sequence[str], dialect: str) -> ColumnElement[bool] | None:
    """A WHERE clause on ``spans`` for the spans matching any of ``query_ids``; None = all spans."""
    ids = [q.upper() for q in query_ids if qf is not None and q.upper() in qf.filters]
    if qf is None or not ids:
        return None
    resolver = span_resolver(dialect)
    return or_(*(to_sql(qf.span_filter(q), resolver) for q in ids))
