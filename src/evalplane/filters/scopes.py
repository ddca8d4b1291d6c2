"""``query_filters`` of trace and session tasks: filters A–E combined by an expression.

A trace (or session) is admitted when the expression holds, reading filter X as "some span of
this trace matches X". Each X is an ordinary filter of the one language; the expression only
combines ids with AND, OR, NOT and parentheses, so its value is never unknown.

The same decision is made in SQL (``admission_sql``, the form the engine plans and loads with)
and in memory (``trace_admitted`` over span documents); tests/test_filters_scopes.py checks they
agree on both databases. Likewise for the spans a query mapping reads (``mapping_spans_sql`` /
``matches_any_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from evalplane.db.models import Span
from evalplane.domains.spans.filtering import parse_span_filter, span_resolver
from evalplane.filters import ast
from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.lexer import Token, TokenStream, tokenize
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
    # Each id's in-memory predicate, compiled once: the engine asks per trace.
    tests: Mapping[str, Callable[[Mapping[str, Any]], bool]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tests", {i: compile_predicate(e) for i, e in self.filters.items()})

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
        where = f"query_filters.filters[{index}]"
        item = item if isinstance(item, Mapping) else {}
        query_id = str(item.get("id", "")).strip().upper()
        if query_id not in QUERY_IDS:
            raise FilterSyntaxError(f"'{where}.id' must be one of A, B, C, D, E", position=0, field="query_filters")
        if query_id in filters:
            raise FilterSyntaxError(
                f"'query_filters' declares the id '{query_id}' twice", position=0, field="query_filters"
            )
        text = item.get("filter")
        if not isinstance(text, str) or not text.strip():
            raise FilterSyntaxError(f"'{where}.filter' must be a non-empty filter", position=0, field="query_filters")
        filters[query_id] = parse_span_filter(text, field=f"{where}.filter")
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
    def __init__(self, tokens: TokenStream, declared: Sequence[str]) -> None:
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
            segments, _ = token.path
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


def admission_sql(
    qf: QueryFilters | None,
    dialect_name: str,
    project_id: Any,
    group_column: str,
    group_key: Any,
    among: Sequence[str] | None = None,
) -> ColumnElement[bool]:
    """True for a trace or session (``group_key``, a value of ``spans.<group_column>``) that the
    filters admit: filter X holds when ANY span of it (same project) matches X. ``among``: the
    only ids asked about (a worker's batch), which bounds each subquery to their spans.

    Each X is an uncorrelated ``group_key IN (SELECT group_column ... WHERE X)``, read once per
    query: a correlated EXISTS per trace ran as a scan of the project per trace on a SQLite
    without statistics (a fresh database), minutes for a 10,000-trace plan.
    """
    if qf is None:
        return true()

    def leaf(query_id: str) -> ColumnElement[bool]:
        spans = _SPANS.alias()  # each subquery reads its own copy of spans
        column = spans.c[group_column]
        # NULL ids stay out of the set, or NOT IN would be unknown for every group.
        where = [spans.c.project_id == project_id, column.is_not(None)]
        if among is not None:
            where.append(column.in_(list(among)))
        where.append(to_sql(qf.span_filter(query_id), span_resolver(dialect_name, spans)))
        return group_key.in_(select(column).where(*where))

    return _combine(
        qf.expression,
        leaf,
        lambda parts: and_(*parts) if parts else true(),
        lambda parts: or_(*parts) if parts else false(),
        lambda part: not_(part),
    )


def mapping_spans_sql(
    qf: QueryFilters | None, query_ids: Sequence[str], dialect_name: str
) -> ColumnElement[bool] | None:
    """A WHERE clause on ``spans`` for the spans matching any of ``query_ids`` (a query mapping's);
    None = all spans. The SQL twin of ``matches_any_of``."""
    ids = [q.upper() for q in query_ids if qf is not None and q.upper() in qf.filters]
    if qf is None or not ids:
        return None
    resolver = span_resolver(dialect_name)
    return or_(*(to_sql(qf.span_filter(q), resolver) for q in ids))


def trace_admitted(qf: QueryFilters, spans: Sequence[Mapping[str, Any]]) -> bool:
    """In memory: whether a trace (or session) with these span documents is admitted."""
    tests = qf.tests
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
    return any(qf.tests[query_id.upper()](span) for query_id in ids)


__all__ = [
    "QUERY_IDS",
    "Combined",
    "FilterRef",
    "QueryExpr",
    "QueryFilters",
    "admission_sql",
    "mapping_spans_sql",
    "matches_any_of",
    "parse_expression",
    "parse_query_filters",
    "trace_admitted",
]
