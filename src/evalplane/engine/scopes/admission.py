"""Which traces (or sessions) a task's ``query_filters`` admit, and which of their spans a
``query_mappings`` entry reads — both asked of SQL (``evalplane.filters.scopes``), so a
backfill, a continuous unit and ``POST /v2/spans`` agree on what a filter means.

Filter ``X`` holds for a trace when ANY span of the trace (same project) matches ``X``; the
expression (``A AND NOT B``) combines those facts. An absent ``query_filters`` admits every
trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, true

from evalplane.domains.spans.filtering import span_resolver
from evalplane.filters.scopes import QueryFilters, parse_query_filters, session_admission_sql, trace_admission_sql
from evalplane.filters.sql import to_sql

__all__ = ["QueryFilters", "admission_sql", "matching_ids", "parse_query_filters"]


def admission_sql(
    qf: QueryFilters | None, dialect: str, project_id: Any, group_column: str, group_key: Any
) -> ColumnElement[bool]:
    """True for a trace/session (``group_key`` of ``spans.<group_column>``) the filters admit."""
    if qf is None:
        return true()
    admission = trace_admission_sql if group_column == "trace_id" else session_admission_sql
    return admission(qf, dialect, project_id, group_key)


def matching_ids(qf: QueryFilters | None, query_ids: Sequence[str], dialect: str) -> ColumnElement[bool] | None:
    """A WHERE clause on ``spans`` for the spans matching any of ``query_ids``; None = all spans."""
    ids = [q.upper() for q in query_ids if qf is not None and q.upper() in qf.filters]
    if qf is None or not ids:
        return None
    resolver = span_resolver(dialect)
    return or_(*(to_sql(qf.span_filter(q), resolver) for q in ids))
