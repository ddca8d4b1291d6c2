"""Which traces (or sessions) a task's ``query_filters`` admit, and which of their spans a
``query_mappings`` entry reads. The rule's one home is ``evalplane.filters.scopes``: the planner
asks it for the admission SQL (``admission_sql``); the worker reads, beside each span of its
batch, which filters the span matches (``filter_flags``) and combines them in memory
(``admitted``, ``mapped_ids``) — one query per batch, the same meaning, which the agreement
tests of ``filters.scopes`` pin.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, case

from evalplane.domains.spans.filtering import span_resolver
from evalplane.filters.scopes import FilterRef, QueryExpr, QueryFilters, admission_sql, parse_query_filters
from evalplane.filters.sql import to_sql

__all__ = ["QueryFilters", "admission_sql", "admitted", "filter_flags", "mapped_ids", "parse_query_filters"]


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
