"""Which spans a task's evaluator looks at: the task filter AND the evaluator's filter,
compiled to SQL over the spans table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, select, true

from evalplane.db.models import Span, SpanEvaluation
from evalplane.filters import SqlResolver, parse, to_sql


def _eval_lookup(evaluator: str, field: str) -> ColumnElement[Any]:
    column = {"label": SpanEvaluation.label, "score": SpanEvaluation.score, "explanation": SpanEvaluation.explanation}[field]
    return (
        select(column)
        .where(SpanEvaluation.span_row_id == Span.id, SpanEvaluation.name == evaluator)
        .scalar_subquery()
    )


def _resolver(dialect: str) -> SqlResolver:
    columns: dict[str, ColumnElement[Any]] = {
        name: getattr(Span, name)
        for name in ("name", "span_kind", "status_code", "status_message", "latency_ms", "start_time", "end_time", "parent_id")
    }
    columns["context.trace_id"] = Span.trace_id  # type: ignore[assignment]
    columns["context.span_id"] = Span.span_id  # type: ignore[assignment]
    return SqlResolver(dialect=dialect, columns=columns, attributes=Span.attributes, evals=_eval_lookup)  # type: ignore[arg-type]


def span_filter(dialect: str, *texts: str | None) -> ColumnElement[bool]:
    """The AND of the given filters (None/blank ones ignored) as a WHERE clause on spans."""
    clauses = [to_sql(parse(text), _resolver(dialect)) for text in texts if text and text.strip()]
    return and_(*clauses) if clauses else true()
