"""Which traces (or sessions) a task's ``query_filters`` admit, and which of their spans a
``query_mappings`` entry reads — both asked of SQL, so a backfill, a continuous unit and
``POST /v2/spans`` agree on what a filter means.

Filter ``X`` holds for a trace when ANY span of the trace (same project) matches ``X``; the
expression (``A AND NOT B``) combines those facts. An absent ``query_filters`` admits every
trace. The stored ``query_filters`` was validated when the task was saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, true

from evalplane.db.models import Span
from evalplane.domains.spans.filtering import span_filter_clause
from evalplane.filters import FilterSyntaxError

_SPANS: Any = Span.__table__
_TOKEN = re.compile(r"\s*(?:(\()|(\))|([A-Za-z]+))")


@dataclass(frozen=True, slots=True)
class QueryFilters:
    filters: dict[str, str]  # id -> span filter text
    expression: Any  # ("id", "A") | ("not", e) | ("and"|"or", [e, ...])

    @property
    def ids(self) -> list[str]:
        return list(self.filters)


def parse_query_filters(value: Mapping[str, Any] | None) -> QueryFilters | None:
    """The stored ``{"filters": [...], "expression": ...}``; None when it admits everything."""
    if not value or not value.get("filters"):
        return None
    filters = {str(f["id"]).upper(): str(f.get("filter") or "") for f in value["filters"]}
    text = str(value.get("expression") or "").strip() or next(iter(filters))
    return QueryFilters(filters=filters, expression=_parse_expression(text))


def _parse_expression(text: str) -> Any:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position:].strip():
                raise FilterSyntaxError("the expression has an unexpected character", position=position)
            break
        tokens.append(match.group(1) or match.group(2) or match.group(3).upper())
        position = match.end()
    tree, rest = _or(tokens)
    if rest:
        raise FilterSyntaxError("the expression has trailing words", position=len(text))
    return tree


def _or(tokens: list[str]) -> tuple[Any, list[str]]:
    parts = []
    left, tokens = _and(tokens)
    parts.append(left)
    while tokens[:1] == ["OR"]:
        right, tokens = _and(tokens[1:])
        parts.append(right)
    return (parts[0] if len(parts) == 1 else ("or", parts)), tokens


def _and(tokens: list[str]) -> tuple[Any, list[str]]:
    parts = []
    left, tokens = _not(tokens)
    parts.append(left)
    while tokens[:1] == ["AND"]:
        right, tokens = _not(tokens[1:])
        parts.append(right)
    return (parts[0] if len(parts) == 1 else ("and", parts)), tokens


def _not(tokens: list[str]) -> tuple[Any, list[str]]:
    if tokens[:1] == ["NOT"]:
        inner, rest = _not(tokens[1:])
        return ("not", inner), rest
    if tokens[:1] == ["("]:
        inner, rest = _or(tokens[1:])
        if rest[:1] != [")"]:
            raise FilterSyntaxError("an opening parenthesis of the expression is not closed", position=0)
        return inner, rest[1:]
    if not tokens:
        raise FilterSyntaxError("the expression is incomplete", position=0)
    return ("id", tokens[0]), tokens[1:]


def admission_sql(
    qf: QueryFilters | None, dialect: str, project_id: Any, group_column: str, group_key: Any
) -> ColumnElement[bool]:
    """True for a trace/session (``group_key`` of ``spans.<group_column>``) the filters admit."""
    if qf is None:
        return true()

    def holds(query_id: str) -> ColumnElement[bool]:
        other = _SPANS.alias()
        where = span_filter_clause(dialect, qf.filters[query_id], spans=other)
        return exists().where(and_(other.c.project_id == project_id, other.c[group_column] == group_key, where))

    return _combine(qf.expression, holds)


def _combine(tree: Any, holds: Any) -> ColumnElement[bool]:
    kind = tree[0]
    if kind == "id":
        return holds(tree[1])
    if kind == "not":
        return not_(_combine(tree[1], holds))
    parts = [_combine(part, holds) for part in tree[1]]
    return and_(*parts) if kind == "and" else or_(*parts)


def matching_ids(qf: QueryFilters | None, query_ids: Sequence[str], dialect: str) -> ColumnElement[bool] | None:
    """A WHERE clause on ``spans`` for the spans matching any of ``query_ids``; None = all spans."""
    texts = [qf.filters[q] for q in query_ids if qf is not None and q in qf.filters]
    if not texts:
        return None
    return or_(*(span_filter_clause(dialect, text) for text in texts))
