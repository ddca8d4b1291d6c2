"""``query_filters`` of trace and session tasks: filters A–E combined by an expression.

A trace (or session) is admitted when the expression holds, reading filter X as "some span of
this trace matches X". Each X is an ordinary filter of the one language; the expression only
combines ids with AND, OR, NOT and parentheses, so its value is never unknown.

The same decision is made in SQL (``trace_admission_sql``: one EXISTS per id, correlated on the
project and the trace or session id) and in memory (``trace_admitted`` over span documents);
tests/test_filters_scopes.py checks they agree on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, exists, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from evalplane.db.models import Span
from evalplane.domains.spans.filtering import parse_span_filter, span_resolver
from evalplane.filters import ast
from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.lexer import Token, tokenize
from evalplane.filters.parser import MAX_DEPTH, MAX_LENGTH
from evalplane.filters.predicate import compile_predicate
from evalplane.filters.sql import to_sql

QUERY_IDS = ("A", "B", "C", "D", "E")
_SPANS: Table = Span.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class FilterRef:
    """A leaf of the expression: "some span matches filter ``id``"."""

    id: str


@dataclass(frozen=True, slots=True)
class Combined:
    """``op`` is "and", "or" or "not" (one operand)."""

    op: str
    operands: tuple[QueryExpr, ...]


QueryExpr = FilterRef | Combined


@dataclass(frozen=True)
class QueryFilters:
    """The parsed ``query_filters``: each id's span filter and the expression over the ids."""

    filters: Mapping[str, ast.Expr]
    expression: QueryExpr

    @property
    def ids(self) -> list[str]:
        return list(self.filters)

    def span_filter(self, id: str) -> ast.Expr:
        return self.filters[id]


def parse_query_filters(value: Mapping[str, Any] | None) -> QueryFilters | None:
    """Parse ``{"filters": [{"id": "A", "filter": "..."}], "expression": "A AND NOT B"}``.

    None or an empty filter list means none. The expression may be left out when one filter is
    declared. Raises ``FilterSyntaxError`` naming the filter or the expression, with the position.
    """
    if value is None or not value.get("filters"):
        return None
    filters: dict[str, ast.Expr] = {}
    for index, item in enumerate(value["filters"]):
        field = f"query_filters.filters[{index}]"
        item = item if isinstance(item, Mapping) else {}
        query_id = str(item.get("id", "")).strip().upper()
        if query_id not in QUERY_IDS:
            raise FilterSyntaxError(f"'{field}.id' must be one of A, B, C, D, E", position=0, field="query_filters")
        if query_id in filters:
            raise FilterSyntaxError(
                f"'query_filters' declares the id '{query_id}' twice", position=0, field="query_filters"
            )
        text = item.get("filter")
        if not isinstance(text, str) or not text.strip():
            raise FilterSyntaxError(f"'{field}.filter' must be a non-empty filter", position=0, field="query_filters")
        filters[query_id] = parse_span_filter(text, field=f"{field}.filter")
    expression = value.get("expression")
    if expression is None or (isinstance(expression, str) and not expression.strip()):
        if len(filters) > 1:
            raise FilterSyntaxError(
                "'query_filters.expression' is required when more than one filter is declared (e.g. 'A AND B')",
                position=0,
                field="query_filters",
            )
        return QueryFilters(filters, FilterRef(next(iter(filters))))
    return QueryFilters(filters, parse_expression(expression, list(filters)))


def parse_expression(text: Any, declared: Sequence[str]) -> QueryExpr:
    """Ids combined with AND / OR / NOT and parentheses (keywords as in filters); ids must be declared."""
    if not isinstance(text, str):
        raise FilterSyntaxError("'query_filters.expression' must be a string", position=0, field="query_filters")
    if len(text) > MAX_LENGTH:
        raise FilterSyntaxError(
            f"'query_filters.expression' is too long (the limit is {MAX_LENGTH} characters)",
            position=MAX_LENGTH,
            field="query_filters",
        )
    try:
        return _ExpressionParser(tokenize(text), declared).parse()
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(
            f"'query_filters.expression' is not valid: {exc.detail}", position=exc.position, field="query_filters"
        ) from None


class _ExpressionParser:
    def __init__(self, tokens: list[Token], declared: Sequence[str]) -> None:
        self.tokens, self.declared, self.i, self.depth = tokens, declared, 0, 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> FilterSyntaxError:
        return FilterSyntaxError(
            f"expected {expected} at position {self.tok.pos}, found {self.tok.describe()}", position=self.tok.pos
        )

    def parse(self) -> QueryExpr:
        expr = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail("AND, OR or the end of the expression")
        return expr

    def or_expr(self) -> QueryExpr:
        operands = [self.and_expr()]
        while self.tok.keyword == "OR":
            self.i += 1
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Combined("or", tuple(operands))

    def and_expr(self) -> QueryExpr:
        operands = [self.not_expr()]
        while self.tok.keyword == "AND":
            self.i += 1
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else Combined("and", tuple(operands))

    def not_expr(self) -> QueryExpr:
        token = self.tok
        if token.keyword == "NOT" or token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterSyntaxError(
                    f"nests too deeply (more than {MAX_DEPTH} levels) at position {token.pos}", position=token.pos
                )
            self.i += 1
            if token.kind == "(":
                inner = self.or_expr()
                if self.tok.kind != ")":
                    raise self.fail(f"')' (to close the '(' at position {token.pos})")
                self.i += 1
            else:
                inner = Combined("not", (self.not_expr(),))
            self.depth -= 1
            return inner
        if token.kind == "ref" and token.keyword is None:
            segments, _ = token.value  # type: ignore[misc]
            word = ".".join(segments).upper()
            if word not in self.declared:
                raise FilterSyntaxError(
                    f"'{token.text}' at position {token.pos} is not a declared filter id "
                    f"(declared: {', '.join(self.declared)})",
                    position=token.pos,
                )
            self.i += 1
            return FilterRef(word)
        raise self.fail("a filter id, NOT or '('")


# -- deciding admission ----------------------------------------------------------------------


def _combine(expr: QueryExpr, leaf: Callable[[str], Any], all_: Any, any_: Any, negate: Any) -> Any:
    if isinstance(expr, FilterRef):
        return leaf(expr.id)
    parts = [_combine(e, leaf, all_, any_, negate) for e in expr.operands]
    if expr.op == "not":
        return negate(parts[0])
    return all_(parts) if expr.op == "and" else any_(parts)


def _admission_sql(
    qf: QueryFilters, dialect_name: str, project_id_column: Any, group_column: str, group_value: Any
) -> ColumnElement[bool]:
    def leaf(query_id: str) -> ColumnElement[bool]:
        spans = _SPANS.alias()  # each EXISTS reads its own copy of spans, so outer columns stay outer
        matches = to_sql(qf.span_filter(query_id), span_resolver(dialect_name, spans))
        return exists(
            select(spans.c.id).where(
                spans.c.project_id == project_id_column, spans.c[group_column] == group_value, matches
            )
        )

    return _combine(
        qf.expression,
        leaf,
        lambda parts: and_(*parts) if parts else true(),
        lambda parts: or_(*parts) if parts else false(),
        lambda part: not_(part),
    )


def trace_admission_sql(
    qf: QueryFilters, dialect_name: str, project_id_column: Any, trace_id_column: Any
) -> ColumnElement[bool]:
    """True when the expression holds, filter X holding when ANY span of the trace matches X."""
    return _admission_sql(qf, dialect_name, project_id_column, "trace_id", trace_id_column)


def session_admission_sql(
    qf: QueryFilters, dialect_name: str, project_id_column: Any, session_id_column: Any
) -> ColumnElement[bool]:
    """The same as ``trace_admission_sql`` over the spans of a session (``spans.session_id``)."""
    return _admission_sql(qf, dialect_name, project_id_column, "session_id", session_id_column)


def _predicates(qf: QueryFilters) -> dict[str, Callable[[Mapping[str, Any]], bool]]:
    return {query_id: compile_predicate(expr) for query_id, expr in qf.filters.items()}


def trace_admitted(qf: QueryFilters, spans: Sequence[Mapping[str, Any]]) -> bool:
    """In memory: whether a trace (or session) with these span documents is admitted."""
    tests = _predicates(qf)
    return bool(
        _combine(
            qf.expression,
            lambda query_id: any(tests[query_id](span) for span in spans),
            all,
            any,
            lambda part: not part,
        )
    )


def matches_any_of(qf: QueryFilters, ids: Sequence[str], span: Mapping[str, Any]) -> bool:
    """Whether a span document matches any of the filters ``ids`` (a query mapping's ``query_ids``)."""
    return any(compile_predicate(qf.span_filter(query_id.upper()))(span) for query_id in ids)


__all__ = [
    "QUERY_IDS",
    "Combined",
    "FilterRef",
    "QueryExpr",
    "QueryFilters",
    "matches_any_of",
    "parse_expression",
    "parse_query_filters",
    "session_admission_sql",
    "trace_admission_sql",
    "trace_admitted",
]
