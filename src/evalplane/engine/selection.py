"""Which spans a task's evaluator looks at: the task filter AND the evaluator's filter,
compiled to SQL over the spans table (the same compiler POST /v2/spans uses)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from evalplane.domains.spans.filtering import span_filter_clause


def span_filter(dialect: str, *texts: str | None) -> ColumnElement[bool]:
    """The AND of the given filters (None/blank ones ignored) as a WHERE clause on spans."""
    return span_filter_clause(dialect, *texts)
