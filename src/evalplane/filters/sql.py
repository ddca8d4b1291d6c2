"""Compile a filter to a SQLAlchemy boolean expression for a WHERE clause.

The caller says where each column lives through a ``SqlResolver``; the result is NULL exactly
where the in-memory predicate is unknown, so ``WHERE`` keeps the same spans as
``compile_predicate``. Dialect differences live in ``sql_dialects``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Boolean, Float, Text, and_, literal, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from evalplane.filters import ast
from evalplane.filters.sql_dialects import JsonDialect, for_dialect
from evalplane.filters.values import like_parts


@dataclass(frozen=True)
class SqlResolver:
    """Where a filter's columns live in a query.

    ``dialect``: ``"sqlite"`` or ``"postgresql"`` (``session.bind.dialect.name``).
    ``columns``: span column name (as in ``ast.SPAN_COLUMNS``, e.g. ``"context.trace_id"``) →
    SQL expression. ``attributes``: the JSON document column. ``evals``: ``(evaluator, field)``
    → a scalar SQL expression, typically a correlated subquery; NULL when there is none.
    ``scoped_evals``: the same for ``(scope, evaluator, field)`` of trace and session
    evaluations and of annotations (scope ``annotation``); without it such a column is refused.
    """

    dialect: str
    columns: Mapping[str, ColumnElement[Any]]
    attributes: ColumnElement[Any]
    evals: Callable[[str, str], ColumnElement[Any]]
    scoped_evals: Callable[[str, str, str], ColumnElement[Any]] | None = None
    json: JsonDialect = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "json", for_dialect(self.dialect))

    def column(self, column: ast.Column) -> ColumnElement[Any]:
        if isinstance(column, ast.EvalColumn) and column.scope != "eval":
            if self.scoped_evals is None:
                raise ValueError(f"the resolver has no SQL expression for {column.scope} columns")
            return self.scoped_evals(column.scope, column.evaluator, column.field)
        if isinstance(column, ast.EvalColumn):
            return self.evals(column.evaluator, column.field)
        if not isinstance(column, ast.SpanColumn):
            raise TypeError(f"{column!r} is read from the document, not a column")
        try:
            return self.columns[column.name]
        except KeyError:
            raise ValueError(f"the resolver has no SQL expression for span column {column.name!r}") from None


def to_sql(expr: ast.Expr, resolver: SqlResolver) -> ColumnElement[bool]:
    """A boolean SQL expression that is true, false or NULL exactly as the filter is for each row."""
    return _Compiler(resolver).compile(expr)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KIND_OF = {bool: "boolean", int: "number", float: "number", str: "text"}


def _kind(value: ast.Value) -> str:
    return "timestamp" if isinstance(value, datetime) else _KIND_OF[type(value)]


def _bind(value: ast.Value) -> Any:
    if isinstance(value, bool):
        return literal(value, Boolean)
    if isinstance(value, int | float):
        return literal(float(value), Float)
    if isinstance(value, str):
        return literal(value, Text)
    return value  # a datetime binds through the column's own type


# SQLite parses ``a OR b OR c ...`` into a tree as deep as the list is long and refuses trees
# deeper than 1,000; a long filter reaches that. Longer runs are split into parenthesised groups.
_GROUP = 64


def _balanced(combine: Callable[..., ColumnElement[bool]], terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    while len(terms) > _GROUP:
        terms = [_Parenthesised(combine(*terms[i : i + _GROUP])) for i in range(0, len(terms), _GROUP)]
    return combine(*terms)


class _Parenthesised(ColumnElement[bool]):
    """``(inner)``, kept as a group: ``and_``/``or_`` would flatten a nested one of their own kind."""

    type = Boolean()
    inherit_cache = True
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, inner: ColumnElement[bool]) -> None:
        self.inner = inner

    @property
    def _from_objects(self) -> list[Any]:
        return self.inner._from_objects


@compiles(_Parenthesised)
def _compile_parenthesised(element: _Parenthesised, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.inner, **kw) + ")"


class _Compiler:
    def __init__(self, resolver: SqlResolver) -> None:
        self.r = resolver
        self.json = resolver.json

    def compile(self, expr: ast.Expr) -> ColumnElement[bool]:
        if isinstance(expr, ast.And):
            return _balanced(and_, [self.compile(e) for e in expr.operands])
        if isinstance(expr, ast.Or):
            return _balanced(or_, [self.compile(e) for e in expr.operands])
        if isinstance(expr, ast.Not):
            return not_(self.compile(expr.operand).self_group())
        if isinstance(expr, ast.IsNull):
            if isinstance(expr.column, ast.DOCUMENT_COLUMNS):
                test = self.json.is_null(self.r.attributes, expr.column.path)
            else:
                test = self.r.column(expr.column).is_(None)
            return not_(test.self_group()) if expr.negated else test
        if isinstance(expr, ast.Compare):
            value = self.typed(expr.column, _kind(expr.value))
            if expr.op in ("<", "<=", ">", ">=") and isinstance(expr.value, str):
                value = self.json.ordered(value)
            return _OPERATORS[expr.op](value, _bind(expr.value))
        if isinstance(expr, ast.In):
            value = self.typed(expr.column, _kind(expr.values[0]))
            binds = [_bind(v) for v in expr.values]
            return value.not_in(binds) if expr.negated else value.in_(binds)
        if isinstance(expr, ast.Like):
            test = self.json.like(self.typed(expr.column, "text"), list(like_parts(expr.pattern)))
            return self.negate(test, expr.negated)
        if isinstance(expr, ast.Contains):
            if isinstance(expr.column, ast.DOCUMENT_COLUMNS):
                needle = float(cast(float, expr.value)) if _kind(expr.value) == "number" else expr.value
                test = self.json.contains(self.r.attributes, expr.column.path, needle)  # type: ignore[arg-type]
            else:
                test = self.json.substring(self.r.column(expr.column), expr.value)  # type: ignore[arg-type]
            return self.negate(test, expr.negated)
        raise TypeError(f"not a filter expression: {expr!r}")

    def typed(self, column: ast.Column, kind: str) -> ColumnElement[Any]:
        """The column read as ``kind``; attributes of another kind read as NULL."""
        if isinstance(column, ast.DOCUMENT_COLUMNS):
            return self.json.read(self.r.attributes, column.path, kind)
        return self.r.column(column)

    @staticmethod
    def negate(test: ColumnElement[bool], negated: bool) -> ColumnElement[bool]:
        return not_(test.self_group()) if negated else test
