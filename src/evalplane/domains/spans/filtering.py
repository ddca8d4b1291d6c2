"""The filter language over stored spans: a WHERE clause for SQL and a predicate for memory.

Both read a span the same way, so a span a backfill selects in SQL is exactly a span the
in-memory predicate accepts (tests/test_span_filters_agree.py checks this on both databases):

- fixed columns are the ``spans`` columns (``context.trace_id`` / ``context.span_id`` are
  ``trace_id`` / ``span_id``);
- ``attributes.<path>`` walks the stored attributes document;
- ``eval.<name>.label|score|explanation`` is the ``span_evaluations`` row of that name for the
  span (NULL when there is none);
- ``trace_eval.<name>.…`` is the ``trace_evaluations`` row of that name for the span's project
  and trace, ``session_eval.<name>.…`` the ``session_evaluations`` row for its project and
  ``session_id`` (NULL for a span in no session): every span of a trace or session reads the same;
- ``annotation.<name>.label|score|text`` is the ``span_annotations`` row of that name for the span.

What the engine calls:
- ``span_filter_where(dialect, project_id, *filters)``: a WHERE clause over ``spans``;
- ``span_filter_predicate(*filters)``: a function of one span dict;
- ``span_as_filter_dict(row, evaluations)``: that span dict, from a stored row.
Several filters (a task's and an evaluator's) are ANDed; absent or blank ones are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, select, true
from sqlalchemy.sql.elements import ColumnElement

from evalplane.db.models import SessionEvaluation, Span, SpanAnnotation, SpanEvaluation, TraceEvaluation
from evalplane.filters import (
    Expr,
    FilterSyntaxError,
    SpanLike,
    SqlResolver,
    compile_predicate,
    parse,
    to_sql,
)

FilterText = str | None
_FIXED = ("name", "span_kind", "status_code", "status_message", "latency_ms", "start_time", "end_time", "parent_id")
_EVAL_FIELDS = ("label", "score", "explanation")
_ANNOTATION_FIELDS = ("label", "score", "text")
_SPANS: Table = Span.__table__  # type: ignore[assignment]
_EVALS: Table = SpanEvaluation.__table__  # type: ignore[assignment]
_TRACE_EVALS: Table = TraceEvaluation.__table__  # type: ignore[assignment]
_SESSION_EVALS: Table = SessionEvaluation.__table__  # type: ignore[assignment]
_ANNOTATIONS: Table = SpanAnnotation.__table__  # type: ignore[assignment]


def parse_span_filter(text: str, *, field: str = "filter") -> Expr:
    """The parsed filter; a ``FilterSyntaxError`` (400, with the position) names ``field``."""
    try:
        return _parse(text)
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(
            f"'{field}' is not a valid filter: {exc.detail}", position=exc.position, field=field
        ) from None


@lru_cache(maxsize=512)
def _parse(text: str) -> Expr:
    return parse(text)  # trees are immutable, so a cached one can be shared


def _present(filters: Iterable[FilterText]) -> list[str]:
    return [text for text in filters if text is not None and text.strip()]


def span_resolver(dialect: str, spans: Any = _SPANS) -> SqlResolver:
    """Where each filter column lives for a query over ``spans`` (the table or an alias of it)."""
    columns: dict[str, ColumnElement[Any]] = {name: spans.c[name] for name in _FIXED}
    columns["context.trace_id"] = spans.c.trace_id
    columns["context.span_id"] = spans.c.span_id

    def evaluation(name: str, field: str) -> ColumnElement[Any]:
        return (
            select(_EVALS.c[field]).where(_EVALS.c.span_row_id == spans.c.id, _EVALS.c.name == name).scalar_subquery()
        )

    def scoped(scope: str, name: str, field: str) -> ColumnElement[Any]:
        if scope == "annotation":  # at most one row: (span, name) is unique
            return (
                select(_ANNOTATIONS.c[field])
                .where(_ANNOTATIONS.c.span_row_id == spans.c.id, _ANNOTATIONS.c.name == name)
                .scalar_subquery()
            )
        table, key = (_TRACE_EVALS, "trace_id") if scope == "trace_eval" else (_SESSION_EVALS, "session_id")
        # at most one row: (project, trace or session, name) is unique
        return (
            select(table.c[field])
            .where(table.c.project_id == spans.c.project_id, table.c[key] == spans.c[key], table.c.name == name)
            .scalar_subquery()
        )

    return SqlResolver(
        dialect=dialect, columns=columns, attributes=spans.c.attributes, evals=evaluation, scoped_evals=scoped
    )


def span_filter_clause(dialect: str, *filters: FilterText, spans: Any = _SPANS) -> ColumnElement[bool]:
    """A boolean over ``spans`` that is true exactly for the spans every filter keeps."""
    resolver = span_resolver(dialect, spans)
    clauses = [to_sql(parse_span_filter(text), resolver) for text in _present(filters)]
    if not clauses:
        return true()
    return clauses[0] if len(clauses) == 1 else and_(*clauses)


def span_filter_where(dialect: str, project_id: int, *filters: FilterText) -> ColumnElement[bool]:
    """The project's spans that every filter keeps, for ``select(Span).where(...)``.

    ``dialect`` is ``session.bind.dialect.name``. Raises ``FilterSyntaxError`` for a bad filter.
    """
    return and_(_SPANS.c.project_id == project_id, span_filter_clause(dialect, *filters))


def span_filter_predicate(*filters: FilterText) -> Callable[[SpanLike], bool]:
    """A function telling whether a span dict (``span_as_filter_dict``) passes every filter."""
    tests = [compile_predicate(parse_span_filter(text)) for text in _present(filters)]
    if not tests:
        return lambda span: True
    if len(tests) == 1:
        return tests[0]
    return lambda span: all(test(span) for test in tests)


def span_as_filter_dict(
    row: Span | Mapping[str, Any],
    evaluations: Iterable[Any] = (),
    trace_evaluations: Iterable[Any] = (),
    session_evaluations: Iterable[Any] = (),
    annotations: Iterable[Any] = (),
) -> dict[str, Any]:
    """The span as the in-memory predicate reads it.

    ``row``: a stored ``Span`` or a mapping keyed like the ``spans`` table. Build it from the
    row as stored (read back), not from what was sent: storage turns non-finite numbers into
    null and ``metadata`` strings into objects, and SQL sees the stored form.
    ``evaluations``: the span's ``SpanEvaluation`` rows (or mappings with ``name``, ``label``,
    ``score``, ``explanation``); ``trace_evaluations`` / ``session_evaluations`` the same of its
    trace and of its session; ``annotations`` its ``SpanAnnotation`` rows (or mappings with
    ``name``, ``label``, ``score``, ``text``).
    """
    get = row.get if isinstance(row, Mapping) else lambda key: getattr(row, key, None)
    span: dict[str, Any] = {name: get(name) for name in _FIXED}
    span["context"] = {"trace_id": get("trace_id"), "span_id": get("span_id")}
    span["attributes"] = get("attributes")
    span["evals"] = _by_name(evaluations)
    span["trace_eval"] = _by_name(trace_evaluations)
    span["session_eval"] = _by_name(session_evaluations)
    span["annotations"] = _by_name(annotations, _ANNOTATION_FIELDS)
    return span


def _by_name(evaluations: Iterable[Any], fields: tuple[str, ...] = _EVAL_FIELDS) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        read = evaluation.get if isinstance(evaluation, Mapping) else lambda key, e=evaluation: getattr(e, key, None)
        found[cast(str, read("name"))] = {field: read(field) for field in fields}
    return found


__all__ = [
    "parse_span_filter",
    "span_as_filter_dict",
    "span_filter_clause",
    "span_filter_predicate",
    "span_filter_where",
    "span_resolver",
]
