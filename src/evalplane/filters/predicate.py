"""Evaluate a filter in memory against one span, with SQL's three-valued logic.

A span is a plain mapping::

    {"name": ..., "span_kind": ..., "status_code": ..., "status_message": ...,
     "latency_ms": ..., "start_time": ..., "end_time": ..., "parent_id": ...,
     "context": {"trace_id": ..., "span_id": ...},
     "attributes": {nested dicts and lists},
     "evals": {"<evaluator name>": {"label": ..., "score": ..., "explanation": ...}},
     "trace_eval": {<the same, for the span's trace>}, "session_eval": {<for its session>},
     "annotations": {"<annotation name>": {"label": ..., "score": ..., "text": ...}}}

Missing keys read as NULL. Times may be datetimes (naive means UTC) or ISO-8601 strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from evalplane.filters import ast
from evalplane.filters.like import like_matcher
from evalplane.filters.values import like_parts, list_index, number_from_text

SpanLike = Mapping[str, Any]
_Reader = Callable[[SpanLike], Any]
_Test = Callable[[SpanLike], bool | None]  # None is SQL's "unknown"

_MISSING: Any = None


def compile_predicate(expr: ast.Expr) -> Callable[[SpanLike], bool]:
    """A function telling whether a span matches; unknown (NULL) counts as no match."""
    test = _compile(expr)
    return lambda span: test(span) is True


def _compile(expr: ast.Expr) -> _Test:
    if isinstance(expr, ast.And):
        parts = [_compile(e) for e in expr.operands]
        return lambda span: _all(p(span) for p in parts)
    if isinstance(expr, ast.Or):
        parts = [_compile(e) for e in expr.operands]
        return lambda span: _any(p(span) for p in parts)
    if isinstance(expr, ast.Not):
        inner = _compile(expr.operand)
        return lambda span: _negate(inner(span))
    if isinstance(expr, ast.IsNull):
        read = _reader(expr.column)
        negated = expr.negated
        return lambda span: (read(span) is None) != negated
    if isinstance(expr, ast.Compare):
        return _compare(expr)
    if isinstance(expr, ast.In):
        return _in(expr)
    if isinstance(expr, ast.Like):
        return _like(expr)
    if isinstance(expr, ast.Contains):
        return _contains(expr)
    raise TypeError(f"not a filter expression: {expr!r}")


# -- Kleene logic ----------------------------------------------------------------------------


def _all(results: Any) -> bool | None:
    unknown = False
    for r in results:
        if r is False:
            return False
        if r is None:
            unknown = True
    return None if unknown else True


def _any(results: Any) -> bool | None:
    unknown = False
    for r in results:
        if r is True:
            return True
        if r is None:
            unknown = True
    return None if unknown else False


def _negate(result: bool | None) -> bool | None:
    return None if result is None else not result


def _flip(result: bool | None, negated: bool) -> bool | None:
    return _negate(result) if negated else result


# -- reading columns -------------------------------------------------------------------------


# Where a span mapping holds the evaluations of each scope.
_EVAL_KEYS = {"eval": "evals", "trace_eval": "trace_eval", "session_eval": "session_eval", "annotation": "annotations"}


def _reader(column: ast.Column) -> _Reader:
    """A function returning the raw value of a column (None when absent)."""
    if isinstance(column, ast.AttributeColumn):
        path = column.path
        return lambda span: _walk(span.get("attributes"), path)
    if isinstance(column, ast.RecordColumn):
        key = column.key
        return lambda record: record.get(key)
    if isinstance(column, ast.EvalColumn):
        key, evaluator, field = _EVAL_KEYS[column.scope], column.evaluator, column.field
        return lambda span: _walk(span.get(key), (evaluator, field))
    keys = tuple(column.name.split("."))
    return lambda span: _walk(span, keys)


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if isinstance(value, Mapping):
            value = value.get(segment)
        elif isinstance(value, list | tuple):
            index = list_index(segment)
            value = value[index] if index is not None and index < len(value) else None
        else:
            return None
    return value


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, str):
        return number_from_text(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _typed_reader(column: ast.Column, literal: ast.Value) -> tuple[_Reader, Callable[[Any], Any]]:
    """Read the column as the kind its literal has; also returns how to normalise literals."""
    read = _reader(column)
    if isinstance(literal, bool):
        return (lambda span: _as_bool(read(span))), _as_bool
    if isinstance(literal, int | float):
        return (lambda span: _as_number(read(span))), _as_number
    if isinstance(literal, datetime):
        return (lambda span: _as_time(read(span))), _as_time
    return (lambda span: _as_text(read(span))), _as_text


# -- predicates ------------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(expr: ast.Compare) -> _Test:
    read, normalise = _typed_reader(expr.column, expr.value)
    literal, op = normalise(expr.value), _OPS[expr.op]

    def test(span: SpanLike) -> bool | None:
        value = read(span)
        return None if value is None else op(value, literal)

    return test


def _in(expr: ast.In) -> _Test:
    read, normalise = _typed_reader(expr.column, expr.values[0])
    literals, negated = [normalise(v) for v in expr.values], expr.negated

    def test(span: SpanLike) -> bool | None:
        value = read(span)
        return None if value is None else (value in literals) != negated

    return test


def _like(expr: ast.Like) -> _Test:
    read, matches, negated = _reader(expr.column), like_matcher(like_parts(expr.pattern)), expr.negated

    def test(span: SpanLike) -> bool | None:
        value = _as_text(read(span))
        return None if value is None else matches(value) != negated

    return test


def _contains(expr: ast.Contains) -> _Test:
    read, literal, negated = _reader(expr.column), expr.value, expr.negated
    element_as: Callable[[Any], Any] = (
        _as_bool if isinstance(literal, bool) else _as_number if isinstance(literal, int | float) else _as_text
    )
    wanted = element_as(literal)

    def test(span: SpanLike) -> bool | None:
        value = read(span)
        if isinstance(value, str) and isinstance(literal, str):
            return (literal in value) != negated
        if isinstance(value, list | tuple) and isinstance(expr.column, ast.DOCUMENT_COLUMNS):
            found = any(element_as(item) == wanted for item in value if element_as(item) is not None)
            return found != negated
        return None

    return test
